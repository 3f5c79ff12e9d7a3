package io.thingdb.examples.blog;

import io.thingdb.core.Filter;
import io.thingdb.core.Thing;
import io.thingdb.listings.ListingDefinition;
import io.thingdb.listings.ListingRecompute;
import io.thingdb.listings.ListingRouting;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.TimeWindow;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/**
 * Which listings a thing belongs to, and what each listing key means.
 *
 * <ul>
 *   <li>{@code all:<sort>}: the front page, every live link ({@code hot}, {@code new}, {@code top}
 *       and {@code controversial} of all time), kept current by the listing queue;
 *   <li>{@code sr:<community id>:<sort>}: the same per community;
 *   <li>{@code user:<account id>:submitted:new}: an author's links, newest first;
 *   <li>{@code user:<account id>:comments:new}: an author's comments (on the comments database);
 *   <li>{@code all:top:day}, {@code sr:5:controversial:week}, ...: the windowed listings, replaced
 *       whole by the batch recompute ({@link ListingRecompute}) rather than by the queue.
 * </ul>
 *
 * <p>One routing serves both the links' and the comments' databases: the processors of each only
 * ever claim the keys whose jobs were queued there. Stateless and thread-safe.
 */
public final class Listings implements ListingRouting {
  /** Every key this blog uses, for the listing store's key check. */
  public static final String KEY_PATTERN =
      "(all|sr:\\d+|user:\\d+:(submitted|comments)):[a-z]+(:[a-z]+)?";

  /** The sorts kept current by the queue. */
  static final List<ListingSort> SORTS =
      List.of(ListingSort.HOT, ListingSort.NEW, ListingSort.TOP, ListingSort.CONTROVERSIAL);

  private final int capacity;

  /** A routing whose listings keep {@code capacity} entries visible. */
  public Listings(int capacity) {
    this.capacity = capacity;
  }

  /** The prefix of the site-wide listings. */
  public static String site() {
    return "all";
  }

  /** The prefix of a community's listings. */
  public static String community(long communityId) {
    return "sr:" + communityId;
  }

  /** The key of a page: the queue's listing for all time, the recompute's for a window. */
  public static String key(String prefix, ListingSort sort, TimeWindow window) {
    boolean windowed =
        (sort == ListingSort.TOP || sort == ListingSort.CONTROVERSIAL) && window != TimeWindow.ALL;
    return windowed
        ? ListingRecompute.key(prefix, sort, window)
        : prefix + ":" + sort.name().toLowerCase(Locale.ROOT);
  }

  /** An author's links, newest first. */
  public static String submitted(long accountId) {
    return "user:" + accountId + ":submitted:new";
  }

  /** An author's comments, newest first. */
  public static String comments(long accountId) {
    return "user:" + accountId + ":comments:new";
  }

  @Override
  public Collection<String> listingsOf(Thing thing) {
    List<String> keys = new ArrayList<>();
    if (thing.type().equals(Models.LINK)) {
      for (ListingSort s : SORTS) {
        keys.add(key(site(), s, TimeWindow.ALL));
        keys.add(key(community(thing.get(Models.COMMUNITY_ID)), s, TimeWindow.ALL));
      }
      keys.add(submitted(thing.get(Models.AUTHOR)));
    } else if (thing.type().equals(Models.COMMENT)) {
      keys.add(comments(thing.get(Models.COMMENT_AUTHOR)));
    } else {
      throw new IllegalArgumentException(
          "no listings for " + thing.type().name() + " " + thing.fullname());
    }
    return keys;
  }

  @Override
  public ListingDefinition definition(String key) {
    String[] p = key.split(":");
    if (p.length == 2 && p[0].equals("all")) {
      return new ListingDefinition(Models.LINK, null, sort(key, p[1]), capacity);
    }
    if (p.length == 3 && p[0].equals("sr")) {
      return new ListingDefinition(
          Models.LINK, Filter.eq(Models.COMMUNITY_ID, id(key, p[1])), sort(key, p[2]), capacity);
    }
    if (p.length == 4 && p[0].equals("user") && p[3].equals("new")) {
      long id = id(key, p[1]);
      if (p[2].equals("submitted")) {
        return new ListingDefinition(
            Models.LINK, Filter.eq(Models.AUTHOR, id), ListingSort.NEW, capacity);
      }
      if (p[2].equals("comments")) {
        return new ListingDefinition(
            Models.COMMENT, Filter.eq(Models.COMMENT_AUTHOR, id), ListingSort.NEW, capacity);
      }
    }
    throw new IllegalArgumentException(
        "listing key '"
            + key
            + "' is not kept by the queue (windowed listings are"
            + " recomputed in bulk; see the class comment for the keys)");
  }

  private static ListingSort sort(String key, String name) {
    for (ListingSort s : SORTS) {
      if (s.name().toLowerCase(Locale.ROOT).equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException(
        "listing key '" + key + "' names an unknown sort '" + name + "'");
  }

  private static long id(String key, String text) {
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "listing key '" + key + "' has a bad id '" + text + "'", e);
    }
  }

  @Override
  public String toString() {
    return "blog listings (capacity " + capacity + ")";
  }
}

package io.thingdb.listings;

import io.thingdb.listings.Listing.Entry;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The reference a {@link Listing} is checked against: the live items of a query (latest version of
 * each), sorted from scratch on every read with {@link Sorts#compare}. Deliberately naive.
 */
final class ListingModel {

  static final Comparator<Entry> ORDER =
      (a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id());

  private final Map<Long, Entry> live = new HashMap<>();
  private final Map<Long, Long> lastVersion = new HashMap<>();

  /** Applies an update if it is newer than the item's latest version; returns whether it was. */
  boolean upsert(long id, long version, double value) {
    Long last = lastVersion.get(id);
    if (last != null && version <= last) {
      return false;
    }
    lastVersion.put(id, version);
    live.put(id, new Entry(id, version, value));
    return true;
  }

  /** Deletes an item; its version history is kept, as a thing's version never goes back. */
  void remove(long id) {
    live.remove(id);
  }

  Entry get(long id) {
    return live.get(id);
  }

  /** The next version for an item: one more than any it has had. */
  long nextVersion(long id) {
    return lastVersion.getOrDefault(id, 0L) + 1;
  }

  int size() {
    return live.size();
  }

  List<Long> liveIds() {
    return new ArrayList<>(live.keySet());
  }

  /** All live items in listing order. */
  List<Entry> sorted() {
    List<Entry> all = new ArrayList<>(live.values());
    all.sort(ORDER);
    return all;
  }

  /** The first {@code n} live items in listing order. */
  List<Entry> top(int n) {
    List<Entry> all = sorted();
    return new ArrayList<>(all.subList(0, Math.min(n, all.size())));
  }

  /**
   * Refills {@code listing} the way the listing store does: query the first {@code maxSize()}
   * items; the result is complete if the query returned fewer.
   */
  void refill(Listing listing) {
    List<Entry> top = top(listing.maxSize());
    listing.replaceAll(top, top.size() < listing.maxSize());
  }
}

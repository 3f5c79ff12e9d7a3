package io.thingdb.listings;

import io.thingdb.core.Fullnames;
import io.thingdb.core.Prop;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingType;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.ToLongFunction;

/**
 * Reads pages of stored listings as things, hiding what a viewer must not see: deleted things,
 * things marked as spam (except to their own author: a shadow-banned author still sees their spam
 * in listings fetched on their behalf), things that no longer exist, and, for a windowed listing
 * ({@code top}/{@code controversial} of a {@link TimeWindow}), things older than the window at read
 * time, since the last recompute can be minutes old.
 *
 * <p>A page reads the listing ({@link ListingStore#page}, cache first) and then only as many things
 * as the page still needs ({@link ThingDb#getMany}, cache first: {@code limit} things for a page
 * with nothing hidden), reading more for the entries that hidden things left short until it has
 * {@code limit} visible things or the listing ends, so hidden things never shorten a page. The
 * returned cursor continues after the last thing returned; it is null when the listing has ended.
 *
 * <p>Pages can also continue after a fullname ({@link #pageByFullname}, {@link
 * #pageForByFullname}): the {@code after} of a web API, the fullname of the last thing of the
 * previous page ({@link Page#after()}). A thing that has dropped out of the listing since still
 * continues from its sort position, so paging never restarts at the top. That needs the listing's
 * sort, which {@link ListingRecompute}'s keys name and the {@link ListingRouting} gives for the
 * others: create the reader with the routing to page any key by fullname.
 *
 * <h2>The writer's own writes</h2>
 *
 * A listing catches up with a write only when the queue has applied it (normally within a fraction
 * of a second; longer when processors are behind or down). {@link #withSession} gives a view whose
 * pages show the session's own writes at once: the things its writes through {@link Votes}
 * remembered in the session ({@link Session#wrote}: submits, edits, votes; the last {@value
 * Session#MAX_WRITTEN}, for {@link #OWN_WRITES_WINDOW}) are read fresh through the session and
 * merged into the page where the key's sort puts them now, replacing the listing's entry for them
 * (which may be missing, at an old position, or of a thing that has since left the listing). A
 * remembered thing is shown only where the processors would put it: it must not be deleted or spam,
 * the routing must route it to the key, and the viewer must be allowed to see it. Merging needs the
 * routing (create the reader with one); recomputed keys ({@code
 * <prefix>:top|controversial:<window>}) are never merged into, since the queue does not keep them.
 * Other readers see the writes when the queue has applied them. The cost: nothing for a session
 * that remembers no thing of the reader's type in the window (no session, or one that wrote nothing
 * lately); otherwise one multi-get of at most {@value Session#MAX_WRITTEN} things (cache first) per
 * page.
 *
 * <p>Thread-safe; holds no state besides its configuration (a view also holds its session, which is
 * thread-safe).
 */
public final class ListingReader {
  /** Listing entries read per batch. */
  static final int BATCH = Listing.MAX_PAGE_LIMIT;

  /**
   * How long after a write a session's pages merge it: far beyond the queue's normal delay, so a
   * backlog of minutes is covered, and short enough that an active writer's pages stop paying for
   * the merge soon after the writing stops.
   */
  public static final Duration OWN_WRITES_WINDOW = Duration.ofMinutes(10);

  private final ThingDb db;

  /** The view's session, whose remembered writes are merged; null for none. */
  private final Session session;

  private final ListingStore store;

  /** The sorts of the keys the queue keeps; null if the reader was created without it. */
  private final ListingRouting routing;

  private final ThingType type;
  private final ToLongFunction<Thing> author;
  private final Clock clock;

  private ListingReader(
      ThingDb db,
      Session session,
      ListingStore store,
      ListingRouting routing,
      ThingType type,
      ToLongFunction<Thing> author,
      Clock clock) {
    this.db = db.withSession(session);
    this.session = session;
    this.store = store;
    this.routing = routing;
    this.type = type;
    this.author = author;
    this.clock = clock;
  }

  /**
   * A reader of listings of {@code type} whose author is the value of {@code authorProp}.
   *
   * @param db the thing database
   * @param store the listing store
   * @param type the thing type of the listings' items
   * @param authorProp the prop holding a thing's author account id
   * @param clock gives "now" for the time windows
   * @return the reader
   * @throws NullPointerException if an argument is null
   */
  public static ListingReader create(
      ThingDb db, ListingStore store, ThingType type, Prop<Long> authorProp, Clock clock) {
    Objects.requireNonNull(authorProp, "authorProp must not be null");
    return create(db, store, type, (ToLongFunction<Thing>) t -> t.get(authorProp), clock);
  }

  /**
   * A reader of listings of {@code type} whose author is given by {@code author}.
   *
   * @param db the thing database
   * @param store the listing store
   * @param type the thing type of the listings' items
   * @param author the author account id of a thing; called only for things marked as spam
   * @param clock gives "now" for the time windows
   * @return the reader
   * @throws NullPointerException if an argument is null
   */
  public static ListingReader create(
      ThingDb db, ListingStore store, ThingType type, ToLongFunction<Thing> author, Clock clock) {
    return build(db, store, null, type, author, clock);
  }

  /**
   * A reader of listings of {@code type} whose author is the value of {@code authorProp}, which
   * knows the sort of every key {@code routing} defines, so that it can page any of them by
   * fullname ({@link #pageByFullname}).
   *
   * @param db the thing database
   * @param store the listing store
   * @param routing the routing the queue processors use; its {@link ListingRouting#definition}
   *     gives a key's sort
   * @param type the thing type of the listings' items
   * @param authorProp the prop holding a thing's author account id
   * @param clock gives "now" for the time windows
   * @return the reader
   * @throws NullPointerException if an argument is null
   */
  public static ListingReader create(
      ThingDb db,
      ListingStore store,
      ListingRouting routing,
      ThingType type,
      Prop<Long> authorProp,
      Clock clock) {
    Objects.requireNonNull(authorProp, "authorProp must not be null");
    return create(db, store, routing, type, (ToLongFunction<Thing>) t -> t.get(authorProp), clock);
  }

  /**
   * A reader of listings of {@code type} whose author is given by {@code author}, which knows the
   * sort of every key {@code routing} defines (see {@link #create(ThingDb, ListingStore,
   * ListingRouting, ThingType, Prop, Clock)}).
   *
   * @param db the thing database
   * @param store the listing store
   * @param routing the routing the queue processors use
   * @param type the thing type of the listings' items
   * @param author the author account id of a thing; called only for things marked as spam
   * @param clock gives "now" for the time windows
   * @return the reader
   * @throws NullPointerException if an argument is null
   */
  public static ListingReader create(
      ThingDb db,
      ListingStore store,
      ListingRouting routing,
      ThingType type,
      ToLongFunction<Thing> author,
      Clock clock) {
    return build(
        db,
        store,
        Objects.requireNonNull(routing, "routing must not be null"),
        type,
        author,
        clock);
  }

  private static ListingReader build(
      ThingDb db,
      ListingStore store,
      ListingRouting routing,
      ThingType type,
      ToLongFunction<Thing> author,
      Clock clock) {
    return new ListingReader(
        Objects.requireNonNull(db, "db must not be null"),
        db.currentSession().orElse(null),
        Objects.requireNonNull(store, "store must not be null"),
        routing,
        Objects.requireNonNull(type, "type must not be null"),
        Objects.requireNonNull(author, "author must not be null"),
        Objects.requireNonNull(clock, "clock must not be null"));
  }

  /**
   * A view of this reader for {@code session}: its things are read through the session
   * (read-your-writes through replicas), and its pages merge the session's own recent writes (see
   * the class comment). Views are cheap (one small object) and may be made per request.
   *
   * @param session the reader's session, or null for a view without one
   * @return the view
   */
  public ListingReader withSession(Session session) {
    if (session == this.session) {
      return this;
    }
    return new ListingReader(db, session, store, routing, type, author, clock);
  }

  /**
   * A page for an anonymous viewer (no spam shown).
   *
   * @param key the listing key
   * @param after the cursor of the previous page, or null for the first page
   * @param limit 1 to {@link Listing#MAX_PAGE_LIMIT}
   * @param window the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
   * @return up to {@code limit} visible things in listing order and the next cursor
   * @see #pageFor(long, String, Listing.Cursor, int, TimeWindow)
   */
  public Page page(String key, Listing.Cursor after, int limit, TimeWindow window) {
    check(key, limit, window);
    return read(null, key, after, limit, window);
  }

  /**
   * A page fetched on behalf of the account {@code viewerId}: spam things whose author is the
   * viewer are shown to them; other spam, deleted and out-of-window things are hidden.
   *
   * @param viewerId the viewer's account id
   * @param key the listing key
   * @param after the cursor of the previous page, or null for the first page
   * @param limit 1 to {@link Listing#MAX_PAGE_LIMIT}
   * @param window the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
   * @return up to {@code limit} visible things in listing order and the next cursor
   * @throws NullPointerException if {@code key} or {@code window} is null
   * @throws IllegalArgumentException if the key or limit is bad
   * @throws ThingDbException if the database fails
   */
  public Page pageFor(
      long viewerId, String key, Listing.Cursor after, int limit, TimeWindow window) {
    check(key, limit, window);
    return read(viewerId, key, after, limit, window);
  }

  /**
   * A page for an anonymous viewer (no spam shown) that continues after the thing named {@code
   * after}, a fullname such as {@code t3_15bfi0}: the {@link Page#after()} of the previous page.
   *
   * <p>Where the page starts: if the listing holds the thing, right after its entry. If the thing
   * has dropped out of the listing (deleted, marked as spam, voted down past the end, left out by
   * the last recompute), from the position of its current row under the listing's sort, so the
   * reader continues downwards and never sees the top of the listing again. The listing's sort is
   * the one {@link ListingRecompute}'s key format names ({@code <prefix>:top:<window>}, {@code
   * <prefix>:controversial:<window>}) or, for any other key, the one the reader's {@link
   * ListingRouting} defines.
   *
   * <p>A fullname that names no existing thing has no position to continue from. ThingDb's deletes
   * are soft (the row stays, so a deleted thing continues from its position as above), so such a
   * fullname never named a thing of this type, or its row was removed outside ThingDb; it is
   * refused with an {@link IllegalArgumentException} naming it, like a malformed one, rather than
   * restarting at the top (which would show items again) or ending the listing (which would hide
   * the rest).
   *
   * @param key the listing key
   * @param after the fullname of the thing to continue after, or null for the first page
   * @param limit 1 to {@link Listing#MAX_PAGE_LIMIT}
   * @param window the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
   * @return up to {@code limit} visible things in listing order and the next cursor
   * @throws NullPointerException if {@code key} or {@code window} is null
   * @throws IllegalArgumentException if the key or limit is bad, or {@code after} is malformed,
   *     names a relation or a thing of another type, or names no existing thing; the message quotes
   *     it
   * @throws IllegalStateException if {@code after} is not null and the reader cannot know the key's
   *     sort (it was created without a routing, and the key is not a recompute key)
   * @throws ThingDbException if the database fails
   * @see #pageForByFullname(long, String, String, int, TimeWindow)
   */
  public Page pageByFullname(String key, String after, int limit, TimeWindow window) {
    check(key, limit, window);
    return read(null, key, after == null ? null : cursor(key, after), limit, window);
  }

  /**
   * {@link #pageByFullname} on behalf of the account {@code viewerId}: spam things whose author is
   * the viewer are shown to them, as in {@link #pageFor}.
   *
   * @param viewerId the viewer's account id
   * @param key the listing key
   * @param after the fullname of the thing to continue after, or null for the first page
   * @param limit 1 to {@link Listing#MAX_PAGE_LIMIT}
   * @param window the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
   * @return up to {@code limit} visible things in listing order and the next cursor
   * @throws NullPointerException if {@code key} or {@code window} is null
   * @throws IllegalArgumentException as {@link #pageByFullname}
   * @throws IllegalStateException as {@link #pageByFullname}
   * @throws ThingDbException if the database fails
   */
  public Page pageForByFullname(
      long viewerId, String key, String after, int limit, TimeWindow window) {
    check(key, limit, window);
    return read(viewerId, key, after == null ? null : cursor(key, after), limit, window);
  }

  /**
   * The listing position to continue after the thing named {@code after} (see {@link
   * #pageByFullname}).
   */
  private Listing.Cursor cursor(String key, String after) {
    // Asked before it is needed, so a reader that cannot page a key by fullname fails on the
    // first page rather than the first time an item drops out.
    ListingSort sort = sortOf(key);
    Fullnames.Parsed parsed;
    List<Thing> found;
    try {
      parsed = Fullnames.parse(after);
      if (parsed.relation()) {
        throw new IllegalArgumentException("it names a relation, not a " + type.name());
      }
      found = db.getByFullnames(List.of(after), ThingDb.Missing.SKIP);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "bad after cursor '" + abbreviate(after) + "' for listing " + key + ": " + e.getMessage(),
          e);
    }
    if (found.isEmpty()) {
      throw new IllegalArgumentException(
          "bad after cursor '"
              + abbreviate(after)
              + "' for listing "
              + key
              + ": it names no "
              + type.name()
              + " that exists (ThingDb keeps deleted things, so it never named one),"
              + " and there is no position to continue from");
    }
    Thing thing = found.get(0);
    if (!thing.type().name().equals(type.name())) {
      throw new IllegalArgumentException(
          "bad after cursor '"
              + abbreviate(after)
              + "' for listing "
              + key
              + ": it names a thing of type "
              + thing.type().name()
              + ", and the listing holds "
              + type.name()
              + " things");
    }
    // A thing this view's session wrote lately is on its pages where it is now (see ownWrites),
    // not where the listing may still hold it.
    Optional<Listing.Entry> entry =
        remembers(thing.fullname())
            ? Optional.empty()
            : store.get(key).flatMap(l -> l.entry(thing.id()));
    if (entry.isPresent()) {
      return entry.get().cursor();
    }
    return new Listing.Cursor(sort.value(thing), thing.id());
  }

  /** Whether this view's session wrote the thing within {@link #OWN_WRITES_WINDOW}. */
  private boolean remembers(String fullname) {
    if (session == null || routing == null) {
      return false;
    }
    Instant since = clock.instant().minus(OWN_WRITES_WINDOW);
    for (Session.Written w : session.written()) {
      if (w.fullname().equals(fullname) && w.at().isAfter(since)) {
        return true;
      }
    }
    return false;
  }

  /** The sort of a listing: named by a recompute key, else defined by the routing. */
  private ListingSort sortOf(String key) {
    ListingSort recomputed = ListingKeys.recomputedSort(key);
    if (recomputed != null) {
      return recomputed;
    }
    if (routing == null) {
      throw new IllegalStateException(
          "cannot continue listing "
              + key
              + " after a thing that dropped out of it:"
              + " the position comes from the listing's sort, and this reader was created without the"
              + " ListingRouting that defines it (use ListingReader.create(db, store, routing, ...))");
    }
    ListingDefinition definition = routing.definition(key);
    if (definition == null) {
      throw new IllegalStateException(
          "listing routing " + routing + " returned no definition for " + key);
    }
    if (!definition.type().name().equals(type.name())) {
      throw new IllegalArgumentException(
          "listing "
              + key
              + " holds "
              + definition.type().name()
              + " things (routing "
              + routing
              + "), and this reader reads "
              + type.name()
              + " things");
    }
    return definition.sort();
  }

  private static String abbreviate(String text) {
    return text.length() <= 64 ? text : text.substring(0, 64) + "...";
  }

  private void check(String key, int limit, TimeWindow window) {
    Objects.requireNonNull(key, "key must not be null");
    Objects.requireNonNull(
        window, "window must not be null (use TimeWindow.ALL for an unwindowed listing)");
    store.checkKey(key);
    if (limit < 1 || limit > Listing.MAX_PAGE_LIMIT) {
      throw new IllegalArgumentException(
          "page limit must be between 1 and "
              + Listing.MAX_PAGE_LIMIT
              + " (limit="
              + limit
              + ", key="
              + key
              + ")");
    }
  }

  /** Reads a page; the arguments are checked. */
  private Page read(Long viewer, String key, Listing.Cursor after, int limit, TimeWindow window) {
    Optional<Instant> cutoff = window.cutoff(clock.instant());
    OwnWrites own = ownWrites(viewer, key, cutoff);
    List<Thing> items = new ArrayList<>(limit);
    List<Listing.Entry> entries = new ArrayList<>(limit);
    Listing.Cursor cursor = after;
    Listing.Cursor next = null;
    reading:
    while (true) {
      List<Listing.Entry> batch = store.page(key, cursor, BATCH);
      if (batch.isEmpty()) {
        break;
      }
      boolean ended = batch.size() < BATCH;
      // Things are fetched only for the entries the page still needs; hidden ones (deleted,
      // spam, out of the window) cost one more multi-get for as many entries as they left short.
      for (int from = 0; from < batch.size(); ) {
        int to = Math.min(batch.size(), from + (limit - items.size()));
        List<Long> ids = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
          ids.add(batch.get(i).id());
        }
        Map<Long, Thing> things = new HashMap<>();
        for (Thing t : db.getMany(type, ids, ThingDb.Missing.SKIP)) {
          things.put(t.id(), t);
        }
        for (int i = from; i < to; i++) {
          Listing.Entry e = batch.get(i);
          Thing t = things.get(e.id());
          if (t == null || !visible(t, viewer, cutoff) || own.replaces(e.id())) {
            continue;
          }
          items.add(t);
          entries.add(e);
          if (items.size() == limit) {
            boolean last = ended && i == batch.size() - 1;
            next = last ? null : e.cursor();
            break reading;
          }
        }
        from = to;
      }
      if (ended) {
        break;
      }
      cursor = batch.get(batch.size() - 1).cursor();
    }
    return own.merge(items, entries, after, next, limit);
  }

  /**
   * The session's remembered things of this reader's type, read fresh: the ids whose listing
   * entries they replace, and the entries of those that belong to {@code key}. Empty, without any
   * read, when there is nothing to merge.
   */
  private OwnWrites ownWrites(Long viewer, String key, Optional<Instant> cutoff) {
    if (session == null || routing == null || ListingKeys.isRecomputed(key)) {
      return OwnWrites.NONE;
    }
    Instant since = clock.instant().minus(OWN_WRITES_WINDOW);
    List<String> fullnames = new ArrayList<>();
    for (Session.Written w : session.written()) {
      if (w.at().isAfter(since)) {
        fullnames.add(w.fullname());
      }
    }
    if (fullnames.isEmpty()) {
      return OwnWrites.NONE;
    }
    List<Thing> fresh = new ArrayList<>();
    for (Thing t : db.getByFullnames(fullnames, ThingDb.Missing.SKIP)) {
      if (t.type().name().equals(type.name())) {
        fresh.add(t);
      }
    }
    if (fresh.isEmpty()) {
      return OwnWrites.NONE;
    }
    ListingDefinition def = routing.definition(key);
    if (def == null) {
      throw new IllegalStateException(
          "listing routing " + routing + " returned no definition for " + key);
    }
    Set<Long> ids = new HashSet<>();
    List<Own> belong = new ArrayList<>();
    for (Thing t : fresh) {
      ids.add(t.id());
      // Where the processors will put it: live, routed to this key; and shown only if visible.
      if (!t.deleted()
          && !t.spam()
          && visible(t, viewer, cutoff)
          && routing.listingsOf(t).contains(key)) {
        belong.add(new Own(t, new Listing.Entry(t.id(), t.version(), def.sort().value(t))));
      }
    }
    return new OwnWrites(ids, belong);
  }

  /** A remembered thing and its entry at its current sort value. */
  private record Own(Thing thing, Listing.Entry entry) {}

  /** The session's own writes for one page: ids to replace, and entries to merge. */
  private record OwnWrites(Set<Long> ids, List<Own> belong) {
    static final OwnWrites NONE = new OwnWrites(Set.of(), List.of());

    boolean replaces(long id) {
      return ids.contains(id);
    }

    /**
     * Merges the entries between {@code after} and {@code next} (to the end if null) into the
     * listing's page, in listing order, and cuts it to {@code limit}; the cursor continues after
     * the last item kept.
     */
    Page merge(
        List<Thing> items,
        List<Listing.Entry> entries,
        Listing.Cursor after,
        Listing.Cursor next,
        int limit) {
      List<Own> merged = new ArrayList<>();
      for (Own o : belong) {
        Listing.Entry e = o.entry();
        boolean afterStart =
            after == null || Sorts.compare(after.value(), after.id(), e.value(), e.id()) < 0;
        boolean beforeEnd =
            next == null || Sorts.compare(e.value(), e.id(), next.value(), next.id()) < 0;
        if (afterStart && beforeEnd) {
          merged.add(o);
        }
      }
      if (merged.isEmpty()) {
        return new Page(items, next);
      }
      for (int i = 0; i < items.size(); i++) {
        merged.add(new Own(items.get(i), entries.get(i)));
      }
      merged.sort(
          (a, b) ->
              Sorts.compare(a.entry().value(), a.entry().id(), b.entry().value(), b.entry().id()));
      if (merged.size() > limit) {
        merged = merged.subList(0, limit);
        next = merged.get(limit - 1).entry().cursor();
      }
      List<Thing> out = new ArrayList<>(merged.size());
      for (Own o : merged) {
        out.add(o.thing());
      }
      return new Page(out, next);
    }
  }

  private boolean visible(Thing t, Long viewer, Optional<Instant> cutoff) {
    if (t.deleted()) {
      return false;
    }
    if (t.spam() && (viewer == null || author.applyAsLong(t) != viewer)) {
      return false;
    }
    return cutoff.isEmpty() || !t.date().isBefore(cutoff.get());
  }

  /**
   * One page of visible things. Immutable and thread-safe.
   *
   * @param items the visible things, in listing order
   * @param next the cursor for the following page, or null when the listing has ended
   */
  public record Page(List<Thing> items, Listing.Cursor next) {
    /**
     * Creates a page, copying {@code items}.
     *
     * @param items the visible things, in listing order
     * @param next the cursor for the following page, or null
     */
    public Page {
      items = List.copyOf(items);
    }

    /**
     * Whether {@link #next} is a cursor (the listing may have more).
     *
     * @return whether there is a next cursor
     */
    public boolean hasNext() {
      return next != null;
    }

    /**
     * The fullname to pass as {@code after} for the following page ({@link
     * ListingReader#pageByFullname}): that of the last item, whose entry {@link #next} is the
     * cursor of.
     *
     * @return the last item's fullname, or null when the listing has ended (or the page has no
     *     items)
     */
    public String after() {
      return next == null || items.isEmpty() ? null : items.get(items.size() - 1).fullname();
    }
  }
}

package io.thingdb.listings;

import io.thingdb.core.Prop;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingType;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.ToLongFunction;

/**
 * Reads pages of stored listings as things, hiding what a viewer must not see: deleted things,
 * things marked as spam (except to their own author: a shadow-banned author still sees their
 * spam in listings fetched on their behalf), things that no longer exist, and, for a windowed
 * listing ({@code top}/{@code controversial} of a {@link TimeWindow}), things older than the
 * window at read time, since the last recompute can be minutes old.
 *
 * <p>A page reads the listing ({@link ListingStore#page}, cache first) and the things ({@link
 * ThingDb#getMany}, cache first) in batches and keeps reading until it has {@code limit} visible
 * things or the listing ends, so hidden things never shorten a page. The returned cursor continues
 * after the last thing returned; it is null when the listing has ended.
 *
 * <p>Thread-safe; holds no state besides its configuration.
 */
public final class ListingReader {
    /** Listing entries read per batch. */
    static final int BATCH = Listing.MAX_PAGE_LIMIT;

    private final ThingDb db;
    private final ListingStore store;
    private final ThingType type;
    private final ToLongFunction<Thing> author;
    private final Clock clock;

    private ListingReader(ThingDb db, ListingStore store, ThingType type, ToLongFunction<Thing> author, Clock clock) {
        this.db = db;
        this.store = store;
        this.type = type;
        this.author = author;
        this.clock = clock;
    }

    /**
     * A reader of listings of {@code type} whose author is the value of {@code authorProp}.
     *
     * @param db    the thing database
     * @param store the listing store
     * @param type  the thing type of the listings' items
     * @param authorProp the prop holding a thing's author account id
     * @param clock      gives "now" for the time windows
     * @return the reader
     * @throws NullPointerException if an argument is null
     */
    public static ListingReader create(ThingDb db, ListingStore store, ThingType type, Prop<Long> authorProp, Clock clock) {
        Objects.requireNonNull(authorProp, "authorProp must not be null");
        return create(db, store, type, (ToLongFunction<Thing>) t -> t.get(authorProp), clock);
    }

    /**
     * A reader of listings of {@code type} whose author is given by {@code author}.
     *
     * @param db    the thing database
     * @param store the listing store
     * @param type  the thing type of the listings' items
     * @param author the author account id of a thing; called only for things marked as spam
     * @param clock  gives "now" for the time windows
     * @return the reader
     * @throws NullPointerException if an argument is null
     */
    public static ListingReader create(ThingDb db, ListingStore store, ThingType type, ToLongFunction<Thing> author,
            Clock clock) {
        return new ListingReader(Objects.requireNonNull(db, "db must not be null"),
                Objects.requireNonNull(store, "store must not be null"), Objects.requireNonNull(type, "type must not be null"),
                Objects.requireNonNull(author, "author must not be null"), Objects.requireNonNull(clock, "clock must not be null"));
    }

    /**
     * A page for an anonymous viewer (no spam shown).
     *
     * @param key    the listing key
     * @param after  the cursor of the previous page, or null for the first page
     * @param limit  1 to {@link Listing#MAX_PAGE_LIMIT}
     * @param window the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
     * @return up to {@code limit} visible things in listing order and the next cursor
     * @see #pageFor(long, String, Listing.Cursor, int, TimeWindow)
     */
    public Page page(String key, Listing.Cursor after, int limit, TimeWindow window) {
        return read(null, key, after, limit, window);
    }

    /**
     * A page fetched on behalf of the account {@code viewerId}: spam things whose author is the
     * viewer are shown to them; other spam, deleted and out-of-window things are hidden.
     *
     * @param viewerId the viewer's account id
     * @param key      the listing key
     * @param after    the cursor of the previous page, or null for the first page
     * @param limit    1 to {@link Listing#MAX_PAGE_LIMIT}
     * @param window   the listing's time window ({@link TimeWindow#ALL} for unwindowed listings)
     * @return up to {@code limit} visible things in listing order and the next cursor
     * @throws NullPointerException     if {@code key} or {@code window} is null
     * @throws IllegalArgumentException if the key or limit is bad
     * @throws ThingDbException         if the database fails
     */
    public Page pageFor(long viewerId, String key, Listing.Cursor after, int limit, TimeWindow window) {
        return read(viewerId, key, after, limit, window);
    }

    private Page read(Long viewer, String key, Listing.Cursor after, int limit, TimeWindow window) {
        Objects.requireNonNull(key, "key must not be null");
        Objects.requireNonNull(window, "window must not be null (use TimeWindow.ALL for an unwindowed listing)");
        store.checkKey(key);
        if (limit < 1 || limit > Listing.MAX_PAGE_LIMIT) {
            throw new IllegalArgumentException("page limit must be between 1 and " + Listing.MAX_PAGE_LIMIT
                    + " (limit=" + limit + ", key=" + key + ")");
        }
        Optional<Instant> cutoff = window.cutoff(clock.instant());
        List<Thing> items = new ArrayList<>(limit);
        Listing.Cursor cursor = after;
        while (true) {
            List<Listing.Entry> batch = store.page(key, cursor, BATCH);
            if (batch.isEmpty()) {
                return new Page(items, null);
            }
            List<Long> ids = new ArrayList<>(batch.size());
            for (Listing.Entry e : batch) {
                ids.add(e.id());
            }
            Map<Long, Thing> things = new HashMap<>();
            for (Thing t : db.getMany(type, ids, ThingDb.Missing.SKIP)) {
                things.put(t.id(), t);
            }
            boolean ended = batch.size() < BATCH;
            for (int i = 0; i < batch.size(); i++) {
                Listing.Entry e = batch.get(i);
                Thing t = things.get(e.id());
                if (t == null || !visible(t, viewer, cutoff)) {
                    continue;
                }
                items.add(t);
                if (items.size() == limit) {
                    boolean last = ended && i == batch.size() - 1;
                    return new Page(items, last ? null : e.cursor());
                }
            }
            if (ended) {
                return new Page(items, null);
            }
            cursor = batch.get(batch.size() - 1).cursor();
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
     * @param next  the cursor for the following page, or null when the listing has ended
     */
    public record Page(List<Thing> items, Listing.Cursor next) {
        /**
         * Creates a page, copying {@code items}.
         *
         * @param items the visible things, in listing order
         * @param next  the cursor for the following page, or null
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
    }
}

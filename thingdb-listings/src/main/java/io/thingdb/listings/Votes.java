package io.thingdb.listings;

import io.thingdb.cache.Cache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.core.Counts;
import io.thingdb.core.NewThing;
import io.thingdb.core.NotFoundException;
import io.thingdb.core.RelationType;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingType;
import io.thingdb.core.ThingUpdate;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * Records votes: one relation per (account, thing) of the vote {@link RelationType} (account type
 * to voted type), whose {@code name} holds the direction {@code "1"}, {@code "0"} or {@code "-1"}.
 *
 * <p>{@link #cast} is one database transaction on the voted type's database: it locks the pair's
 * version row and the relation ({@code FOR UPDATE}), changes the relation, applies the difference
 * to the thing's {@code ups}/{@code downs} exactly once (+1 to -1 is ups-1, downs+1; a repeated vote
 * changes nothing and writes nothing), enqueues one listing-update job per listing the thing belongs
 * to and marks those listings dirty. It writes the tables exactly as thingdb-core does: the relation
 * pair's version and the thing's version are bumped and both cache keys are recorded in {@code
 * thingdb_outbox} in the same transaction; after COMMIT the cached thing is patched to its new
 * counts as core's increment does ({@link ThingDb#countsCommitted}: one gets and one cas, the
 * query-cache generation bumped in the background) and the pair key is invalidated at its new
 * version (the outbox replay of any ThingDb instance on that database covers a crash in between).
 * A changed vote is four SQL round trips (pair row, relation read, one statement for the rest,
 * COMMIT) and, with a cache, one get before and three to five round trips after COMMIT.
 *
 * <p>{@link #submit}, {@link #delete}, {@link #markSpam} and {@link #update} write through ThingDb
 * and enqueue the thing's listing jobs inside the same transaction (ThingDb's {@link
 * ThingDb.InTransaction} hook), so a write and its jobs commit together or not at all.
 *
 * <p>Core's public API commits per call, so {@link #cast} uses plain JDBC on the DataSource of the
 * voted type's database. The vote relation, the voted type and the listing queue must live on one
 * database, and so must the listing store that the processors write in the same transaction as
 * they consume jobs: {@link Builder#build()} refuses any other layout. Each database that holds
 * voted types has its own queue (its own Votes, store and processors). Listing keys in the format
 * {@link ListingRecompute} writes ({@code <prefix>:top:<window>}, {@code
 * <prefix>:controversial:<window>}) belong to the recompute; a routing that sends a write to one
 * is refused.
 *
 * <p>Thread-safe. Does not own the ThingDb, DataSource or cache.
 */
public final class Votes implements AutoCloseable {
    private static final String DEADLOCK = "40P01";
    private static final String SERIALIZATION = "40001";
    private static final int MAX_ATTEMPTS = 5;

    private final ThingDb db;
    private final DataSource dataSource;
    private final DataSource registry;
    private final RelationType relation;
    private final ThingType voted;
    private final ListingRouting routing;
    private final ListingStore store;
    private final VersionedCache cache;
    private final Clock clock;
    private final String queueDatabase;
    /** Per thing type name: whether ThingDb places the type on the queue's database. */
    private final Map<String, Boolean> onQueueDatabase = new ConcurrentHashMap<>();
    private volatile int relationTypeId;

    /**
     * The outcome of a vote.
     *
     * @param previous  the direction before, 0 if none
     * @param direction the direction now
     * @param ups       the thing's ups after the vote
     * @param downs     the thing's downs after the vote
     * @param version   the thing's version after the vote
     * @param changed   whether anything was written (false for a repeated vote); immutable
     */
    public record Vote(int previous, int direction, int ups, int downs, long version, boolean changed) {}

    private Votes(Builder b, String queueDatabase) {
        this.queueDatabase = queueDatabase;
        this.db = b.db;
        this.dataSource = b.dataSource;
        this.registry = b.registry == null ? b.dataSource : b.registry;
        this.relation = b.relation;
        this.voted = b.relation.thing2();
        this.routing = b.routing;
        this.store = b.store;
        this.cache = b.cache == null ? null : VersionedCache.builder(b.cache).clock(b.clock).build();
        this.clock = b.clock;
    }

    /**
     * Returns a builder.
     *
     * @param db         the application's ThingDb (reads the voted things for routing)
     * @param dataSource the primary of the database holding the vote relation, the voted type and
     *     the listing queue
     * @param relation   the vote relation type, registered with {@code db}: account type to voted
     *     type
     * @param routing    the thing-to-listings routing
     * @param store      the listing store (its key rules check the routing's keys)
     */
    public static Builder builder(ThingDb db, DataSource dataSource, RelationType relation, ListingRouting routing,
            ListingStore store) {
        return new Builder(db, dataSource, relation, routing, store);
    }

    /**
     * Casts, changes or clears ({@code 0}) the vote of an account on a thing of the voted type.
     * Atomic: the relation, the counts, the cache outbox rows and the listing jobs commit together
     * or not at all. Repeating the current direction writes nothing.
     *
     * @param accountId the voting account's id
     * @param thingId   the voted thing's id
     * @param direction -1, 0 or +1
     * @return the outcome
     * @throws IllegalArgumentException if {@code direction} is not -1, 0 or +1, or an id is below 1
     * @throws NotFoundException        if the thing does not exist
     * @throws VoteRejectedException    if the thing is deleted
     * @throws ThingDbException         if the database fails; the vote is then not recorded, unless
     *     the connection broke during COMMIT
     */
    public Vote cast(long accountId, long thingId, int direction) {
        if (direction < -1 || direction > 1) {
            throw new IllegalArgumentException("vote direction must be -1, 0 or +1 (direction=" + direction + ", "
                    + describe(accountId, thingId) + "); nothing was written");
        }
        if (accountId < 1 || thingId < 1) {
            throw new IllegalArgumentException("ids start at 1 (" + describe(accountId, thingId) + "); nothing was written");
        }
        Thing thing = db.get(voted, thingId).orElseThrow(() -> new NotFoundException(
                "no " + voted.name() + " with id " + thingId + " to vote on (" + describe(accountId, thingId) + ")"));
        if (thing.deleted()) {
            throw deleted(accountId, thingId);
        }
        List<String> keys = routedKeys(thing);
        int typeId = relationTypeId();
        String thingKey = "thing:" + thing.fullname();
        String pairKey = "rel:" + typeId + ":" + accountId + ":" + thingId;
        for (int attempt = 1; ; attempt++) {
            try {
                Committed done = transaction(accountId, thingId, direction, keys, thingKey, pairKey);
                if (done.vote.changed()) {
                    afterCommit(thingId, done, pairKey);
                }
                return done.vote;
            } catch (SQLException e) {
                if (attempt < MAX_ATTEMPTS && (DEADLOCK.equals(e.getSQLState()) || SERIALIZATION.equals(e.getSQLState()))) {
                    continue;
                }
                throw new ThingDbException("vote failed (" + describe(accountId, thingId) + ", direction=" + direction
                        + ", attempt " + attempt + "): " + e.getMessage() + "; nothing was written", e);
            }
        }
    }

    /**
     * Enqueues listing-update jobs for a thing after a write made through ThingDb, in a transaction
     * of its own: call it after that write returned. This is not atomic with the write; a crash in
     * between leaves the listings without that change until the thing's next job. Prefer {@link
     * #submit}, {@link #delete}, {@link #markSpam} and {@link #update}, which enqueue in the write's
     * own transaction.
     *
     * @param thing the thing as written (its props route it)
     * @throws IllegalStateException if the routing returns a bad key
     * @throws ThingDbException      if the database fails
     */
    public void touched(Thing thing) {
        Objects.requireNonNull(thing, "thing must not be null");
        List<String> keys = routedKeys(thing);
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                ListingQueue.enqueue(c, keys, thing.id());
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            throw new ThingDbException("enqueueing listing jobs for " + thing.fullname() + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Creates a thing and, in the same transaction, enqueues the jobs of the listings it belongs to.
     *
     * @param session records the commit for read-your-writes; may be null
     * @param thing   the new thing, of a type ThingDb places on this queue's database
     * @return the thing as created
     * @throws IllegalArgumentException if the type lives on another database; nothing is written
     * @throws IllegalStateException    if the routing returns null, a bad key or a key that
     *     {@link ListingRecompute} owns; nothing is written
     * @throws ThingDbException         if the database fails; nothing is written (or, for {@link
     *     io.thingdb.core.OutcomeUnknownException}, both or neither are)
     */
    public Thing submit(Session session, NewThing thing) {
        Objects.requireNonNull(thing, "thing must not be null");
        return submitAll(session, List.of(thing)).get(0);
    }

    /** {@link #submit(Session, NewThing)} without a session. */
    public Thing submit(NewThing thing) {
        return submit(null, thing);
    }

    /**
     * Creates things in one transaction (ThingDb's {@link ThingDb#createAll}) with their listing
     * jobs: one statement for all jobs and one for the dirty rows, whatever the count.
     *
     * @param session records the commit; may be null
     * @param things  the new things, of types on this queue's database
     * @return the things as created, in input order
     * @throws IllegalArgumentException if a type lives on another database; nothing is written
     * @throws IllegalStateException    if the routing fails for a thing; nothing is written
     */
    public List<Thing> submitAll(Session session, List<NewThing> things) {
        Objects.requireNonNull(things, "things must not be null");
        for (NewThing t : things) {
            checkOnQueueDatabase(Objects.requireNonNull(t, "things must not contain null").type(), "submit");
        }
        return db.createAll(session, things, (c, written) -> {
            Map<Long, List<String>> keys = new LinkedHashMap<>();
            for (Thing t : written) {
                keys.put(t.id(), routedKeys(t));
            }
            ListingQueue.enqueueAll(c, keys);
        });
    }

    /**
     * Soft-deletes (or restores) a thing and enqueues its listing jobs in the same transaction.
     * Deleting a thing that is already deleted writes nothing.
     *
     * @throws NotFoundException        if the thing no longer exists; nothing is written
     * @throws IllegalArgumentException if its type lives on another database; nothing is written
     * @see #update
     */
    public Thing delete(Session session, Thing thing, boolean deleted) {
        Objects.requireNonNull(thing, "thing must not be null");
        return update(session, thing.edit().deleted(deleted));
    }

    /**
     * Marks (or unmarks) a thing as spam and enqueues its listing jobs in the same transaction.
     *
     * @throws NotFoundException        if the thing no longer exists; nothing is written
     * @throws IllegalArgumentException if its type lives on another database; nothing is written
     * @see #update
     */
    public Thing markSpam(Session session, Thing thing, boolean spam) {
        Objects.requireNonNull(thing, "thing must not be null");
        return update(session, thing.edit().spam(spam));
    }

    /**
     * Applies an edit through ThingDb and, in the same transaction, enqueues jobs for the listings
     * of the edited snapshot and of the result (an edit that moves a thing to another group leaves
     * the old group's listings and joins the new ones). An edit with no changes writes nothing.
     *
     * @param session records the commit; may be null
     * @param update  the edit
     * @return the thing as committed
     * @throws NotFoundException        if the thing no longer exists; nothing is written
     * @throws IllegalArgumentException if its type lives on another database; nothing is written
     * @throws IllegalStateException    if the routing fails; nothing is written
     */
    public Thing update(Session session, ThingUpdate update) {
        Objects.requireNonNull(update, "update must not be null");
        Thing base = update.base();
        checkOnQueueDatabase(base.type(), "update");
        return db.update(session, update, (c, written) -> {
            for (Thing t : written) {
                LinkedHashSet<String> keys = new LinkedHashSet<>(routedKeys(base));
                keys.addAll(routedKeys(t));
                ListingQueue.enqueue(c, keys, t.id());
            }
        });
    }

    private void checkOnQueueDatabase(ThingType type, String what) {
        boolean on = onQueueDatabase.computeIfAbsent(type.name(), n -> queueDatabase.equals(
                DatabaseIdentity.of(db.databaseOf(type).primary(), "the primary of type " + n)));
        if (!on) {
            throw new IllegalArgumentException(what + " of a " + type.name() + ": ThingDb places type " + type.name()
                    + " on another database than this listing queue (" + voted.name() + "'s), so the write and its"
                    + " listing jobs could not commit in one transaction; build a Votes, ListingStore and"
                    + " ListingProcessors on that database's primary for it; nothing was written");
        }
    }

    private List<String> routedKeys(Thing thing) {
        List<String> keys = new ArrayList<>();
        Collection<String> routed = routing.listingsOf(thing);
        if (routed == null) {
            throw new IllegalStateException("listing routing " + routing + " returned null for " + thing.fullname());
        }
        for (String key : routed) {
            try {
                keys.add(store.checkKey(key));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalStateException("listing routing " + routing + " returned a bad key for "
                        + thing.fullname() + ": " + e.getMessage() + "; nothing was written", e);
            }
            if (ListingKeys.isRecomputed(key)) {
                throw new IllegalStateException("listing routing " + routing + " returned " + key + " for "
                        + thing.fullname() + ": keys <prefix>:top|controversial:<window> belong to ListingRecompute,"
                        + " which replaces those listings whole; route per-write updates to other keys (such as"
                        + " <prefix>:top for all-time top); nothing was written");
            }
        }
        return keys;
    }

    /** The current direction of an account's vote on a thing (0 if none), read from the database. */
    public int direction(long accountId, long thingId) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("select name from rel_" + relation.name()
                        + " where thing1_id = ? and thing2_id = ? and name in ('1', '0', '-1')")) {
            ps.setLong(1, accountId);
            ps.setLong(2, thingId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Integer.parseInt(rs.getString(1)) : 0;
            }
        } catch (SQLException e) {
            throw new ThingDbException("reading vote (" + describe(accountId, thingId) + ") failed: " + e.getMessage(), e);
        }
    }

    private record Committed(Vote vote, long pairVersion, long pairOutbox, long thingOutbox) {}

    private Committed transaction(long accountId, long thingId, int direction, List<String> keys, String thingKey,
            String pairKey) throws SQLException {
        String rel = relation.name();
        String thingTable = "thing_" + voted.name();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                // Lock order, the same for every vote: pair row, relation row, thing row (by the
                // update), dirty rows (sorted). Core's relation writes take the pair row first too;
                // its counter increments take only the thing row; processors never lock things.
                long[] pair = lockPair(c, rel, accountId, thingId, pairKey);
                Long relId = null;
                int previous = 0;
                try (PreparedStatement ps = c.prepareStatement("select rel_id, name from rel_" + rel
                        + " where thing1_id = ? and thing2_id = ? and name in ('1', '0', '-1') order by rel_id for update")) {
                    ps.setLong(1, accountId);
                    ps.setLong(2, thingId);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            relId = rs.getLong(1);
                            previous = Integer.parseInt(rs.getString(2));
                        }
                    }
                }
                if (previous == direction) {
                    // Nothing to change: roll back the pair-version bump and its outbox row too.
                    Committed unchanged = unchanged(c, accountId, thingId, previous);
                    c.rollback();
                    return unchanged;
                }
                int dUps = (direction == 1 ? 1 : 0) - (previous == 1 ? 1 : 0);
                int dDowns = (direction == -1 ? 1 : 0) - (previous == -1 ? 1 : 0);
                // One statement (one round trip) for the rest: the relation row (locked above, or
                // new), the thing's counts (the update is the thing's lock; "not deleted" makes a
                // deleted or missing thing update nothing, and the vote is then rolled back), its
                // outbox row, and the listing jobs and dirty rows, which read the thing's row and so
                // run after its lock was taken, in the lock order above.
                String relWrite = relId != null
                        ? "update rel_" + rel + " set name = ?, version = version + 1 where rel_id = ?"
                        : "insert into rel_" + rel + " (rel_id, thing1_id, thing2_id, name, date)"
                                + " values (nextval('relseq_" + rel + "'), ?, ?, ?, ?)";
                String sql = "with r as (" + relWrite + "), u as (update " + thingTable
                        + " set ups = ups + ?, downs = downs + ?, version = version + 1"
                        + " where thing_id = ? and not deleted returning thing_id, ups, downs, version)"
                        + (cache == null ? "" : ", o as (insert into thingdb_outbox (cache_key, version)"
                                + " select ?, version from u returning id)")
                        + ", " + ListingQueue.enqueueCtes("u")
                        + " select u.ups, u.downs, u.version, " + (cache == null ? "0::bigint" : "(select id from o)")
                        + " from u";
                long thingOutbox;
                int ups;
                int downs;
                long version;
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    int i = 1;
                    if (relId != null) {
                        ps.setString(i++, Integer.toString(direction));
                        ps.setLong(i++, relId);
                    } else {
                        ps.setLong(i++, accountId);
                        ps.setLong(i++, thingId);
                        ps.setString(i++, Integer.toString(direction));
                        ps.setTimestamp(i++, Timestamp.from(clock.instant()));
                    }
                    ps.setInt(i++, dUps);
                    ps.setInt(i++, dDowns);
                    ps.setLong(i++, thingId);
                    if (cache != null) {
                        ps.setString(i++, thingKey);
                    }
                    ps.setArray(i, c.createArrayOf("text", ListingQueue.sortedKeys(keys)));
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            RuntimeException refused = missingOrDeleted(c, accountId, thingId);
                            c.rollback();
                            throw refused;
                        }
                        ups = rs.getInt(1);
                        downs = rs.getInt(2);
                        version = rs.getLong(3);
                        thingOutbox = rs.getLong(4);
                    }
                }
                c.commit();
                return new Committed(new Vote(previous, direction, ups, downs, version, true), pair[0], pair[1], thingOutbox);
            } catch (SQLException | RuntimeException e) {
                try {
                    c.rollback();
                } catch (SQLException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }
    }

    /** The outcome of a repeated vote, read (without a lock) inside the vote's transaction. */
    private Committed unchanged(Connection c, long accountId, long thingId, int previous) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select ups, downs, version, deleted from thing_" + voted.name()
                + " where thing_id = ?")) {
            ps.setLong(1, thingId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getBoolean(4)) {
                    throw missingOrDeleted(c, accountId, thingId);
                }
                return new Committed(new Vote(previous, previous, rs.getInt(1), rs.getInt(2), rs.getLong(3), false), 0, 0, 0);
            }
        }
    }

    /** Why the thing could not be voted on: it is gone, or deleted. */
    private RuntimeException missingOrDeleted(Connection c, long accountId, long thingId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select deleted from thing_" + voted.name() + " where thing_id = ?")) {
            ps.setLong(1, thingId);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next() && rs.getBoolean(1)) {
                    return deleted(accountId, thingId);
                }
            }
        }
        return new NotFoundException("no " + voted.name() + " with id " + thingId + " to vote on ("
                + describe(accountId, thingId) + "); nothing was written");
    }

    /** As core's RelationWrites.lockPair: upsert the pair row, draw its next version, record the outbox row. */
    private long[] lockPair(Connection c, String rel, long thing1Id, long thing2Id, String pairKey) throws SQLException {
        String upsert = "insert into relpair_" + rel + " as cur (thing1_id, thing2_id, version)"
                + " values (?, ?, nextval('relverseq_" + rel + "')) on conflict (thing1_id, thing2_id)"
                + " do update set version = greatest(cur.version + 1, nextval('relverseq_" + rel + "')) returning version";
        String sql = cache == null ? "with p as (" + upsert + ") select p.version, 0::bigint from p"
                : "with p as (" + upsert + "), o as (insert into thingdb_outbox (cache_key, version)"
                        + " select ?, version from p returning id) select p.version, (select id from o) from p";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setLong(1, thing1Id);
            ps.setLong(2, thing2Id);
            if (cache != null) {
                ps.setString(3, pairKey);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2)};
            }
        }
    }

    private void afterCommit(long thingId, Committed done, String pairKey) {
        if (cache == null) {
            return;
        }
        Vote v = done.vote;
        try {
            // As after core's own increment: the cached thing patched to the new counts (one gets
            // and one cas) rather than invalidated, so the next vote and the processors still hit
            // it; the query-cache generation bumped in the background, coalesced with other writes
            // of the type, and the outbox row confirmed once that bump has landed.
            db.countsCommitted(voted, new Counts(thingId, v.ups(), v.downs(), v.version()), done.thingOutbox);
        } catch (RuntimeException e) {
            // Committed; the outbox row stays and the replayer invalidates the key and bumps the type.
        }
        try {
            // Confirmed rows go to core's batched cleanup; an unconfirmed one stays for the replayer.
            if (cache.invalidate(pairKey, done.pairVersion) != Result.UNCONFIRMED) {
                db.outboxConfirmed(voted, done.pairOutbox);
            }
        } catch (RuntimeException e) {
            // Committed; the outbox row stays and the replayer invalidates the key.
        }
    }

    private int relationTypeId() {
        int id = relationTypeId;
        if (id != 0) {
            return id;
        }
        try (Connection c = registry.getConnection();
                PreparedStatement ps = c.prepareStatement("select type_id from thingdb_registry where kind = 'r' and name = ?")) {
            ps.setString(1, relation.name());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new IllegalStateException("relation type " + relation.name() + " is not in thingdb_registry:"
                            + " register it with ThingDb.builder().relation(...), and pass the registry database to"
                            + " Votes.Builder.registry if it is not the vote database");
                }
                relationTypeId = rs.getInt(1);
                return relationTypeId;
            }
        } catch (SQLException e) {
            throw new ThingDbException("reading the id of relation type " + relation.name() + " failed: " + e.getMessage(), e);
        }
    }

    private VoteRejectedException deleted(long accountId, long thingId) {
        return new VoteRejectedException("cannot vote on deleted " + voted.name() + " " + thingId + " ("
                + describe(accountId, thingId) + "); nothing was written");
    }

    private String describe(long accountId, long thingId) {
        return relation.name() + ": " + relation.thing1().name() + " " + accountId + " -> " + voted.name() + " " + thingId;
    }

    /** Closes this service's view of the cache; nothing else. Idempotent. */
    @Override
    public void close() {
        if (cache != null) {
            cache.close();
        }
    }

    /** Builds {@link Votes}. Not thread-safe. */
    public static final class Builder {
        private final ThingDb db;
        private final DataSource dataSource;
        private final RelationType relation;
        private final ListingRouting routing;
        private final ListingStore store;
        private DataSource registry;
        private Cache cache;
        private Clock clock = Clock.systemUTC();

        private Builder(ThingDb db, DataSource dataSource, RelationType relation, ListingRouting routing, ListingStore store) {
            this.db = Objects.requireNonNull(db, "db must not be null");
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource must not be null");
            this.relation = Objects.requireNonNull(relation, "vote relation type must not be null");
            this.routing = Objects.requireNonNull(routing, "routing must not be null");
            this.store = Objects.requireNonNull(store, "store must not be null");
        }

        /** The cache the ThingDb uses; required if the ThingDb has one, or cached things go stale. */
        public Builder cache(Cache cache) {
            this.cache = Objects.requireNonNull(cache, "cache must not be null; omit the call for no cache");
            return this;
        }

        /** The database holding {@code thingdb_registry}, if not the vote database. */
        public Builder registry(DataSource registry) {
            this.registry = Objects.requireNonNull(registry, "registry must not be null");
            return this;
        }

        /** The clock that dates new vote relations. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock must not be null");
            return this;
        }

        /**
         * Creates the queue tables if missing and returns the service.
         *
         * @throws ThingDbException if the database fails
         */
        public Votes build() {
            String queueDatabase = checkLayout();
            ListingQueue.createTables(dataSource);
            return new Votes(this, queueDatabase);
        }

        /**
         * The vote transaction is only real if the relation, the voted type and the queue share a
         * database, and a processor's batch only if the store is there too: refuse a DataSource that
         * does not hold the tables ThingDb created for them, or that holds same-named tables of
         * another database. Returns the queue database's identity.
         */
        private String checkLayout() {
            String rel = relation.name();
            String votedName = relation.thing2().name();
            String typeDb = DatabaseIdentity.of(db.databaseOf(relation.thing2()).primary(),
                    "the primary of voted type " + votedName);
            String relationDb = DatabaseIdentity.of(db.databaseOf(relation).primary(), "the primary of vote relation " + rel);
            if (!typeDb.equals(relationDb)) {
                throw new IllegalArgumentException("vote relation " + rel + " and voted type " + votedName
                        + " are placed on different databases (ThingDb.builder().relation/.type): a vote's relation"
                        + " row and the thing's ups/downs must commit in one transaction, so place them on one database");
            }
            List<String> tables = List.of("thing_" + relation.thing2().name(), "rel_" + rel, "relpair_" + rel, "thingdb_outbox");
            List<String> missing = new ArrayList<>();
            try (Connection c = dataSource.getConnection();
                    PreparedStatement ps = c.prepareStatement("select t from unnest(?::text[]) t where to_regclass(t) is null")) {
                ps.setArray(1, c.createArrayOf("text", tables.toArray(new String[0])));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        missing.add(rs.getString(1));
                    }
                }
            } catch (SQLException e) {
                throw new ThingDbException("checking the vote database failed: " + e.getMessage(), e);
            }
            if (!missing.isEmpty()) {
                throw new IllegalArgumentException("the vote database does not hold " + missing + ": the vote relation "
                        + rel + " and the voted type " + relation.thing2().name() + " must be placed (ThingDb.builder()"
                        + ".relation/.type) on the database whose DataSource is passed to Votes.builder, so that a vote,"
                        + " its counts and its listing jobs commit in one transaction");
            }
            String queueDb = DatabaseIdentity.of(dataSource, "the DataSource passed to Votes.builder");
            if (!queueDb.equals(typeDb)) {
                throw new IllegalArgumentException("the DataSource passed to Votes.builder reaches another database than"
                        + " the one ThingDb places voted type " + votedName + " and vote relation " + rel + " on (it has"
                        + " tables of the same names, not the same rows): pass that database's primary, so that a vote,"
                        + " its counts and its listing jobs commit in one transaction; each database that holds voted"
                        + " types has its own queue");
            }
            String storeDb = DatabaseIdentity.of(store.dataSource(), "the listing store's DataSource");
            if (!storeDb.equals(queueDb)) {
                throw new IllegalArgumentException("the listing store is on another database than the vote queue of "
                        + votedName + ": processors write a listing in the same transaction as they consume its jobs,"
                        + " so build the ListingStore on the vote database's primary (each database that holds voted"
                        + " types has its own queue, store and processors)");
            }
            return queueDb;
        }
    }
}

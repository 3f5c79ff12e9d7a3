package io.thingdb.core;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The thing/data store: things of declared types stored on PostgreSQL (a {@code thing_<type>} row
 * of base columns and one {@code data_<type>} row per prop that differs from its default), each
 * type placed on one named {@link Database}, fronted by a write-through cache. Built by {@link
 * #builder()}.
 *
 * <h2>Sessions</h2>
 *
 * Every operation has one form. A ThingDb from {@link ThingDbBuilder#build()} reads without a
 * session: any healthy replica may serve a read, so a caller may not see its own write at once.
 * {@link #withSession(Session)} returns a view of the same ThingDb that records each write's commit
 * position in the session and reads from a replica only once it has replayed that position
 * (read-your-writes); views are cheap, share everything, and may be made per request.
 *
 * <h2>Reads</h2>
 *
 * Cache first (one multi-get), then one {@code = ANY(?)} query per table for the misses, then fills
 * that can never overwrite a newer version.
 *
 * <h2>Writes</h2>
 *
 * Every write bumps the thing's {@code version}. It records the cache key to invalidate in the
 * {@code thingdb_outbox} table in the same transaction, publishes the new version to the cache
 * after COMMIT, and deletes the outbox row once the cache confirmed it and the type's query-cache
 * generation has been bumped (in the background for updates and increments: see {@link
 * ThingQuery#cached} and {@link ThingDbBuilder#queryCacheBumpDelay}). If the cache could not be
 * updated (a node down, or this process dying between COMMIT and the cache update), any instance's
 * replayer invalidates the key within {@link ThingDbBuilder#outboxReplayInterval} plus {@link
 * ThingDbBuilder#outboxGrace}: staleness after a fault is bounded by those seconds, never by the
 * TTL. Several writes commit together through {@link #write}. A failure after COMMIT was sent is
 * never retried and surfaces as {@link OutcomeUnknownException}.
 *
 * <h2>Outages</h2>
 *
 * Each database's primary sits behind a circuit: after {@link ThingDbBuilder#circuitOpensAfter}
 * connection failures in a row, every operation that needs that primary fails at once with {@link
 * DatabaseUnavailableException} instead of waiting for the pool, while reads answered by the cache
 * (or a replica) go on; one probe every {@link ThingDbBuilder#circuitProbeInterval} closes it once
 * the database answers. {@link #unavailable()} tells an application which database is down. The
 * circuit logs one WARN line when it opens and one INFO line when it closes (logger {@code
 * io.thingdb.core.Circuit}).
 *
 * <p>Thread-safe. {@link #close()} stops the library's background threads and leaves the
 * application's DataSources and cache open: they belong to the application.
 */
public final class ThingDb implements AutoCloseable {
  /** The vote counters that {@link #incr(ThingType, long, Counter, int)} changes. */
  public enum Counter {
    /** {@code ups}. */
    UPS,
    /** {@code downs}. */
    DOWNS
  }

  /** What {@link #getMany} and {@link #getByFullnames} do with ids that do not exist. */
  public enum Missing {
    /** Leaves them out of the result. */
    SKIP,
    /** Throws {@link NotFoundException} naming them. */
    FAIL
  }

  /**
   * The work of a {@link #write}: the writes of one transaction.
   *
   * @param <T> what the work returns
   */
  @FunctionalInterface
  public interface Work<T> {
    /**
     * Writes through {@code tx}. Throwing rolls the transaction back and {@link #write} throws the
     * same exception. May run more than once (a transient failure before COMMIT runs it again in a
     * new transaction).
     */
    T run(WriteTransaction tx);
  }

  final Engine engine;
  private final Session session;

  ThingDb(Engine engine, Session session) {
    this.engine = engine;
    this.session = session;
  }

  /** A builder; at least one database is required. */
  public static ThingDbBuilder builder() {
    return new ThingDbBuilder();
  }

  // ------------------------------------------------------------------ sessions and scopes

  /** A new, empty session for read-your-writes; see {@link #withSession}. */
  public Session session() {
    return new Session();
  }

  /** Restores a session from {@link Session#token()}. */
  public Session session(String token) {
    return Session.parse(token);
  }

  /**
   * A view of this ThingDb whose writes record their commits in {@code session} and whose reads see
   * them (read-your-writes through replicas). The view shares everything with this ThingDb; making
   * one costs one small object. {@code null} returns a view without a session.
   */
  public ThingDb withSession(Session session) {
    return session == this.session ? this : new ThingDb(engine, session);
  }

  /** The session this view records commits in, or empty for a ThingDb without one. */
  public Optional<Session> currentSession() {
    return Optional.ofNullable(session);
  }

  /** Opens a statement-counting scope on this thread; close it on the same thread. */
  public Scope scope() {
    return new Scope();
  }

  // ------------------------------------------------------------------ things

  /** Starts a new thing of {@code type}. */
  public NewThing newThing(ThingType type) {
    engine.handle(type);
    return new NewThing(type);
  }

  /** Creates one thing; see {@link #createAll}. */
  public Thing create(NewThing thing) {
    return createAll(List.of(Objects.requireNonNull(thing, "thing must not be null"))).get(0);
  }

  /**
   * Creates things: per type, one statement draws the ids, one inserts the thing rows and one the
   * data rows, for each chunk of at most 10,000 things (fewer when their props are large), so a
   * batch of any size never becomes one giant statement. Things of types on one database commit
   * together, in one transaction. Things of types on different databases commit separately, one
   * database after the other (use {@link #write} for writes that must commit together).
   *
   * @return the things as created, in input order
   * @throws PartialCommitException if the things of one database committed and a later database
   *     failed: it says which things exist, which certainly do not, which are in doubt, and what a
   *     retry must do
   * @throws OutcomeUnknownException if the connection to the first database failed during COMMIT
   *     (nothing of later databases was attempted)
   * @throws ThingDbException if the first database fails (nothing was written)
   */
  public List<Thing> createAll(List<NewThing> things) {
    return engine.createAll(session, things);
  }

  /** The thing, or empty. */
  public Optional<Thing> get(ThingType type, long id) {
    return engine.get(session, type, id);
  }

  /**
   * Things by id, in input order (duplicates returned once, at their first position): one cache
   * multi-get, then one {@code = ANY} query per table for the misses, whatever the count.
   *
   * @throws NotFoundException with {@link Missing#FAIL}, naming the ids that do not exist
   */
  public List<Thing> getMany(ThingType type, Collection<Long> ids, Missing missing) {
    return engine.getMany(session, type, ids, missing);
  }

  /**
   * Things by fullname across types, in input order (duplicates once).
   *
   * @throws IllegalArgumentException if a fullname is malformed, names a relation or an
   *     unregistered type
   * @throws NotFoundException with {@link Missing#FAIL}, naming the things that do not exist
   */
  public List<Thing> getByFullnames(List<String> fullnames, Missing missing) {
    return engine.getByFullnames(session, fullnames, missing);
  }

  /**
   * Things at least as new as the versions committed when the call starts, in input order
   * (duplicates once; ids that do not exist are left out): for work that must not act on a copy
   * older than a commit it has seen, such as a listing processor consuming a job that a write
   * queued. One statement reads the committed versions from the type's primary; cached copies at
   * those versions are served from the cache, older ones are invalidated at the committed version
   * and read again from the primary.
   *
   * @throws ThingDbException if a thing cannot be read at its committed version after three
   *     attempts (a cache that refuses invalidations), or the database fails
   */
  public List<Thing> getLatest(ThingType type, Collection<Long> ids) {
    return engine.getLatest(type, ids);
  }

  /**
   * Runs one page of {@code query}: one SQL statement selects the page's ids (routed like every
   * read), then the things are loaded cache first ({@link #getMany}). A query {@link
   * ThingQuery#cached cached} and warm runs no SQL statement at all; how long a cached list can
   * outlive a write is bounded as {@link ThingQuery#cached} states.
   *
   * @throws IllegalArgumentException if the query's type is not registered here, or its cursor
   *     names another type
   * @throws NotFoundException if the cursor thing does not exist
   */
  public ThingQuery.Result query(ThingQuery query) {
    return engine.query(session, query);
  }

  /**
   * Streams the live (not deleted, not spam) things that {@code scan} selects to {@code visitor},
   * in no particular order, through a cursor in one read-only transaction on the scan's DataSource
   * (by default the type's primary): for batch jobs such as listing recomputes, which should read a
   * replica kept for them. Bypasses the cache; not retried.
   *
   * @return how many things were visited
   */
  public long scan(ThingScan scan, ThingScan.Visitor visitor) {
    return engine.scan(scan, visitor);
  }

  /**
   * Writes the changed props and flags of {@code update} (a prop set to its default has its row
   * deleted), bumps the version, and returns the thing as committed. An update with no changes
   * writes nothing and returns the snapshot it was made from.
   *
   * @throws NotFoundException if the thing no longer exists
   */
  public Thing update(ThingUpdate update) {
    return engine.update(session, update);
  }

  /**
   * Soft-deletes ({@code true}) or restores ({@code false}) a thing: sets its {@code deleted} flag,
   * which queries and listings honour; the rows stay. See {@link #update}.
   */
  public Thing setDeleted(Thing thing, boolean deleted) {
    return engine.setDeleted(session, thing, deleted);
  }

  /** Marks ({@code true}) or unmarks a thing as spam; see {@link #update}. */
  public Thing markSpam(Thing thing, boolean spam) {
    return engine.markSpam(session, thing, spam);
  }

  /**
   * Atomically adds {@code delta} to a vote counter in one autocommitted statement that also
   * records the outbox row ({@code x = x + ?} in SQL). The cache is updated by patching a cached
   * copy of the previous version, or else invalidated at the new version.
   *
   * @throws NotFoundException if there is no such thing
   * @throws OutOfRangeException if the counter would go below 0 or above 2,147,483,647 (nothing is
   *     written)
   * @throws OutcomeUnknownException if the connection failed while the statement ran
   */
  public Counts incr(ThingType type, long id, Counter counter, int delta) {
    return engine.incr(session, type, id, counter, delta);
  }

  /**
   * Atomically adds {@code delta} to a long or double prop ({@code value = value + ?} in SQL,
   * starting from the default when the thing has no row for it).
   *
   * @throws IllegalArgumentException if the prop is not LONG or DOUBLE, or a DOUBLE delta is not
   *     finite
   * @throws OutOfRangeException if the sum overflows the prop's kind (nothing is written)
   * @throws NotFoundException if there is no such thing
   */
  public <T extends Number> Thing incr(ThingType type, long id, Prop<T> prop, T delta) {
    return engine.incr(session, type, id, prop, delta);
  }

  /**
   * Runs {@code work} in one database transaction and commits it: things created, updated and
   * counted, relations set by their pair, and the caller's statements on its own tables commit
   * together or not at all, each with ThingDB's versions, outbox rows and cache updates (see {@link
   * WriteTransaction}). Transient failures before COMMIT (deadlock, serialization failure, lost
   * connection) run the work again, a bounded number of times ({@link
   * ThingDbBuilder#transientRetries}); a failure during COMMIT is never retried.
   *
   * @return what the work returned
   * @throws OutcomeUnknownException if the connection failed during COMMIT (the write may or may
   *     not have been committed)
   * @throws ThingDbException if the database fails (nothing was written)
   */
  public <T> T write(Work<T> work) {
    return engine.write(session, work);
  }

  // ------------------------------------------------------------------ relations

  /**
   * Starts a relation of {@code type} from {@code thing1} to {@code thing2} named {@code name} (for
   * a vote, its direction). The snapshots prove that the endpoints exist; their types are checked
   * here.
   *
   * @throws IllegalArgumentException if the relation type is not registered, an endpoint is of the
   *     wrong type, or the name is null, longer than {@value Relation#MAX_NAME_LENGTH} characters
   *     or contains NUL
   */
  public NewRelation newRelation(RelationType type, Thing thing1, Thing thing2, String name) {
    return engine.newRelation(type, thing1, thing2, name);
  }

  /**
   * Starts a relation of {@code type} between two things given by id; {@link #create(NewRelation)}
   * checks that both exist (a cache-first read of each): nothing is written for a missing one.
   *
   * @throws IllegalArgumentException if the relation type is not registered, an id is below 1, or
   *     the name is null, too long or contains NUL
   */
  public NewRelation newRelation(RelationType type, long thing1Id, long thing2Id, String name) {
    return engine.newRelation(type, thing1Id, thing2Id, name);
  }

  /**
   * Creates a relation in one transaction on its database (the relation row, its data rows, the
   * pair's new cache version and the outbox row), then publishes the pair's list to the cache.
   *
   * @throws DuplicateRelationException if a relation with the same (thing1, thing2, name) exists
   * @throws NotFoundException if an endpoint given by id does not exist (nothing is written)
   */
  public Relation create(NewRelation relation) {
    return engine.create(session, relation);
  }

  /**
   * The relation with this id, or empty: one statement, not cached (the cached read is {@link
   * #lookup}).
   */
  public Optional<Relation> getRelation(RelationType type, long id) {
    return engine.getRelation(session, type, id);
  }

  /**
   * All relations of {@code type} from thing {@code thing1Id}, by id: one statement, not cached,
   * not paginated.
   */
  public List<Relation> relationsByThing1(RelationType type, long thing1Id) {
    return engine.relationsByThing(session, type, "thing1", thing1Id, false, null);
  }

  /** Like {@link #relationsByThing1(RelationType, long)}, only relations named {@code name}. */
  public List<Relation> relationsByThing1(RelationType type, long thing1Id, String name) {
    return engine.relationsByThing(session, type, "thing1", thing1Id, true, name);
  }

  /**
   * All relations of {@code type} to thing {@code thing2Id}, by id: one statement, not cached, not
   * paginated.
   */
  public List<Relation> relationsByThing2(RelationType type, long thing2Id) {
    return engine.relationsByThing(session, type, "thing2", thing2Id, false, null);
  }

  /** Like {@link #relationsByThing2(RelationType, long)}, only relations named {@code name}. */
  public List<Relation> relationsByThing2(RelationType type, long thing2Id, String name) {
    return engine.relationsByThing(session, type, "thing2", thing2Id, true, name);
  }

  /**
   * Which of {@code pairs} have relations of {@code type}, and with which names: a map with every
   * distinct requested pair, in input order, to its relations by id (empty when there are none).
   * One cache multi-get, then ONE statement for all pairs that missed; the answers, negative ones
   * included, are cached per pair at the pair's version, which every relation write raises and
   * publishes after COMMIT.
   *
   * @throws IllegalArgumentException if a pair has an id below 1
   */
  public Map<Relation.Pair, List<Relation>> lookup(
      RelationType type, Collection<Relation.Pair> pairs) {
    return engine.lookup(session, type, pairs);
  }

  /**
   * Writes the changed props and name of {@code update}, bumps the relation's version and the
   * pair's cache version, and returns the relation as committed. An update with no changes writes
   * nothing and returns its snapshot.
   *
   * @throws NotFoundException if the relation no longer exists (nothing is written)
   * @throws DuplicateRelationException if the new name is taken in this pair (nothing is written)
   */
  public Relation update(RelationUpdate update) {
    return engine.update(session, update);
  }

  /**
   * Deletes the relation row and its data rows (a hard delete: a relation is a link, and the same
   * (thing1, thing2, name) may be created again), bumps the pair's cache version and publishes the
   * pair's remaining list.
   *
   * @return false if the relation did not exist (then nothing is written)
   */
  public boolean delete(Relation relation) {
    return engine.delete(session, relation);
  }

  // ------------------------------------------------------------------ availability

  /**
   * Whether a database of this ThingDb is known to be down: empty while every database's circuit is
   * closed, else the {@link DatabaseUnavailableException} that operations on the first database
   * whose circuit is open get now (naming it, with its retry-after hint and last connection failure
   * as the cause). Costs one volatile read per database and no I/O: for an application that wants
   * to avoid work that cannot succeed during an outage, such as re-rendering a cached page, or to
   * fail its own SQL fast. A closed circuit is no promise: the next operation may be the one that
   * finds the database gone. See {@link ThingDbBuilder#circuitOpensAfter}.
   */
  public Optional<DatabaseUnavailableException> unavailable() {
    return engine.unavailable();
  }

  /**
   * Like {@link #unavailable()}, for the database named {@code database} only.
   *
   * @throws IllegalArgumentException if no database of that name is configured
   */
  public Optional<DatabaseUnavailableException> unavailable(String database) {
    return engine.unavailable(database);
  }

  // ------------------------------------------------------------------ layout

  /** The database {@code type} is placed on (its primary takes the type's writes). */
  public Database databaseOf(ThingType type) {
    return engine.databaseOf(type);
  }

  /** The database relation {@code type} is placed on. */
  public Database databaseOf(RelationType type) {
    return engine.databaseOf(type);
  }

  /**
   * Which of ThingDB's tables for {@code types} and {@code relations} (their thing, relation and
   * pair tables, and the outbox) the database that {@code dataSource} reaches lacks, in that order:
   * for a module checking that its own tables share a database with a type's, so that its writes
   * can join the type's transactions.
   */
  public List<String> tablesMissingFrom(
      DataSource dataSource, List<ThingType> types, List<RelationType> relations) {
    return engine.tablesMissingFrom(dataSource, types, relations);
  }

  /**
   * The cache key under which this ThingDb caches thing {@code id} of {@code type} (before the
   * cache's own namespace prefix): for tools and benchmarks that read the cache directly. Its
   * format belongs to ThingDB and may change; do not build it yourself.
   */
  public String cacheKeyOf(ThingType type, long id) {
    return engine.cacheKeyOf(type, id);
  }

  /**
   * Database {@code database}'s cache epoch as this instance knows it now ({@link CacheEpoch}): it
   * changes when the database's primary changes timeline (a promotion) or is another PostgreSQL
   * cluster. Every cache key ThingDb uses for the database's things, relation pairs and queries
   * carries it, so that after a failover no value written through the cache by a transaction the
   * new primary lost is read again; modules that cache values derived from the database under keys
   * of their own should key them by it too.
   *
   * <p>An instance learns a new epoch at the first write it makes on the new primary, at once when
   * the database answers again after connection failures, before a read for a session whose token
   * shows a later timeline uses the cache (a session restored from an instance that learned first),
   * and at the latest {@link ThingDbBuilder#epochCheckInterval} (plus one check) after the new
   * primary accepts connections. Epochs only move forward. Thread-safe.
   *
   * @throws IllegalArgumentException if no database has that name
   */
  public CacheEpoch cacheEpoch(String database) {
    return CacheEpoch.of(engine.database(database).epoch());
  }

  /**
   * Stops the outbox and query-cache threads of this ThingDb and of every view of it. Idempotent;
   * leaves DataSources and the cache open.
   */
  @Override
  public void close() {
    engine.close();
  }

  @Override
  public String toString() {
    return "ThingDb" + engine.databases().keySet() + (session == null ? "" : " with " + session);
  }
}

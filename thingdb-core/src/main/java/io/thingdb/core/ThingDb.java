package io.thingdb.core;

import io.thingdb.cache.Cache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thing/data store: things of declared types stored on PostgreSQL (a {@code thing_<type>}
 * row of base columns and one {@code data_<type>} row per prop that differs from its default),
 * each type placed on one named {@link Database}, fronted by a write-through cache.
 *
 * <h2>Reads</h2>
 * Cache first (one multi-get), then one {@code = ANY(?)} query per table for the misses, then
 * fills that can never overwrite a newer version. Reads go to a replica unless the caller's
 * {@link Session} holds a WAL position that replica has not replayed; without a session, any
 * healthy replica may serve them (no read-your-writes).
 *
 * <h2>Writes</h2>
 * Every write bumps the thing's {@code version}. It records the cache key to invalidate in the
 * {@code thingdb_outbox} table in the same transaction, publishes the new version to the cache
 * after COMMIT, and deletes the outbox row once the cache confirmed. If the cache could not be
 * updated (a node down, or this process dying between COMMIT and the cache update), any instance's
 * replayer invalidates the key within {@link Builder#outboxReplayInterval} plus {@link
 * Builder#outboxGrace}: staleness after a fault is bounded by those seconds, never by the TTL.
 * A failure after COMMIT was sent is never retried and surfaces as {@link
 * OutcomeUnknownException}.
 *
 * <p>Thread-safe. {@link #close()} stops the library's background threads and leaves the
 * application's DataSources and cache open: they belong to the application.
 */
public final class ThingDb implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ThingDb.class);

  /** The vote counters that {@link #incr(ThingType, long, Counter, int)} changes. */
  public enum Counter {
    /** {@code ups}. */
    UPS,
    /** {@code downs}. */
    DOWNS
  }

  /** What {@link #getMany} does with ids that do not exist. */
  public enum Missing {
    /** Leaves them out of the result. */
    SKIP,
    /** Throws {@link NotFoundException} naming them. */
    FAIL
  }

  final Sql sql;
  final Clock clock;
  final VersionedCache cache;
  final Duration cacheTtl;
  final Map<String, DbHandle> databases;
  final Map<String, TypeHandle> types = new LinkedHashMap<>();
  final Map<Integer, TypeHandle> typesById = new HashMap<>();
  final Routing routing;
  final Outbox outbox;
  final Retry retry;
  final Consumer<String> afterCommitHook;
  private volatile boolean closed;

  /** A registered type: where it lives and its stable id. */
  static final class TypeHandle {
    final ThingType type;
    final int id;
    final DbHandle db;

    TypeHandle(ThingType type, int id, DbHandle db) {
      this.type = type;
      this.id = id;
      this.db = db;
    }
  }

  private ThingDb(Builder b) {
    this.sql = new Sql(b.logParameters);
    this.clock = b.clock;
    this.cacheTtl = b.cacheTtl;
    this.afterCommitHook = b.afterCommitHook;
    this.retry = new Retry(b.transientRetries);
    this.cache = b.cache == null ? null : VersionedCache.builder(b.cache).clock(b.clock).build();
    Map<String, DbHandle> dbs = new LinkedHashMap<>();
    for (Map.Entry<String, Database> e : b.databases.entrySet()) {
      dbs.put(e.getKey(), new DbHandle(e.getKey(), e.getValue()));
    }
    this.databases = java.util.Collections.unmodifiableMap(dbs);
    this.routing = new Routing(sql, b.replicaDownFor);
    Schema schema = new Schema(sql);
    String registryDb = dbs.keySet().iterator().next();
    try {
      for (DbHandle db : dbs.values()) {
        inTransaction(db.database.primary(), c -> {
          schema.bootstrap(c, db.name.equals(registryDb));
          return null;
        });
      }
      for (Map.Entry<ThingType, String> e : b.types.entrySet()) {
        ThingType type = e.getKey();
        DbHandle db = dbs.get(e.getValue());
        int id = inTransaction(dbs.get(registryDb).database.primary(), c -> schema.register(c, 't', type.name(), type.props()));
        inTransaction(db.database.primary(), c -> {
          schema.createThingTables(c, type.name());
          return null;
        });
        TypeHandle h = new TypeHandle(type, id, db);
        types.put(type.name(), h);
        typesById.put(id, h);
      }
    } catch (SQLException e) {
      closeCache();
      throw new ThingDbException("cannot prepare the ThingDB schema: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeCache();
      throw e;
    }
    this.outbox = new Outbox(this, b.outboxReplayInterval, b.outboxGrace);
    outbox.start();
  }

  private void closeCache() {
    if (cache != null) {
      cache.close();
    }
  }

  /** A builder; at least one database is required. */
  public static Builder builder() {
    return new Builder();
  }

  // ------------------------------------------------------------------ sessions and scopes

  /** A new, empty session for read-your-writes. */
  public Session session() {
    return new Session();
  }

  /** Restores a session from {@link Session#token()}. */
  public Session session(String token) {
    return Session.parse(token);
  }

  /** Opens a statement-counting scope on this thread; close it on the same thread. */
  public Scope scope() {
    return new Scope();
  }

  // ------------------------------------------------------------------ creation

  /** Starts a new thing of {@code type}. */
  public NewThing newThing(ThingType type) {
    handle(type);
    return new NewThing(type);
  }

  /** Creates one thing. */
  public Thing create(NewThing thing) {
    return create(null, thing);
  }

  /** Creates one thing and records its commit in {@code session}. */
  public Thing create(Session session, NewThing thing) {
    return createAll(session, List.of(thing)).get(0);
  }

  /** Creates things in one transaction per database with a constant number of statements. */
  public List<Thing> createAll(List<NewThing> things) {
    return createAll(null, things);
  }

  /**
   * Creates things: per type, one statement draws the ids, one inserts the thing rows and one the
   * data rows, whatever the count. Things of types on different databases commit separately.
   */
  public List<Thing> createAll(Session session, List<NewThing> things) {
    checkOpen();
    Objects.requireNonNull(things, "things must not be null");
    Map<TypeHandle, List<Integer>> byType = new LinkedHashMap<>();
    for (int i = 0; i < things.size(); i++) {
      NewThing t = Objects.requireNonNull(things.get(i), "things must not contain null");
      byType.computeIfAbsent(handle(t.type()), k -> new ArrayList<>()).add(i);
    }
    Thing[] out = new Thing[things.size()];
    for (Map.Entry<TypeHandle, List<Integer>> e : byType.entrySet()) {
      TypeHandle h = e.getKey();
      List<NewThing> batch = new ArrayList<>();
      for (int i : e.getValue()) {
        batch.add(things.get(i));
      }
      List<Thing> created = writeTx(h.db, session, c -> ThingWrites.insert(this, c, h, batch));
      for (int i = 0; i < created.size(); i++) {
        out[e.getValue().get(i)] = created.get(i);
      }
      afterCommit("create " + h.type.name());
      if (cache != null) {
        Map<String, Versioned> fills = new LinkedHashMap<>();
        for (Thing t : created) {
          fills.put(cacheKey(t), new Versioned(ThingCodec.encode(t), t.version()));
        }
        cache.fillAll(fills, cacheTtl);
      }
    }
    return List.of(out);
  }

  // ------------------------------------------------------------------ reads

  /** The thing, or empty. */
  public Optional<Thing> get(ThingType type, long id) {
    return get(null, type, id);
  }

  /** The thing as {@code session} may read it, or empty. */
  public Optional<Thing> get(Session session, ThingType type, long id) {
    List<Thing> found = getMany(session, type, List.of(id), Missing.SKIP);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /** Things by id, in input order. */
  public List<Thing> getMany(ThingType type, Collection<Long> ids, Missing missing) {
    return getMany(null, type, ids, missing);
  }

  /**
   * Things by id, in input order (duplicates returned once, at their first position): one cache
   * multi-get, then one {@code = ANY} query per table for the misses, whatever the count.
   */
  public List<Thing> getMany(Session session, ThingType type, Collection<Long> ids, Missing missing) {
    checkOpen();
    TypeHandle h = handle(type);
    Objects.requireNonNull(ids, "ids must not be null");
    Objects.requireNonNull(missing, "missing must not be null");
    LinkedHashSet<Long> unique = new LinkedHashSet<>();
    for (Long id : ids) {
      unique.add(checkId(type, Objects.requireNonNull(id, "ids must not contain null")));
    }
    Map<Long, Thing> found = ThingReads.load(this, session, h, unique);
    List<Thing> out = new ArrayList<>(unique.size());
    List<Long> absent = new ArrayList<>();
    for (long id : unique) {
      Thing t = found.get(id);
      if (t == null) {
        absent.add(id);
      } else {
        out.add(t);
      }
    }
    if (!absent.isEmpty() && missing == Missing.FAIL) {
      throw new NotFoundException("no " + type.name() + " with id " + absent);
    }
    return out;
  }

  /** Things by fullname across types, in input order; unknown fullnames per {@code missing}. */
  public List<Thing> getByFullnames(Session session, List<String> fullnames, Missing missing) {
    checkOpen();
    Objects.requireNonNull(fullnames, "fullnames must not be null");
    Map<TypeHandle, List<Long>> byType = new LinkedHashMap<>();
    List<Fullnames.Parsed> parsed = new ArrayList<>();
    for (String f : fullnames) {
      Fullnames.Parsed p = Fullnames.parse(f);
      if (p.relation()) {
        throw new IllegalArgumentException("'" + f + "' names a relation, not a thing");
      }
      TypeHandle h = typesById.get(p.typeId());
      if (h == null) {
        throw new IllegalArgumentException("fullname '" + f + "' names type id " + p.typeId() + ", which is not registered here");
      }
      parsed.add(p);
      byType.computeIfAbsent(h, k -> new ArrayList<>()).add(p.id());
    }
    Map<String, Thing> byFullname = new HashMap<>();
    for (Map.Entry<TypeHandle, List<Long>> e : byType.entrySet()) {
      for (Thing t : getMany(session, e.getKey().type, e.getValue(), Missing.SKIP)) {
        byFullname.put(t.fullname(), t);
      }
    }
    List<Thing> out = new ArrayList<>();
    List<String> absent = new ArrayList<>();
    for (String f : new LinkedHashSet<>(fullnames)) {
      Thing t = byFullname.get(f);
      if (t == null) {
        absent.add(f);
      } else {
        out.add(t);
      }
    }
    if (!absent.isEmpty() && missing == Missing.FAIL) {
      throw new NotFoundException("no things named " + absent);
    }
    return out;
  }

  /** Things by fullname, no session. */
  public List<Thing> getByFullnames(List<String> fullnames, Missing missing) {
    return getByFullnames(null, fullnames, missing);
  }

  // ------------------------------------------------------------------ updates

  /** Applies an update; see {@link #update(Session, ThingUpdate)}. */
  public Thing update(ThingUpdate update) {
    return update(null, update);
  }

  /**
   * Writes the changed props and flags of {@code update} (a prop set to its default has its row
   * deleted), bumps the version, and returns the thing as committed. An update with no changes
   * writes nothing and returns the snapshot it was made from.
   *
   * @throws NotFoundException if the thing no longer exists
   */
  public Thing update(Session session, ThingUpdate update) {
    checkOpen();
    Objects.requireNonNull(update, "update must not be null");
    if (update.isEmpty()) {
      return update.base();
    }
    TypeHandle h = handle(update.base().type());
    ThingWrites.Committed done = writeTx(h.db, session, c -> ThingWrites.update(this, c, h, update));
    publishAfterCommit(h, done);
    return done.thing();
  }

  /** Atomically adds {@code delta} to {@code ups} or {@code downs} ({@code x = x + ?} in SQL). */
  public Counts incr(ThingType type, long id, Counter counter, int delta) {
    return incr(null, type, id, counter, delta);
  }

  /**
   * Atomically adds {@code delta} to a vote counter in one autocommitted statement that also
   * records the outbox row. The cache is updated by patching a cached copy of the previous
   * version, or else invalidated at the new version.
   *
   * @throws NotFoundException if there is no such thing
   * @throws OutcomeUnknownException if the connection failed while the statement ran
   */
  public Counts incr(Session session, ThingType type, long id, Counter counter, int delta) {
    checkOpen();
    TypeHandle h = handle(type);
    checkId(type, id);
    Objects.requireNonNull(counter, "counter must not be null");
    ThingWrites.RowCommitted done = ThingWrites.incrCounter(this, session, h, id, counter, delta);
    Thing.Row row = done.row();
    afterCommit("incr " + cacheKey(h, id));
    if (cache != null) {
      String key = cacheKey(h, id);
      Versioned cached = cache.get(key);
      Thing previous = cached == null ? null : ThingCodec.decode(h.type, h.id, cached.value());
      Result r;
      if (previous != null && previous.version() == row.version() - 1) {
        Thing patched = previous.withCounters(row.ups(), row.downs(), row.version());
        r = cache.publish(key, ThingCodec.encode(patched), row.version(), cacheTtl);
      } else {
        r = cache.invalidate(key, row.version());
      }
      outbox.confirm(h.db, done.outboxId(), r);
    }
    return new Counts(row.id(), row.ups(), row.downs(), row.version());
  }

  /** Atomically adds {@code delta} to a numeric prop; see {@link #incr(Session, ThingType, long, Prop, Number)}. */
  public <T extends Number> Thing incr(ThingType type, long id, Prop<T> prop, T delta) {
    return incr(null, type, id, prop, delta);
  }

  /**
   * Atomically adds {@code delta} to a long or double prop ({@code value = value + ?} in SQL,
   * starting from the default when the thing has no row for it).
   */
  public <T extends Number> Thing incr(Session session, ThingType type, long id, Prop<T> prop, T delta) {
    checkOpen();
    TypeHandle h = handle(type);
    checkId(type, id);
    type.check(prop);
    Objects.requireNonNull(delta, "delta must not be null");
    if (prop.kind() != PropKind.LONG && prop.kind() != PropKind.DOUBLE) {
      throw new IllegalArgumentException("prop '" + prop.name() + "' of type " + type.name() + " is " + prop.kind()
          + "; only LONG and DOUBLE props can be incremented");
    }
    ThingWrites.Committed done = writeTx(h.db, session, c -> ThingWrites.incrProp(this, c, h, id, prop, delta));
    publishAfterCommit(h, done);
    return done.thing();
  }

  /** Soft-deletes (or restores) a thing. */
  public Thing delete(Session session, Thing thing, boolean deleted) {
    return update(session, thing.edit().deleted(deleted));
  }

  /** Marks (or unmarks) a thing as spam. */
  public Thing markSpam(Session session, Thing thing, boolean spam) {
    return update(session, thing.edit().spam(spam));
  }

  // ------------------------------------------------------------------ internals shared with helpers

  String cacheKey(Thing t) {
    return "thing:" + t.fullname();
  }

  String cacheKey(TypeHandle h, long id) {
    return "thing:" + Fullnames.thing(h.id, id);
  }

  private void publishAfterCommit(TypeHandle h, ThingWrites.Committed done) {
    Thing after = done.thing();
    afterCommit("write " + after.fullname());
    if (cache == null) {
      return;
    }
    Result r = cache.publish(cacheKey(after), ThingCodec.encode(after), after.version(), cacheTtl);
    outbox.confirm(h.db, done.outboxId(), r);
  }

  void afterCommit(String what) {
    if (afterCommitHook != null) {
      afterCommitHook.accept(what);
    }
  }

  TypeHandle handle(ThingType type) {
    Objects.requireNonNull(type, "type must not be null");
    TypeHandle h = types.get(type.name());
    if (h == null || h.type != type) {
      throw new IllegalArgumentException("unknown type " + type.name() + ": register it with ThingDb.builder().type(...)"
          + " (registered: " + types.keySet() + ")");
    }
    return h;
  }

  static long checkId(ThingType type, long id) {
    if (id < 1) {
      throw new IllegalArgumentException("id out of range for " + type.name() + ": " + id + " (ids start at 1)");
    }
    return id;
  }

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException("ThingDb is closed");
    }
  }

  /** Work run inside a transaction. */
  @FunctionalInterface
  interface TxWork<T> {
    T run(Connection c) throws SQLException;
  }

  /** A transaction on a primary, without retries (startup only). */
  static <T> T inTransaction(DataSource ds, TxWork<T> work) throws SQLException {
    try (Connection c = ds.getConnection()) {
      c.setAutoCommit(false);
      try {
        T result = work.run(c);
        c.commit();
        return result;
      } catch (SQLException | RuntimeException e) {
        try {
          c.rollback();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      } finally {
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * A write transaction on {@code db}'s primary with bounded retries of transient failures before
   * COMMIT; a failure during COMMIT is {@link OutcomeUnknownException}. Records the commit's WAL
   * position in {@code session} when the database has replicas.
   */
  <T> T writeTx(DbHandle db, Session session, TxWork<T> work) {
    return retry.run("write on " + db.name, () -> {
      try (Connection c = db.database.primary().getConnection()) {
        c.setAutoCommit(false);
        T result;
        try {
          result = work.run(c);
        } catch (SQLException | RuntimeException e) {
          rollbackQuietly(c, e);
          throw e;
        }
        try {
          sql.commit(c);
        } catch (SQLException e) {
          if (Retry.isConnectionFailure(e)) {
            throw new OutcomeUnknownException("the connection to database " + db.name
                + " failed during COMMIT; the write may or may not have been committed: " + e.getMessage(), e);
          }
          throw e;
        }
        recordPosition(db, session, c);
        c.setAutoCommit(true);
        return result;
      }
    });
  }

  void recordPosition(DbHandle db, Session session, Connection c) throws SQLException {
    if (session != null && !db.database.replicas().isEmpty()) {
      // Read after COMMIT: pg_current_wal_lsn() can lag an asynchronously committed record, and
      // a position read inside the transaction is before its commit record.
      String lsn = sql.query(c, "select pg_current_wal_insert_lsn()::text", rs -> rs.getString(1)).get(0);
      session.committed(db.name, Session.parseLsn(lsn));
    }
  }

  private static void rollbackQuietly(Connection c, Exception cause) {
    try {
      c.rollback();
    } catch (SQLException e) {
      cause.addSuppressed(e);
    }
  }

  /** The databases, by name (for tests and the listings module). */
  Map<String, DbHandle> databases() {
    return databases;
  }

  /** Stops the outbox threads. Idempotent; leaves DataSources and the cache open. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    outbox.close();
    closeCache();
  }

  /** Builds a {@link ThingDb}. Setters validate at once; {@link #build()} checks the layout. */
  public static final class Builder {
    private final Map<String, Database> databases = new LinkedHashMap<>();
    private final Map<ThingType, String> types = new LinkedHashMap<>();
    private Cache cache;
    private boolean cacheChosen;
    private Duration cacheTtl = Duration.ofHours(1);
    private Clock clock = Clock.systemUTC();
    private boolean logParameters;
    private Duration outboxReplayInterval = Duration.ofSeconds(1);
    private Duration outboxGrace = Duration.ofSeconds(1);
    private Duration replicaDownFor = Duration.ofSeconds(5);
    private int transientRetries = 3;
    private Consumer<String> afterCommitHook;

    private Builder() {}

    /**
     * Adds a named database. The first one added also holds the type registry. Names follow the
     * type name rule.
     */
    public Builder database(String name, Database database) {
      ThingType.checkName("database", name);
      Objects.requireNonNull(database, "database must not be null");
      if (databases.putIfAbsent(name, database) != null) {
        throw new IllegalArgumentException("database " + name + " is configured twice");
      }
      return this;
    }

    /** Places {@code type} on the database named {@code database}. */
    public Builder type(ThingType type, String database) {
      Objects.requireNonNull(type, "type must not be null");
      Objects.requireNonNull(database, "database must not be null");
      for (ThingType t : types.keySet()) {
        if (t.name().equals(type.name())) {
          throw new IllegalArgumentException("type " + type.name() + " is registered twice");
        }
      }
      types.put(type, database);
      return this;
    }

    /** The cache in front of the database (memcached or in-process). */
    public Builder cache(Cache cache) {
      this.cache = Objects.requireNonNull(cache, "cache must not be null; use noCache() to run without one");
      this.cacheChosen = true;
      return this;
    }

    /** Runs without a cache: every read goes to the database. */
    public Builder noCache() {
      this.cache = null;
      this.cacheChosen = true;
      return this;
    }

    /** How long things stay in the cache (default 1 hour); writes update them anyway. */
    public Builder cacheTtl(Duration ttl) {
      Objects.requireNonNull(ttl, "cacheTtl must not be null");
      if (ttl.isNegative() || ttl.isZero()) {
        throw new IllegalArgumentException("cacheTtl must be positive: " + ttl);
      }
      this.cacheTtl = ttl;
      return this;
    }

    /** The clock for default creation dates and cache expiry (default system UTC). */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    /** Logs SQL parameter values on {@code io.thingdb.sql} (default off: masked). */
    public Builder logParameters(boolean on) {
      this.logParameters = on;
      return this;
    }

    /** How often unconfirmed cache invalidations are replayed (default 1 s). */
    public Builder outboxReplayInterval(Duration interval) {
      this.outboxReplayInterval = positive("outboxReplayInterval", interval);
      return this;
    }

    /** How old an outbox row must be before another instance replays it (default 1 s). */
    public Builder outboxGrace(Duration grace) {
      this.outboxGrace = positive("outboxGrace", grace);
      return this;
    }

    /** How long a failed replica stays out of rotation before it is probed again (default 5 s). */
    public Builder replicaDownFor(Duration d) {
      this.replicaDownFor = positive("replicaDownFor", d);
      return this;
    }

    /** Retries of transient failures before COMMIT (default 3, 0 to 10). */
    public Builder transientRetries(int retries) {
      if (retries < 0 || retries > 10) {
        throw new IllegalArgumentException("transientRetries must be between 0 and 10: " + retries);
      }
      this.transientRetries = retries;
      return this;
    }

    /** Test hook run after each COMMIT, before the cache is updated. */
    Builder afterCommitHook(Consumer<String> hook) {
      this.afterCommitHook = hook;
      return this;
    }

    private static Duration positive(String name, Duration d) {
      Objects.requireNonNull(d, name + " must not be null");
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive: " + d);
      }
      return d;
    }

    /**
     * Prepares the schema (library tables, registry, one table pair per type) and starts the
     * outbox replayer.
     *
     * @throws IllegalStateException if the layout is incomplete
     * @throws SchemaConflictException if a registration disagrees with the database
     */
    public ThingDb build() {
      if (databases.isEmpty()) {
        throw new IllegalStateException("at least one database is required: call database(\"main\", Database.of(dataSource))");
      }
      if (!cacheChosen) {
        throw new IllegalStateException("choose a cache: call cache(InProcessCache.create()), cache(memcached) or noCache()");
      }
      for (Map.Entry<ThingType, String> e : types.entrySet()) {
        if (!databases.containsKey(e.getValue())) {
          throw new IllegalStateException("type " + e.getKey().name() + " is placed on database " + e.getValue()
              + ", which is not configured (configured: " + databases.keySet() + ")");
        }
      }
      return new ThingDb(this);
    }
  }

  /** The instant now on the configured clock, truncated to microseconds. */
  Instant now() {
    return clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MICROS);
  }

  /** Maps a thing row (without props) read with {@code select *}. */
  static Thing.Row row(ResultSet rs) throws SQLException {
    return new Thing.Row(rs.getLong("thing_id"), rs.getInt("ups"), rs.getInt("downs"), rs.getBoolean("deleted"),
        rs.getBoolean("spam"), Sql.instant(rs, "date"), rs.getLong("version"));
  }
}

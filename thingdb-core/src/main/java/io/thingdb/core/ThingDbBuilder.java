package io.thingdb.core;

import io.thingdb.cache.Cache;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import javax.sql.DataSource;

/**
 * Builds a {@link ThingDb}: the databases, where each type and relation type lives, the cache and
 * the tuning options. Setters validate at once and name the offending value; {@link #build()}
 * checks the layout as a whole. Not thread-safe; a built ThingDb does not change when the builder
 * is changed afterwards.
 */
public final class ThingDbBuilder {
  final Map<String, Database> databases = new LinkedHashMap<>();
  final Map<ThingType, String> types = new LinkedHashMap<>();
  final Map<RelationType, String> relations = new LinkedHashMap<>();
  Cache cache;
  boolean cacheChosen;
  Duration cacheTtl = Duration.ofHours(1);
  Clock clock = Clock.systemUTC();
  boolean logParameters;
  Duration outboxReplayInterval = Duration.ofSeconds(1);
  Duration outboxGrace = Duration.ofSeconds(1);
  Duration queryCacheBumpDelay = Duration.ofMillis(10);
  Duration replicaDownFor = Duration.ofSeconds(5);
  Duration epochCheckInterval = Duration.ofSeconds(1);
  int transientRetries = 3;
  int circuitOpensAfter = 5;
  Duration circuitProbeInterval = Duration.ofMillis(250);
  Consumer<String> afterCommitHook;

  ThingDbBuilder() {}

  /**
   * Adds a named database. The first one added also holds the type registry (type ids), so every
   * application sharing these databases must add the same one first. Names follow the type name
   * rule.
   */
  public ThingDbBuilder database(String name, Database database) {
    ThingType.checkName("database", name);
    Objects.requireNonNull(database, "database must not be null");
    if (databases.putIfAbsent(name, database) != null) {
      throw new IllegalArgumentException("database " + name + " is configured twice");
    }
    return this;
  }

  /** Places {@code type} on the database named {@code database}. */
  public ThingDbBuilder type(ThingType type, String database) {
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

  /**
   * Places relation type {@code type} on the database named {@code database}; both of its endpoint
   * types must be registered with {@link #type} as well (checked by {@link #build()}).
   */
  public ThingDbBuilder relation(RelationType type, String database) {
    Objects.requireNonNull(type, "relation type must not be null");
    Objects.requireNonNull(database, "database must not be null");
    for (RelationType r : relations.keySet()) {
      if (r.name().equals(type.name())) {
        throw new IllegalArgumentException("relation type " + type.name() + " is registered twice");
      }
    }
    relations.put(type, database);
    return this;
  }

  /** The cache in front of the database (memcached or in-process). */
  public ThingDbBuilder cache(Cache cache) {
    this.cache =
        Objects.requireNonNull(cache, "cache must not be null; use noCache() to run without one");
    this.cacheChosen = true;
    return this;
  }

  /** Runs without a cache: every read goes to the database. */
  public ThingDbBuilder noCache() {
    this.cache = null;
    this.cacheChosen = true;
    return this;
  }

  /** How long things stay in the cache (default 1 hour); writes update them anyway. */
  public ThingDbBuilder cacheTtl(Duration ttl) {
    Objects.requireNonNull(ttl, "cacheTtl must not be null");
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("cacheTtl must be positive: " + ttl);
    }
    this.cacheTtl = ttl;
    return this;
  }

  /**
   * The clock for default creation dates and cache expiry (default system UTC). Versions never come
   * from it (the database counts them), so a clock that steps back changes no ordering of versions
   * and leaves no stale cache entry; a thing created after such a step is dated by the clock as it
   * reads, earlier than things created before the step, and ThingDB does not correct it.
   */
  public ThingDbBuilder clock(Clock clock) {
    this.clock = Objects.requireNonNull(clock, "clock must not be null");
    return this;
  }

  /** Logs SQL parameter values on {@code io.thingdb.sql} (default off: masked). */
  public ThingDbBuilder logParameters(boolean on) {
    this.logParameters = on;
    return this;
  }

  /** How often unconfirmed cache invalidations are replayed (default 1 s). */
  public ThingDbBuilder outboxReplayInterval(Duration interval) {
    this.outboxReplayInterval = positive("outboxReplayInterval", interval);
    return this;
  }

  /** How old an outbox row must be before another instance replays it (default 1 s). */
  public ThingDbBuilder outboxGrace(Duration grace) {
    this.outboxGrace = positive("outboxGrace", grace);
    return this;
  }

  /**
   * How long after an update or increment returns its type's query-cache generation is bumped, at
   * the latest (default 10 ms; 0 to 10 s). Updates and increments do not bump the generation
   * themselves: a background thread sends one bump per type for all the writes of the last {@code
   * delay}, so a busy type costs one cache round trip per delay, not one per write. Until then
   * other instances may serve query results cached before the write; this instance does not (its
   * next generation read carries the bump). {@link ThingDb#create} and {@link ThingDb#createAll}
   * bump before they return. See {@link ThingQuery#cached} for the whole bound.
   */
  public ThingDbBuilder queryCacheBumpDelay(Duration delay) {
    Objects.requireNonNull(delay, "queryCacheBumpDelay must not be null");
    if (delay.isNegative() || delay.compareTo(Duration.ofSeconds(10)) > 0) {
      throw new IllegalArgumentException(
          "queryCacheBumpDelay must be between 0 and 10 s: " + delay);
    }
    this.queryCacheBumpDelay = delay;
    return this;
  }

  /**
   * How often each database's primary is asked for its cache epoch, its system identifier and
   * timeline (default 1 s; 10 ms to 1 min). After a promotion, an instance that only reads stops
   * using the values cached under the old timeline at most twice this long (plus one check) after
   * the new primary accepts connections through the primary DataSource and its connections stop
   * failing (periodic checks pause for one interval after a connection failure, so as not to take
   * the pool's connections during an outage); one that writes learns it at its first write on the
   * new primary, every instance checks at once when the database answers again after connection
   * failures, and a read for a session that wrote on the new timeline checks before it uses the
   * cache (so read-your-writes holds across instances right after a promotion). One short statement
   * per database per interval. See {@link ThingDb#cacheEpoch}.
   */
  public ThingDbBuilder epochCheckInterval(Duration interval) {
    Objects.requireNonNull(interval, "epochCheckInterval must not be null");
    if (interval.compareTo(Duration.ofMillis(10)) < 0
        || interval.compareTo(Duration.ofMinutes(1)) > 0) {
      throw new IllegalArgumentException(
          "epochCheckInterval must be between 10 ms and 1 min: " + interval);
    }
    this.epochCheckInterval = interval;
    return this;
  }

  /** How long a failed replica stays out of rotation before it is probed again (default 5 s). */
  public ThingDbBuilder replicaDownFor(Duration d) {
    this.replicaDownFor = positive("replicaDownFor", d);
    return this;
  }

  /** Retries of transient failures before COMMIT (default 3, 0 to 10). */
  public ThingDbBuilder transientRetries(int retries) {
    if (retries < 0 || retries > 10) {
      throw new IllegalArgumentException("transientRetries must be between 0 and 10: " + retries);
    }
    this.transientRetries = retries;
    return this;
  }

  /**
   * How many connection-level failures in a row (SQLSTATE class 08, 57P01-57P03, a pool's acquire
   * timeout; no success in between) open a database's circuit (default 5, 1 to 100). While it is
   * open every operation on that database fails at once with {@link DatabaseUnavailableException}
   * instead of waiting for a connection, cached reads are still served, and one probe tries the
   * database every {@link #circuitProbeInterval}. The default is above one operation's attempts
   * with the default {@link #transientRetries}, so a single unlucky write does not open it; under
   * load a crashed server opens it within about one pool acquire timeout.
   */
  public ThingDbBuilder circuitOpensAfter(int failures) {
    if (failures < 1 || failures > 100) {
      throw new IllegalArgumentException(
          "circuitOpensAfter must be between 1 and 100: " + failures);
    }
    this.circuitOpensAfter = failures;
    return this;
  }

  /**
   * How often an open circuit probes its database with a connection and {@code select 1} (default
   * 250 ms, 10 ms to 60 s); the probe that succeeds closes it, and {@link
   * DatabaseUnavailableException#retryAfter()} is this interval. The database is known to be back
   * at most one interval plus one probe after it accepts connections again. Without {@link
   * Database#withProbe} a probe waits for the pool like any caller: with HikariCP, keep {@code
   * connectionTimeout} short (below a second) and {@code minimumIdle} at 0, or HikariCP's own
   * refill, which backs off to 5 s between attempts while callers wait or idle connections are
   * owed, decides when the first connection after an outage comes; give the database an unpooled
   * probe DataSource ({@link Database#withProbe}) to take the pool out of that decision.
   */
  public ThingDbBuilder circuitProbeInterval(Duration interval) {
    Objects.requireNonNull(interval, "circuitProbeInterval must not be null");
    if (interval.compareTo(Duration.ofMillis(10)) < 0
        || interval.compareTo(Duration.ofSeconds(60)) > 0) {
      throw new IllegalArgumentException(
          "circuitProbeInterval must be between 10 ms and 60 s: " + interval);
    }
    this.circuitProbeInterval = interval;
    return this;
  }

  /** Test hook run after each COMMIT, before the cache is updated. */
  ThingDbBuilder afterCommitHook(Consumer<String> hook) {
    this.afterCommitHook = hook;
    return this;
  }

  /**
   * Refuses a pool too small for what ThingDB holds: with a cache, the outbox thread holds one
   * connection of each primary while it deletes or replays rows, so callers need another. Only
   * pools that report their size (HikariCP's {@code getMaximumPoolSize()}) can be checked.
   */
  static void checkPoolSize(String database, String role, DataSource ds, int needed) {
    int size;
    try {
      Object v = ds.getClass().getMethod("getMaximumPoolSize").invoke(ds);
      if (!(v instanceof Integer i)) {
        return;
      }
      size = i;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return; // not a pool that reports its size
    }
    if (size < needed) {
      throw new IllegalStateException(
          "the "
              + role
              + " pool of database "
              + database
              + " allows "
              + size
              + " connection(s), but ThingDB needs at least "
              + needed
              + " (its outbox thread holds one while it runs,"
              + " and callers need the rest): raise maximumPoolSize");
    }
  }

  private static Duration positive(String name, Duration d) {
    Objects.requireNonNull(d, name + " must not be null");
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + " must be positive: " + d);
    }
    return d;
  }

  /**
   * Prepares the schema (library tables, registry, one table pair per type) and starts the outbox
   * replayer.
   *
   * @throws IllegalStateException if the layout is incomplete
   * @throws SchemaConflictException if a registration disagrees with the database
   */
  public ThingDb build() {
    if (databases.isEmpty()) {
      throw new IllegalStateException(
          "at least one database is required: call database(\"main\", Database.of(dataSource))");
    }
    for (Map.Entry<String, Database> e : databases.entrySet()) {
      checkPoolSize(e.getKey(), "primary", e.getValue().primary(), cache != null ? 2 : 1);
    }
    if (!cacheChosen) {
      throw new IllegalStateException(
          "choose a cache: call cache(InProcessCache.create()), cache(memcached) or noCache()");
    }
    for (Map.Entry<ThingType, String> e : types.entrySet()) {
      if (!databases.containsKey(e.getValue())) {
        throw new IllegalStateException(
            "type "
                + e.getKey().name()
                + " is placed on database "
                + e.getValue()
                + ", which is not configured (configured: "
                + databases.keySet()
                + ")");
      }
    }
    for (Map.Entry<RelationType, String> e : relations.entrySet()) {
      RelationType r = e.getKey();
      if (!databases.containsKey(e.getValue())) {
        throw new IllegalStateException(
            "relation type "
                + r.name()
                + " is placed on database "
                + e.getValue()
                + ", which is not configured (configured: "
                + databases.keySet()
                + ")");
      }
      for (ThingType endpoint : List.of(r.thing1(), r.thing2())) {
        String which = endpoint == r.thing1() ? "thing1" : "thing2";
        if (!types.containsKey(endpoint)) {
          throw new IllegalStateException(
              "relation type "
                  + r.name()
                  + " links "
                  + r.thing1().name()
                  + " -> "
                  + r.thing2().name()
                  + ", but its "
                  + which
                  + " type "
                  + endpoint.name()
                  + " is not registered (the same ThingType object): call type("
                  + endpoint.name()
                  + ", database) too");
        }
      }
      for (ThingType t : types.keySet()) {
        if (t.name().equals(RelationHandle.table(r.name()))) {
          throw new IllegalStateException(
              "type "
                  + t.name()
                  + " and relation type "
                  + r.name()
                  + " would both use the table data_"
                  + t.name()
                  + "; rename one of them");
        }
      }
    }
    return new ThingDb(new Engine(this), null);
  }
}

package io.thingdb.core;

import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
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
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The machinery behind {@link ThingDb}: the registered types and databases, the SQL runner, the
 * versioned cache, replica routing, retries, the outbox and the query cache, and the operations the
 * facade exposes. Package-private: the public contract is ThingDb's. Thread-safe.
 */
final class Engine implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ThingDb.class);

  /**
   * The longest a writer waits for the cache client to reconcile a key whose update it could not
   * confirm.
   */
  static final Duration UNCONFIRMED_WAIT = Duration.ofMillis(250);

  final Sql sql;
  final Clock clock;
  final VersionedCache cache;
  final Duration cacheTtl;
  final Map<String, DbHandle> databases;
  final Map<String, TypeHandle> types = new LinkedHashMap<>();
  final Map<Integer, TypeHandle> typesById = new HashMap<>();
  final Map<String, RelationHandle> relationTypes = new LinkedHashMap<>();
  final Routing routing;
  final Outbox outbox;
  final Retry retry;
  final Consumer<String> afterCommitHook;
  final QueryCache queryCache;

  /** Keeps the databases' cache epochs current (see {@link Epoch}). */
  final EpochWatch epochWatch;

  /** What the read and write paths get. */
  final Io io;

  /**
   * Runs the circuits' probes and the replicas' (see {@link Routing}); its one thread starts with
   * the first outage. One thread for all databases: a probe waits at most the pool's acquire
   * timeout, and outages of several databases at once are rare enough to probe them in turn.
   */
  private final ScheduledThreadPoolExecutor prober;

  private static final AtomicInteger PROBERS = new AtomicInteger();

  private volatile boolean closed;

  private static Thread proberThread(Runnable r) {
    Thread t = new Thread(r, "thingdb-circuit-" + PROBERS.incrementAndGet());
    t.setDaemon(true);
    return t;
  }

  Engine(ThingDbBuilder b) {
    this.sql = new Sql(b.logParameters);
    this.clock = b.clock;
    this.cacheTtl = b.cacheTtl;
    this.afterCommitHook = b.afterCommitHook;
    this.retry = new Retry(b.transientRetries);
    this.cache = b.cache == null ? null : VersionedCache.builder(b.cache).clock(b.clock).build();
    this.queryCache = new QueryCache(b.cache != null, b.queryCacheBumpDelay);
    Map<String, DbHandle> dbs = new LinkedHashMap<>();
    this.prober = new ScheduledThreadPoolExecutor(1, Engine::proberThread);
    for (Map.Entry<String, Database> e : b.databases.entrySet()) {
      Circuit circuit =
          new Circuit(
              e.getKey(),
              e.getValue().primary(),
              e.getValue().probe(),
              sql,
              b.circuitOpensAfter,
              b.circuitProbeInterval,
              prober);
      dbs.put(e.getKey(), new DbHandle(e.getKey(), e.getValue(), circuit));
    }
    this.databases = java.util.Collections.unmodifiableMap(dbs);
    this.epochWatch = new EpochWatch(sql, dbs.values(), b.epochCheckInterval);
    for (DbHandle db : dbs.values()) {
      db.onEpochCheck(
          () -> epochWatch.request(db),
          () -> epochWatch.check(db, "a check of its primary for a session on a later timeline"));
      db.circuit.onConnectionEvent(db::requestEpochCheck);
    }
    this.routing = new Routing(sql, b.replicaDownFor, b.clock, prober);
    this.io = new Io(sql, cache, cacheTtl, routing, retry, clock);
    Schema schema = new Schema(sql);
    String registryDb = dbs.keySet().iterator().next();
    try {
      for (DbHandle db : dbs.values()) {
        EpochWatch.readAtBuild(sql, db);
      }
      for (DbHandle db : dbs.values()) {
        inTransaction(
            db.database.primary(),
            c -> {
              schema.bootstrap(c, db.name.equals(registryDb));
              return null;
            });
      }
      for (Map.Entry<ThingType, String> e : b.types.entrySet()) {
        ThingType type = e.getKey();
        DbHandle db = dbs.get(e.getValue());
        int id =
            inTransaction(
                dbs.get(registryDb).database.primary(),
                c -> schema.register(c, 't', type.name(), type.props()));
        inTransaction(
            db.database.primary(),
            c -> {
              schema.createThingTables(c, type.name());
              return null;
            });
        TypeHandle h = new TypeHandle(type, id, db);
        types.put(type.name(), h);
        typesById.put(id, h);
      }
      for (Map.Entry<RelationType, String> e : b.relations.entrySet()) {
        RelationType rt = e.getKey();
        DbHandle db = dbs.get(e.getValue());
        int id =
            inTransaction(
                dbs.get(registryDb).database.primary(),
                c -> schema.register(c, 'r', rt.name(), rt.props()));
        inTransaction(
            db.database.primary(),
            c -> {
              schema.createRelationTables(c, rt.name());
              return null;
            });
        relationTypes.put(
            rt.name(),
            new RelationHandle(
                rt, id, db, types.get(rt.thing1().name()), types.get(rt.thing2().name())));
      }
    } catch (SQLException e) {
      queryCache.close(this);
      prober.shutdownNow();
      epochWatch.close();
      closeCache();
      throw new ThingDbException("cannot prepare the ThingDB schema: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      queryCache.close(this);
      prober.shutdownNow();
      epochWatch.close();
      closeCache();
      throw e;
    }
    this.outbox = new Outbox(this, b.outboxReplayInterval, b.outboxGrace);
    outbox.start();
    // The epoch matters to cache keys and to read-your-writes positions through replicas.
    if (cache != null || dbs.values().stream().anyMatch(d -> !d.replicas.isEmpty())) {
      epochWatch.start();
    }
  }

  private void closeCache() {
    if (cache != null) {
      cache.close();
    }
  }

  // ------------------------------------------------------------------ creation

  /**
   * Creates things: per type, one statement draws the ids, one inserts the thing rows and one the
   * data rows per chunk ({@link ThingWrites#insert}). Things of types on different databases commit
   * separately, in one transaction per database; a failure after one of them committed is a {@link
   * PartialCommitException}.
   */
  List<Thing> createAll(Session session, List<NewThing> things) {
    checkOpen();
    Objects.requireNonNull(things, "things must not be null");
    // One transaction per database, not per type: a batch whose second type failed used to
    // leave the first type's things committed behind an exception.
    Map<DbHandle, Map<TypeHandle, List<Integer>>> byDb = new LinkedHashMap<>();
    for (int i = 0; i < things.size(); i++) {
      NewThing t = Objects.requireNonNull(things.get(i), "things must not contain null");
      TypeHandle h = handle(t.type());
      byDb.computeIfAbsent(h.db, k -> new LinkedHashMap<>())
          .computeIfAbsent(h, k -> new ArrayList<>())
          .add(i);
    }
    Thing[] out = new Thing[things.size()];
    List<DbHandle> committed = new ArrayList<>();
    for (Map.Entry<DbHandle, Map<TypeHandle, List<Integer>>> d : byDb.entrySet()) {
      Map<TypeHandle, List<Integer>> byType = d.getValue();
      Map<TypeHandle, List<Thing>> createdByType;
      Epoch[] committedOn = new Epoch[1];
      try {
        createdByType =
            writeTx(
                d.getKey(),
                session,
                committedOn,
                c -> {
                  Map<TypeHandle, List<Thing>> done = new LinkedHashMap<>();
                  for (Map.Entry<TypeHandle, List<Integer>> e : byType.entrySet()) {
                    List<NewThing> batch = new ArrayList<>();
                    for (int i : e.getValue()) {
                      batch.add(things.get(i));
                    }
                    done.put(e.getKey(), ThingWrites.insert(io, c, e.getKey(), batch));
                  }
                  return done;
                });
      } catch (RuntimeException e) {
        if (committed.isEmpty()) {
          throw e; // nothing committed anywhere: the failure says it all
        }
        throw partialCommit(things, out, byDb, committed, d.getKey(), e);
      }
      committed.add(d.getKey());
      for (Map.Entry<TypeHandle, List<Integer>> e : byType.entrySet()) {
        TypeHandle h = e.getKey();
        List<Thing> created = createdByType.get(h);
        for (int i = 0; i < created.size(); i++) {
          out[e.getValue().get(i)] = created.get(i);
        }
        afterCommit("create " + h.type.name());
        createdCommitted(h, created, committedOn[0]);
      }
    }
    return List.of(out);
  }

  /**
   * What a {@link #createAll} over several databases reports when database {@code failed} failed
   * after the {@code committed} ones had committed: the committed things per database, and the
   * input things that are certainly not created (the failed database's when it rolled back, and
   * those of the databases not attempted) or in doubt (the failed database's when the connection
   * was lost during COMMIT).
   */
  private static PartialCommitException partialCommit(
      List<NewThing> things,
      Thing[] out,
      Map<DbHandle, Map<TypeHandle, List<Integer>>> byDb,
      List<DbHandle> committed,
      DbHandle failed,
      RuntimeException cause) {
    boolean unknown = cause instanceof OutcomeUnknownException;
    Map<String, List<Thing>> created = new LinkedHashMap<>();
    List<Integer> notCommitted = new ArrayList<>();
    List<Integer> inDoubt = new ArrayList<>();
    for (Map.Entry<DbHandle, Map<TypeHandle, List<Integer>>> d : byDb.entrySet()) {
      List<Integer> indices = new ArrayList<>();
      d.getValue().values().forEach(indices::addAll);
      java.util.Collections.sort(indices);
      if (committed.contains(d.getKey())) {
        List<Thing> onDb = new ArrayList<>(indices.size());
        for (int i : indices) {
          onDb.add(out[i]);
        }
        created.put(d.getKey().name, onDb);
      } else if (d.getKey() == failed && unknown) {
        inDoubt.addAll(indices);
      } else {
        notCommitted.addAll(indices);
      }
    }
    java.util.Collections.sort(notCommitted);
    return new PartialCommitException(
        created,
        failed.name,
        unknown,
        notCommitted.stream().map(things::get).toList(),
        inDoubt.stream().map(things::get).toList(),
        cause);
  }

  /**
   * After COMMIT of created things on {@code epoch} (null: unknown, nothing is filled): fills their
   * cache keys and retires the type's cached queries.
   */
  void createdCommitted(TypeHandle h, List<Thing> created, Epoch epoch) {
    if (cache != null && epoch != null) {
      cache.fillAll(ThingCodec.fills(cache, epoch, created), cacheTtl);
    }
    queryCache.bump(this, h);
  }

  // ------------------------------------------------------------------ reads

  /** The thing as {@code session} may read it, or empty. */
  Optional<Thing> get(Session session, ThingType type, long id) {
    List<Thing> found = getMany(session, type, List.of(id), ThingDb.Missing.SKIP);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /**
   * Things by id, in input order (duplicates returned once, at their first position): one cache
   * multi-get, then one {@code = ANY} query per table for the misses, whatever the count.
   */
  List<Thing> getMany(
      Session session, ThingType type, Collection<Long> ids, ThingDb.Missing missing) {
    checkOpen();
    TypeHandle h = handle(type);
    Objects.requireNonNull(ids, "ids must not be null");
    Objects.requireNonNull(missing, "missing must not be null");
    long[] unique = distinct(type, ids);
    Thing[] found = ThingReads.loadAll(io, session, h, unique);
    List<Thing> out = new ArrayList<>(unique.length);
    List<Long> absent = null;
    for (int i = 0; i < unique.length; i++) {
      Thing t = found[i];
      if (t != null) {
        out.add(t);
      } else {
        if (absent == null) {
          absent = new ArrayList<>();
        }
        absent.add(unique[i]);
      }
    }
    if (absent != null && missing == ThingDb.Missing.FAIL) {
      throw new NotFoundException("no " + type.name() + " with id " + absent);
    }
    return out;
  }

  /**
   * The checked ids in input order, each once (at its first position), through an open-addressing
   * table of longs: no boxing, no per-id node as a LinkedHashSet would allocate. Ids are at least
   * 1, so 0 marks a free slot.
   */
  static long[] distinct(ThingType type, Collection<Long> ids) {
    int n = ids.size();
    long[] out = new long[n];
    long[] table = new long[Integer.highestOneBit(Math.max(2, n) * 2 - 1) << 1];
    int mask = table.length - 1;
    int m = 0;
    for (Long boxed : ids) {
      long id = checkId(type, Objects.requireNonNull(boxed, "ids must not contain null"));
      long mixed = id * 0x9E3779B97F4A7C15L;
      int slot = (int) (mixed ^ (mixed >>> 32)) & mask;
      while (true) {
        long at = table[slot];
        if (at == 0) {
          table[slot] = id;
          out[m++] = id;
          break;
        }
        if (at == id) {
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
    return m == n ? out : java.util.Arrays.copyOf(out, m);
  }

  /**
   * Things at least as new as the versions committed when the call starts, in input order
   * (duplicates once; ids that do not exist are left out): for work that must not act on a copy
   * older than a commit it has seen, such as a listing processor consuming a job that a write
   * queued. One statement reads the committed versions from the type's primary; cached copies at
   * those versions are served from the cache, older ones are invalidated at the committed version
   * and read again from the primary. Thread-safe.
   *
   * @throws ThingDbException if a thing cannot be read at its committed version after three
   *     attempts (a cache that refuses invalidations), or the database fails
   */
  List<Thing> getLatest(ThingType type, Collection<Long> ids) {
    checkOpen();
    TypeHandle h = handle(type);
    Objects.requireNonNull(ids, "ids must not be null");
    long[] unique = distinct(type, ids);
    if (unique.length == 0) {
      return List.of();
    }
    Map<Long, Long> versions = new HashMap<>();
    retry.run(
        h.db,
        "reading the committed versions of " + unique.length + " " + type.name() + " things",
        () -> {
          versions.clear();
          try (Connection c = h.db.circuit.connect()) {
            sql.query(
                c,
                "select thing_id, version from thing_" + type.name() + " where thing_id = any(?)",
                rs -> versions.put(rs.getLong(1), rs.getLong(2)),
                unique);
          }
          return null;
        });
    long[] existing = new long[versions.size()];
    int n = 0;
    for (long id : unique) {
      if (versions.containsKey(id)) {
        existing[n++] = id;
      }
    }
    // Misses and stale copies are read from the primary: a replica may not have the version yet.
    Session primary = new Session();
    primary.committed(h.db.name, Long.MAX_VALUE);
    for (int attempt = 1; ; attempt++) {
      Thing[] found = ThingReads.loadAll(io, primary, h, existing);
      List<Thing> stale = new ArrayList<>();
      int absent = 0;
      for (Thing t : found) {
        if (t == null) {
          absent++;
        } else if (t.version() < versions.get(t.id())) {
          stale.add(t);
        }
      }
      if (stale.isEmpty() && absent == 0) {
        return List.of(found);
      }
      if (attempt == 3 || cache == null) {
        String example =
            stale.isEmpty()
                ? "a thing the primary holds was missing from the read"
                : "e.g. "
                    + stale.get(0).fullname()
                    + " at version "
                    + stale.get(0).version()
                    + ", database has "
                    + versions.get(stale.get(0).id());
        throw new ThingDbException(
            "could not read "
                + (absent + stale.size())
                + " of "
                + existing.length
                + " "
                + type.name()
                + " things at their committed versions after "
                + attempt
                + " attempts ("
                + example
                + "); is the cache refusing invalidations?");
      }
      for (Thing t : stale) {
        cache.invalidate(h.cacheKey(h.db.epoch(), t.id()), versions.get(t.id()));
      }
    }
  }

  /**
   * Streams the live (not deleted, not spam) things that {@code scan} selects to {@code visitor},
   * in no particular order, reading through a cursor of {@link ThingScan#fetchSize} rows in one
   * read-only transaction on {@link ThingScan#from}'s DataSource (by default the type's primary):
   * for batch jobs such as listing recomputes, which should read a replica kept for them. Bypasses
   * the cache. Not retried: a failure midway fails the scan.
   *
   * @return how many things were visited
   * @throws ThingDbException if the database fails
   */
  long scan(ThingScan scan, ThingScan.Visitor visitor) {
    checkOpen();
    Objects.requireNonNull(scan, "scan must not be null");
    Objects.requireNonNull(visitor, "visitor must not be null");
    TypeHandle h = handle(scan.type());
    DataSource source = scan.from() != null ? scan.from() : h.db.database.primary();
    try {
      return scan.run(sql, source, visitor);
    } catch (SQLException e) {
      throw new ThingDbException(
          "scanning " + scan.type().name() + " things failed: " + e.getMessage(), e);
    }
  }

  /**
   * Which of ThingDB's tables for {@code types} and {@code relations} (their thing, relation and
   * pair tables, and the outbox) the database that {@code dataSource} reaches lacks, in that order:
   * for a module checking that its own tables share a database with a type's, so that its writes
   * can join the type's transactions.
   *
   * @throws ThingDbException if the database fails
   */
  List<String> tablesMissingFrom(
      DataSource dataSource, List<ThingType> types, List<RelationType> relations) {
    checkOpen();
    Objects.requireNonNull(dataSource, "dataSource must not be null");
    List<String> tables = new ArrayList<>();
    for (ThingType t : types) {
      tables.add("thing_" + handle(t).type.name());
    }
    for (RelationType r : relations) {
      RelationHandle h = relationHandle(r);
      tables.add(h.table);
      tables.add(h.pairTable);
    }
    tables.add("thingdb_outbox");
    try (Connection c = dataSource.getConnection()) {
      return sql.query(
          c,
          "select t from unnest(?::text[]) with ordinality as u(t, n) where to_regclass(t) is null"
              + " order by n",
          rs -> rs.getString(1),
          (Object) tables.toArray(new String[0]));
    } catch (SQLException e) {
      throw new ThingDbException(
          "checking the tables of database " + dataSource + " failed: " + e.getMessage(), e);
    }
  }

  /** Things by fullname across types, in input order; unknown fullnames per {@code missing}. */
  List<Thing> getByFullnames(Session session, List<String> fullnames, ThingDb.Missing missing) {
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
        throw new IllegalArgumentException(
            "fullname '" + f + "' names type id " + p.typeId() + ", which is not registered here");
      }
      parsed.add(p);
      byType.computeIfAbsent(h, k -> new ArrayList<>()).add(p.id());
    }
    Map<String, Thing> byFullname = new HashMap<>();
    for (Map.Entry<TypeHandle, List<Long>> e : byType.entrySet()) {
      for (Thing t : getMany(session, e.getKey().type, e.getValue(), ThingDb.Missing.SKIP)) {
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
    if (!absent.isEmpty() && missing == ThingDb.Missing.FAIL) {
      throw new NotFoundException("no things named " + absent);
    }
    return out;
  }

  // ------------------------------------------------------------------ queries

  /**
   * Runs one page of {@code query}: one SQL statement selects the page's ids (routed like every
   * read: a replica unless {@code session} holds a WAL position it has not replayed), then the
   * things are loaded cache first ({@link #getMany}: one multi-get, at most two statements for the
   * misses). A query {@link ThingQuery#cached cached} and warm runs no SQL statement at all; how
   * long a cached list can outlive a write is bounded as {@link ThingQuery#cached} states.
   * Thread-safe.
   *
   * @throws IllegalArgumentException if the query's type is not registered here, or its cursor
   *     names another type
   * @throws NotFoundException if the cursor thing does not exist
   * @throws ThingDbException if the database fails after the bounded retries
   */
  ThingQuery.Result query(Session session, ThingQuery query) {
    checkOpen();
    Objects.requireNonNull(query, "query must not be null");
    return ThingQueries.run(this, session, handle(query.type()), query);
  }

  // ------------------------------------------------------------------ updates

  /**
   * Writes the changed props and flags of {@code update} (a prop set to its default has its row
   * deleted), bumps the version, and returns the thing as committed. An update with no changes
   * writes nothing and returns the snapshot it was made from.
   *
   * @throws NotFoundException if the thing no longer exists
   */
  Thing update(Session session, ThingUpdate update) {
    checkOpen();
    Objects.requireNonNull(update, "update must not be null");
    if (update.isEmpty()) {
      return update.base();
    }
    return write(session, tx -> tx.update(update));
  }

  // ------------------------------------------------------------------ write transactions

  /**
   * Runs {@code work} in one database transaction and commits it: things created, updated and
   * counted, relations set by their pair, and the caller's statements on its own tables commit
   * together or not at all, each with ThingDB's versions, outbox rows and cache updates (see {@link
   * WriteTransaction}). Transient failures before COMMIT (deadlock, serialization failure, lost
   * connection) run the work again, a bounded number of times ({@link
   * ThingDbBuilder#transientRetries}); a failure during COMMIT is never retried. Thread-safe.
   *
   * @param session records the commit for read-your-writes; may be null
   * @return what the work returned
   * @throws OutcomeUnknownException if the connection failed during COMMIT (the write may or may
   *     not have been committed)
   * @throws ThingDbException if the database fails (nothing was written)
   */
  <T> T write(Session session, ThingDb.Work<T> work) {
    return write(session, work, null);
  }

  private <T> T write(Session session, ThingDb.Work<T> work, Epoch[] committedOn) {
    checkOpen();
    Objects.requireNonNull(work, "work must not be null");
    WriteTransaction[] last = new WriteTransaction[1];
    return retry.run(
        () -> last[0] == null ? null : last[0].database(),
        () -> last[0] == null ? "write transaction" : last[0].describe(),
        () -> {
          WriteTransaction tx = new WriteTransaction(this);
          last[0] = tx;
          T result;
          try {
            result = work.run(tx);
            tx.finish();
          } catch (WriteTransaction.Failure e) {
            tx.abandon(e.sqlCause());
            throw e.sqlCause();
          } catch (RuntimeException e) {
            tx.abandon(e);
            throw e;
          }
          if (tx.commit(session)) {
            if (committedOn != null) {
              committedOn[0] = tx.commitEpoch();
            }
            tx.afterCommit();
          }
          return result;
        });
  }

  /**
   * Atomically adds {@code delta} to a vote counter in one autocommitted statement that also
   * records the outbox row. The cache is updated by patching a cached copy of the previous version,
   * or else invalidated at the new version.
   *
   * @throws NotFoundException if there is no such thing
   * @throws OutcomeUnknownException if the connection failed while the statement ran
   */
  Counts incr(Session session, ThingType type, long id, ThingDb.Counter counter, int delta) {
    checkOpen();
    TypeHandle h = handle(type);
    checkId(type, id);
    Objects.requireNonNull(counter, "counter must not be null");
    String key = h.logicalKey(id);
    ThingWrites.CountsCommitted done =
        ThingWrites.incrCounter(io, session, h, id, key, counter, delta);
    Counts row = done.counts();
    afterCommit("incr " + key);
    if (cache != null) {
      countsCommitted(h, row, done.outboxId(), done.epoch());
    }
    return row;
  }

  /**
   * Atomically adds {@code delta} to a long or double prop ({@code value = value + ?} in SQL,
   * starting from the default when the thing has no row for it).
   */
  <T extends Number> Thing incr(Session session, ThingType type, long id, Prop<T> prop, T delta) {
    checkOpen();
    TypeHandle h = handle(type);
    checkId(type, id);
    Prop.checkDeclaredOn(type, prop);
    Objects.requireNonNull(delta, "delta must not be null");
    if (prop.kind() != PropKind.LONG && prop.kind() != PropKind.DOUBLE) {
      throw new IllegalArgumentException(
          "prop '"
              + prop.name()
              + "' of type "
              + type.name()
              + " is "
              + prop.kind()
              + "; only LONG and DOUBLE props can be incremented");
    }
    if (delta instanceof Double d && !Double.isFinite(d)) {
      throw new IllegalArgumentException(
          "prop '"
              + prop.name()
              + "' of type "
              + type.name()
              + ": the delta must be finite: "
              + d
              + "; nothing was written");
    }
    Epoch[] committedOn = new Epoch[1];
    ThingWrites.Committed done =
        writeTx(h.db, session, committedOn, c -> ThingWrites.incrProp(io, c, h, id, prop, delta));
    afterCommit("write " + done.thing().fullname());
    thingCommitted(h, done, committedOn[0]);
    return done.thing();
  }

  Thing setDeleted(Session session, Thing thing, boolean deleted) {
    return update(session, thing.edit().deleted(deleted));
  }

  /** Marks (or unmarks) a thing as spam. */
  Thing markSpam(Session session, Thing thing, boolean spam) {
    return update(session, thing.edit().spam(spam));
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
  NewRelation newRelation(RelationType type, Thing thing1, Thing thing2, String name) {
    RelationHandle h = relationHandle(type);
    Objects.requireNonNull(thing1, () -> "relation " + type.name() + ": thing1 must not be null");
    Objects.requireNonNull(thing2, () -> "relation " + type.name() + ": thing2 must not be null");
    checkEndpointType(h, "thing1", type.thing1(), thing1);
    checkEndpointType(h, "thing2", type.thing2(), thing2);
    return new NewRelation(type, thing1.id(), thing2.id(), Relation.checkName(type, name), true);
  }

  /**
   * Starts a relation of {@code type} between two things given by id. {@link #create(Session,
   * NewRelation)} checks that both exist (a cache-first read of each, so usually no SQL): nothing
   * is written for a missing endpoint.
   *
   * @throws IllegalArgumentException if the relation type is not registered, an id is below 1, or
   *     the name is null, too long or contains NUL
   */
  NewRelation newRelation(RelationType type, long thing1Id, long thing2Id, String name) {
    RelationHandle h = relationHandle(type);
    checkEndpointId(h, "thing1", thing1Id);
    checkEndpointId(h, "thing2", thing2Id);
    return new NewRelation(type, thing1Id, thing2Id, Relation.checkName(type, name), false);
  }

  /**
   * Creates a relation in one transaction on its database (the relation row, its data rows, the
   * pair's new cache version and the outbox row), then publishes the pair's list to the cache. The
   * relation's version starts at 1. {@code session} may be null (no read-your-writes).
   *
   * @throws DuplicateRelationException if a relation with the same (thing1, thing2, name) exists
   *     (nothing is written)
   * @throws NotFoundException if an endpoint given by id does not exist (nothing is written)
   */
  Relation create(Session session, NewRelation relation) {
    checkOpen();
    Objects.requireNonNull(relation, "relation must not be null");
    RelationHandle h = relationHandle(relation.type());
    if (!relation.endpointsKnown()) {
      requireEndpoint(session, h, h.thing1, "thing1", relation.thing1Id(), relation.thing2Id());
      requireEndpoint(session, h, h.thing2, "thing2", relation.thing1Id(), relation.thing2Id());
    }
    Epoch[] committedOn = new Epoch[1];
    RelationWrites.Committed done =
        writeTx(h.db, session, committedOn, c -> RelationWrites.create(io, c, h, relation));
    publishPairAfterCommit(h, relation.thing1Id(), relation.thing2Id(), done, committedOn[0]);
    return done.relation();
  }

  /**
   * The relation with this id as {@code session} may read it (null session: any replica), or empty.
   * One statement; not cached (the cached read is {@link #lookup}).
   */
  Optional<Relation> getRelation(Session session, RelationType type, long id) {
    checkOpen();
    RelationHandle h = relationHandle(type);
    if (id < 1) {
      throw new IllegalArgumentException(
          "id out of range for relation " + type.name() + ": " + id + " (ids start at 1)");
    }
    return Optional.ofNullable(RelationReads.byId(io, session, h, id));
  }

  /**
   * All relations of {@code type} from ({@code end} "thing1") or to ({@code end} "thing2") the
   * thing {@code thingId}, by relation id, in one statement (not cached, not paginated); only those
   * named {@code name} when {@code named}. {@code session} may be null.
   */
  List<Relation> relationsByThing(
      Session session, RelationType type, String end, long thingId, boolean named, String name) {
    checkOpen();
    RelationHandle h = relationHandle(type);
    return RelationReads.byThing(
        io,
        session,
        h,
        end + "_id",
        checkEndpointId(h, end, thingId),
        named ? Relation.checkName(type, name) : null);
  }

  /**
   * Which of {@code pairs} have relations of {@code type}, and with which names: a map with every
   * distinct requested pair, in input order, to its relations by id (an empty list when there are
   * none). One cache multi-get; then ONE statement for all pairs that missed, whatever their
   * number; the answers, negative ones included, are cached per pair. A warm lookup runs no SQL.
   *
   * <p>Cache entries carry the pair's version, which every relation write of the pair raises in its
   * transaction and publishes after COMMIT (guarded by the outbox), so once a write has returned no
   * lookup returns the pair's older list from the cache. {@code session} may be null.
   *
   * @throws IllegalArgumentException if a pair has an id below 1
   */
  Map<Relation.Pair, List<Relation>> lookup(
      Session session, RelationType type, Collection<Relation.Pair> pairs) {
    checkOpen();
    RelationHandle h = relationHandle(type);
    Objects.requireNonNull(pairs, "pairs must not be null");
    LinkedHashSet<Relation.Pair> unique = new LinkedHashSet<>();
    for (Relation.Pair p : pairs) {
      Objects.requireNonNull(p, "pairs must not contain null");
      checkEndpointId(h, "thing1", p.thing1Id());
      checkEndpointId(h, "thing2", p.thing2Id());
      unique.add(p);
    }
    return RelationReads.lookup(io, session, h, unique);
  }

  /**
   * Writes the changed props and name of {@code update} (a prop set to its default has its row
   * deleted), bumps the relation's version and the pair's cache version, and returns the relation
   * as committed. An update with no changes writes nothing and returns its snapshot.
   *
   * @throws NotFoundException if the relation no longer exists (nothing is written)
   * @throws DuplicateRelationException if the new name is taken in this pair (nothing is written)
   */
  Relation update(Session session, RelationUpdate update) {
    checkOpen();
    Objects.requireNonNull(update, "update must not be null");
    Relation base = update.base();
    RelationHandle h = relationHandle(base.type());
    if (update.isEmpty()) {
      return base;
    }
    Epoch[] committedOn = new Epoch[1];
    RelationWrites.Committed done =
        writeTx(h.db, session, committedOn, c -> RelationWrites.update(io, c, h, update));
    publishPairAfterCommit(h, base.thing1Id(), base.thing2Id(), done, committedOn[0]);
    return done.relation();
  }

  /**
   * Deletes the relation row and its data rows (a hard delete: a relation is a link, and the same
   * (thing1, thing2, name) may be created again), bumps the pair's cache version and publishes the
   * pair's remaining list.
   *
   * @return false if the relation did not exist (then nothing is written)
   */
  boolean delete(Session session, Relation relation) {
    checkOpen();
    Objects.requireNonNull(relation, "relation must not be null");
    RelationHandle h = relationHandle(relation.type());
    RelationWrites.Committed done;
    Epoch[] committedOn = new Epoch[1];
    try {
      done = writeTx(h.db, session, committedOn, c -> RelationWrites.delete(io, c, h, relation));
    } catch (NotFoundException e) {
      return false;
    }
    publishPairAfterCommit(h, relation.thing1Id(), relation.thing2Id(), done, committedOn[0]);
    return true;
  }

  private void publishPairAfterCommit(
      RelationHandle h, long thing1Id, long thing2Id, RelationWrites.Committed done, Epoch epoch) {
    afterCommit("write relation " + h.logicalKey(thing1Id, thing2Id));
    pairCommitted(
        h, thing1Id, thing2Id, done.pairVersion(), done.pairList(), done.outboxId(), false, epoch);
  }

  /**
   * After COMMIT of a relation pair's write on {@code epoch}: publishes the pair's list at its new
   * version under that epoch's key ({@code wasEmpty}: the pair had no relation before, so its key
   * is probably not cached). With the epoch unknown (null) nothing is published and the outbox row
   * stays for the replay.
   */
  void pairCommitted(
      RelationHandle h,
      long thing1Id,
      long thing2Id,
      long pairVersion,
      List<Relation> pairList,
      long outboxId,
      boolean wasEmpty,
      Epoch epoch) {
    if (cache == null || epoch == null) {
      return;
    }
    String key = h.cacheKey(epoch, thing1Id, thing2Id);
    byte[] value = RelationCodec.encode(thing1Id, thing2Id, pairList);
    // A pair that had no relation is rarely cached (a first vote): add first, one round trip,
    // instead of publish's gets then add. Both replace only an older version.
    Result r =
        wasEmpty
            ? cache.fill(key, value, pairVersion, cacheTtl)
            : cache.publish(key, value, pairVersion, cacheTtl);
    settle(key, r);
    outbox.confirm(h.db, outboxId, r);
  }

  RelationHandle relationHandle(RelationType type) {
    Objects.requireNonNull(type, "relation type must not be null");
    RelationHandle h = relationTypes.get(type.name());
    if (h == null || h.type != type) {
      throw new IllegalArgumentException(
          "unknown relation type "
              + type.name()
              + ": register it with ThingDb.builder().relation(...) (registered: "
              + relationTypes.keySet()
              + ")");
    }
    return h;
  }

  private static long checkEndpointId(RelationHandle h, String which, long id) {
    if (id < 1) {
      throw new IllegalArgumentException(
          "relation "
              + h.type.name()
              + ": "
              + which
              + " id out of range: "
              + id
              + " (ids start at 1)");
    }
    return id;
  }

  private static void checkEndpointType(
      RelationHandle h, String which, ThingType expected, Thing thing) {
    if (thing.type() != expected) {
      throw new IllegalArgumentException(
          "relation "
              + h.type.name()
              + " links "
              + h.type.thing1().name()
              + " -> "
              + h.type.thing2().name()
              + ": "
              + which
              + " "
              + thing.fullname()
              + " is of type "
              + thing.type().name()
              + ", not "
              + expected.name());
    }
  }

  private void requireEndpoint(
      Session session,
      RelationHandle h,
      TypeHandle endpoint,
      String which,
      long thing1Id,
      long thing2Id) {
    long id = which.equals("thing1") ? thing1Id : thing2Id;
    if (ThingReads.load(io, session, endpoint, List.of(id)).isEmpty()) {
      throw new NotFoundException(
          "relation "
              + h.describe(thing1Id, thing2Id)
              + ": no "
              + endpoint.type.name()
              + " with id "
              + id
              + " ("
              + which
              + "); nothing was written");
    }
  }

  // ------------------------------------------------------------------ internals shared with
  // helpers

  /**
   * The cache key under which this ThingDb caches thing {@code id} of {@code type} (before the
   * cache's own namespace prefix): for tools and benchmarks that read the cache directly. Its
   * format belongs to ThingDB and may change; do not build it yourself.
   */
  String cacheKeyOf(ThingType type, long id) {
    TypeHandle h = handle(type);
    return h.cacheKey(h.db.epoch(), checkId(type, id));
  }

  /**
   * After COMMIT of an updated thing on {@code epoch}: publishes it under that epoch's key and owes
   * its type a query-cache bump. With the epoch unknown (null) nothing is published and the outbox
   * row stays for the replay.
   */
  void thingCommitted(TypeHandle h, ThingWrites.Committed done, Epoch epoch) {
    Thing after = done.thing();
    if (cache == null) {
      return;
    }
    if (epoch == null) {
      queryCache.bumpLater(this, h, done.outboxId(), Result.UNCONFIRMED);
      return;
    }
    String key = TypeHandle.cacheKey(epoch, after);
    Result r = ThingCodec.publish(cache, key, after, cacheTtl);
    settle(key, r);
    queryCache.bumpLater(this, h, done.outboxId(), r);
  }

  /**
   * After a cache update the client could not confirm (a stalled or failed write), waits up to
   * {@link #UNCONFIRMED_WAIT} for the client to reconcile the key, so that a stall on a healthy
   * server does not leave the replaced version readable by other instances once the write has
   * returned. A server that is down (suspect) is not waited for: its keys are misses to this
   * instance, and the outbox replay closes the window for the others.
   */
  private void settle(String key, Result r) {
    if (r == Result.UNCONFIRMED && !cache.awaitReconciled(key, UNCONFIRMED_WAIT)) {
      log.debug(
          "cache update of {} unconfirmed and not reconciled within {}; the outbox replay covers it",
          key,
          UNCONFIRMED_WAIT);
    }
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
      throw new IllegalArgumentException(
          "unknown type "
              + type.name()
              + ": register it with ThingDb.builder().type(...)"
              + " (registered: "
              + types.keySet()
              + ")");
    }
    return h;
  }

  static long checkId(ThingType type, long id) {
    if (id < 1) {
      throw new IllegalArgumentException(
          "id out of range for " + type.name() + ": " + id + " (ids start at 1)");
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
   * A write transaction on {@code db}'s primary running {@code work} on its connection: a {@link
   * #write} whose work is the engine's own statements, so that retries before COMMIT, {@link
   * OutcomeUnknownException} at COMMIT and the session's WAL position are handled in one place.
   */
  <T> T writeTx(DbHandle db, Session session, TxWork<T> work) {
    return write(session, tx -> tx.onConnection(db, work), null);
  }

  /**
   * {@link #writeTx}, setting {@code committedOn[0]} to the epoch the transaction committed on
   * (null if unknown): the epoch whose keys its cache updates must use.
   */
  <T> T writeTx(DbHandle db, Session session, Epoch[] committedOn, TxWork<T> work) {
    return write(session, tx -> tx.onConnection(db, work), committedOn);
  }

  void recordPosition(DbHandle db, Session session, Connection c) {
    io.recordPosition(db, session, c);
  }

  /** The database {@code type} is placed on (its primary takes the type's writes). */
  Database databaseOf(ThingType type) {
    return handle(type).db.database;
  }

  /** The database relation {@code type} is placed on. */
  Database databaseOf(RelationType type) {
    return relationHandle(type).db.database;
  }

  /**
   * After COMMIT of new counts (an increment, or {@link WriteTransaction#addCounts}): patches the
   * cached previous version to {@code counts} (one {@code gets} and one {@code cas}), or
   * invalidates the key at {@code counts.version()}; then owes the type a background query-cache
   * generation bump ({@link ThingDbBuilder#queryCacheBumpDelay}) and hands the outbox row to the
   * cleanup once that bump has landed (if the cache update was unconfirmed, the row stays for the
   * replayer).
   */
  void countsCommitted(TypeHandle h, Counts counts, long outboxId, Epoch epoch) {
    if (cache == null) {
      outbox.confirm(h.db, outboxId, Result.PUBLISHED);
      return;
    }
    if (epoch == null) {
      queryCache.bumpLater(this, h, outboxId, Result.UNCONFIRMED);
      return;
    }
    long id = counts.id();
    String key = h.cacheKey(epoch, id);
    Result r =
        cache.patch(
            key,
            counts.version(),
            (b, offset, length) ->
                ThingCodec.withCounters(
                    b, offset, length, id, counts.ups(), counts.downs(), counts.version()),
            cacheTtl);
    settle(key, r);
    queryCache.bumpLater(this, h, outboxId, r);
  }

  /** The first database whose circuit is open, as the exception its operations get now. */
  Optional<DatabaseUnavailableException> unavailable() {
    for (DbHandle db : databases.values()) {
      DatabaseUnavailableException e = db.circuit.unavailableNow();
      if (e != null) {
        return Optional.of(e);
      }
    }
    return Optional.empty();
  }

  /** Whether database {@code name}'s circuit is open, as the exception its operations get now. */
  Optional<DatabaseUnavailableException> unavailable(String name) {
    return Optional.ofNullable(database(name).circuit.unavailableNow());
  }

  /**
   * The configured database {@code name}.
   *
   * @throws IllegalArgumentException naming the configured databases if there is none
   */
  DbHandle database(String name) {
    Objects.requireNonNull(name, "database must not be null");
    DbHandle db = databases.get(name);
    if (db == null) {
      throw new IllegalArgumentException(
          "no database named " + name + " (configured: " + databases.keySet() + ")");
    }
    return db;
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
    queryCache.close(this); // sends owed bumps and hands their outbox rows to the outbox first
    outbox.close();
    epochWatch.close();
    prober.shutdownNow();
    try {
      if (!prober.awaitTermination(5, TimeUnit.SECONDS)) {
        log.warn("a circuit probe did not stop within 5 s of close()");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closeCache();
  }

  /** The instant now on the configured clock, truncated to microseconds. */
  Instant now() {
    return io.now();
  }

  /** Maps a thing row (without props) read with {@code select *}. */
  static Thing.Row row(ResultSet rs) throws SQLException {
    return new Thing.Row(
        rs.getLong("thing_id"),
        rs.getInt("ups"),
        rs.getInt("downs"),
        rs.getBoolean("deleted"),
        rs.getBoolean("spam"),
        Sql.instant(rs, "date"),
        rs.getLong("version"));
  }
}

package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.CacheStats;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.WireFormat;
import io.thingdb.core.Counts;
import io.thingdb.core.NewThing;
import io.thingdb.core.ThingDb;
import io.thingdb.testing.MemcachedCluster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import net.rubyeye.xmemcached.GetsResponse;
import net.rubyeye.xmemcached.MemcachedClient;
import net.rubyeye.xmemcached.exception.MemcachedException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * ThingDB's writes against raw JDBC doing the same writes, both measured in the same run ({@code
 * backend}), on a PostgreSQL 15 started for the trial (zonky) whose fsync and synchronous_commit
 * {@code pgSync} selects: {@code off} (zonky's default: measures CPU, not the disk) or {@code on}
 * (every commit waits for a WAL fsync, as in production).
 *
 * <h2>{@link #createBatch}: 1,000 links with five props each, one thread</h2>
 *
 * One op is one batch: 1,000 {@code thing_link} rows and 5,000 {@code data_link} rows in one
 * transaction; rows/s is 6,000 times the score.
 *
 * <ul>
 *   <li>{@code raw}: draws the 1,000 ids with the statement ThingDB uses ({@code select
 *       nextval('thingseq_link') from generate_series(1, ?)}, one round trip; any real caller needs
 *       the ids before it can write the data rows), then two JDBC batches ({@code addBatch} per
 *       row, {@code executeBatch}) with {@code reWriteBatchedInserts=true} on the URL, and commits.
 *   <li>{@code thingdb}: {@code createAll} of 1,000 {@link NewThing}s (built inside the op, as a
 *       caller would) with MemcachedCache: nextval, two {@code unnest} inserts, commit, then the
 *       cache fill (1,000 pipelined adds) and the type's generation bump.
 *   <li>{@code thingdb-nocache}: the same with {@code noCache()}.
 * </ul>
 *
 * The tables are truncated, and a checkpoint taken, before every iteration (outside the timing), so
 * that every iteration starts from the same state and table size.
 *
 * <h2>{@link #incr}: one vote, four threads</h2>
 *
 * Uniformly random things among 10,000 (a precomputed sequence; each thread starts at its own
 * offset), each op one autocommitted statement.
 *
 * <ul>
 *   <li>{@code raw}: {@code update thing_link set ups = ups + 1 where thing_id = ?}.
 *   <li>{@code raw-cte}: ThingDB's statement with the outbox insert, verbatim, run through raw JDBC
 *       (outbox rows are truncated before every iteration, as ThingDB's batched cleanup would
 *       delete them): the SQL cost of the durable invalidation without any Java or cache work.
 *   <li>{@code thingdb}: {@code ThingDb.incr} with MemcachedCache: the CTE statement, then the
 *       cache update (one gets of the cached thing and one cas of it patched in place), and in the
 *       background the type's coalesced generation bump (one per 10 ms) and the outbox row's
 *       batched delete.
 *   <li>{@code thingdb-nocache}: {@code ThingDb.incr} with {@code noCache()}: no cache and, since
 *       there is nothing to keep consistent, no outbox either ({@code update ... returning *}).
 * </ul>
 *
 * <p>Pools: HikariCP of 8 connections for every backend. JMH state: set up on one thread, then only
 * read by the benchmark threads (the clients and pools it holds are thread-safe).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(
    value = 3,
    jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ThingWriteBenchmark {
  static final int BATCH = 1000;
  static final int INCR_THINGS = 10_000;
  static final long SEED = 20261127L;

  static final String RAW_INCR_SQL = "update thing_link set ups = ups + 1 where thing_id = ?";

  /**
   * ThingWrites.incrCounter's statement with the outbox CTE, for type link and {@code ups},
   * verbatim.
   */
  static final String CTE_INCR_SQL =
      "with u as (update thing_link set ups = ups + ?, version = version + 1"
          + " where thing_id = ? returning thing_id, ups, downs, version), o as (insert into thingdb_outbox (cache_key, version)"
          + " select ?, version from u returning id) select u.*, (select id from o) as outbox_id from u";

  @Benchmark
  @Threads(1)
  public Object createBatch(Create state) throws SQLException {
    return state.create();
  }

  @Benchmark
  @Threads(4)
  public Object incr(Incr state, Cursor cursor) throws SQLException {
    return state.incr(cursor.next(state.sequence));
  }

  /** Shared by both states: the server, the pool, the cache, ThingDB. */
  abstract static class Base {
    BenchPostgres pg;
    HikariDataSource pool;
    MemcachedCluster memcached;
    MemcachedCache memcachedCache;
    ThingDb db;
    String settings;
    CacheStats before;
    Map<String, Long> memcachedBefore;

    /** Marks the start of the window {@link #serverReport} reports on (the end of set-up). */
    void countFromHere() {
      pg.resetStatements();
      if (memcachedCache != null) {
        before = memcachedCache.stats();
      }
      if (memcached != null) {
        memcachedBefore = Harness.memcachedCounters(memcached);
      }
    }

    /** What memcached and PostgreSQL did per op since {@link #countFromHere()}. */
    String serverReport(long ops) {
      String out = "";
      if (memcachedBefore != null) {
        out +=
            "\n  memcached per op: "
                + Harness.perOp(memcachedBefore, Harness.memcachedCounters(memcached), ops);
      }
      return out + pg.statements(ops);
    }

    void start(String backend, String pgSync, String urlOptions, boolean cached) {
      pg = BenchPostgres.start(pgSync);
      settings = pg.settings();
      System.out.println("\nPostgreSQL: " + settings);
      pool = pg.pool("bench-" + backend, urlOptions);
      if (cached) {
        memcached = MemcachedCluster.start(1);
        memcachedCache = BenchThings.memcached(memcached.server(0));
      }
      // The raw sides use ThingDB only to create the schema (and the data), then close it.
      db = BenchThings.thingDb(pool, memcachedCache);
    }

    void rawOnly() {
      db.close();
      db = null;
    }

    String cacheReport() {
      return memcachedCache == null || before == null
          ? ""
          : ", cache " + ThingReadBenchmark.delta(memcachedCache.stats(), before);
    }

    long count(String sql) {
      try (Connection c = pool.getConnection();
          PreparedStatement ps = c.prepareStatement(sql);
          ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      } catch (SQLException e) {
        throw new IllegalStateException(sql + ": " + e.getMessage(), e);
      }
    }

    void stop() {
      Harness.closeInOrder(db, memcachedCache, memcached, pg);
    }
  }

  /** Batched creates; see the class comment. */
  @State(Scope.Benchmark)
  public static class Create extends Base {
    @Param({"raw", "thingdb", "thingdb-nocache"})
    public String backend;

    /** PostgreSQL's fsync and synchronous_commit: {@code off} (zonky's default) or {@code on}. */
    @Param({"off"})
    public String pgSync;

    private List<BenchThings.Input> inputs;
    private long batches;

    @Setup
    public void setUp() {
      try {
        switch (backend) {
          case "raw" -> start(backend, pgSync, "reWriteBatchedInserts=true", false);
          case "thingdb" -> start(backend, pgSync, "", true);
          case "thingdb-nocache" -> start(backend, pgSync, "", false);
          default ->
              throw new IllegalArgumentException(
                  "backend must be raw, thingdb or thingdb-nocache for createBatch: \""
                      + backend
                      + "\"");
        }
        inputs = BenchThings.inputs(BATCH, SEED);
        if (backend.equals("raw")) {
          rawOnly();
        }
        create();
        long things = count("select count(*) from thing_link");
        long data = count("select count(*) from data_link");
        if (things != BATCH || data != 5L * BATCH) {
          throw new IllegalStateException(
              backend + " wrote " + things + " thing rows and " + data + " data rows");
        }
        countFromHere();
      } catch (RuntimeException | SQLException e) {
        tearDown();
        throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
      }
    }

    /** Every iteration starts with empty tables and a fresh checkpoint. */
    @Setup(Level.Iteration)
    public void emptyTables() {
      pg.execute("truncate thing_link, data_link, thingdb_outbox");
      pg.execute("checkpoint");
      ProcessCpuProfiler.iterationStarts();
    }

    @TearDown(Level.Iteration)
    public void countBatches() {
      ProcessCpuProfiler.iterationEnds();
      batches += count("select count(*) from thing_link") / BATCH;
    }

    @TearDown
    public void tearDown() {
      try {
        if (pg != null && inputs != null) {
          System.out.println(
              "\ncreateBatch "
                  + backend
                  + ": "
                  + batches
                  + " batches over all iterations"
                  + cacheReport()
                  + "; PostgreSQL: "
                  + settings
                  + serverReport(batches));
        }
      } finally {
        stop();
      }
    }

    Object create() throws SQLException {
      if (db == null) {
        return rawCreate();
      }
      List<NewThing> things = new ArrayList<>(BATCH);
      for (BenchThings.Input in : inputs) {
        things.add(BenchThings.newThing(db, in));
      }
      return db.createAll(things);
    }

    /**
     * One transaction: ids, then the thing rows and the data rows as two rewritten JDBC batches.
     */
    private long[] rawCreate() throws SQLException {
      long[] ids = new long[BATCH];
      try (Connection c = pool.getConnection()) {
        c.setAutoCommit(false);
        try {
          try (PreparedStatement ps =
              c.prepareStatement("select nextval('thingseq_link') from generate_series(1, ?)")) {
            ps.setInt(1, BATCH);
            try (ResultSet rs = ps.executeQuery()) {
              for (int i = 0; rs.next(); i++) {
                ids[i] = rs.getLong(1);
              }
            }
          }
          try (PreparedStatement ps =
              c.prepareStatement(
                  "insert into thing_link (thing_id, ups, downs, spam, date) values (?, ?, ?, ?, ?)")) {
            for (int i = 0; i < BATCH; i++) {
              ps.setLong(1, ids[i]);
              ps.setInt(2, 0);
              ps.setInt(3, 0);
              ps.setBoolean(4, false);
              ps.setObject(5, OffsetDateTime.ofInstant(inputs.get(i).date(), ZoneOffset.UTC));
              ps.addBatch();
            }
            ps.executeBatch();
          }
          try (PreparedStatement ps =
              c.prepareStatement(
                  "insert into data_link (thing_id, key, value, kind) values (?, ?, ?, ?)")) {
            for (int i = 0; i < BATCH; i++) {
              BenchThings.Input in = inputs.get(i);
              String[] values = {
                in.title(),
                in.url(),
                in.author(),
                Long.toString(in.srId()),
                Boolean.toString(in.media())
              };
              for (int p = 0; p < values.length; p++) {
                ps.setLong(1, ids[i]);
                ps.setString(2, BenchThings.KEYS[p]);
                ps.setString(3, values[p]);
                ps.setString(4, BenchThings.KINDS[p]);
                ps.addBatch();
              }
            }
            ps.executeBatch();
          }
          c.commit();
        } catch (SQLException | RuntimeException e) {
          c.rollback();
          throw e;
        } finally {
          c.setAutoCommit(true);
        }
      }
      return ids;
    }
  }

  /** Single increments; see the class comment. */
  @State(Scope.Benchmark)
  public static class Incr extends Base {
    /**
     * See the class comment. Also {@code raw-wt} (not run by default): a diagnostic floor for a
     * versioned write-through, raw-cte's statement plus one raw xmemcached gets and one cas of the
     * cached entry with its counters and versions patched in place: the two cache round trips
     * ThingDB makes, without its bookkeeping.
     */
    @Param({"raw", "raw-cte", "thingdb", "thingdb-nocache"})
    public String backend;

    /** PostgreSQL's fsync and synchronous_commit: {@code off} (zonky's default) or {@code on}. */
    @Param({"off"})
    public String pgSync;

    int[] sequence;
    private long[] ids;
    private String[] cacheKeys;
    private long upsStart;
    private MemcachedClient rawClient;
    private String[] wireKeys;
    private final LongAdder rawCacheFailures = new LongAdder();
    private final LongAdder rawCacheSkips = new LongAdder();

    @Setup
    public void setUp() {
      try {
        switch (backend) {
          case "raw", "raw-cte", "thingdb-nocache" -> start(backend, pgSync, "", false);
          case "thingdb", "raw-wt" -> start(backend, pgSync, "", true);
          default ->
              throw new IllegalArgumentException(
                  "backend must be raw, raw-cte, raw-wt, thingdb or thingdb-nocache for incr: \""
                      + backend
                      + "\"");
        }
        ids = BenchThings.populate(db, INCR_THINGS, SEED);
        cacheKeys = new String[ids.length];
        for (int i = 0; i < ids.length; i++) {
          cacheKeys[i] = db.cacheKeyOf(BenchThings.LINK, ids[i]); // core spells its keys
        }
        if (memcachedCache != null) {
          settleCache();
        }
        pg.execute("vacuum analyze");
        SplittableRandom r = new SplittableRandom(SEED);
        sequence = new int[Cursor.LENGTH];
        for (int i = 0; i < sequence.length; i++) {
          sequence[i] = r.nextInt(INCR_THINGS);
        }
        if (backend.startsWith("raw")) {
          rawOnly();
        }
        if (backend.equals("raw-wt")) {
          WireFormat format = WireFormat.of("thingdb", List.of(memcached.server(0)));
          wireKeys = new String[cacheKeys.length];
          for (int i = 0; i < cacheKeys.length; i++) {
            wireKeys[i] = format.wireKey(cacheKeys[i]);
          }
          rawClient = BenchThings.rawClient(memcached.server(0));
          memcachedCache.close();
          memcachedCache = null;
        }
        long upsBefore = count("select sum(ups) from thing_link");
        incr(0);
        upsStart = count("select sum(ups) from thing_link");
        if (upsStart != upsBefore + 1) {
          throw new IllegalStateException(backend + " did not add one vote");
        }
        countFromHere();
      } catch (RuntimeException | SQLException e) {
        tearDown();
        throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
      }
    }

    /** createAll fills the cache best-effort; reads until every thing is cached. */
    private void settleCache() {
      for (int pass = 0; pass < 10; pass++) {
        try (io.thingdb.core.Scope scope = db.scope()) {
          for (int from = 0; from < ids.length; from += 100) {
            List<Long> chunk = new ArrayList<>();
            for (int i = from; i < Math.min(ids.length, from + 100); i++) {
              chunk.add(ids[i]);
            }
            db.getMany(BenchThings.LINK, chunk, ThingDb.Missing.FAIL);
          }
          if (scope.statements() == 0) {
            return;
          }
        }
        BenchThings.sleep(100);
      }
      throw new IllegalStateException(
          "the cache did not hold all " + ids.length + " things after 10 passes");
    }

    /** raw-cte never deletes its outbox rows; ThingDB's cleanup would. */
    @Setup(Level.Iteration)
    public void emptyOutbox() {
      if (backend.equals("raw-cte")) {
        pg.execute("truncate thingdb_outbox");
      }
      ProcessCpuProfiler.iterationStarts();
    }

    @TearDown(Level.Iteration)
    public void iterationEnds() {
      ProcessCpuProfiler.iterationEnds();
    }

    @TearDown
    public void tearDown() {
      try {
        if (pg != null && sequence != null) {
          long ops = count("select sum(ups) from thing_link") - upsStart;
          String servers = serverReport(ops); // before uncached() adds its reads
          StringBuilder report =
              new StringBuilder(
                  "\nincr "
                      + backend
                      + ": "
                      + ops
                      + " increments over all iterations"
                      + ", outbox rows left "
                      + count("select count(*) from thingdb_outbox"));
          if (rawClient != null) {
            report
                .append(", raw cache failures ")
                .append(rawCacheFailures.sum())
                .append(", cas skipped (version moved) ")
                .append(rawCacheSkips.sum());
          }
          if (memcachedCache != null) {
            report
                .append(
                    ", things not cached as values at the end (tombstoned by contended increments): ")
                .append(uncached())
                .append(" of ")
                .append(ids.length)
                .append(cacheReport());
          }
          System.out.println(report.append("; PostgreSQL: ").append(settings).append(servers));
        }
      } finally {
        try {
          if (rawClient != null) {
            rawClient.shutdown();
          }
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        } finally {
          stop();
        }
      }
    }

    private int uncached() {
      try (VersionedCache vc = VersionedCache.builder(memcachedCache).build()) {
        int missing = 0;
        for (int from = 0; from < cacheKeys.length; from += 100) {
          List<String> chunk =
              List.of(cacheKeys).subList(from, Math.min(cacheKeys.length, from + 100));
          missing += chunk.size() - vc.getAll(chunk).size();
        }
        return missing;
      }
    }

    Object incr(int index) throws SQLException {
      long id = ids[index];
      if (db != null) {
        return db.incr(BenchThings.LINK, id, ThingDb.Counter.UPS, 1);
      }
      try (Connection c = pool.getConnection()) {
        if (backend.equals("raw")) {
          try (PreparedStatement ps = c.prepareStatement(RAW_INCR_SQL)) {
            ps.setLong(1, id);
            int n = ps.executeUpdate();
            if (n != 1) {
              throw new IllegalStateException("raw increment of " + id + " updated " + n + " rows");
            }
            return n;
          }
        }
        try (PreparedStatement ps = c.prepareStatement(CTE_INCR_SQL)) {
          ps.setInt(1, 1);
          ps.setLong(2, id);
          ps.setString(3, cacheKeys[index]);
          Counts counts;
          try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
              throw new IllegalStateException("raw-cte increment of " + id + " updated no row");
            }
            // Decoded as ThingDB decodes it: the counts and the outbox id, by position.
            counts = new Counts(rs.getLong(1), rs.getInt(2), rs.getInt(3), rs.getLong(4));
            if (rs.getLong(5) <= 0) {
              throw new IllegalStateException(
                  "raw-cte increment of " + id + " wrote no outbox row");
            }
          }
          if (rawClient != null) {
            patchCached(wireKeys[index], counts);
          }
          return counts;
        }
      }
    }

    /**
     * gets + cas of the cached entry, patched in place. Offsets: the format byte of {@link
     * WireFormat#frame} (0), the entry's kind (1) and version (2), soft expiry and load time, then
     * ThingCodec's format byte (22), id (23), ups (31), downs (35), flags (39), date (40) and
     * version (48).
     */
    private void patchCached(String wire, Counts counts) {
      try {
        GetsResponse<byte[]> r =
            rawClient.gets(
                wire, ThingReadBenchmark.READ_ATTEMPT_MILLIS, PassThroughTranscoder.INSTANCE);
        if (r == null) {
          rawCacheSkips.increment();
          return;
        }
        ByteBuffer b = ByteBuffer.wrap(r.getValue());
        if (b.getLong(2) != counts.version() - 1) {
          rawCacheSkips
              .increment(); // a concurrent increment got there first; ThingDB would invalidate
          return;
        }
        b.putLong(2, counts.version())
            .putInt(31, counts.ups())
            .putInt(35, counts.downs())
            .putLong(48, counts.version());
        if (!rawClient.cas(
            wire, 0, r.getValue(), PassThroughTranscoder.INSTANCE, 100, r.getCas())) {
          rawCacheSkips.increment();
        }
      } catch (TimeoutException | MemcachedException e) {
        rawCacheFailures.increment();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        rawCacheFailures.increment();
      }
    }
  }
}

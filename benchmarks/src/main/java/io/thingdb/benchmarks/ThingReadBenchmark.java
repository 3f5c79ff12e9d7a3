package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.CacheStats;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.WireFormat;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.testing.MemcachedCluster;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import net.rubyeye.xmemcached.MemcachedClient;
import net.rubyeye.xmemcached.exception.MemcachedException;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * {@code ThingDb.getMany} of 25 or 100 links against the raw baseline doing the same work, both
 * measured in the same run ({@code backend}).
 *
 * <ul>
 *   <li>{@code cache=warm}: every link is cached. ThingDB ({@link MemcachedCache}, defaults) runs
 *       one multi-get and decodes each entry into a {@link Thing}. The raw side is xmemcached
 *       configured as MemcachedCache configures it (one server, text protocol, one connection,
 *       pass-through transcoder, two read attempts of 50 ms) multi-getting the same wire keys,
 *       whose values are the bytes ThingDB stored (checked once at set-up through a raw get); it
 *       decodes nothing. That makes the raw side a floor: what ThingDB adds is computing the keys,
 *       unframing and decoding ~210-byte entries into things, and its bookkeeping. {@code
 *       backend=raw-decode} (warm only; pass {@code -p backend=raw,raw-decode,thingdb}) adds to the
 *       raw multi-get a direct decode of each stored value into a {@link RawThing} (one ByteBuffer
 *       pass, strings made straight from the value bytes): the decoding any caller needs, so that
 *       ThingDB's own overhead can be told from it.
 *   <li>{@code cache=cold}: ThingDB built with {@code noCache()}, so every call runs its one {@code
 *       = any(?)} join of {@code thing_link} and {@code data_link} (ThingReads.fetch). The raw side
 *       runs the same SQL text on a pool of the same size and decodes each row the same way: base
 *       columns by name, the date through {@link OffsetDateTime}, each prop parsed by its kind,
 *       into one object per thing, returned in input order.
 * </ul>
 *
 * <p>Data: 10,000 links (five props each) created through ThingDB at set-up, in a PostgreSQL 15
 * started for the trial (zonky; {@code pgSync} selects its fsync/synchronous_commit settings, which
 * reads do not depend on). Batches: 1,024 lists of {@code batch} distinct ids drawn from a
 * Zipf(0.99) sequence, the same for both sides. Four threads on two cores: the question is how many
 * reads a process gets through.
 *
 * <p>{@link Outcomes} counts, per measurement iteration, cache misses on the warm path (a miss
 * sends ThingDB to PostgreSQL and the raw side to nothing, so a run with misses is not a clean
 * comparison) and SQL statements ThingDB ran (0 warm, 1 per call cold).
 *
 * <p>JMH state: set up on one thread, then only read by the benchmark threads (the clients and
 * pools it holds are thread-safe).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(4)
@Fork(
    value = 3,
    jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ThingReadBenchmark {
  static final int THINGS = 10_000;
  static final int BATCHES = 1024;
  static final long SEED = 20261127L;

  /** One read attempt of MemcachedCache: half of its default 100 ms read deadline. */
  static final long READ_ATTEMPT_MILLIS = 50;

  /**
   * The statement ThingReads.fetch runs, verbatim, for type {@code link} (copied by hand: compare
   * with pg_stat_statements, see {@link BenchPostgres#statements}). Set-up checks that the raw side
   * decodes the same things from it as ThingDB returns.
   */
  static final String FETCH_SQL =
      "select t.*, d.key as data_key, d.value as data_value, d.kind as data_kind"
          + " from thing_link t left join data_link d on d.thing_id = t.thing_id where t.thing_id = any(?)";

  /**
   * {@code raw}: xmemcached (warm, no decoding) or JDBC (cold) alone; {@code thingdb}:
   * ThingDb.getMany. Also {@code raw-decode} (warm only, not run by default): the raw multi-get
   * plus a direct decode of each entry into a {@link RawThing}, to tell ThingDB's overhead from the
   * decoding any caller needs.
   */
  @Param({"raw", "thingdb"})
  public String backend;

  /** Things per getMany. */
  @Param({"25", "100"})
  public int batch;

  /** {@code warm}: all things cached in memcached; {@code cold}: no cache, PostgreSQL only. */
  @Param({"warm", "cold"})
  public String cache;

  /** PostgreSQL's fsync and synchronous_commit: {@code off} (zonky's default) or {@code on}. */
  @Param({"off"})
  public String pgSync;

  private BenchPostgres pg;
  private MemcachedCluster memcached;
  private MemcachedCache memcachedCache;
  private ThingDb db;
  private Reader reader;
  private String settings;
  private CacheStats before;

  @Setup
  public void setUp() {
    try {
      pg = BenchPostgres.start(pgSync);
      settings = pg.settings();
      System.out.println("\nPostgreSQL: " + settings);
      HikariDataSource pool = pg.pool("bench-" + backend, "");
      boolean warm =
          switch (cache) {
            case "warm" -> true;
            case "cold" -> false;
            default ->
                throw new IllegalArgumentException("cache must be warm or cold: \"" + cache + "\"");
          };
      if (warm) {
        memcached = MemcachedCluster.start(1);
        memcachedCache = BenchThings.memcached(memcached.server(0));
      }
      db = BenchThings.thingDb(pool, memcachedCache);
      long[] ids = BenchThings.populate(db, THINGS, SEED);
      pg.execute("vacuum analyze");
      List<List<Long>> batches = batches(ids);
      if (warm) {
        settleCache(ids);
      }
      List<Thing> expected = db.getMany(BenchThings.LINK, batches.get(0), ThingDb.Missing.FAIL);
      reader =
          switch (backend) {
            case "thingdb" -> new ThingDbReader(db, batches, warm ? batch : 0);
            case "raw" ->
                warm
                    ? new RawMemcached(memcached.server(0), batches, db, false)
                    : new RawJdbc(pool, batches);
            case "raw-decode" -> {
              if (!warm) {
                throw new IllegalArgumentException(
                    "backend raw-decode is for cache=warm; the cold raw side always decodes");
              }
              yield new RawMemcached(memcached.server(0), batches, db, true);
            }
            default ->
                throw new IllegalArgumentException(
                    "backend must be raw, raw-decode or thingdb: \"" + backend + "\"");
          };
      if (backend.startsWith("raw")) {
        // The raw side runs alone: no ThingDB threads (outbox, cache maintenance) in its trial.
        db.close();
        db = null;
        if (memcachedCache != null) {
          memcachedCache.close();
          memcachedCache = null;
        }
      }
      reader.check(expected);
      if (memcachedCache != null) {
        before = memcachedCache.stats();
      }
    } catch (RuntimeException e) {
      tearDown();
      throw e;
    }
  }

  /** {@code BATCHES} lists of {@code batch} distinct ids, Zipf-distributed over the ids. */
  private List<List<Long>> batches(long[] ids) {
    int[] sequence = Keys.zipfSequence(ids.length, Cursor.LENGTH, 42);
    List<List<Long>> out = new ArrayList<>(BATCHES);
    int next = 0;
    for (int b = 0; b < BATCHES; b++) {
      Set<Long> one = new LinkedHashSet<>();
      while (one.size() < batch) {
        one.add(ids[sequence[next++ % sequence.length]]);
      }
      out.add(List.copyOf(one));
    }
    return out;
  }

  /**
   * createAll fills the cache best-effort (pipelined adds without replies); reads every thing until
   * a full pass runs no SQL, i.e. every thing is cached.
   */
  private void settleCache(long[] ids) {
    for (int pass = 0; pass < 10; pass++) {
      long statements;
      try (io.thingdb.core.Scope scope = db.scope()) {
        for (int from = 0; from < ids.length; from += 100) {
          List<Long> chunk = new ArrayList<>();
          for (int i = from; i < Math.min(ids.length, from + 100); i++) {
            chunk.add(ids[i]);
          }
          db.getMany(BenchThings.LINK, chunk, ThingDb.Missing.FAIL);
        }
        statements = scope.statements();
      }
      if (statements == 0) {
        return;
      }
      BenchThings.sleep(100);
    }
    throw new IllegalStateException(
        "the cache did not hold all " + ids.length + " things after 10 passes");
  }

  @TearDown
  public void tearDown() {
    try {
      if (reader != null) {
        System.out.println(
            "\n"
                + backend
                + "/"
                + cache
                + " reader: "
                + reader.report()
                + (memcachedCache == null || before == null
                    ? ""
                    : ", cache " + delta(memcachedCache.stats(), before))
                + "; PostgreSQL: "
                + settings);
        reader.close();
      }
    } finally {
      Harness.closeInOrder(db, memcachedCache, memcached, pg);
    }
  }

  static String delta(CacheStats now, CacheStats then) {
    CacheStats.ServerStats a = now.total();
    CacheStats.ServerStats b = then.total();
    return "hits="
        + (a.hits() - b.hits())
        + ", misses="
        + (a.misses() - b.misses())
        + ", timeouts="
        + (a.timeouts() - b.timeouts())
        + ", unconfirmedWrites="
        + (a.unconfirmedWrites() - b.unconfirmedWrites());
  }

  /** See {@link ProcessCpuProfiler}: CPU is counted from here ... */
  @Setup(Level.Iteration)
  public void iterationStarts() {
    ProcessCpuProfiler.iterationStarts();
  }

  /** ... to here. */
  @TearDown(Level.Iteration)
  public void iterationEnds() {
    ProcessCpuProfiler.iterationEnds();
  }

  @Benchmark
  public Object getMany(Cursor cursor, Outcomes outcomes) {
    return reader.read(cursor.nextIndex(BATCHES), outcomes);
  }

  /**
   * Per measurement iteration: {@code misses}, things a warm read did not find in the cache
   * (ThingDB then reads them from PostgreSQL); {@code statements}, SQL statements ThingDB ran.
   * Confined to its benchmark thread, which also opens and closes the scope.
   */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Outcomes {
    public long misses;
    public long statements;
    private io.thingdb.core.Scope scope;

    @Setup(Level.Iteration)
    public void reset() {
      misses = 0;
      statements = 0;
    }

    io.thingdb.core.Scope scope(ThingDb db) {
      if (scope == null) {
        scope = db.scope();
      }
      return scope;
    }

    @TearDown(Level.Trial)
    public void close() {
      if (scope != null) {
        scope.close();
        scope = null;
      }
    }
  }

  /** One side of the comparison; exactly one implementation is loaded per fork. */
  private interface Reader extends AutoCloseable {
    Object read(int batch, Outcomes outcomes);

    /** Throws unless a read returns what ThingDB returned at set-up. */
    void check(List<Thing> expected);

    String report();

    @Override
    void close();
  }

  /** ThingDb.getMany, cached or not. */
  private static final class ThingDbReader implements Reader {
    private final ThingDb db;
    private final List<List<Long>> batches;

    /** Cache lookups per read: the batch size when warm, 0 without a cache. */
    private final int lookups;

    ThingDbReader(ThingDb db, List<List<Long>> batches, int lookups) {
      this.db = db;
      this.batches = batches;
      this.lookups = lookups;
    }

    @Override
    public Object read(int b, Outcomes outcomes) {
      io.thingdb.core.Scope scope = outcomes.scope(db);
      long hits = scope.cacheHits();
      long statements = scope.statements();
      List<Thing> things = db.getMany(BenchThings.LINK, batches.get(b), ThingDb.Missing.SKIP);
      outcomes.statements += scope.statements() - statements;
      outcomes.misses += lookups - (scope.cacheHits() - hits);
      return things;
    }

    @Override
    public void check(List<Thing> expected) {
      List<Thing> got = db.getMany(BenchThings.LINK, batches.get(0), ThingDb.Missing.FAIL);
      if (!got.equals(expected)) {
        throw new IllegalStateException("getMany returned different things on a second call");
      }
    }

    @Override
    public String report() {
      return "ThingDb.getMany";
    }

    @Override
    public void close() {}
  }

  /**
   * Raw xmemcached multi-get of the wire keys under which ThingDB stored the things; with {@code
   * decode}, each value is then decoded straight from its bytes into a {@link RawThing}.
   */
  private static final class RawMemcached implements Reader {
    private final MemcachedClient client;
    private final boolean decode;
    private final List<List<String>> batches = new ArrayList<>();
    private final LongAdder timeouts = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private String stored = "";

    RawMemcached(String server, List<List<Long>> idBatches, ThingDb db, boolean decode) {
      this.decode = decode;
      WireFormat format = WireFormat.of("thingdb", List.of(server));
      for (List<Long> ids : idBatches) {
        List<String> wires = new ArrayList<>(ids.size());
        for (long id : ids) {
          wires.add(format.wireKey(db.cacheKeyOf(BenchThings.LINK, id))); // core spells its keys
        }
        batches.add(List.copyOf(wires));
      }
      client = BenchThings.rawClient(server);
    }

    @Override
    public Object read(int b, Outcomes outcomes) {
      List<String> wires = batches.get(b);
      for (int attempt = 0; attempt < 2; attempt++) {
        try {
          Map<String, byte[]> got =
              client.get(wires, READ_ATTEMPT_MILLIS, PassThroughTranscoder.INSTANCE);
          outcomes.misses += wires.size() - got.size();
          return decode ? decodeAll(wires, got) : got;
        } catch (TimeoutException e) {
          timeouts.increment();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        } catch (MemcachedException e) {
          failures.increment();
          break;
        }
      }
      outcomes.misses += wires.size();
      return null;
    }

    /** In input order, as ThingDB returns them. */
    private static List<RawThing> decodeAll(List<String> wires, Map<String, byte[]> got) {
      List<RawThing> out = new ArrayList<>(got.size());
      for (String wire : wires) {
        byte[] stored = got.get(wire);
        if (stored != null) {
          out.add(decode(stored));
        }
      }
      return out;
    }

    /**
     * The stored layout, read in place: the format byte ({@link WireFormat#frame});
     * VersionedCache's entry header (kind, version, soft expiry, load millis); then ThingCodec's
     * format byte, id, ups, downs, flags, date in micros, version, and per prop a modified-UTF-8
     * name (ASCII here), a kind code and an int-length-prefixed UTF-8 value.
     */
    static RawThing decode(byte[] stored) {
      ByteBuffer b = ByteBuffer.wrap(stored);
      b.position(1 + 1 + 8 + 8 + 4 + 1);
      long id = b.getLong();
      int ups = b.getInt();
      int downs = b.getInt();
      int flags = b.get();
      long micros = b.getLong();
      long version = b.getLong();
      int n = b.getInt();
      Map<String, Object> props = new LinkedHashMap<>(n * 2);
      for (int i = 0; i < n; i++) {
        int nameLength = b.getShort() & 0xffff;
        String name = new String(stored, b.position(), nameLength, StandardCharsets.UTF_8);
        b.position(b.position() + nameLength);
        char kind = (char) b.get();
        int valueLength = b.getInt();
        String text = new String(stored, b.position(), valueLength, StandardCharsets.UTF_8);
        b.position(b.position() + valueLength);
        props.put(name, RawJdbc.decode(kind, text));
      }
      Instant date =
          Instant.ofEpochSecond(
              Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
      return new RawThing(id, ups, downs, (flags & 1) != 0, (flags & 2) != 0, date, version, props);
    }

    /** Every key of every batch is present, read one by one, as raw bytes. */
    @Override
    public void check(List<Thing> expected) {
      Set<String> all = new LinkedHashSet<>();
      batches.forEach(all::addAll);
      long bytes = 0;
      for (String wire : all) {
        byte[] value = null;
        try {
          value = client.get(wire, 1000, PassThroughTranscoder.INSTANCE);
        } catch (TimeoutException | MemcachedException e) {
          throw new IllegalStateException("raw get of " + wire + " failed", e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", e);
        }
        if (value == null) {
          throw new IllegalStateException(
              "raw get of " + wire + " missed: ThingDB did not cache it under that key");
        }
        bytes += value.length;
      }
      if (decode) {
        try {
          List<RawThing> got =
              decodeAll(
                  batches.get(0), client.get(batches.get(0), 1000, PassThroughTranscoder.INSTANCE));
          RawJdbc.compare(got, expected);
        } catch (TimeoutException | MemcachedException e) {
          throw new IllegalStateException("raw multi-get failed", e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", e);
        }
      }
      stored = all.size() + " keys, " + (bytes / all.size()) + " bytes per stored value on average";
      if (batches.get(0).size() != expected.size()) {
        throw new IllegalStateException(
            "batch 0 has " + batches.get(0).size() + " keys, ThingDB read " + expected.size());
      }
    }

    @Override
    public String report() {
      return "raw xmemcached multi-get"
          + (decode ? " and decode" : "")
          + " ("
          + stored
          + "), timeouts="
          + timeouts.sum()
          + ", failures="
          + failures.sum();
    }

    @Override
    public void close() {
      try {
        client.shutdown();
      } catch (IOException e) {
        throw new IllegalStateException("closing raw xmemcached failed", e);
      }
    }
  }

  /** A thing as the raw JDBC side decodes it: base columns and typed props. */
  record RawThing(
      long id,
      int ups,
      int downs,
      boolean deleted,
      boolean spam,
      Instant date,
      long version,
      Map<String, Object> props) {}

  /** Raw JDBC running ThingReads.fetch's statement and decoding its rows. */
  private static final class RawJdbc implements Reader {
    private final HikariDataSource pool;
    private final List<Long[]> batches = new ArrayList<>();

    RawJdbc(HikariDataSource pool, List<List<Long>> idBatches) {
      this.pool = pool;
      for (List<Long> ids : idBatches) {
        batches.add(ids.toArray(new Long[0]));
      }
    }

    @Override
    public Object read(int b, Outcomes outcomes) {
      try {
        return fetch(batches.get(b));
      } catch (SQLException e) {
        throw new IllegalStateException("raw fetch failed: " + e.getMessage(), e);
      }
    }

    List<RawThing> fetch(Long[] ids) throws SQLException {
      Map<Long, RawThing> byId = new HashMap<>(ids.length * 2);
      try (Connection c = pool.getConnection();
          PreparedStatement ps = c.prepareStatement(FETCH_SQL)) {
        ps.setArray(1, c.createArrayOf("bigint", ids));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            long id = rs.getLong("thing_id");
            RawThing t = byId.get(id);
            if (t == null) {
              OffsetDateTime date = rs.getObject("date", OffsetDateTime.class);
              t =
                  new RawThing(
                      id,
                      rs.getInt("ups"),
                      rs.getInt("downs"),
                      rs.getBoolean("deleted"),
                      rs.getBoolean("spam"),
                      date.toInstant(),
                      rs.getLong("version"),
                      new LinkedHashMap<>());
              byId.put(id, t);
            }
            String key = rs.getString("data_key");
            if (key != null) {
              t.props()
                  .put(
                      key, decode(rs.getString("data_kind").charAt(0), rs.getString("data_value")));
            }
          }
        }
      }
      List<RawThing> out = new ArrayList<>(byId.size());
      for (Long id : ids) {
        RawThing t = byId.get(id);
        if (t != null) {
          out.add(t);
        }
      }
      return out;
    }

    static Object decode(char kind, String value) {
      return switch (kind) {
        case 's' -> value;
        case 'l' -> Long.parseLong(value);
        case 'b' -> Boolean.parseBoolean(value);
        default -> throw new IllegalStateException("unexpected kind " + kind);
      };
    }

    /** The raw rows decode to the same things ThingDB returned. */
    @Override
    public void check(List<Thing> expected) {
      List<RawThing> got;
      try {
        got = fetch(batches.get(0));
      } catch (SQLException e) {
        throw new IllegalStateException("raw fetch failed: " + e.getMessage(), e);
      }
      compare(got, expected);
    }

    static void compare(List<RawThing> got, List<Thing> expected) {
      if (got.size() != expected.size()) {
        throw new IllegalStateException(
            "the raw side read " + got.size() + " things, ThingDB " + expected.size());
      }
      for (int i = 0; i < got.size(); i++) {
        RawThing r = got.get(i);
        Thing t = expected.get(i);
        if (r.id() != t.id()
            || r.version() != t.version()
            || !r.date().equals(t.date())
            || !r.props().equals(t.storedProps())) {
          throw new IllegalStateException("the raw side decoded " + r + " where ThingDB read " + t);
        }
      }
    }

    @Override
    public String report() {
      return "raw JDBC, " + FETCH_SQL;
    }

    @Override
    public void close() {}
  }
}

package io.thingdb.benchmarks;

import io.thingdb.cache.Cache.Outcome;
import io.thingdb.cache.CacheStats;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.WireFormat;
import io.thingdb.testing.MemcachedCluster;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import net.rubyeye.xmemcached.MemcachedClient;
import net.rubyeye.xmemcached.XMemcachedClientBuilder;
import net.rubyeye.xmemcached.command.TextCommandFactory;
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
 * What {@link MemcachedCache} costs on top of raw xmemcached: get, set and a 20-key getAll of 1 KiB
 * values against one local memcached, both clients measured in the same run.
 *
 * <p>Both sides make the server do the same work. The raw client sends ThingDB's wire keys ({@code
 * thingdb:1:item:00042}) and ThingDB's stored bytes (the format byte and the 1 KiB value), through
 * a pass-through transcoder as ThingDB's, over one text-protocol connection with the same timeouts:
 * reads get two attempts of 50 ms (ThingDB splits its 100 ms read deadline in two, because
 * xmemcached stalls about one operation in 10<sup>4</sup> to 10<sup>5</sup> for a whole timeout),
 * writes one of 100 ms. A stall therefore costs both sides the same. What is left is ThingDB's own
 * work: encoding the key, the ring, health checks, framing (one copy of the value each way),
 * counters and, for getAll, grouping the keys by server and merging the result.
 *
 * <p>Keys: 10,000, all written at set-up, chosen Zipf(0.99) from a precomputed sequence. Throughput
 * with 4 threads, because with 2 cores the question is how many operations a process gets through,
 * not how long one takes.
 *
 * <p>Set-up starts memcached on a free loopback port and tear-down kills it (see {@link
 * MemcachedCluster} for why none is leaked); {@code -p memcached=host:port} uses a running server
 * instead, whose items under {@code thingdb:1:item:*} are overwritten.
 *
 * <p>JMH state: set up on one thread, then only read by the benchmark threads (the clients it holds
 * are thread-safe).
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
public class CacheOverheadBenchmark {
  static final int KEYS = 10_000;
  static final int VALUE_BYTES = 1024;
  static final int BATCH_SIZE = 20;
  static final int BATCHES = 1024;
  static final String NAMESPACE = "thingdb";

  /** One read attempt: half of ThingDB's default 100 ms read deadline. */
  static final long READ_ATTEMPT_MILLIS = 50;

  /** ThingDB's default write timeout. */
  static final long WRITE_TIMEOUT_MILLIS = 100;

  /** {@code raw}: xmemcached alone; {@code thingdb}: {@link MemcachedCache}. */
  @Param({"raw", "thingdb"})
  public String backend;

  /** {@code host:port} of a running memcached, or empty to start one for the trial. */
  @Param({""})
  public String memcached;

  private MemcachedCluster process;
  private Backend ops;
  private int[] sequence;

  @Setup
  public void setUp() {
    if (memcached.isEmpty()) {
      process = MemcachedCluster.start(1);
    }
    String server = process != null ? process.server(0) : memcached;
    try {
      String[] appKeys = Keys.appKeys(KEYS);
      WireFormat format = WireFormat.of(NAMESPACE, List.of(server));
      String[] wireKeys = Arrays.stream(appKeys).map(format::wireKey).toArray(String[]::new);
      sequence = Keys.zipfSequence(KEYS, Cursor.LENGTH, 42);
      byte[] value = new byte[VALUE_BYTES];
      new java.util.Random(7).nextBytes(value);
      ops =
          switch (backend) {
            case "raw" ->
                new Raw(
                    server,
                    wireKeys,
                    Keys.batches(sequence, wireKeys, BATCHES, BATCH_SIZE),
                    WireFormat.frame(value));
            case "thingdb" ->
                new ThingDb(
                    server, appKeys, Keys.batches(sequence, appKeys, BATCHES, BATCH_SIZE), value);
            default ->
                throw new IllegalArgumentException(
                    "unknown backend \"" + backend + "\"; expected raw or thingdb");
          };
      populate();
      ops.check(value);
    } catch (RuntimeException e) {
      tearDown();
      throw e;
    }
  }

  /**
   * Writes every key, then reads them all back and rewrites the missing until none is: on a busy
   * machine a write can time out, and ThingDB then deletes that key when it reconciles the server.
   */
  private void populate() {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    for (int pass = 0; ; pass++) {
      int missing = 0;
      for (int k = 0; k < KEYS; k++) {
        if (pass > 0 && ops.get(k) != null) {
          continue;
        }
        missing++;
        while (!applied(ops.set(k))) {
          if (System.nanoTime() - deadline > 0) {
            throw new IllegalStateException(
                backend + " could not write key " + k + " within 120 s");
          }
          sleep(20);
        }
      }
      ops.awaitHealthy(deadline);
      if (pass > 0 && missing == 0) {
        return;
      }
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            backend + ": " + missing + " keys still missing after 120 s");
      }
    }
  }

  private static boolean applied(Object outcome) {
    return outcome == Boolean.TRUE || outcome == Outcome.APPLIED;
  }

  @TearDown
  public void tearDown() {
    try {
      if (ops != null) {
        System.out.println("\n" + backend + " client: " + ops.report());
        ops.close();
      }
    } finally {
      if (process != null) {
        process.close();
      }
    }
  }

  @Benchmark
  public byte[] get(Cursor cursor, Outcomes outcomes) {
    byte[] value = ops.get(cursor.next(sequence));
    if (value == null) {
      outcomes.misses++;
    }
    return value;
  }

  @Benchmark
  public Object set(Cursor cursor, Outcomes outcomes) {
    Object outcome = ops.set(cursor.next(sequence));
    if (!applied(outcome)) {
      outcomes.unconfirmedWrites++;
    }
    return outcome;
  }

  @Benchmark
  public Map<String, byte[]> getAll(Cursor cursor, Outcomes outcomes) {
    Map<String, byte[]> values = ops.getAll(cursor.nextIndex(BATCHES));
    outcomes.misses += BATCH_SIZE - (values == null ? 0 : values.size());
    return values;
  }

  /**
   * Reads that missed and writes that were not confirmed, reported by JMH next to the score. Every
   * key is present, so any miss means a timeout or, for ThingDB, a server it considered suspect,
   * whose misses are instant: a score with misses is not a clean comparison.
   */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Outcomes {
    public long misses;
    public long unconfirmedWrites;

    @Setup(Level.Iteration)
    public void reset() {
      misses = 0;
      unconfirmedWrites = 0;
    }
  }

  /** One client under test; exactly one implementation is loaded per fork, so calls inline. */
  private interface Backend extends AutoCloseable {
    byte[] get(int key);

    Object set(int key);

    Map<String, byte[]> getAll(int batch);

    /** Throws unless reads return what set-up wrote. */
    void check(byte[] value);

    /** Returns once the client trusts its server again (ThingDB: reconciled). */
    void awaitHealthy(long deadlineNanos);

    /** Misses, timeouts and failures seen, so a result skewed by stalls is visible. */
    String report();

    @Override
    void close();
  }

  /** Raw xmemcached, configured as MemcachedCache configures it. */
  private static final class Raw implements Backend {
    private final MemcachedClient client;
    private final String[] keys;
    private final List<List<String>> batches;
    private final byte[] stored;
    private final LongAdder timeouts = new LongAdder();
    private final LongAdder failures = new LongAdder();

    Raw(String server, String[] wireKeys, List<List<String>> batches, byte[] stored) {
      this.keys = wireKeys;
      this.batches = batches;
      this.stored = stored;
      int colon = server.lastIndexOf(':');
      XMemcachedClientBuilder b =
          new XMemcachedClientBuilder(
              List.of(
                  new InetSocketAddress(
                      server.substring(0, colon), Integer.parseInt(server.substring(colon + 1)))));
      b.setName("bench-raw");
      b.setCommandFactory(new TextCommandFactory());
      b.setConnectionPoolSize(1);
      b.setConnectTimeout(1000);
      b.setOpTimeout(100);
      b.setSanitizeKeys(false);
      b.setTranscoder(PassThroughTranscoder.INSTANCE);
      try {
        this.client = b.build();
      } catch (IOException e) {
        throw new IllegalStateException("cannot connect raw xmemcached to " + server, e);
      }
    }

    @Override
    public byte[] get(int key) {
      String wire = keys[key];
      for (int attempt = 0; attempt < 2; attempt++) {
        try {
          return client.get(wire, READ_ATTEMPT_MILLIS, PassThroughTranscoder.INSTANCE);
        } catch (TimeoutException e) {
          timeouts.increment();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return null;
        } catch (MemcachedException e) {
          failures.increment();
          return null;
        }
      }
      return null;
    }

    @Override
    public Object set(int key) {
      try {
        return client.set(
            keys[key], 0, stored, PassThroughTranscoder.INSTANCE, WRITE_TIMEOUT_MILLIS);
      } catch (TimeoutException e) {
        timeouts.increment();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (MemcachedException e) {
        failures.increment();
      }
      return null;
    }

    @Override
    public Map<String, byte[]> getAll(int batch) {
      List<String> wires = batches.get(batch);
      for (int attempt = 0; attempt < 2; attempt++) {
        try {
          return client.get(wires, READ_ATTEMPT_MILLIS, PassThroughTranscoder.INSTANCE);
        } catch (TimeoutException e) {
          timeouts.increment();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return null;
        } catch (MemcachedException e) {
          failures.increment();
          return null;
        }
      }
      return null;
    }

    @Override
    public void awaitHealthy(long deadlineNanos) {}

    @Override
    public void check(byte[] value) {
      byte[] got = get(0);
      if (got == null || !Arrays.equals(got, stored)) {
        throw new IllegalStateException(
            "raw get after set returned " + (got == null ? "null" : got.length + " bytes"));
      }
      Map<String, byte[]> all = getAll(0);
      if (all == null || all.size() != BATCH_SIZE) {
        throw new IllegalStateException(
            "raw getAll after set returned " + (all == null ? "null" : all.size() + " hits"));
      }
      timeouts.reset();
      failures.reset();
    }

    @Override
    public String report() {
      return "timeouts=" + timeouts.sum() + ", failures=" + failures.sum();
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

  /** ThingDB's MemcachedCache with its defaults (100 ms read deadline, 100 ms write timeout). */
  private static final class ThingDb implements Backend {
    private final MemcachedCache cache;
    private final String[] keys;
    private final List<List<String>> batches;
    private final byte[] value;
    private CacheStats before;

    ThingDb(String server, String[] appKeys, List<List<String>> batches, byte[] value) {
      this.keys = appKeys;
      this.batches = batches;
      this.value = value;
      this.cache = MemcachedCache.builder().servers(server).namespace(NAMESPACE).build();
      // The client starts a server as suspect until its connection is up; wait for it.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (cache.set(keys[0], value, Duration.ZERO) != Outcome.APPLIED
          || cache.status(server).state() != MemcachedCache.State.HEALTHY) {
        if (System.nanoTime() - deadline > 0) {
          cache.close();
          throw new IllegalStateException(
              "MemcachedCache did not reach " + server + ": " + cache.status());
        }
        sleep(20);
      }
    }

    @Override
    public byte[] get(int key) {
      return cache.get(keys[key]);
    }

    @Override
    public Object set(int key) {
      return cache.set(keys[key], value, Duration.ZERO);
    }

    @Override
    public Map<String, byte[]> getAll(int batch) {
      return cache.getAll(batches.get(batch));
    }

    @Override
    public void awaitHealthy(long deadlineNanos) {
      while (cache.status().stream()
          .anyMatch(
              st ->
                  st.state() != MemcachedCache.State.HEALTHY
                      || st.pendingInvalidations() > 0
                      || st.flushPending())) {
        if (System.nanoTime() - deadlineNanos > 0) {
          throw new IllegalStateException(
              "MemcachedCache did not become healthy: " + cache.status());
        }
        sleep(20);
      }
    }

    @Override
    public void check(byte[] expected) {
      byte[] got = get(0);
      if (got == null || !Arrays.equals(got, expected)) {
        throw new IllegalStateException(
            "thingdb get after set returned " + (got == null ? "null" : got.length + " bytes"));
      }
      Map<String, byte[]> all = getAll(0);
      if (all.size() != BATCH_SIZE) {
        throw new IllegalStateException(
            "thingdb getAll after set returned " + all.size() + " hits");
      }
      before = cache.stats();
    }

    @Override
    public String report() {
      CacheStats.ServerStats now = cache.stats().total();
      CacheStats.ServerStats then = before == null ? CacheStats.ServerStats.ZERO : before.total();
      return "misses="
          + (now.misses() - then.misses())
          + ", timeouts="
          + (now.timeouts() - then.timeouts())
          + ", unconfirmedWrites="
          + (now.unconfirmedWrites() - then.unconfirmedWrites())
          + ", status="
          + cache.status();
    }

    @Override
    public void close() {
      cache.close();
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}

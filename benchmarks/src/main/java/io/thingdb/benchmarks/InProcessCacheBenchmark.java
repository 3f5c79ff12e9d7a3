package io.thingdb.benchmarks;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import io.thingdb.cache.InProcessCache;
import io.thingdb.cache.WireFormat;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
 * What {@link InProcessCache} costs on top of the Guava cache it wraps: get and set of 1 KiB
 * values, 10,000 keys (all present; Zipf(0.99)-chosen), 4 threads.
 *
 * <p>The raw baseline is a {@code Cache<String, byte[]>} bounded like ours: 64 MiB by the same
 * weigher (key length + value length + 48) and the same concurrency level, holding ThingDB's wire
 * keys and stored bytes, so both hash and compare the same strings. The difference is ThingDB's
 * work: key encoding, framing (a copy of the value on set and on get), the expiry check on read,
 * the CAS counter on write, hit/miss counters, and the entry record.
 *
 * <p>JMH state: set up on one thread, then only read by the benchmark threads (the caches it holds
 * are thread-safe).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(4)
@Fork(
    value = 3,
    jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class InProcessCacheBenchmark {
  static final int KEYS = 10_000;
  static final int VALUE_BYTES = 1024;
  static final long MAXIMUM_BYTES = 64L * 1024 * 1024;

  /** {@code guava}: a raw Guava cache; {@code thingdb}: {@link InProcessCache}. */
  @Param({"guava", "thingdb"})
  public String backend;

  private Backend ops;
  private int[] sequence;

  @Setup
  public void setUp() {
    String[] appKeys = Keys.appKeys(KEYS);
    // Wire keys do not depend on the server list, which only places them.
    WireFormat format = WireFormat.of("thingdb", List.of("127.0.0.1:11211"));
    String[] wireKeys = Arrays.stream(appKeys).map(format::wireKey).toArray(String[]::new);
    sequence = Keys.zipfSequence(KEYS, Cursor.LENGTH, 42);
    byte[] value = new byte[VALUE_BYTES];
    new java.util.Random(7).nextBytes(value);
    ops =
        switch (backend) {
          case "guava" -> new Guava(wireKeys, WireFormat.frame(value));
          case "thingdb" -> new ThingDb(appKeys, value);
          default ->
              throw new IllegalArgumentException(
                  "unknown backend \"" + backend + "\"; expected guava or thingdb");
        };
    for (int k = 0; k < KEYS; k++) {
      ops.set(k);
    }
    for (int k = 0; k < KEYS; k++) {
      if (ops.get(k) == null) {
        throw new IllegalStateException(
            backend + " lost key " + k + " right after set-up wrote it");
      }
    }
  }

  @TearDown
  public void tearDown() {
    if (ops != null) {
      ops.close();
    }
  }

  @Benchmark
  public byte[] get(Cursor cursor) {
    return ops.get(cursor.next(sequence));
  }

  @Benchmark
  public Object set(Cursor cursor) {
    return ops.set(cursor.next(sequence));
  }

  /** One cache under test; exactly one implementation is loaded per fork, so calls inline. */
  private interface Backend {
    byte[] get(int key);

    Object set(int key);

    void close();
  }

  private static final class Guava implements Backend {
    private final Cache<String, byte[]> cache;
    private final String[] keys;
    private final byte[] stored;

    Guava(String[] wireKeys, byte[] stored) {
      this.keys = wireKeys;
      this.stored = stored;
      this.cache =
          CacheBuilder.newBuilder()
              .maximumWeight(MAXIMUM_BYTES)
              .<String, byte[]>weigher((k, v) -> k.length() + v.length + 48)
              .concurrencyLevel(Math.max(4, Runtime.getRuntime().availableProcessors() * 2))
              .build();
    }

    @Override
    public byte[] get(int key) {
      return cache.getIfPresent(keys[key]);
    }

    @Override
    public Object set(int key) {
      cache.put(keys[key], stored);
      return stored;
    }

    @Override
    public void close() {
      cache.invalidateAll();
    }
  }

  private static final class ThingDb implements Backend {
    private final InProcessCache cache;
    private final String[] keys;
    private final byte[] value;

    ThingDb(String[] appKeys, byte[] value) {
      this.keys = appKeys;
      this.value = value;
      this.cache = InProcessCache.builder().maximumBytes(MAXIMUM_BYTES).build();
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
    public void close() {
      cache.close();
    }
  }
}

package io.thingdb.benchmarks;

import io.thingdb.cache.WireFormat;
import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-key routing cost of every memcached operation, through {@link WireFormat}, which places
 * keys with the same key codec and ketama ring as MemcachedCache: {@link WireFormat#wireKey}
 * (namespace prefix, or SHA-256 for keys memcached cannot carry) and {@link
 * WireFormat#serverForWireKey} on a 10-server ring (MD5 of the wire key, then a binary search over
 * 1,600 points). The benchmark names are those of the internal calls they measured before the ring
 * and codec became internal ({@code encode}, {@code indexFor}), so results stay comparable.
 *
 * <p>{@code md5Floor} is the baseline: the MD5 of the same key bytes into a reused buffer, the
 * least any libmemcached-compatible ketama lookup can cost, so {@code indexFor - md5Floor} is the
 * ring's own cost. Keys are ThingDB-shaped ({@code user:123456:profile}), Zipf-chosen from 10,000.
 * One thread; average time per call.
 *
 * <p>JMH state: set up on one thread, then only read (the format is immutable).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(
    value = 3,
    jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RingLookupBenchmark {
  static final int SERVERS = 10;
  static final int KEYS = 10_000;

  private WireFormat format;
  private String[] appKeys;
  private String[] wireKeys;
  private String[] unsafeKeys;
  private byte[][] wireBytes;
  private int[] sequence;

  @Setup
  public void setUp() {
    List<String> servers = new ArrayList<>();
    for (int i = 0; i < SERVERS; i++) {
      servers.add("10.0.0." + (i + 1) + ":11211");
    }
    format = WireFormat.of("thingdb", servers);
    appKeys = new String[KEYS];
    wireKeys = new String[KEYS];
    unsafeKeys = new String[KEYS];
    wireBytes = new byte[KEYS][];
    for (int i = 0; i < KEYS; i++) {
      int user = 100_000 + i * 7919 % 900_000;
      appKeys[i] = "user:" + user + ":profile";
      wireKeys[i] = format.wireKey(appKeys[i]);
      wireBytes[i] = wireKeys[i].getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      // A space makes a key unsendable, so it takes the SHA-256 path.
      unsafeKeys[i] = "search:red shoes size " + user;
    }
    sequence = Keys.zipfSequence(KEYS, Cursor.LENGTH, 42);
  }

  /** Ring lookup of an already encoded wire key. */
  @Benchmark
  public String indexFor(Cursor cursor) {
    return format.serverForWireKey(wireKeys[cursor.next(sequence)]);
  }

  /** Encoding of a plain ASCII key: the prefix concatenation that nearly every call pays. */
  @Benchmark
  public String encode(Cursor cursor) {
    return format.wireKey(appKeys[cursor.next(sequence)]);
  }

  /** What MemcachedCache does per key before talking to xmemcached. */
  @Benchmark
  public String encodeThenIndexFor(Cursor cursor) {
    return format.serverFor(appKeys[cursor.next(sequence)]);
  }

  /** Encoding of a key with a space: SHA-256 and base64url. */
  @Benchmark
  public String encodeHashed(Cursor cursor) {
    return format.wireKey(unsafeKeys[cursor.next(sequence)]);
  }

  /** Baseline: MD5 of the wire key's bytes into a reused buffer. */
  @Benchmark
  public byte[] md5Floor(Cursor cursor, Md5 md5) throws DigestException {
    byte[] key = wireBytes[cursor.next(sequence)];
    md5.digest.update(key, 0, key.length);
    md5.digest.digest(md5.out, 0, md5.out.length);
    return md5.out;
  }

  /** A per-thread MD5 and output buffer. */
  @State(Scope.Thread)
  public static class Md5 {
    final MessageDigest digest;
    final byte[] out = new byte[16];

    public Md5() {
      try {
        digest = MessageDigest.getInstance("MD5");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("no MD5", e);
      }
    }
  }
}

package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.Cache.Outcome;
import io.thingdb.cache.internal.KetamaRing;
import io.thingdb.cache.internal.KeyCodec;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Behaviour specific to the memcached backend: routing, the item limit, formats, dead nodes. */
class MemcachedCacheTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);
  static final Duration TTL = Duration.ofMinutes(5);
  static final KeyCodec CODEC = KeyCodec.of("routing", KeyCodec.CURRENT_VERSION);

  static MemcachedCache open(MemcachedCluster cluster) {
    return MemcachedCache.builder().servers(cluster.servers()).namespace("routing").build();
  }

  /**
   * For tests about placement, not timeouts: on a loaded 2-CPU machine a set can outlast the
   * default 100 ms and come back unconfirmed (by design), which would leave the key off its server.
   */
  static MemcachedCache openPatient(MemcachedCluster cluster) {
    return MemcachedCache.builder()
        .servers(cluster.servers())
        .namespace("routing")
        .readDeadline(java.time.Duration.ofSeconds(2))
        .writeTimeout(java.time.Duration.ofSeconds(2))
        .build();
  }

  static boolean holds(MemcachedCluster cluster, int node, String wireKey) {
    return cluster.rawCommand(node, "get " + wireKey).startsWith("VALUE ");
  }

  @Test
  void everyKeyIsStoredOnTheServerTheRingNames() {
    MemcachedCluster cluster = memcached.cluster();
    KetamaRing ring = KetamaRing.of(cluster.servers());
    try (MemcachedCache cache = openPatient(cluster)) {
      int[] perNode = new int[3];
      for (int i = 0; i < 300; i++) {
        String key = "placed:" + i;
        assertThat(cache.set(key, "v".getBytes(UTF_8), TTL))
            .as("set %s", key)
            .isEqualTo(Cache.Outcome.APPLIED);
        String wire = CODEC.encode(key);
        int expected = ring.indexFor(wire);
        assertThat(cache.serverFor(key)).isEqualTo(cluster.server(expected));
        for (int n = 0; n < 3; n++) {
          assertThat(holds(cluster, n, wire))
              .as("key %s on node %d", key, n)
              .isEqualTo(n == expected);
        }
        perNode[expected]++;
      }
      assertThat(java.util.Arrays.stream(perNode).min().orElse(0)).isGreaterThan(50);
    }
  }

  @Test
  void theItemLimitIsExactlyMemcachedsOwn() {
    // Our limit, plus the one format byte we prepend, must be the largest value memcached itself
    // accepts for the same wire key: one byte more and memcached refuses it.
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      // The longest raw key (its wire key is exactly memcached's 250 bytes) and hashed ones.
      String longestRaw = "d".repeat(250 - "routing:1:".length());
      for (String key :
          List.of(
              "a",
              "b".repeat(100),
              "c".repeat(230),
              longestRaw,
              longestRaw + "d",
              "\u00e9".repeat(200))) {
        String wire = CODEC.encode(key);
        int node = cluster.servers().indexOf(cache.serverFor(key));
        int stored = cache.maxValueSize(key) + 1;
        assertThat(rawSet(cluster, node, wire, stored))
            .as("raw set of %d bytes", stored)
            .startsWith("STORED");
        assertThat(rawSet(cluster, node, wire, stored + 1))
            .as("raw set of %d bytes", stored + 1)
            .startsWith("SERVER_ERROR");
      }
    }
  }

  private static String rawSet(MemcachedCluster cluster, int node, String wire, int size) {
    return cluster.rawCommand(
        node, "set " + wire + " 0 0 " + size + "\r\n" + "x".repeat(size), Duration.ofSeconds(5));
  }

  /**
   * Keys at memcached's 250-byte key limit, on both sides of it, and values of exactly the largest
   * size for each key and one byte more. The longest raw key leaves the least room for the value;
   * one character more and the key is hashed to a 54-byte wire key, which leaves more. Each value
   * of the largest size is stored and read back byte for byte; one byte more is refused with an
   * error naming the key, the size and the limit, and the older value stays.
   */
  @Test
  void keysAtTheKeyLimitAndValuesAtTheItemLimitAreExact() {
    MemcachedCluster cluster = memcached.cluster();
    String prefix = "routing:1:";
    String longestRaw = "k".repeat(250 - prefix.length());
    String hashedByLength = longestRaw + "k";
    String hashedByCharacters = "\u00e9".repeat(125); // 250 bytes of UTF-8, not ASCII
    try (MemcachedCache cache = open(cluster)) {
      assertThat(CODEC.encode(longestRaw)).isEqualTo(prefix + longestRaw).hasSize(250);
      assertThat(CODEC.encode(hashedByLength)).startsWith(prefix + "#").hasSize(54);
      assertThat(CODEC.encode(hashedByCharacters)).startsWith(prefix + "#").hasSize(54);
      int itemSizeMax = 1024 * 1024;
      assertThat(cache.maxValueSize(longestRaw)).isEqualTo(itemSizeMax - 59 - 250 - 1);
      assertThat(cache.maxValueSize(hashedByLength)).isEqualTo(itemSizeMax - 59 - 54 - 1);
      assertThat(cache.maxValueSize(hashedByCharacters)).isEqualTo(itemSizeMax - 59 - 54 - 1);
      for (String key : List.of(longestRaw, hashedByLength, hashedByCharacters)) {
        int max = cache.maxValueSize(key);
        byte[] largest = new byte[max];
        new java.util.Random(key.hashCode()).nextBytes(largest);
        assertThat(cache.set(key, largest, TTL))
            .as("%d chars", key.length())
            .isEqualTo(Outcome.APPLIED);
        assertThat(cache.get(key)).as("%d chars", key.length()).isEqualTo(largest);
        int node = cluster.servers().indexOf(cache.serverFor(key));
        assertThat(holds(cluster, node, CODEC.encode(key))).isTrue();

        assertThatThrownBy(() -> cache.set(key, new byte[max + 1], TTL))
            .isInstanceOfSatisfying(
                ValueTooLargeException.class,
                e -> {
                  assertThat(e.key()).isEqualTo(key);
                  assertThat(e.size()).isEqualTo(max + 1);
                  assertThat(e.limit()).isEqualTo(max);
                })
            .hasMessage(
                "value too large for the cache: key="
                    + key
                    + ", size="
                    + (max + 1)
                    + " bytes, limit for this key="
                    + max
                    + " bytes (the server's item limit covers the key and item header too);"
                    + " nothing was written");
        assertThat(cache.get(key)).as("the older value stays").isEqualTo(largest);
      }
      // A key too long for memcached is named by its start and its end, which tell it apart.
      String tooLong = "t".repeat(270) + ":tail-42";
      assertThatThrownBy(() -> cache.set(tooLong, new byte[cache.maxValueSize(tooLong) + 1], TTL))
          .isInstanceOf(ValueTooLargeException.class)
          .hasMessageStartingWith(
              "value too large for the cache: key="
                  + "t".repeat(200)
                  + "..."
                  + "t".repeat(22)
                  + ":tail-42 (278 chars), size=");
      assertThat(cache.get(tooLong)).isNull();
    }
  }

  /**
   * A multi-get of 10,000 keys over three servers (about 3,300 keys in one request to each): every
   * value comes back, under its own key and at its own position, misses stay misses, and hashed
   * keys are found like raw ones. The long read deadline keeps this about correctness: on a loaded
   * machine a slow multi-get is a miss by design.
   */
  @Test
  void aMultiGetOfTenThousandKeysReturnsEveryValue() {
    MemcachedCluster cluster = memcached.cluster();
    int n = 10_000;
    try (MemcachedCache cache =
        MemcachedCache.builder()
            .servers(cluster.servers())
            .namespace("routing")
            .readDeadline(Duration.ofSeconds(10))
            .writeTimeout(Duration.ofSeconds(2))
            .build()) {
      List<String> keys = new ArrayList<>(n);
      Map<String, byte[]> expected = new java.util.HashMap<>();
      for (int i = 0; i < n; i++) {
        // Every tenth key is too long to send raw and is hashed; every seventh is never set.
        String key = i % 10 == 0 ? "many:" + i + ":" + "x".repeat(250) : "many:" + i;
        keys.add(key);
        if (i % 7 != 0) {
          byte[] value = ("value of " + i).getBytes(UTF_8);
          assertThat(cache.set(key, value, TTL)).as(key).isEqualTo(Outcome.APPLIED);
          expected.put(key, value);
        }
      }
      Map<String, byte[]> got = cache.getAll(keys);
      assertThat(got).hasSameSizeAs(expected);
      for (Map.Entry<String, byte[]> e : expected.entrySet()) {
        assertThat(got.get(e.getKey())).as(e.getKey()).isEqualTo(e.getValue());
      }
      String[] seen = new String[n];
      cache.getAll(
          keys, (i, buffer, offset, length) -> seen[i] = new String(buffer, offset, length, UTF_8));
      for (int i = 0; i < n; i++) {
        assertThat(seen[i]).as("index %d", i).isEqualTo(i % 7 != 0 ? "value of " + i : null);
      }
      assertThat(cache.stats().total().timeouts()).as("timeouts").isZero();
    }
  }

  /**
   * The unconfirmed outcome of an increment, forced: the counter's server hangs, the increment
   * times out and returns empty; it may still run when the server resumes, so the client deletes
   * the counter before trusting the server again, and the next increment starts from its initial
   * value. Until then the counter reads as a miss, never as a possibly doubled count.
   */
  @Test
  void anUnconfirmedIncrementDeletesTheCounterAndTheNextStartsFromItsInitialValue() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      assertThat(cache.incr("ctr", 1, 10, TTL)).isEqualTo(OptionalLong.of(10));
      assertThat(cache.incr("ctr", 5, 10, TTL)).isEqualTo(OptionalLong.of(15));
      int node = cluster.servers().indexOf(cache.serverFor("ctr"));
      cluster.hang(node);
      assertThat(cache.incr("ctr", 1, 10, TTL)).isEmpty();
      assertThat(cache.get("ctr")).isNull();
      cluster.resume(node);
      assertThat(cache.awaitReconciled("ctr", Duration.ofSeconds(5))).isTrue();
      assertThat(holds(cluster, node, CODEC.encode("ctr"))).as("deleted on the server").isFalse();
      assertThat(cache.incr("ctr", 1, 10, TTL)).isEqualTo(OptionalLong.of(10));
    }
  }

  @Test
  void aValueWithoutOurFormatByteIsAMissNotGarbage() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      String wire = CODEC.encode("foreign");
      int node = cluster.servers().indexOf(cache.serverFor("foreign"));
      assertThat(cluster.rawCommand(node, "set " + wire + " 0 0 5\r\nhello")).startsWith("STORED");
      assertThat(cache.get("foreign")).isNull();
      assertThat(cache.getAll(List.of("foreign"))).isEmpty();
    }
  }

  @Test
  void aDeadServersKeysAreMissesAndAreNotRehashedOntoOthers() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      List<String> onNode1 = new ArrayList<>();
      for (int i = 0; onNode1.size() < 20; i++) {
        String key = "dead:" + i;
        cache.set(key, "v".getBytes(UTF_8), TTL);
        if (cache.serverFor(key).equals(cluster.server(1))) {
          onNode1.add(key);
        }
      }
      cluster.kill(1);
      for (String key : onNode1) {
        assertThat(cache.get(key)).isNull();
        assertThat(cache.set(key, "new".getBytes(UTF_8), TTL)).isEqualTo(Outcome.UNCONFIRMED);
        String wire = CODEC.encode(key);
        assertThat(holds(cluster, 0, wire)).isFalse();
        assertThat(holds(cluster, 2, wire)).isFalse();
      }
      assertThat(cache.status(cluster.server(1)).state()).isEqualTo(MemcachedCache.State.SUSPECT);
      assertThat(cache.getAll(onNode1)).isEmpty();
    }
  }

  @Test
  void aMultiGetLosesOnlyTheHungServersKeys() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < 60; i++) {
        keys.add("multi:" + i);
        cache.set("multi:" + i, ("v" + i).getBytes(UTF_8), TTL);
      }
      cluster.hang(2);
      Map<String, byte[]> got = cache.getAll(keys);
      for (String key : keys) {
        boolean onHung = cache.serverFor(key).equals(cluster.server(2));
        assertThat(got.containsKey(key)).as(key).isEqualTo(!onHung);
      }
      cluster.resume(2);
    }
  }

  /**
   * A cluster whose node 1 was started with a smaller item size limit (-I 512k) than the client
   * assumes (1 MiB), and whose node 0 has a larger one (2 MiB), which is harmless.
   */
  static MemcachedCluster mixedItemSizes() {
    return MemcachedCluster.builder()
        .nodes(2)
        .extraArgs("-I", "2m")
        .nodeArgs(1, "-I", "512k")
        .start();
  }

  /**
   * A client told the servers take 4 MiB items stores and reads values above xmemcached's own 1 MiB
   * default (its CachedData limit), up to the exact item limit; before, those sets came back
   * UNCONFIRMED with nothing stored, silently.
   */
  @Test
  void valuesAboveOneMebibyteAreStoredWhenTheServersAndTheClientAllowThem() {
    try (MemcachedCluster cluster =
            MemcachedCluster.builder().nodes(1).extraArgs("-I", "4m").start();
        MemcachedCache cache =
            MemcachedCache.builder()
                .servers(cluster.servers())
                .namespace("routing")
                .itemSizeMax(4 * 1024 * 1024)
                .readDeadline(java.time.Duration.ofSeconds(5))
                .writeTimeout(java.time.Duration.ofSeconds(5))
                .build()) {
      for (int size : new int[] {1024 * 1024 + 1, 3 * 1024 * 1024, cache.maxValueSize("big")}) {
        byte[] value = new byte[size];
        java.util.Arrays.fill(value, (byte) (size % 251));
        assertThat(cache.set("big", value, TTL))
            .as("set of %d bytes", size)
            .isEqualTo(Outcome.APPLIED);
        assertThat(cache.get("big")).as("get of %d bytes", size).isEqualTo(value);
      }
      int over = cache.maxValueSize("big") + 1;
      assertThatThrownBy(() -> cache.set("big", new byte[over], TTL))
          .isInstanceOf(ValueTooLargeException.class)
          .hasMessageContaining("key=big");
    }
  }

  @Test
  void aServerWithASmallerItemSizeLimitThanTheClientsIsRefusedAtBuildNamingIt() {
    try (MemcachedCluster cluster = mixedItemSizes()) {
      assertThatThrownBy(() -> open(cluster).close())
          .isInstanceOf(CacheException.class)
          .hasMessage(
              "memcached server "
                  + cluster.server(1)
                  + " has item_size_max=524288 bytes (its -I), below this client's"
                  + " itemSizeMax=1048576 bytes: values in between would be refused by the server."
                  + " Start the server with -I 1048576 or larger, or set"
                  + " MemcachedCache.builder().itemSizeMax(524288)");
      // Told the smaller limit, the client stores exactly what that server takes.
      try (MemcachedCache cache =
          MemcachedCache.builder()
              .servers(cluster.servers())
              .namespace("routing")
              .itemSizeMax(512 * 1024)
              .build()) {
        String key = keyOn(cache, cluster.server(1), "small-limit:");
        int max = cache.maxValueSize(key);
        assertThat(cache.set(key, new byte[max], TTL)).isEqualTo(Outcome.APPLIED);
        assertThat(cache.get(key)).hasSize(max);
        assertThatThrownBy(() -> cache.set(key, new byte[max + 1], TTL))
            .isInstanceOf(ValueTooLargeException.class)
            .hasMessageContaining("key=" + key);
        assertThat(cache.get(key)).hasSize(max);
      }
    }
  }

  /**
   * A server that could not be checked at build (it was down) and came back with a smaller -I: a
   * value it refuses is reported as too large, naming the server and the key, and leaves no older
   * value readable, whether the write was a set (memcached drops the old item itself) or a
   * compare-and-set (the client invalidates the key). The server stays healthy.
   */
  @Test
  void aServerThatReturnsWithASmallerItemSizeLimitRefusesLargerValuesNamingItselfAndTheKey() {
    try (MemcachedCluster cluster = mixedItemSizes()) {
      cluster.stop(1);
      try (MemcachedCache cache = open(cluster)) {
        cluster.restart(1);
        String key = keyOn(cache, cluster.server(1), "returned:");
        awaitAnswering(cache, keyOn(cache, cluster.server(1), "answering:"));
        byte[] over = new byte[600 * 1024]; // under the client's 1 MiB, over the server's 512 KiB
        String refused =
            "value too large for memcached server "
                + cluster.server(1)
                + ": key="
                + key
                + ", size="
                + over.length
                + " bytes; the server refused it, so its item size limit (-I) is below this"
                + " client's itemSizeMax; nothing was written and the key is invalidated on that"
                + " server";

        assertThat(cache.set(key, "old".getBytes(UTF_8), TTL)).isEqualTo(Outcome.APPLIED);
        assertThatThrownBy(() -> cache.set(key, over, TTL))
            .isInstanceOf(ValueTooLargeException.class)
            .hasMessage(refused);
        assertThat(cache.get(key)).isNull();
        assertThat(cache.awaitReconciled(key, Duration.ofSeconds(5))).isTrue();
        assertThat(holds(cluster, 1, CODEC.encode(key))).as("deleted on the server").isFalse();

        assertThat(cache.set(key, "old".getBytes(UTF_8), TTL)).isEqualTo(Outcome.APPLIED);
        CasValue old = cache.gets(key);
        assertThatThrownBy(() -> cache.compareAndSet(key, old.cas(), over, TTL))
            .isInstanceOf(ValueTooLargeException.class)
            .hasMessage(refused);
        assertThat(cache.get(key)).as("the older value is not readable").isNull();
        assertThat(cache.awaitReconciled(key, Duration.ofSeconds(5))).isTrue();
        assertThat(holds(cluster, 1, CODEC.encode(key))).as("deleted on the server").isFalse();
        assertThat(cache.status(cluster.server(1)).state()).isEqualTo(MemcachedCache.State.HEALTHY);
      }
    }
  }

  /** The first key {@code prefix + i} that the ring places on {@code server}. */
  static String keyOn(MemcachedCache cache, String server, String prefix) {
    for (int i = 0; ; i++) {
      if (cache.serverFor(prefix + i).equals(server)) {
        return prefix + i;
      }
    }
  }

  /** Waits until a write of {@code key} is confirmed: its server is connected and trusted. */
  static void awaitAnswering(MemcachedCache cache, String key) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cache.touch(key, TTL) == Outcome.UNCONFIRMED) {
      assertThat(System.nanoTime())
          .as(key + "'s server answering within 10 s")
          .isLessThan(deadline);
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
    }
  }

  @Test
  void builderValidatesItsSettings() {
    assertThatThrownBy(() -> MemcachedCache.builder().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("servers are required: call servers(\"host:port\", ...)");
    assertThatThrownBy(() -> MemcachedCache.builder().servers(List.of()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> MemcachedCache.builder().readDeadline(Duration.ofMillis(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("readDeadline must be between 2 ms and 10000 ms: 1 ms");
    assertThatThrownBy(() -> MemcachedCache.builder().suspectAfter(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("suspectAfter must be at least 1: 0");
    assertThatThrownBy(() -> MemcachedCache.builder().namespace("has space"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("has space");
    assertThatThrownBy(() -> MemcachedCache.builder().servers("127.0.0.1:1", "localhost:1").build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("resolve to the same address");
  }

  @Test
  void statusNamesEveryServer() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      assertThat(cache.status())
          .extracting(MemcachedCache.ServerStatus::server)
          .isEqualTo(cluster.servers());
      assertThat(cache.status()).allMatch(s -> s.state() == MemcachedCache.State.HEALTHY);
      assertThatThrownBy(() -> cache.status("nope:1"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("unknown memcached server: nope:1");
    }
  }

  @Test
  void aServerThatCannotBeReachedAtStartIsAMissNotABuildFailure() {
    int deadPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      deadPort = s.getLocalPort();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    try (MemcachedCache cache =
        MemcachedCache.builder().servers("127.0.0.1:" + deadPort).namespace("routing").build()) {
      assertThat(cache.get("k")).isNull();
      assertThat(cache.set("k", "v".getBytes(UTF_8), TTL)).isEqualTo(Outcome.UNCONFIRMED);
      assertThat(cache.getAll(List.of("a", "b"))).isEmpty();
    }
  }
}

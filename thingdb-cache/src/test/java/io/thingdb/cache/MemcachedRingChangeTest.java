package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thingdb.cache.Cache.Outcome;
import io.thingdb.cache.VersionedCache.Kind;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.internal.KetamaRing;
import io.thingdb.cache.internal.KeyCodec;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link MemcachedCache#reconfigure} and its warm-up on four real memcached servers: the client
 * starts on the first three, and the fourth is added (or one is removed).
 */
class MemcachedRingChangeTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(4);
  static final Duration TTL = Duration.ofMinutes(5);
  static final KeyCodec CODEC = KeyCodec.of("ring", KeyCodec.CURRENT_VERSION);

  static List<String> three() {
    return memcached.cluster().servers().subList(0, 3);
  }

  static List<String> four() {
    return memcached.cluster().servers();
  }

  /** Patient deadlines: these tests are about placement, not timeouts, on a loaded machine. */
  static MemcachedCache open(List<String> servers, Duration warmUp) {
    return MemcachedCache.builder()
        .servers(servers)
        .namespace("ring")
        .readDeadline(Duration.ofSeconds(2))
        .writeTimeout(Duration.ofSeconds(2))
        .warmUp(warmUp)
        .build();
  }

  static boolean holds(int node, String key) {
    return memcached.cluster().rawCommand(node, "get " + CODEC.encode(key)).startsWith("VALUE ");
  }

  static byte[] bytes(String s) {
    return s.getBytes(UTF_8);
  }

  /** The keys among {@code key:0..n-1} that adding the fourth server moves (to it). */
  static List<String> movedByAdding(String prefix, int n) {
    KetamaRing before = KetamaRing.of(three());
    KetamaRing after = KetamaRing.of(four());
    List<String> moved = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String wire = CODEC.encode(prefix + i);
      if (!before.serverFor(wire).equals(after.serverFor(wire))) {
        moved.add(prefix + i);
      }
    }
    return moved;
  }

  static String firstMoved(String prefix) {
    return movedByAdding(prefix, 100).get(0);
  }

  static void await(BooleanSupplier condition, Duration deadline, String what) {
    long end = System.nanoTime() + deadline.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime() - end).as("%s within %s", what, deadline).isNegative();
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
  }

  @Test
  void addingAFourthServerMovesAboutAQuarterOfTheKeysAllToIt() {
    int n = 4000;
    List<String> moved = movedByAdding("share:", n);
    assertThat((double) moved.size() / n).isBetween(0.18, 0.32);
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      cache.reconfigure(four());
      assertThat(cache.servers()).isEqualTo(four());
      assertThat(cache.status()).extracting(MemcachedCache.ServerStatus::server).isEqualTo(four());
      for (String key : moved) {
        assertThat(cache.serverFor(key)).isEqualTo(four().get(3));
      }
    }
  }

  @Test
  void warmUpServesMovedKeysFromThePreviousServerAndCopiesThem() {
    List<String> moved = movedByAdding("warm:", 200);
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      for (int i = 0; i < 200; i++) {
        assertThat(cache.set("warm:" + i, bytes("v" + i), TTL)).isEqualTo(Outcome.APPLIED);
      }
      cache.reconfigure(four());
      for (String key : moved) {
        assertThat(holds(3, key)).as("%s on the new server before its first read", key).isFalse();
        assertThat(cache.get(key)).as(key).isEqualTo(bytes("v" + key.substring(5)));
        assertThat(holds(3, key)).as("%s copied to the new server", key).isTrue();
      }
      assertThat(cache.warmUpCopies()).isEqualTo(moved.size());
      for (int i = 0; i < 200; i++) {
        assertThat(cache.get("warm:" + i)).isEqualTo(bytes("v" + i));
      }
      assertThat(cache.warmUpCopies())
          .as("a copied key is read from its new server")
          .isEqualTo(moved.size());
    }
  }

  @Test
  void multiGetsDuringTheWarmUpFindMovedKeys() {
    List<String> keys = new ArrayList<>();
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      for (int i = 0; i < 60; i++) {
        keys.add("multi:" + i);
        cache.set("multi:" + i, bytes("m" + i), TTL);
      }
      cache.reconfigure(four());
      assertThat(cache.getAll(keys.subList(0, 30)).keySet())
          .containsExactlyInAnyOrderElementsOf(keys.subList(0, 30));
      Map<Integer, String> found = new HashMap<>();
      List<String> rest = keys.subList(30, 60);
      cache.getAll(rest, (i, b, off, len) -> found.put(i, new String(b, off, len, UTF_8)));
      assertThat(found).hasSize(30);
      for (int i = 0; i < 30; i++) {
        assertThat(found.get(i)).isEqualTo("m" + (30 + i));
      }
    }
  }

  @Test
  void withoutWarmUpAMovedKeyIsAMiss() {
    String key = firstMoved("cold:");
    try (MemcachedCache cache = open(three(), Duration.ZERO)) {
      cache.set(key, bytes("old"), TTL);
      cache.reconfigure(four());
      assertThat(cache.get(key)).isNull();
      assertThat(cache.warmUpCopies()).isZero();
    }
  }

  @Test
  void aKeyDeletedDuringTheWarmUpIsNeverCopiedBack() {
    String key = firstMoved("deleted:");
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      cache.set(key, bytes("superseded"), TTL);
      cache.reconfigure(four());
      assertThat(cache.delete(key)).isNotEqualTo(Outcome.UNCONFIRMED);
      assertThat(cache.get(key)).as("read after the delete").isNull();
      assertThat(holds(3, key)).isFalse();
    }
  }

  @Test
  void aValueWrittenDuringTheWarmUpIsNeverReplacedByTheOlderOneAfterAnEviction() {
    String key = firstMoved("evicted:");
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      cache.set(key, bytes("old"), TTL);
      cache.reconfigure(four());
      assertThat(cache.set(key, bytes("new"), TTL)).isEqualTo(Outcome.APPLIED);
      // The new server loses the item (an eviction, or a restart): the old value must not return.
      assertThat(memcached.cluster().rawCommand(3, "delete " + CODEC.encode(key)))
          .startsWith("DELETED");
      assertThat(cache.get(key)).isNull();
    }
  }

  @Test
  void aCopyNeverReplacesANewerVersionOrTombstoneOnTheNewServer() {
    List<String> moved = movedByAdding("newer:", 100);
    String valueKey = moved.get(0);
    String tombKey = moved.get(1);
    try (MemcachedCache warm = open(three(), Duration.ofMinutes(1));
        VersionedCache a = VersionedCache.builder(warm).build();
        MemcachedCache cold = open(four(), Duration.ZERO);
        VersionedCache b = VersionedCache.builder(cold).build()) {
      a.publish(valueKey, bytes("v4"), 4, TTL);
      a.publish(tombKey, bytes("v4"), 4, TTL);
      warm.reconfigure(four());
      // Another instance already on the new ring, without warm-up, writes newer versions there.
      assertThat(b.publish(valueKey, bytes("v6"), 6, TTL)).isEqualTo(Result.PUBLISHED);
      assertThat(b.invalidate(tombKey, 5)).isEqualTo(Result.PUBLISHED);

      assertThat(a.get(valueKey).version()).isEqualTo(6);
      assertThat(a.get(tombKey)).isNull();
      assertThat(b.inspect(valueKey)).isEqualTo(new VersionedCache.Stored(Kind.VALUE, 6));
      assertThat(b.inspect(tombKey)).isEqualTo(new VersionedCache.Stored(Kind.TOMBSTONE, 5));
      // Raw reads copy only on a miss, with add: the newer value stays.
      cold.set("raw-" + valueKey, bytes("newer"), TTL);
      assertThat(warm.get("raw-" + valueKey)).isEqualTo(bytes("newer"));
    }
  }

  @Test
  void anInvalidationDuringTheWarmUpIsNeverUndoneByACopy() {
    String key = firstMoved("invalidated:");
    try (MemcachedCache warm = open(three(), Duration.ofMinutes(1));
        VersionedCache a = VersionedCache.builder(warm).build()) {
      a.publish(key, bytes("v1"), 1, TTL);
      warm.reconfigure(four());
      assertThat(a.invalidate(key, 2)).isEqualTo(Result.PUBLISHED);
      assertThat(a.get(key)).isNull();
      assertThat(a.load(key, TTL, k -> VersionedCache.Loaded.of(bytes("v2"), 2)))
          .isEqualTo(bytes("v2"));
    }
  }

  @Test
  void aNewerVersionWrittenByAnInstanceStillOnTheOldRingWinsOverTheCopy() {
    String key = firstMoved("skew:");
    try (MemcachedCache switched = open(three(), Duration.ofMinutes(1));
        VersionedCache a = VersionedCache.builder(switched).build();
        MemcachedCache late = open(three(), Duration.ofMinutes(1));
        VersionedCache b = VersionedCache.builder(late).build();
        MemcachedCache observer = open(four(), Duration.ZERO);
        VersionedCache o = VersionedCache.builder(observer).build()) {
      a.publish(key, bytes("v1"), 1, TTL);
      switched.reconfigure(four());
      assertThat(a.get(key).version())
          .as("A's first read copies v1 to the new server")
          .isEqualTo(1);
      assertThat(o.inspect(key)).isEqualTo(new VersionedCache.Stored(Kind.VALUE, 1));
      // B has not applied the change yet: its write lands on the previous server.
      assertThat(b.publish(key, bytes("v2"), 2, TTL)).isEqualTo(Result.PUBLISHED);

      assertThat(a.get(key).version()).as("A reads the newer version").isEqualTo(2);
      assertThat(o.inspect(key))
          .as("the new server holds the newer version")
          .isEqualTo(new VersionedCache.Stored(Kind.VALUE, 2));
      late.reconfigure(four());
      assertThat(b.get(key).version()).isEqualTo(2);
    }
  }

  @Test
  void removingAServerServesItsKeysFromItDuringTheWarmUpThenClosesIt() {
    int removed = 3;
    String removedServer = four().get(removed);
    KetamaRing before = KetamaRing.of(four());
    List<String> onRemoved = new ArrayList<>();
    for (int i = 0; onRemoved.size() < 2; i++) {
      if (before.serverFor(CODEC.encode("gone:" + i)).equals(removedServer)) {
        onRemoved.add("gone:" + i);
      }
    }
    try (MemcachedCache cache = open(four(), Duration.ofMillis(1500))) {
      for (String key : onRemoved) {
        cache.set(key, bytes(key), TTL);
      }
      cache.reconfigure(three());
      assertThat(cache.servers()).isEqualTo(three());
      assertThat(cache.retiringServers()).containsExactly(removedServer);
      assertThat(cache.status(removedServer).connected()).isTrue();
      String read = onRemoved.get(0);
      assertThat(cache.get(read)).isEqualTo(bytes(read));
      assertThat(cache.serverFor(read)).isNotEqualTo(removedServer);

      await(() -> cache.retiringServers().isEmpty(), Duration.ofSeconds(20), "warm-up end");
      assertThatThrownBy(() -> cache.status(removedServer))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(removedServer);
      String unread = onRemoved.get(1);
      assertThat(holds(removed, unread)).as("still on the removed server").isTrue();
      assertThat(cache.get(unread)).as("no longer read from the removed server").isNull();
    }
  }

  @Test
  void afterTheWarmUpThePreviousServerIsNoLongerRead() {
    String key = firstMoved("late:");
    try (MemcachedCache cache = open(three(), Duration.ofMillis(500))) {
      cache.set(key, bytes("old"), TTL);
      cache.reconfigure(four());
      await(() -> !cache.warmingUp(), Duration.ofSeconds(20), "warm-up end");
      assertThat(cache.get(key)).isNull();
      assertThat(holds(3, key)).isFalse();
    }
  }

  @Test
  void reconfiguringWhileAServerIsDownKeepsItsStateAndAddsADownServer() {
    MemcachedCluster cluster = memcached.cluster();
    String down = cluster.server(1);
    String added = cluster.server(3);
    KetamaRing ring = KetamaRing.of(three());
    String dirtyKey = null;
    for (int i = 0; dirtyKey == null; i++) {
      if (ring.serverFor(CODEC.encode("down:" + i)).equals(down)) {
        dirtyKey = "down:" + i;
      }
    }
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      cache.set(dirtyKey, bytes("before"), TTL);
      cluster.stop(1);
      cluster.stop(3);
      assertThat(cache.set(dirtyKey, bytes("lost"), TTL)).isEqualTo(Outcome.UNCONFIRMED);
      await(
          () -> cache.status(down).state() == MemcachedCache.State.SUSPECT,
          Duration.ofSeconds(10),
          down + " suspect");
      cache.reconfigure(four());
      assertThat(cache.status(down).state()).isEqualTo(MemcachedCache.State.SUSPECT);
      assertThat(cache.status(down).pendingInvalidations()).isEqualTo(1);
      assertThat(cache.status(added).connected()).isFalse();
      assertThat(cache.status(added).state()).isEqualTo(MemcachedCache.State.SUSPECT);

      cluster.restart(1);
      cluster.restart(3);
      await(
          () -> cache.status(down).state() == MemcachedCache.State.HEALTHY,
          Duration.ofSeconds(20),
          down + " reconciled");
      await(
          () -> cache.status(added).state() == MemcachedCache.State.HEALTHY,
          Duration.ofSeconds(20),
          added + " connected");
      String onAdded = firstMoved("after-restart:");
      assertThat(cache.set(onAdded, bytes("x"), TTL)).isEqualTo(Outcome.APPLIED);
      assertThat(holds(3, onAdded)).isTrue();
    }
  }

  @Test
  void anUnchangedListChangesNothingAndABadListIsRefusedWhole() {
    try (MemcachedCache cache = open(three(), Duration.ofMinutes(1))) {
      cache.reconfigure(new ArrayList<>(three()));
      assertThat(cache.warmingUp()).isFalse();
      List<String> dup = new ArrayList<>(four());
      dup.add(four().get(0));
      assertThatThrownBy(() -> cache.reconfigure(dup))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(four().get(0));
      assertThatThrownBy(() -> cache.reconfigure(List.of()))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> cache.reconfigure(List.of("no-port")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("no-port");
      assertThat(cache.servers()).isEqualTo(three());
    }
  }

  @Test
  void metersFollowTheServers() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (MemcachedCache cache = open(four(), Duration.ofMillis(300))) {
      CacheMetrics.of(cache, Tags.of("app", "ring")).bindTo(registry);
      cache.reconfigure(three());
      assertThat(registry.get("thingdb.cache.hits").functionCounters()).hasSize(4);
      await(() -> cache.retiringServers().isEmpty(), Duration.ofSeconds(20), "warm-up end");
      // The warm-up's end is installed first, then the listeners run (outside the client's lock):
      // the removed server's meters leave just after retiringServers() is empty.
      await(
          () -> registry.get("thingdb.cache.hits").functionCounters().size() == 3,
          Duration.ofSeconds(5),
          "the removed server's meters to leave");
      assertThat(registry.get("thingdb.cache.hits").functionCounters()).hasSize(3);
      cache.reconfigure(four());
      assertThat(registry.get("thingdb.cache.hits").tags("server", four().get(3)).functionCounter())
          .isNotNull();
    }
  }

  @Test
  void warmUpIsValidated() {
    assertThatThrownBy(() -> MemcachedCache.builder().warmUp(Duration.ofMillis(10)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("warmUp must be between 100 ms and 3600000 ms: 10 ms");
    assertThatThrownBy(() -> MemcachedCache.builder().warmUp(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }
}

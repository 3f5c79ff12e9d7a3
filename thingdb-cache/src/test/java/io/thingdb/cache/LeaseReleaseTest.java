package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The cluster-wide load lease is released only by its holder: a holder whose lease expired during
 * its load, and was then taken by another client, must not remove the new holder's lease when it
 * releases.
 */
class LeaseReleaseTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);
  static final Duration TTL = Duration.ofMinutes(5);
  static final Duration LEASE_TTL = Duration.ofSeconds(2); // the shortest memcached can honour

  /** memcached expires a 2 s item 1 to 2 s after it was set (its clock ticks in whole seconds). */
  static final Duration EXPIRY_DEADLINE = Duration.ofSeconds(6);

  /**
   * The race, made deterministic: the old holder reads its own lease for the release; before its
   * write, the lease expires, the value is evicted, and a second client misses, takes the lease and
   * starts loading. The old holder's release then runs: the second client's lease must still be
   * there, so a third client waits for its load instead of loading too.
   */
  @Test
  void aReleaseAfterTheLeaseExpiredAndWasTakenLeavesTheNewHoldersLease() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    String key = "lease-race";
    String leaseKey = "thingdb-lease:" + key;
    byte[] newHolderToken = ("2a" + "2a").getBytes(US_ASCII); // hex of 42 twice: see random(42)
    AtomicBoolean armed = new AtomicBoolean(true);
    CountDownLatch newHolderLoading = new CountDownLatch(1);
    CountDownLatch newHolderMayFinish = new CountDownLatch(1);
    AtomicInteger newHolderLoads = new AtomicInteger();
    AtomicReference<CompletableFuture<byte[]>> newHolderLoad = new AtomicReference<>();
    try (MemcachedCache server = MemcachedCache.builder().servers(cluster.servers()).build();
        VersionedCache newHolder =
            VersionedCache.builder(server)
                .leaseTtl(LEASE_TTL)
                .leaseWait(Duration.ofSeconds(10))
                .random(() -> 42L)
                .build()) {
      Cache intercepted =
          new Forwarding(server) {
            @Override
            public CasValue gets(String k) {
              CasValue read = super.gets(k);
              if (k.equals(leaseKey) && armed.compareAndSet(true, false)) {
                awaitGone(server, leaseKey);
                server.delete(key); // evicted: the next reader misses and must load
                newHolderLoad.set(
                    CompletableFuture.supplyAsync(
                        () ->
                            newHolder.load(
                                key,
                                TTL,
                                kk -> {
                                  newHolderLoads.incrementAndGet();
                                  newHolderLoading.countDown();
                                  assertThat(newHolderMayFinish.await(30, TimeUnit.SECONDS))
                                      .isTrue();
                                  return Loaded.of("second".getBytes(UTF_8), 2);
                                })));
                await(newHolderLoading, "the second client took the lease and started its load");
                assertThat(server.get(leaseKey)).isEqualTo(newHolderToken);
              }
              return read;
            }
          };
      try (VersionedCache oldHolder =
          VersionedCache.builder(intercepted).leaseTtl(LEASE_TTL).random(() -> 7L).build()) {
        byte[] loaded =
            oldHolder.load(key, TTL, kk -> Loaded.of("first".getBytes(UTF_8), 1)); // releases
        assertThat(loaded).isEqualTo("first".getBytes(UTF_8));
        assertThat(armed).as("the old holder read its lease to release it").isFalse();

        assertThat(server.get(leaseKey))
            .as("the new holder's lease after the old holder's release")
            .isEqualTo(newHolderToken);
      } finally {
        newHolderMayFinish.countDown();
        CompletableFuture<byte[]> load = newHolderLoad.get();
        if (load != null) {
          assertThat(load.get(30, TimeUnit.SECONDS)).isEqualTo("second".getBytes(UTF_8));
        }
      }
      assertThat(newHolderLoads).hasValue(1);
    }
  }

  /** A released lease is taken again at once by the next loader, without waiting for it. */
  @Test
  void aReleasedLeaseIsTakenAtOnceByTheNextLoad() {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache server = MemcachedCache.builder().servers(cluster.servers()).build();
        VersionedCache vc =
            VersionedCache.builder(server)
                .leaseTtl(LEASE_TTL)
                .leaseWait(Duration.ofSeconds(10))
                .build()) {
      AtomicInteger loads = new AtomicInteger();
      for (int i = 0; i < 3; i++) {
        server.delete("again"); // evicted between the loads; the released lease is still there
        assertThat(
                vc.load(
                    "again",
                    TTL,
                    k -> {
                      loads.incrementAndGet();
                      return Loaded.of("v".getBytes(UTF_8), 1);
                    }))
            .isEqualTo("v".getBytes(UTF_8));
        assertThat(vc.stats().total().leaseWaits())
            .as("load %d waited for a released lease", i)
            .isZero();
      }
      assertThat(loads).hasValue(3);
    }
  }

  private static void awaitGone(Cache cache, String key) {
    long deadline = System.nanoTime() + EXPIRY_DEADLINE.toNanos();
    while (cache.get(key) != null) {
      assertThat(System.nanoTime() - deadline)
          .as("%s expired within %s", key, EXPIRY_DEADLINE)
          .isNegative();
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
    }
  }

  private static void await(CountDownLatch latch, String what) {
    try {
      assertThat(latch.await(30, TimeUnit.SECONDS)).as(what).isTrue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted waiting until " + what, e);
    }
  }

  /** A cache that forwards every call to another; tests override the call they interleave. */
  private static class Forwarding implements Cache {
    private final Cache to;

    Forwarding(Cache to) {
      this.to = to;
    }

    @Override
    public byte[] get(String key) {
      return to.get(key);
    }

    @Override
    public Map<String, byte[]> getAll(Collection<String> keys) {
      return to.getAll(keys);
    }

    @Override
    public Outcome set(String key, byte[] value, Duration ttl) {
      return to.set(key, value, ttl);
    }

    @Override
    public Outcome add(String key, byte[] value, Duration ttl) {
      return to.add(key, value, ttl);
    }

    @Override
    public void addAll(Map<String, byte[]> values, Duration ttl) {
      to.addAll(values, ttl);
    }

    @Override
    public CasValue gets(String key) {
      return to.gets(key);
    }

    @Override
    public Outcome compareAndSet(String key, long cas, byte[] value, Duration ttl) {
      return to.compareAndSet(key, cas, value, ttl);
    }

    @Override
    public Outcome delete(String key) {
      return to.delete(key);
    }

    @Override
    public Outcome append(String key, byte[] suffix) {
      return to.append(key, suffix);
    }

    @Override
    public void appendQuietly(String key, byte[] suffix) {
      to.appendQuietly(key, suffix);
    }

    @Override
    public OptionalLong incr(String key, long delta, long initial, Duration ttl) {
      return to.incr(key, delta, initial, ttl);
    }

    @Override
    public OptionalLong decr(String key, long delta, long initial, Duration ttl) {
      return to.decr(key, delta, initial, ttl);
    }

    @Override
    public Outcome touch(String key, Duration ttl) {
      return to.touch(key, ttl);
    }

    @Override
    public CacheStats stats() {
      return to.stats();
    }

    @Override
    public String serverFor(String key) {
      return to.serverFor(key);
    }

    @Override
    public int maxValueSize(String key) {
      return to.maxValueSize(key);
    }

    @Override
    public void close() {
      to.close();
    }
  }
}

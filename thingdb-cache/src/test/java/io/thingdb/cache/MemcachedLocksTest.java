package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link MemcachedLocks} on two real memcached nodes, through two separate cache clients. */
@SuppressWarnings("try") // try-with-resources holds a lock the body need not name
class MemcachedLocksTest extends LocksContract {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  private final List<MemcachedCache> caches = new ArrayList<>();
  private final List<MemcachedLocks> locks = new ArrayList<>();

  @BeforeEach
  void startClients() {
    for (int i = 0; i < 3; i++) {
      // Clients 0 and 1 get generous timeouts: on a loaded 2-CPU test machine a 100 ms write can
      // go unconfirmed, which makes the client delete the key later (the test counter, or even a
      // lock another client holds: see MemcachedLocks). Client 2 keeps the defaults.
      MemcachedCache cache = i < 2 ? newCache(Duration.ofSeconds(2)) : newCache(null);
      locks.add(
          MemcachedLocks.builder(cache)
              .owner("app-" + i)
              .pollInterval(Duration.ofMillis(5))
              .build());
    }
  }

  @AfterEach
  void closeClients() {
    caches.forEach(MemcachedCache::close);
  }

  private MemcachedCache newCache(Duration timeouts) {
    MemcachedCache.Builder builder =
        MemcachedCache.builder().servers(memcached.cluster().servers());
    if (timeouts != null) {
      builder.writeTimeout(timeouts).readDeadline(timeouts);
    }
    MemcachedCache cache = builder.build();
    caches.add(cache);
    return cache;
  }

  @Override
  Locks locks(int client) {
    return locks.get(client);
  }

  /** Each attempt reads the lock's item first: a hit on the client's own cache once it is held. */
  @Override
  java.util.function.BooleanSupplier waiting(int client) {
    MemcachedCache cache = caches.get(client);
    long before = cache.stats().total().hits();
    return () -> cache.stats().total().hits() > before;
  }

  @Override
  Counter counter(int client, String name) {
    Cache cache = caches.get(client);
    return new Counter() {
      @Override
      public long read() {
        byte[] v = cache.get("counter:" + name);
        return v == null ? 0 : Long.parseLong(new String(v, US_ASCII));
      }

      @Override
      public void write(long value) {
        assertThat(
                cache.set(
                    "counter:" + name, Long.toString(value).getBytes(US_ASCII), Duration.ZERO))
            .isEqualTo(Cache.Outcome.APPLIED);
      }
    };
  }

  private MemcachedLocks shortLocks(int client) {
    return MemcachedLocks.builder(caches.get(client))
        .owner("short-" + client)
        .holdFor(Duration.ofSeconds(2))
        .pollInterval(Duration.ofMillis(20))
        .build();
  }

  private int nodeOf(String name) {
    return memcached
        .cluster()
        .servers()
        .indexOf(caches.get(0).serverFor(MemcachedLocks.keyFor(name)));
  }

  @Test
  @Timeout(10)
  void lockOfHolderThatNeverReleasesExpiresAfterHoldFor() {
    Lock abandoned = shortLocks(0).acquire("job", Duration.ZERO);
    long start = System.nanoTime();
    try (Lock taken = shortLocks(1).acquire("job", Duration.ofSeconds(5))) {
      long waitedMillis = (System.nanoTime() - start) / 1_000_000;
      // memcached's clock ticks in whole seconds: a 2 s item lives between 1 and 2 s.
      assertThat(waitedMillis).isBetween(500L, 3000L);
      assertThat(taken.name()).isEqualTo("job");
    }
    assertThat(abandoned.name()).isEqualTo("job"); // never released: the holder "died"
  }

  @Test
  @Timeout(10)
  void releaseAfterExpiryAndReacquisitionByAnotherIsRefused() {
    Lock first = shortLocks(0).acquire("job", Duration.ZERO);
    Lock second = shortLocks(1).acquire("job", Duration.ofSeconds(5)); // after first's expiry

    assertThat(first.release()).isFalse();
    assertThatThrownBy(first::close)
        .isInstanceOfSatisfying(
            LockLostException.class, e -> assertThat(e.lockName()).isEqualTo("job"))
        .hasMessageStartingWith("lock 'job' was lost before release after ")
        .hasMessageContaining(
            "its item expired (holdFor=2000 ms) or was removed, and the lock is"
                + " now held by short-1:")
        .hasMessageEndingWith("the guarded section may have overlapped another holder's");

    // The refused release left the second holder's lock in place.
    assertThat(locks(2).tryAcquire("job")).isEmpty();
    assertThat(second.release()).isTrue();
    assertThat(locks(2).tryAcquire("job")).isPresent().get().satisfies(Lock::close);
  }

  @Test
  void timeoutMessageNamesLockWaitHolderAndServer() {
    try (Lock held = locks(0).acquire("orders", Duration.ZERO)) {
      String holder = "app-0:" + Thread.currentThread().getName();
      String server = caches.get(0).serverFor(MemcachedLocks.keyFor("orders"));
      assertThatThrownBy(() -> locks(1).acquire("orders", Duration.ofMillis(250)))
          .isInstanceOfSatisfying(
              LockTimeoutException.class,
              e -> {
                assertThat(e.lockName()).isEqualTo("orders");
                assertThat(e.holder()).contains(holder);
              })
          .hasMessage(
              "lock 'orders' not acquired within 250 ms; held by "
                  + holder
                  + " (memcached server "
                  + server
                  + ")");
    }
  }

  @Test
  @Timeout(15)
  void unreachableServerIsNeverTreatedAsAcquired() {
    MemcachedCluster cluster = memcached.cluster();
    int node = nodeOf("orders");
    // A short hold: an add that timed out may still land once the node resumes, and lock keys
    // are deliberately not deleted after an unconfirmed write (that delete could remove another
    // holder's lock), so such a phantom lock simply expires after holdFor.
    Locks shortHold =
        MemcachedLocks.builder(caches.get(2)).holdFor(Duration.ofSeconds(2)).owner("app-2").build();
    cluster.hang(node);
    try {
      assertThatThrownBy(() -> shortHold.acquire("orders", Duration.ofMillis(500)))
          .isInstanceOfSatisfying(LockTimeoutException.class, e -> assertThat(e.holder()).isEmpty())
          .hasMessageStartingWith(
              "lock 'orders' not acquired within 500 ms; memcached server "
                  + cluster.server(node)
                  + " was unreachable (")
          .hasMessageEndingWith("attempts unconfirmed), so the lock could not be taken");
      assertThat(shortHold.tryAcquire("orders")).isEmpty();
    } finally {
      cluster.resume(node);
    }
    // The hung attempts never reported success; once the node answers (and any phantom add has
    // expired), another client gets the lock.
    try (Lock lock = locks(1).acquire("orders", Duration.ofSeconds(5))) {
      assertThat(lock.name()).isEqualTo("orders");
    }
  }

  @Test
  @Timeout(15)
  void lockIsLostWhenItsNodeRestarts() {
    MemcachedCluster cluster = memcached.cluster();
    Lock lock = locks(0).acquire("orders", Duration.ZERO);
    cluster.restart(nodeOf("orders"));
    // The restarted node is empty: another client can take the lock.
    try (Lock other = locks(1).acquire("orders", Duration.ofSeconds(5))) {
      assertThat(lock.release()).isFalse();
      assertThatThrownBy(lock::close).isInstanceOf(LockLostException.class);
      assertThat(other.name()).isEqualTo("orders");
    }
  }

  @Test
  void fencingTokenIsAbsent() {
    try (Lock lock = locks(0).acquire("orders", Duration.ZERO)) {
      assertThat(lock.fencingToken()).isEmpty();
    }
  }

  @Test
  void builderRejectsHoldUnderTwoSecondsAndOtherBadSettings() {
    Cache cache = caches.get(0);
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).holdFor(Duration.ofMillis(1999)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "holdFor must be at least 2000 ms (memcached TTLs are whole seconds and an"
                + " item with a 1 s TTL can expire within milliseconds): 1999 ms");
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).holdFor(Duration.ofDays(31)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("holdFor must be at most 30 days (memcached's longest relative TTL): PT744H");
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).holdFor(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("holdFor must not be null");
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).pollInterval(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("pollInterval must be between 1 ms and 10000 ms: 0 ms");
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).owner(" "))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("owner must not be blank");
    assertThatThrownBy(() -> MemcachedLocks.builder(cache).owner("x".repeat(201)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("owner must be at most 200 characters: 201 characters");
    assertThatThrownBy(() -> MemcachedLocks.builder(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("cache must not be null");
  }
}

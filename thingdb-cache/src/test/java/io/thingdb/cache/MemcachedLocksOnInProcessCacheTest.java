package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.base.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link MemcachedLocks} on the {@link InProcessCache}: the lock protocol uses only {@code add},
 * {@code gets} and {@code compareAndSet}, so it works on any {@link Cache}. Two lock instances over
 * one cache stand for two clients; a fake ticker moves expiry along without sleeping.
 */
@SuppressWarnings("try") // try-with-resources holds a lock the body need not name
class MemcachedLocksOnInProcessCacheTest extends LocksContract {
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
  private final Ticker ticker =
      new Ticker() {
        @Override
        public long read() {
          return nanos.get();
        }
      };
  private InProcessCache cache;
  private MemcachedLocks first;
  private MemcachedLocks second;

  @BeforeEach
  void createCache() {
    cache = InProcessCache.builder().ticker(ticker).build();
    first =
        MemcachedLocks.builder(cache)
            .owner("one")
            .holdFor(Duration.ofSeconds(2))
            .pollInterval(Duration.ofMillis(2))
            .build();
    second =
        MemcachedLocks.builder(cache)
            .owner("two")
            .holdFor(Duration.ofSeconds(2))
            .pollInterval(Duration.ofMillis(2))
            .build();
  }

  @AfterEach
  void closeCache() {
    cache.close();
  }

  @Override
  Locks locks(int client) {
    return client == 0 ? first : second;
  }

  /**
   * Each attempt reads the lock's item first: a hit on the shared cache, which the holder does not
   * read while it holds the lock.
   */
  @Override
  java.util.function.BooleanSupplier waiting(int client) {
    long before = cache.stats().total().hits();
    return () -> cache.stats().total().hits() > before;
  }

  @Override
  Counter counter(int client, String name) {
    return new Counter() {
      @Override
      public long read() {
        byte[] v = cache.get("counter:" + name);
        return v == null ? 0 : Long.parseLong(new String(v, US_ASCII));
      }

      @Override
      public void write(long value) {
        cache.set("counter:" + name, Long.toString(value).getBytes(US_ASCII), Duration.ZERO);
      }
    };
  }

  private void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  @Test
  void lockOfHolderThatNeverReleasesIsFreeOnceHoldForPassed() {
    Lock abandoned = first.acquire("job", Duration.ZERO);
    advance(Duration.ofMillis(1999));
    assertThat(second.tryAcquire("job")).isEmpty();
    advance(Duration.ofMillis(1));
    try (Lock taken = second.acquire("job", Duration.ZERO)) {
      assertThat(taken.name()).isEqualTo("job");
    }
    assertThat(abandoned.name()).isEqualTo("job");
  }

  @Test
  void releaseAfterExpiryAndReacquisitionByAnotherIsRefused() {
    Lock stale = first.acquire("job", Duration.ZERO);
    advance(Duration.ofSeconds(2));
    Lock current = second.acquire("job", Duration.ZERO);

    assertThat(stale.release()).isFalse();
    assertThatThrownBy(stale::close)
        .isInstanceOf(LockLostException.class)
        .hasMessageContaining(
            "its item expired (holdFor=2000 ms) or was removed, and the lock is now"
                + " held by two:");
    assertThat(first.tryAcquire("job")).as("the refused release left the lock held").isEmpty();
    assertThat(current.release()).isTrue();
  }

  @Test
  void releaseAfterExpiryWithNoNewHolderReportsTheLoss() {
    Lock stale = first.acquire("job", Duration.ZERO);
    advance(Duration.ofSeconds(3));
    assertThatThrownBy(stale::close)
        .isInstanceOf(LockLostException.class)
        .hasMessageContaining(
            "its item on memcached server local is gone (expired after"
                + " holdFor=2000 ms, evicted, deleted, or the server restarted)");
  }

  @Test
  void releasedMarkerIsTakenByCompareAndSet() {
    first.acquire("job", Duration.ZERO).close();
    assertThat(new String(cache.get(MemcachedLocks.keyFor("job")), US_ASCII)).isEqualTo("R");
    try (Lock lock = second.acquire("job", Duration.ZERO)) {
      assertThat(new String(cache.get(MemcachedLocks.keyFor("job")), US_ASCII))
          .startsWith("H ")
          .endsWith(" two:" + Thread.currentThread().getName());
    }
  }

  @Test
  void itemThatIsNotALockValueCountsAsHeldByAnUnknownHolder() {
    cache.set(MemcachedLocks.keyFor("job"), "something else".getBytes(US_ASCII), Duration.ZERO);
    assertThatThrownBy(() -> first.acquire("job", Duration.ofMillis(20)))
        .isInstanceOfSatisfying(
            LockTimeoutException.class,
            e ->
                assertThat(e.holder())
                    .contains("an unknown holder (the item does not hold a lock value)"));
  }

  /**
   * The protocol itself under heavy contention: 16 separate lock instances (so no local queueing)
   * race for one name, each hand-over decided by add or compare-and-set alone.
   */
  @Test
  @Timeout(30)
  void sixteenInstancesRacingWithoutLocalQueueingNeverOverlap() throws Exception {
    List<MemcachedLocks> instances = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      instances.add(
          MemcachedLocks.builder(cache).owner("i" + i).pollInterval(Duration.ofMillis(1)).build());
    }
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger overlaps = new AtomicInteger();
    AtomicInteger entries = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(16);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (MemcachedLocks locks : instances) {
        futures.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < 100; i++) {
                    try (Lock lock = locks.acquire("hot", Duration.ofSeconds(20))) {
                      if (inside.incrementAndGet() != 1) {
                        overlaps.incrementAndGet();
                      }
                      entries.incrementAndGet();
                      Thread.yield();
                      inside.decrementAndGet();
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> f : futures) {
        f.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(overlaps.get()).isZero();
    assertThat(entries.get()).isEqualTo(1600);
  }

  @Test
  void callerOfTheSameInstanceQueuesLocallyAndTimesOutNamingTheLocalHolder() throws Exception {
    try (Lock held = first.acquire("orders", Duration.ZERO)) {
      String holder = "one:" + Thread.currentThread().getName();
      ExecutorService other = Executors.newSingleThreadExecutor();
      try {
        Future<Throwable> failure =
            other.submit(
                () -> {
                  try {
                    first.acquire("orders", Duration.ofMillis(30)).close();
                    return null;
                  } catch (LockTimeoutException e) {
                    return e;
                  }
                });
        assertThat(failure.get(5, TimeUnit.SECONDS))
            .isInstanceOf(LockTimeoutException.class)
            .hasMessage(
                "lock 'orders' not acquired within 30 ms; held by "
                    + holder
                    + " (in this process)");
        assertThat(other.submit(() -> first.tryAcquire("orders")).get(5, TimeUnit.SECONDS))
            .isEmpty();
      } finally {
        other.shutdownNow();
      }
    }
  }

  @Test
  void localQueuesAreDroppedWhenNoCallerUsesThem() {
    first.acquire("a", Duration.ZERO).close();
    Lock b = first.acquire("b", Duration.ZERO);
    assertThat(first.tryAcquire("b")).isEmpty();
    assertThatThrownBy(() -> first.acquire("b", Duration.ofMillis(5)))
        .isInstanceOf(LockTimeoutException.class);
    assertThat(first.gatesInUse()).isEqualTo(1);
    b.close();
    assertThat(first.gatesInUse()).isZero();
  }

  @Test
  void timeoutMessageNamesLockWaitAndHolder() {
    try (Lock held = first.acquire("orders", Duration.ZERO)) {
      assertThatThrownBy(() -> second.acquire("orders", Duration.ofMillis(30)))
          .isInstanceOf(LockTimeoutException.class)
          .hasMessage(
              "lock 'orders' not acquired within 30 ms; held by one:"
                  + Thread.currentThread().getName()
                  + " (memcached server local)");
    }
  }
}

package io.thingdb.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Behaviour every {@link Locks} implementation shares. A subclass provides two independent clients
 * (two cache clients or two connection pools) of the same store, and counters that live in that
 * store, which the tests increment non-atomically.
 */
@SuppressWarnings("try") // try-with-resources holds a lock the body need not name
abstract class LocksContract {
  static final int THREADS_PER_CLIENT = 8;
  static final int ITERATIONS = 50;

  /** A value in the backing store, read and written in two separate steps. */
  interface Counter {
    long read() throws Exception;

    void write(long value) throws Exception;
  }

  /** The locks of client {@code i} (0 or 1); the clients share one store but nothing else. */
  abstract Locks locks(int client);

  /** The counter {@code name} as client {@code client} sees it (initially 0). */
  abstract Counter counter(int client, String name);

  Locks a() {
    return locks(0);
  }

  Locks b() {
    return locks(1);
  }

  @Test
  void heldLockRefusesAnotherClientUntilReleased() {
    Lock held = a().acquire("orders", Duration.ofSeconds(1));
    assertThat(b().tryAcquire("orders")).isEmpty();
    assertThat(a().tryAcquire("orders")).as("not reentrant").isEmpty();
    assertThat(held.release()).isTrue();
    Optional<Lock> next = b().tryAcquire("orders");
    assertThat(next).isPresent();
    next.get().close();
  }

  @Test
  void releasedLockCanBeTakenAtOnceWithZeroWait() {
    a().acquire("orders", Duration.ZERO).close();
    try (Lock lock = b().acquire("orders", Duration.ZERO)) {
      assertThat(lock.name()).isEqualTo("orders");
    }
  }

  @Test
  void locksOfDifferentNamesDoNotExcludeEachOther() {
    try (Lock x = a().acquire("x", Duration.ZERO);
        Lock y = b().acquire("y", Duration.ZERO)) {
      assertThat(x.name()).isEqualTo("x");
      assertThat(y.name()).isEqualTo("y");
    }
  }

  /**
   * A condition that turns true once client {@code client} has tried to take a lock held by the
   * other client and is waiting for it; made before the waiter starts, so that it can take a
   * baseline.
   */
  abstract BooleanSupplier waiting(int client);

  /**
   * A caller waiting for a held lock gets it soon after the holder releases it: within 1.5 s, a
   * margin for a loaded machine over the poll interval (a few milliseconds) or PostgreSQL's
   * wake-up. The release comes only once the waiter has been seen trying and finding the lock held.
   */
  @Test
  @Timeout(10)
  void waitingCallerGetsLockSoonAfterHolderReleases() throws Exception {
    Lock held = a().acquire("orders", Duration.ZERO);
    BooleanSupplier waiting = waiting(1);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Future<Long> acquiredAt =
          pool.submit(
              () -> {
                try (Lock lock = b().acquire("orders", Duration.ofSeconds(5))) {
                  return System.nanoTime();
                }
              });
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (!waiting.getAsBoolean()) {
        assertThat(acquiredAt.isDone()).as("the waiter returned while the lock was held").isFalse();
        assertThat(System.nanoTime()).as("the waiter is waiting within 5 s").isLessThan(deadline);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
      }
      long releasedAt = System.nanoTime();
      assertThat(held.release()).isTrue();
      long afterRelease =
          TimeUnit.NANOSECONDS.toMillis(acquiredAt.get(5, TimeUnit.SECONDS) - releasedAt);
      assertThat(afterRelease).isBetween(0L, 1500L);
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void releaseIsIdempotentAfterSuccess() {
    Lock lock = a().acquire("orders", Duration.ZERO);
    assertThat(lock.release()).isTrue();
    assertThat(lock.release()).isTrue();
    lock.close();
    lock.close();
    assertThat(b().tryAcquire("orders")).isPresent().get().satisfies(Lock::close);
  }

  @Test
  void zeroWaitOnHeldLockTimesOutNamingTheLock() {
    try (Lock held = a().acquire("orders", Duration.ZERO)) {
      assertThatThrownBy(() -> b().acquire("orders", Duration.ZERO))
          .isInstanceOfSatisfying(
              LockTimeoutException.class,
              e -> {
                assertThat(e.lockName()).isEqualTo("orders");
                assertThat(e.getMessage())
                    .startsWith("lock 'orders' not acquired within 0 ms; held by ");
              });
    }
  }

  @Test
  void nullBlankAndNegativeArgumentsAreRejected() {
    Locks locks = a();
    assertThatThrownBy(() -> locks.acquire(null, Duration.ZERO))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("lock name must not be null");
    assertThatThrownBy(() -> locks.tryAcquire(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("lock name must not be null");
    assertThatThrownBy(() -> locks.acquire(" \t", Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("lock name must not be blank: ' \t'");
    assertThatThrownBy(() -> locks.tryAcquire(""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("lock name must not be blank: ''");
    assertThatThrownBy(() -> locks.acquire("orders", Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("waitTimeout must not be negative: PT-0.001S (lock 'orders')");
    assertThatThrownBy(() -> locks.acquire("orders", null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("waitTimeout must not be null (lock 'orders')");
  }

  /**
   * 2 clients x 8 threads x 50 iterations of read, pause, write value+1 under the lock: any overlap
   * of two guarded sections loses an increment.
   */
  @Test
  @Timeout(60)
  void guardedNonAtomicIncrementsAreNeverLostAcrossClientsAndThreads() throws Exception {
    long total = incrementConcurrently("counter", ITERATIONS, true);
    assertThat(total).isEqualTo(2L * THREADS_PER_CLIENT * ITERATIONS);
  }

  /** The same procedure without the lock loses updates, so the test above can fail. */
  @Test
  @Timeout(30)
  void unguardedNonAtomicIncrementsLoseUpdates() throws Exception {
    long total = incrementConcurrently("unguarded", 10, false);
    assertThat(total).isLessThan(2L * THREADS_PER_CLIENT * 10);
  }

  private long incrementConcurrently(String counterName, int iterations, boolean guarded)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2 * THREADS_PER_CLIENT);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> futures = new ArrayList<>();
      for (int c = 0; c < 2; c++) {
        Locks locks = locks(c);
        Counter counter = counter(c, counterName);
        for (int t = 0; t < THREADS_PER_CLIENT; t++) {
          futures.add(
              pool.submit(
                  () -> {
                    go.await();
                    for (int i = 0; i < iterations; i++) {
                      if (guarded) {
                        try (Lock lock = locks.acquire("increment", Duration.ofSeconds(30))) {
                          increment(counter);
                        }
                      } else {
                        increment(counter);
                      }
                    }
                    return null;
                  }));
        }
      }
      go.countDown();
      for (Future<?> f : futures) {
        f.get(60, TimeUnit.SECONDS);
      }
      return counter(0, counterName).read();
    } finally {
      pool.shutdownNow();
    }
  }

  private static void increment(Counter counter) throws Exception {
    long value = counter.read();
    LockSupport.parkNanos(200_000); // widen the read-write gap so that an overlap shows
    counter.write(value + 1);
  }
}

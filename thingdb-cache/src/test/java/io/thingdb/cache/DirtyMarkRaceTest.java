package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.Cache.Outcome;
import io.thingdb.cache.MemcachedCache.ReconcileStep;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Writers marking keys dirty race the reconciler that clears the marks. A mark lost in that
 * hand-off lets a value older than the unconfirmed write survive on the returning server.
 *
 * <p>The lost-mark window is a few instructions wide, too narrow for a natural race to hit
 * reliably, so these tests use the package-private seam {@link MemcachedCache#seam}: the reconciler
 * stops exactly where a mark could be lost (the server has run the flush or the deletes, the client
 * has not yet recorded it) while 8 writer threads mark their keys at once and a second client puts
 * an older value on the server, as a slow fill from another application server would. Every round
 * then demands that the reconciled server holds none of those older values.
 */
class DirtyMarkRaceTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);
  static final Duration TTL = Duration.ofMinutes(5);
  static final int WRITERS = 8;
  static final int ROUNDS = 20;

  /** Generous for a loaded 2-core machine: a reconcile normally lands within a few ms. */
  static final Duration RECONCILE_DEADLINE = Duration.ofSeconds(10);

  private ExecutorService writers;

  @BeforeEach
  void startWriters() {
    writers = Executors.newFixedThreadPool(WRITERS);
  }

  @AfterEach
  void stopWriters() throws InterruptedException {
    writers.shutdownNow();
    assertThat(writers.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private static MemcachedCache open(MemcachedCluster cluster, int maxPending) {
    return MemcachedCache.builder()
        .servers(cluster.servers())
        .namespace("dirty-race")
        .suspectAfter(1)
        .writeTimeout(Duration.ofMillis(30))
        .readDeadline(Duration.ofMillis(60))
        .probeInterval(Duration.ofMillis(10))
        .maxPendingInvalidations(maxPending)
        .build();
  }

  /** The other client only fills: patient timeouts, so a loaded machine cannot fail its writes. */
  private static MemcachedCache openOther(MemcachedCluster cluster) {
    return MemcachedCache.builder()
        .servers(cluster.servers())
        .namespace("dirty-race")
        .writeTimeout(Duration.ofSeconds(2))
        .readDeadline(Duration.ofSeconds(2))
        .build();
  }

  /**
   * The reconciler has flushed the returning server; before it records the flush, writers whose
   * writes are skipped (the server is still suspect) mark their keys, and another client fills
   * those keys with older values. The marks must outlive the flush's hand-off.
   */
  @Test
  void marksMadeWhileAFlushIsHandedOffSurviveIt() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    String server = cluster.server(0);
    // Room for the writers' marks during the flush, but not for the writes before it.
    int maxPending = 2 * WRITERS;
    try (MemcachedCache writer = open(cluster, maxPending);
        MemcachedCache other = openOther(cluster)) {
      for (int round = 0; round < ROUNDS; round++) {
        List<String> keys = keys("flush-" + round);
        cluster.hang(0);
        try {
          for (int i = 0; i <= maxPending; i++) {
            assertThat(writer.set("flush-" + round + ":before-" + i, bytes("x"), TTL))
                .isEqualTo(Outcome.UNCONFIRMED);
          }
          assertThat(writer.status(server).state()).isEqualTo(MemcachedCache.State.SUSPECT);
          assertThat(writer.status(server).flushPending()).as("round %d", round).isTrue();
        } finally {
          Interleaving step = interleave(writer, other, ReconcileStep.FLUSHED, keys);
          cluster.resume(0);
          step.await(round);
        }
        awaitHealthy(writer, server);
        assertNoOlderValue(writer, keys, round);
      }
    }
  }

  /**
   * The reconciler has deleted the dirty keys on the returning server; before it forgets them,
   * their writers fail again (the server is still suspect) and another client fills the keys with
   * older values. The new marks must outlive the removal of the old ones.
   */
  @Test
  void keysMarkedAgainWhileTheirDeletesAreConfirmedStayDirty() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    String server = cluster.server(0);
    try (MemcachedCache writer = open(cluster, 10_000);
        MemcachedCache other = openOther(cluster)) {
      for (int round = 0; round < ROUNDS; round++) {
        List<String> keys = keys("delete-" + round);
        cluster.hang(0);
        try {
          for (String key : keys) {
            assertThat(writer.set(key, bytes("first"), TTL)).isEqualTo(Outcome.UNCONFIRMED);
          }
          assertThat(writer.status(server).pendingInvalidations()).isEqualTo(WRITERS);
        } finally {
          Interleaving step = interleave(writer, other, ReconcileStep.DELETED, keys);
          cluster.resume(0);
          step.await(round);
        }
        awaitHealthy(writer, server);
        assertNoOlderValue(writer, keys, round);
      }
    }
  }

  private static List<String> keys(String prefix) {
    List<String> keys = new ArrayList<>();
    for (int w = 0; w < WRITERS; w++) {
      keys.add(prefix + ":writer-" + w);
    }
    return keys;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(UTF_8);
  }

  private static void assertNoOlderValue(MemcachedCache writer, List<String> keys, int round) {
    for (String key : keys) {
      byte[] seen = writer.get(key);
      assertThat(seen)
          .as(
              "round %d: %s holds %s after the reconcile; the write that replaced it was unconfirmed",
              round, key, seen == null ? "nothing" : "'" + new String(seen, UTF_8) + "'")
          .isNull();
    }
  }

  /** What the seam did at its step, once. */
  private final class Interleaving {
    final CountDownLatch done = new CountDownLatch(1);
    final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
    final List<Outcome> outcomes = Collections.synchronizedList(new ArrayList<>());

    void await(int round) throws InterruptedException {
      assertThat(done.await(RECONCILE_DEADLINE.toMillis(), TimeUnit.MILLISECONDS))
          .as("round %d: the reconciler reached the seam within %s", round, RECONCILE_DEADLINE)
          .isTrue();
      assertThat(failures).as("round %d: failures inside the seam", round).isEmpty();
      assertThat(outcomes)
          .as("round %d: the writers' writes were skipped (server still suspect)", round)
          .hasSize(WRITERS)
          .containsOnly(Outcome.UNCONFIRMED);
    }
  }

  /**
   * Arms the writer's seam: the first time reconciliation reaches {@code step}, the other client
   * puts an older value under every key, then {@link #WRITERS} threads write the keys through the
   * writer at once, and only when all have returned does the reconciler go on.
   */
  private Interleaving interleave(
      MemcachedCache writer, MemcachedCache other, ReconcileStep step, List<String> keys) {
    Interleaving in = new Interleaving();
    AtomicBoolean armed = new AtomicBoolean(true);
    writer.seam =
        (reached, server) -> {
          if (reached != step || !armed.compareAndSet(true, false)) {
            return;
          }
          try {
            for (String key : keys) {
              assertThat(other.set(key, bytes("older"), TTL))
                  .as("the other client's fill of %s", key)
                  .isEqualTo(Outcome.APPLIED);
            }
            CountDownLatch start = new CountDownLatch(1);
            List<Callable<Outcome>> tasks = new ArrayList<>();
            for (String key : keys) {
              tasks.add(
                  () -> {
                    start.await();
                    return writer.set(key, bytes("newest"), TTL);
                  });
            }
            List<Future<Outcome>> futures = new ArrayList<>();
            for (Callable<Outcome> task : tasks) {
              futures.add(writers.submit(task));
            }
            start.countDown();
            for (Future<Outcome> f : futures) {
              in.outcomes.add(f.get(RECONCILE_DEADLINE.toMillis(), TimeUnit.MILLISECONDS));
            }
          } catch (Throwable t) {
            in.failures.add(t);
          } finally {
            in.done.countDown();
          }
        };
    return in;
  }

  private static void awaitHealthy(MemcachedCache cache, String server) {
    long deadline = System.nanoTime() + RECONCILE_DEADLINE.toNanos();
    while (true) {
      MemcachedCache.ServerStatus s = cache.status(server);
      if (s.state() == MemcachedCache.State.HEALTHY) {
        return;
      }
      assertThat(System.nanoTime() - deadline)
          .as("%s reconciled within %s (status %s)", server, RECONCILE_DEADLINE, s)
          .isNegative();
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
    }
  }
}

package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Real memcached processes killed, hung and resumed under real clients. */
class MemcachedFaultTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);
  static final Duration TTL = Duration.ofMinutes(5);

  static MemcachedCache open(MemcachedCluster cluster) {
    return MemcachedCache.builder().servers(cluster.servers()).namespace("faults").build();
  }

  static String keyOn(MemcachedCache cache, String server, String prefix) {
    for (int i = 0; ; i++) {
      if (cache.serverFor(prefix + i).equals(server)) {
        return prefix + i;
      }
    }
  }

  /**
   * P3 across a node bounce: the node keeps its old value while hung; a newer version written
   * meanwhile cannot reach it. Once the writer reports the node reconciled, a reader that wrote
   * nothing gets the new version or a miss, never the old one.
   */
  @Test
  void aReturningNodeNeverServesAValueOlderThanAnUnconfirmedWriteOnceReconciled() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    List<Long> windows = new ArrayList<>();
    try (MemcachedCache writerCache = open(cluster);
        MemcachedCache readerCache = open(cluster);
        VersionedCache writer = VersionedCache.builder(writerCache).build();
        VersionedCache reader = VersionedCache.builder(readerCache).build()) {
      for (int round = 0; round < 3; round++) {
        int node = round % 3;
        String server = cluster.server(node);
        String key = keyOn(writerCache, server, "bounce-" + round + ":");
        assertThat(writer.publish(key, "old".getBytes(UTF_8), 1, TTL)).isEqualTo(Result.PUBLISHED);
        assertThat(reader.get(key).version()).isEqualTo(1);

        cluster.hang(node);
        assertThat(writer.publish(key, "new".getBytes(UTF_8), 2, TTL))
            .isEqualTo(Result.UNCONFIRMED);
        assertThat(writer.get(key)).as("the writer never reads its dirty key back").isNull();

        long resumed = System.nanoTime();
        cluster.resume(node);
        long deadline = resumed + TimeUnit.SECONDS.toNanos(10);
        while (!reconciled(writerCache.status(server))) {
          assertThat(System.nanoTime()).as("reconciled within 10 s").isLessThan(deadline);
          Thread.sleep(1);
        }
        long windowMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - resumed);
        windows.add(windowMillis);

        Versioned seen = reader.get(key);
        assertThat(seen == null || seen.version() == 2)
            .as("reader saw %s", seen == null ? "a miss" : "version " + seen.version())
            .isTrue();
        // And the writer can publish again: the node is trusted.
        assertThat(writer.publish(key, "newer".getBytes(UTF_8), 3, TTL))
            .isEqualTo(Result.PUBLISHED);
        assertThat(reader.get(key).version()).isEqualTo(3);
      }
    }
    System.out.println(
        "node bounce: window from resume to reconciled (ms) = " + windows + " (goal <= 1000)");
  }

  /**
   * A stall, not an outage: the node stops answering for one write and answers again before the
   * reconcile gives up. A writer that then waits for its key to be reconciled returns only once a
   * second client reads the new version or a miss, never the version the write replaced. While the
   * node is still hung the wait gives up instead.
   */
  @Test
  void aWriterThatAwaitsTheReconcileOfAStalledWriteLeavesNoOldValueReadable() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    int confirmed = 0;
    try (MemcachedCache writerCache = open(cluster);
        MemcachedCache readerCache = open(cluster);
        VersionedCache writer = VersionedCache.builder(writerCache).build();
        VersionedCache reader = VersionedCache.builder(readerCache).build()) {
      String hungKey = keyOn(writerCache, cluster.server(0), "stall-hung:");
      assertThat(writer.publish(hungKey, "old".getBytes(UTF_8), 1, TTL))
          .isEqualTo(Result.PUBLISHED);
      cluster.hang(0);
      try {
        assertThat(writer.publish(hungKey, "new".getBytes(UTF_8), 2, TTL))
            .isEqualTo(Result.UNCONFIRMED);
        assertThat(writer.awaitReconciled(hungKey, Duration.ofMillis(50)))
            .as("the node is still hung")
            .isFalse();
      } finally {
        cluster.resume(0);
      }
      awaitHealthy(writerCache, cluster.server(0));

      for (int round = 0; round < 5; round++) {
        int node = round % 3;
        String server = cluster.server(node);
        String key = keyOn(writerCache, server, "stall-" + round + ":");
        assertThat(writer.publish(key, "old".getBytes(UTF_8), 1, TTL)).isEqualTo(Result.PUBLISHED);
        assertThat(reader.get(key).version()).isEqualTo(1);
        cluster.hang(node);
        Result r;
        try {
          r = writer.publish(key, "new".getBytes(UTF_8), 2, TTL);
        } finally {
          cluster.resume(node);
        }
        assertThat(r).isEqualTo(Result.UNCONFIRMED);
        if (writer.awaitReconciled(key, Duration.ofSeconds(2))) {
          confirmed++;
          Versioned seen = reader.get(key);
          assertThat(seen == null || seen.version() == 2)
              .as(
                  "round %d: reader saw %s right after the writer's wait",
                  round, seen == null ? "a miss" : "version " + seen.version())
              .isTrue();
        }
        // Otherwise the reconcile failed too (the resume came late on a loaded machine) and the
        // node turned suspect, which ends the wait at once; the round counts as not confirmed.
        awaitHealthy(writerCache, server);
      }
    }
    System.out.println(
        "stalled writes reconciled before the writer's wait ended: " + confirmed + " of 5");
    assertThat(confirmed).as("rounds whose reconcile landed within the wait").isGreaterThan(0);
  }

  private static void awaitHealthy(MemcachedCache cache, String server)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!reconciled(cache.status(server))) {
      assertThat(System.nanoTime()).as("%s reconciled within 10 s", server).isLessThan(deadline);
      Thread.sleep(1);
    }
  }

  private static boolean reconciled(MemcachedCache.ServerStatus s) {
    return s.state() == MemcachedCache.State.HEALTHY && s.pendingInvalidations() == 0;
  }

  /**
   * Kill one node and hang another under load from 8 threads: no exception reaches a caller, every
   * read returns the right value (falling through to the loader), and the survivors' keys keep
   * hitting.
   */
  @Test
  void killedAndHungNodesCostOnlyTheirOwnKeys() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    int keys = 600;
    try (MemcachedCache cache = open(cluster);
        VersionedCache vc = VersionedCache.builder(cache).build()) {
      VersionedCache.Loader loader = key -> Loaded.of(("value:" + key).getBytes(UTF_8), 1);
      for (int i = 0; i < keys; i++) {
        vc.load("load:" + i, TTL, loader);
      }
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger faulty = new AtomicInteger(-1);
      AtomicInteger wrong = new AtomicInteger();
      List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
      LongAdder survivorReads = new LongAdder();
      LongAdder survivorLoads = new LongAdder();
      LongAdder faultyReads = new LongAdder();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        Thread th =
            new Thread(
                () -> {
                  try {
                    while (!stop.get()) {
                      String key = "load:" + ThreadLocalRandom.current().nextInt(keys);
                      int down = faulty.get();
                      boolean onFaulty =
                          down >= 0 && cache.serverFor(key).equals(cluster.server(down));
                      boolean[] loaded = {false};
                      byte[] v =
                          vc.load(
                              key,
                              TTL,
                              k -> {
                                loaded[0] = true;
                                return loader.load(k);
                              });
                      if (!("value:" + key).equals(new String(v, UTF_8))) {
                        wrong.incrementAndGet();
                      }
                      if (down >= 0) {
                        if (onFaulty) {
                          faultyReads.increment();
                        } else {
                          survivorReads.increment();
                          if (loaded[0]) {
                            survivorLoads.increment();
                          }
                        }
                      }
                    }
                  } catch (Throwable e) {
                    errors.add(e);
                  }
                });
        threads.add(th);
        th.start();
      }
      Thread.sleep(300);
      faulty.set(1);
      cluster.kill(1);
      Thread.sleep(1_500);
      faulty.set(-1);
      cluster.restart(1);
      Thread.sleep(500);
      faulty.set(2);
      cluster.hang(2);
      Thread.sleep(1_500);
      faulty.set(-1);
      cluster.resume(2);
      Thread.sleep(500);
      stop.set(true);
      for (Thread th : threads) {
        th.join();
      }
      double survivorHitRatio = 1.0 - (double) survivorLoads.sum() / survivorReads.sum();
      System.out.printf(
          "node faults under 8 threads: survivor reads=%d hit ratio=%.4f, faulty-node reads=%d,"
              + " errors=%d, wrong=%d, stats=%s%n",
          survivorReads.sum(),
          survivorHitRatio,
          faultyReads.sum(),
          errors.size(),
          wrong.get(),
          cache.stats().total());
      assertThat(errors).isEmpty();
      assertThat(wrong).hasValue(0);
      assertThat(survivorReads.sum()).isGreaterThan(1_000);
      assertThat(faultyReads.sum()).isGreaterThan(0);
      assertThat(survivorHitRatio).isGreaterThan(0.95);
    }
  }

  @Test
  void aRestartedNodeIsUsedAgainAfterReconnecting() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    try (MemcachedCache cache = open(cluster)) {
      String key = keyOn(cache, cluster.server(0), "restart:");
      cluster.kill(0);
      assertThat(cache.set(key, "v".getBytes(UTF_8), TTL)).isEqualTo(Cache.Outcome.UNCONFIRMED);
      cluster.restart(0);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!reconciled(cache.status(cluster.server(0)))) {
        assertThat(System.nanoTime())
            .as("reconnected and reconciled within 10 s")
            .isLessThan(deadline);
        Thread.sleep(10);
      }
      assertThat(cache.set(key, "v2".getBytes(UTF_8), TTL)).isEqualTo(Cache.Outcome.APPLIED);
      assertThat(new String(cache.get(key), UTF_8)).isEqualTo("v2");
    }
  }
}

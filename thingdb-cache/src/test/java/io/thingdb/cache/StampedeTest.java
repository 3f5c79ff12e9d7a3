package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.internal.Entry;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** P4, one load per expiry: stampede protection across client instances on real memcached. */
class StampedeTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);
  static final int THREADS = 64;
  static final String KEY = "hot";

  /** Two independent client instances, as two app servers would have. */
  private final class TwoInstances implements AutoCloseable {
    final List<MemcachedCache> caches = new ArrayList<>();
    final List<VersionedCache> versioned = new ArrayList<>();

    TwoInstances(Clock clock, UnaryOperator<VersionedCache.Builder> options) {
      for (int i = 0; i < 2; i++) {
        // A long read deadline: these tests are about loads, and on this noisy 2-core machine a
        // scheduling stall of 40-120 ms would otherwise turn a read into a miss (by design).
        MemcachedCache c =
            MemcachedCache.builder()
                .servers(memcached.cluster().servers())
                .namespace("stampede")
                .readDeadline(Duration.ofSeconds(1))
                .writeTimeout(Duration.ofSeconds(1))
                .build();
        caches.add(c);
        versioned.add(options.apply(VersionedCache.builder(c).clock(clock)).build());
      }
    }

    @Override
    public void close() {
      versioned.forEach(VersionedCache::close);
      caches.forEach(MemcachedCache::close);
    }
  }

  /** Runs 64 concurrent loads, half on each instance, released together; returns the values. */
  private static List<String> stampede(
      TwoInstances clients, VersionedCache.Loader loader, Duration ttl) throws Exception {
    return stampede(
        clients,
        vc -> {
          byte[] v = vc.load(KEY, ttl, loader);
          return v == null ? null : new String(v, UTF_8);
        });
  }

  /** One reader's call on its instance. */
  @FunctionalInterface
  private interface Read<T> {
    T read(VersionedCache vc) throws Exception;
  }

  /** Runs 64 concurrent reads, half on each instance, released together; returns their results. */
  private static <T> List<T> stampede(TwoInstances clients, Read<T> read) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<T>> results = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        VersionedCache vc = clients.versioned.get(t % 2);
        results.add(
            pool.submit(
                () -> {
                  go.await();
                  return read.read(vc);
                }));
      }
      go.countDown();
      List<T> values = new ArrayList<>();
      for (Future<T> f : results) {
        values.add(f.get(30, TimeUnit.SECONDS));
      }
      return values;
    } finally {
      pool.shutdownNow();
    }
  }

  private static VersionedCache.Loader slowLoader(AtomicInteger loads, String value) {
    return key -> {
      loads.incrementAndGet();
      Thread.sleep(50);
      return Loaded.of(value.getBytes(UTF_8), loads.get());
    };
  }

  @Test
  void aKeyThatHasJustExpiredIsLoadedOnceAcrossInstances() throws Exception {
    // Real expiry: no stale copy to serve, every reader misses at the same moment.
    try (TwoInstances clients =
        new TwoInstances(Clock.systemUTC(), b -> b.staleGrace(Duration.ZERO))) {
      AtomicInteger first = new AtomicInteger();
      clients.versioned.get(0).load(KEY, Duration.ofSeconds(2), slowLoader(first, "v1"));
      awaitGone(clients.caches.get(0));

      AtomicInteger loads = new AtomicInteger();
      List<String> values = stampede(clients, slowLoader(loads, "v2"), Duration.ofSeconds(2));
      long protectedLoads = loads.get();

      try (TwoInstances unprotected =
          new TwoInstances(Clock.systemUTC(), VersionedCache.Builder::unprotected)) {
        unprotected.caches.get(0).delete(KEY);
        AtomicInteger baseline = new AtomicInteger();
        stampede(unprotected, slowLoader(baseline, "v3"), Duration.ofSeconds(2));
        System.out.printf(
            "stampede after expiry, %d threads over 2 instances, 50 ms loader:"
                + " protected loads=%d, unprotected baseline loads=%d%n",
            THREADS, protectedLoads, baseline.get());
        assertThat(baseline.get()).isGreaterThan(1);
      }
      assertThat(protectedLoads).isEqualTo(1);
      assertThat(values).containsOnly("v2");
      long leaseWaits =
          clients.versioned.stream().mapToLong(v -> v.stats().total().leaseWaits()).sum();
      assertThat(leaseWaits).isGreaterThanOrEqualTo(1);
    }
  }

  @Test
  void aColdKeyReadInPlaceIsLoadedOnceAcrossInstancesAndEveryOtherReaderSharesThatLoad()
      throws Exception {
    try (TwoInstances clients = new TwoInstances(Clock.systemUTC(), UnaryOperator.identity())) {
      AtomicInteger loads = new AtomicInteger();
      VersionedCache.Loader loader = slowLoader(loads, "v1");
      List<VersionedCache.View> views =
          stampede(clients, vc -> vc.loadView(KEY, Duration.ofSeconds(30), loader));
      List<VersionedCache.Origin> origins =
          views.stream().map(VersionedCache.View::origin).toList();
      System.out.printf(
          "cold key read in place, %d threads over 2 instances: loads=%d, origins=%s%n",
          THREADS,
          loads.get(),
          origins.stream()
              .collect(
                  java.util.stream.Collectors.groupingBy(
                      o -> o, java.util.stream.Collectors.counting())));
      assertThat(loads).hasValue(1);
      assertThat(origins)
          .containsOnlyOnce(VersionedCache.Origin.LOADED)
          .isSubsetOf(
              VersionedCache.Origin.LOADED,
              VersionedCache.Origin.SHARED,
              VersionedCache.Origin.HIT);
      assertThat(views)
          .allSatisfy(
              v ->
                  assertThat(new String(v.buffer(), v.offset(), v.length(), UTF_8))
                      .isEqualTo("v1"));
      // The other instance did not load: it waited on the lease and read the value back.
      long leaseWaits =
          clients.versioned.stream().mapToLong(v -> v.stats().total().leaseWaits()).sum();
      assertThat(leaseWaits).isGreaterThanOrEqualTo(1);
    }
  }

  private static void awaitGone(MemcachedCache cache) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cache.get(KEY) != null && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(cache.get(KEY)).as("key expired").isNull();
  }

  @Test
  void aSoftExpiredKeyIsRefreshedOnceWhileEveryoneReadsTheStaleCopy() throws Exception {
    MutableClock clock = new MutableClock();
    try (TwoInstances clients = new TwoInstances(clock, UnaryOperator.identity())) {
      AtomicInteger first = new AtomicInteger();
      clients.versioned.get(0).load(KEY, Duration.ofSeconds(30), slowLoader(first, "old"));
      clock.advance(Duration.ofSeconds(31));

      AtomicInteger loads = new AtomicInteger();
      List<String> values = stampede(clients, slowLoader(loads, "new"), Duration.ofSeconds(30));
      // Nobody waited: readers got the stale copy, or the new one if they came after the refresh.
      assertThat(values).containsAnyOf("old").isSubsetOf("old", "new");
      long oldReads = values.stream().filter("old"::equals).count();
      // Every refresh the stampede started was registered before its reader returned: once none
      // is queued or running on either instance, a second one, if there were one, has loaded.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (clients.versioned.stream().anyMatch(v -> v.refreshesInFlight() > 0)) {
        assertThat(System.nanoTime()).as("refreshes finished").isLessThan(deadline);
        Thread.sleep(10);
      }
      assertThat(new String(clients.versioned.get(1).get(KEY).value(), UTF_8)).isEqualTo("new");
      System.out.printf("stampede on a stale key: loads=%d%n", loads.get());
      assertThat(loads).hasValue(1);
      long stale = clients.versioned.stream().mapToLong(v -> v.stats().total().staleServed()).sum();
      assertThat(stale).isEqualTo(oldReads);
    }
  }

  @Test
  void earlyRefreshKeepsReadersFromEverRunningTheLoaderAcrossExpiries() throws Exception {
    Duration ttl = Duration.ofSeconds(1);
    int expiries = 4;
    try (TwoInstances clients = new TwoInstances(Clock.systemUTC(), b -> b.earlyRefreshBeta(1.0))) {
      Set<String> loaderThreads = ConcurrentHashMap.newKeySet();
      AtomicInteger loads = new AtomicInteger();
      AtomicInteger early = new AtomicInteger();
      MemcachedCache raw = clients.caches.get(0);
      VersionedCache.Loader loader =
          key -> {
            loads.incrementAndGet();
            loaderThreads.add(Thread.currentThread().getName());
            Entry current = Entry.decode(raw.get(key));
            if (current != null && System.currentTimeMillis() < current.softExpiryMillis) {
              early.incrementAndGet();
            }
            Thread.sleep(30);
            return Loaded.of(("v" + loads.get()).getBytes(UTF_8), loads.get());
          };
      clients.versioned.get(0).load(KEY, ttl, loader);
      loaderThreads.clear();

      List<String> readerThreads = Collections.synchronizedList(new ArrayList<>());
      AtomicInteger reads = new AtomicInteger();
      AtomicInteger failures = new AtomicInteger();
      long end = System.nanoTime() + ttl.multipliedBy(expiries).plusMillis(300).toNanos();
      List<Thread> readers = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        VersionedCache vc = clients.versioned.get(t % 2);
        Thread th =
            new Thread(
                () -> {
                  readerThreads.add(Thread.currentThread().getName());
                  try {
                    while (System.nanoTime() < end) {
                      if (vc.load(KEY, ttl, loader) == null) {
                        failures.incrementAndGet();
                      }
                      reads.incrementAndGet();
                      Thread.sleep(1);
                    }
                  } catch (Exception e) {
                    failures.incrementAndGet();
                  }
                },
                "reader-" + t);
        readers.add(th);
        th.start();
      }
      for (Thread th : readers) {
        th.join();
      }
      long timeouts = clients.caches.stream().mapToLong(c -> c.stats().total().timeouts()).sum();
      System.out.printf(
          "XFetch over %d expiries: reads=%d, refreshes=%d (before expiry: %d), timeouts=%d,"
              + " loader threads=%s%n",
          expiries, reads.get(), loads.get() - 1, early.get(), timeouts, loaderThreads);
      assertThat(failures).hasValue(0);
      // No reader ever ran the loader itself: every refresh was a background one.
      assertThat(loaderThreads).noneMatch(readerThreads::contains);
      assertThat(loaderThreads).allMatch(name -> name.startsWith("thingdb-refresh-"));
      assertThat(loads.get() - 1).isGreaterThanOrEqualTo(expiries);
      assertThat(early.get()).isGreaterThanOrEqualTo(expiries - 1);
    }
  }
}

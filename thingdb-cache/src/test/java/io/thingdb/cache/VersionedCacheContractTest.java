package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.VersionedCache.Origin;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import io.thingdb.cache.VersionedCache.View;
import io.thingdb.testing.MutableClock;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Versioned write-through semantics, run against every backend. */
abstract class VersionedCacheContractTest {
  static final Duration TTL = Duration.ofMinutes(5);

  Cache cache;
  MutableClock clock;
  VersionedCache vc;

  abstract Cache newCache();

  @BeforeEach
  void open() {
    cache = newCache();
    clock = new MutableClock();
    vc = VersionedCache.builder(cache).clock(clock).build();
  }

  @AfterEach
  void closeAll() {
    vc.close();
    cache.close();
  }

  static byte[] b(String s) {
    return s.getBytes(UTF_8);
  }

  static String s(Versioned v) {
    return v == null ? null : new String(v.value(), UTF_8) + "@" + v.version();
  }

  @Test
  void publishNeverReplacesANewerVersion() {
    assertThat(vc.publish("k", b("v5"), 5, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.publish("k", b("v3"), 3, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(s(vc.get("k"))).isEqualTo("v5@5");
    assertThat(vc.publish("k", b("v6"), 6, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v6@6");
  }

  @Test
  void republishingTheSameVersionIsIdempotent() {
    vc.publish("k", b("v5"), 5, TTL);
    assertThat(vc.publish("k", b("v5"), 5, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v5@5");
  }

  @Test
  void appendedRecordsFollowTheValueAtItsVersionAndAPublishCarriesWhatItChooses() {
    assertThat(vc.append("k", b("|lost")))
        .as("nothing cached: nothing created")
        .isEqualTo(Result.SUPERSEDED);
    assertThat(vc.get("k")).isNull();
    vc.publish("k", b("v5"), 5, TTL);
    assertThat(vc.append("k", b("|a"))).isEqualTo(Result.PUBLISHED);
    vc.appendQuietly("k", b("|b"));
    assertThat(s(vc.get("k"))).isEqualTo("v5|a|b@5");
    List<String> replaced = new ArrayList<>();
    VersionedCache.Carry keepB =
        (buffer, offset, length) -> {
          String old = new String(buffer, offset, length, UTF_8);
          replaced.add(old);
          return old.endsWith("|b") ? b("|b") : new byte[0];
        };
    assertThat(vc.publish("k", b("v4"), 4, TTL, keepB)).isEqualTo(Result.SUPERSEDED);
    assertThat(replaced).as("an older publish replaces nothing, so carries nothing").isEmpty();
    assertThat(vc.publish("k", b("v6"), 6, TTL, keepB)).isEqualTo(Result.PUBLISHED);
    assertThat(replaced).containsExactly("v5|a|b");
    assertThat(s(vc.get("k"))).isEqualTo("v6|b@6");
    vc.invalidate("k", 7);
    vc.appendQuietly("k", b("|c"));
    assertThat(vc.get("k")).as("a record appended to a tombstone leaves a miss").isNull();
    assertThat(vc.publish("k", b("v8"), 8, TTL, keepB)).isEqualTo(Result.PUBLISHED);
    assertThat(replaced).as("a tombstone carries nothing").hasSize(1);
    assertThat(s(vc.get("k"))).isEqualTo("v8@8");
  }

  /** The patch the tests use: appends "+" and the new version to the previous value. */
  static VersionedCache.Patch appending(long version) {
    return (buffer, offset, length) -> b(new String(buffer, offset, length, UTF_8) + "+" + version);
  }

  @Test
  void patchDerivesTheNextVersionFromTheCachedPreviousOneInPlace() {
    vc.publish("k", b("v4"), 4, TTL);
    assertThat(vc.patch("k", 5, appending(5), TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v4+5@5");
    assertThat(vc.patch("k", 6, appending(6), TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v4+5+6@6");
  }

  @Test
  void patchOfAMissLeavesATombstoneThatRefusesOlderFills() {
    assertThat(vc.patch("k", 5, appending(5), TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.get("k")).isNull();
    assertThat(vc.fill("k", b("v4"), 4, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.get("k")).isNull();
    assertThat(vc.fill("k", b("v5"), 5, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v5@5");
  }

  @Test
  void patchNeverReplacesTheSameOrANewerVersion() {
    vc.publish("k", b("v7"), 7, TTL);
    assertThat(vc.patch("k", 7, appending(7), TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.patch("k", 6, appending(6), TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(s(vc.get("k"))).isEqualTo("v7@7");
    vc.invalidate("k", 9);
    assertThat(vc.patch("k", 8, appending(8), TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.fill("k", b("v8"), 8, TTL))
        .as("the tombstone of 9 is still there")
        .isEqualTo(Result.SUPERSEDED);
  }

  @Test
  void patchOverAnOlderVersionOrARefusedPatchInvalidatesAtTheNewVersion() {
    vc.publish("k", b("v3"), 3, TTL);
    assertThat(vc.patch("k", 5, appending(5), TTL))
        .as("v3 is not the version before 5")
        .isEqualTo(Result.PUBLISHED);
    assertThat(vc.get("k")).isNull();
    assertThat(vc.fill("k", b("v4"), 4, TTL)).isEqualTo(Result.SUPERSEDED);

    vc.publish("j", b("v4"), 4, TTL);
    assertThat(vc.patch("j", 5, (buffer, offset, length) -> null, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.get("j")).isNull();
    assertThat(vc.fill("j", b("v4"), 4, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.fill("j", b("v5"), 5, TTL)).isEqualTo(Result.PUBLISHED);
  }

  @Test
  void concurrentPatchesFromOneVersionLeaveOnlyNewerVersionsOrAMiss() throws Exception {
    for (int round = 0; round < 20; round++) {
      String key = "race" + round;
      vc.publish(key, b("v1"), 1, TTL);
      CyclicBarrier start = new CyclicBarrier(2);
      ExecutorService pool = Executors.newFixedThreadPool(2);
      try {
        Future<Result> two =
            pool.submit(
                () -> {
                  start.await();
                  return vc.patch(key, 2, appending(2), TTL);
                });
        Future<Result> three =
            pool.submit(
                () -> {
                  start.await();
                  return vc.patch(key, 3, appending(3), TTL);
                });
        assertThat(two.get(10, TimeUnit.SECONDS)).isNotEqualTo(Result.UNCONFIRMED);
        assertThat(three.get(10, TimeUnit.SECONDS)).isNotEqualTo(Result.UNCONFIRMED);
      } finally {
        pool.shutdownNow();
        assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
      }
      // Either the patch of 2 landed first and 3 was patched from it, or 3 found v1, could not
      // be patched from it and left its tombstone, which the patch of 2 then could not replace.
      // Never is version 2 (or 1) left: it would be older than a write that has returned.
      Versioned now = vc.get(key);
      if (now != null) {
        assertThat(s(now)).as("round %d", round).isEqualTo("v1+2+3@3");
      }
      assertThat(vc.fill(key, b("v2"), 2, TTL)).isEqualTo(Result.SUPERSEDED);
    }
  }

  @Test
  void positionalGetAllReportsValuesOnlyWithTheirVersions() {
    vc.publish("a", b("va"), 3, TTL);
    vc.invalidate("t", 2);
    vc.load("n", TTL, k -> Loaded.absent(1));
    vc.publish("c", b("vc"), 9, TTL);
    String[] seen = new String[5];
    vc.getAll(
        List.of("a", "t", "n", "missing", "c"),
        (i, version, buffer, offset, length) ->
            seen[i] = new String(buffer, offset, length, UTF_8) + "@" + version);
    assertThat(seen).containsExactly("va@3", null, null, null, "vc@9");
  }

  @Test
  void fillAfterMissNeverOverwritesANewerWrite() {
    assertThat(vc.fill("k", b("v1"), 1, TTL)).isEqualTo(Result.PUBLISHED);
    vc.publish("k", b("v2"), 2, TTL);
    assertThat(vc.fill("k", b("v1"), 1, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(s(vc.get("k"))).isEqualTo("v2@2");
  }

  @Test
  void fillReplacesAnOlderVersion() {
    vc.fill("k", b("v1"), 1, TTL);
    assertThat(vc.fill("k", b("v2"), 2, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v2@2");
  }

  @Test
  void invalidationTombstoneRefusesAFillOfAnOlderVersion() {
    vc.publish("k", b("v1"), 1, TTL);
    assertThat(vc.invalidate("k", 2)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.get("k")).isNull();
    // A reader that fetched version 1 before the invalidation tries to put it back.
    assertThat(vc.fill("k", b("v1"), 1, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.get("k")).isNull();
    // The version the invalidation announced (or newer) may fill.
    assertThat(vc.fill("k", b("v2"), 2, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v2@2");
  }

  @Test
  void invalidationOfAnAbsentKeyStillBlocksOlderFills() {
    assertThat(vc.invalidate("k", 7)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.fill("k", b("v6"), 6, TTL)).isEqualTo(Result.SUPERSEDED);
    assertThat(vc.get("k")).isNull();
  }

  @Test
  void invalidationOlderThanTheCachedValueLeavesIt() {
    vc.publish("k", b("v5"), 5, TTL);
    assertThat(vc.invalidate("k", 4)).isEqualTo(Result.SUPERSEDED);
    assertThat(s(vc.get("k"))).isEqualTo("v5@5");
  }

  @Test
  void newerInvalidationReplacesAnOlderTombstone() {
    vc.invalidate("k", 3);
    assertThat(vc.invalidate("k", 5)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.fill("k", b("v4"), 4, TTL)).isEqualTo(Result.SUPERSEDED);
  }

  @Test
  void entriesOfAnUnknownFormatAreReplacedNotMisread() {
    cache.set("k", new byte[] {0x7f, 1, 2, 3}, TTL);
    assertThat(vc.get("k")).isNull();
    assertThat(vc.fill("k", b("v1"), 1, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(s(vc.get("k"))).isEqualTo("v1@1");
  }

  @Test
  void getAllReturnsOnlyValues() {
    vc.publish("a", b("A"), 1, TTL);
    vc.invalidate("b", 1);
    Map<String, Versioned> all = vc.getAll(List.of("a", "b", "c"));
    assertThat(all).containsOnlyKeys("a");
    assertThat(s(all.get("a"))).isEqualTo("A@1");
  }

  @Test
  void loadCachesTheValueAndCallsTheLoaderOnce() {
    AtomicInteger loads = new AtomicInteger();
    for (int i = 0; i < 5; i++) {
      byte[] v =
          vc.load(
              "k",
              TTL,
              key -> {
                loads.incrementAndGet();
                return Loaded.of(b("loaded"), 3);
              });
      assertThat(new String(v, UTF_8)).isEqualTo("loaded");
    }
    assertThat(loads).hasValue(1);
    assertThat(s(vc.get("k"))).isEqualTo("loaded@3");
    assertThat(vc.stats().total().loads()).isEqualTo(1);
  }

  @Test
  void absentResultsAreCachedAsNegativeEntries() {
    AtomicInteger loads = new AtomicInteger();
    VersionedCache.Loader loader =
        key -> {
          loads.incrementAndGet();
          return Loaded.absent(0);
        };
    assertThat(vc.load("k", TTL, loader)).isNull();
    assertThat(vc.load("k", TTL, loader)).isNull();
    assertThat(loads).hasValue(1);
    assertThat(vc.get("k")).isNull();
    // A write replaces the negative entry.
    vc.publish("k", b("now"), 1, TTL);
    assertThat(new String(vc.load("k", TTL, loader), UTF_8)).isEqualTo("now");
  }

  @Test
  void inspectTellsValuesTombstonesAndNegativeEntriesFromMisses() {
    assertThat(vc.inspect("k")).isNull();
    vc.publish("k", b("v5"), 5, TTL);
    assertThat(vc.inspect("k")).isEqualTo(new VersionedCache.Stored(VersionedCache.Kind.VALUE, 5));
    vc.invalidate("k", 7);
    assertThat(vc.inspect("k"))
        .isEqualTo(new VersionedCache.Stored(VersionedCache.Kind.TOMBSTONE, 7));
    assertThat(vc.load("gone", TTL, key -> Loaded.absent(3))).isNull();
    assertThat(vc.inspect("gone"))
        .isEqualTo(new VersionedCache.Stored(VersionedCache.Kind.NEGATIVE, 3));
    cache.set("foreign", b("not an entry"), TTL);
    assertThat(vc.inspect("foreign")).isNull();
    assertThatThrownBy(() -> vc.inspect(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key must not be null");
  }

  @Test
  void maxValueSizeIsTheLargestValueAPublishCanCache() {
    int max = vc.maxValueSize("k");
    assertThat(max).isPositive().isLessThan(cache.maxValueSize("k"));
    assertThat(vc.publish("k", new byte[max], 1, TTL)).isEqualTo(Result.PUBLISHED);
    assertThat(vc.get("k").value()).hasSize(max);
    assertThatThrownBy(() -> vc.publish("k", new byte[max + 1], 2, TTL))
        .isInstanceOf(ValueTooLargeException.class);
    assertThatThrownBy(() -> vc.fill("other", new byte[vc.maxValueSize("other") + 1], 1, TTL))
        .isInstanceOf(ValueTooLargeException.class);
    assertThat(vc.get("k").version()).isEqualTo(1);
    assertThat(vc.inspect("other")).isNull();
  }

  @Test
  void loadAfterInvalidationDoesNotResurrectTheOldValue() {
    vc.publish("k", b("v1"), 1, TTL);
    vc.invalidate("k", 2);
    byte[] v = vc.load("k", TTL, key -> Loaded.of(b("v2"), 2));
    assertThat(new String(v, UTF_8)).isEqualTo("v2");
    assertThat(s(vc.get("k"))).isEqualTo("v2@2");
  }

  @Test
  void loaderExceptionsReachTheCallerAndNothingIsCached() {
    assertThatThrownBy(
            () ->
                vc.load(
                    "k",
                    TTL,
                    key -> {
                      throw new IllegalStateException("db down");
                    }))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("db down");
    assertThatThrownBy(
            () ->
                vc.load(
                    "k",
                    TTL,
                    key -> {
                      throw new IOException("disk");
                    }))
        .isInstanceOf(CacheException.class)
        .hasMessageContaining("loader for k failed: disk")
        .hasCauseInstanceOf(IOException.class);
    assertThatThrownBy(() -> vc.load("k", TTL, key -> null))
        .isInstanceOf(CacheException.class)
        .hasMessage("loader for k returned null; return Loaded.absent(version) instead");
    assertThat(vc.get("k")).isNull();
    // The lease was released: the next load runs at once.
    assertThat(new String(vc.load("k", TTL, key -> Loaded.of(b("ok"), 1)), UTF_8)).isEqualTo("ok");
  }

  /**
   * Four callers miss at once and the load fails: the three that joined the load in flight see its
   * failure, and the loader ran once. The release waits until the probe has seen all three join, so
   * no caller can come late and start a load of its own; without single-flight nobody joins and the
   * await fails, and each caller would run the loader itself.
   */
  @Test
  void concurrentWaitersOnOneLoadAllSeeItsFailure() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch joined = new CountDownLatch(3);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger loads = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (VersionedCache probed = withProbe(true, joinCounter(joined))) {
      List<Future<String>> results = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        results.add(
            pool.submit(
                () -> {
                  try {
                    probed.load(
                        "k",
                        TTL,
                        key -> {
                          loads.incrementAndGet();
                          started.countDown();
                          release.await();
                          throw new IllegalStateException("boom");
                        });
                    return "no exception";
                  } catch (IllegalStateException e) {
                    return e.getMessage();
                  }
                }));
      }
      assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
      assertThat(joined.await(5, TimeUnit.SECONDS)).as("three callers joined the load").isTrue();
      release.countDown();
      for (Future<String> f : results) {
        assertThat(f.get(5, TimeUnit.SECONDS)).isEqualTo("boom");
      }
      assertThat(loads).hasValue(1);
      assertThat(probed.get("k")).isNull();
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
  }

  /** A second cache over the same backend with {@code probe} and leases on or off. */
  VersionedCache withProbe(boolean leases, VersionedCache.Probe probe) {
    return VersionedCache.builder(cache).clock(clock).leases(leases).probe(probe).build();
  }

  /** A probe that counts down {@code joined} each time a caller joins a load in flight. */
  static VersionedCache.Probe joinCounter(CountDownLatch joined) {
    return new VersionedCache.Probe() {
      @Override
      public void joined(String key) {
        joined.countDown();
      }
    };
  }

  /**
   * The single-flight window: a caller misses, and before it reaches the map of loads in flight
   * another caller's whole load runs, fills the cache and leaves the map. The probe holds the late
   * caller at exactly that point (after its miss, before it looks for a flight) until the other
   * load has returned. The late caller must then share that load's value, not load again.
   */
  @Test
  void aCallerThatMissedJustBeforeALoadFinishedSharesItsValueWithSingleFlightAlone()
      throws Exception {
    aCallerThatMissedJustBeforeALoadFinishedSharesItsValue(false);
  }

  /** The same window with leases on: the re-read after taking the lease closes it too. */
  @Test
  void aCallerThatMissedJustBeforeALoadFinishedSharesItsValueWithLeases() throws Exception {
    aCallerThatMissedJustBeforeALoadFinishedSharesItsValue(true);
  }

  private void aCallerThatMissedJustBeforeALoadFinishedSharesItsValue(boolean leases)
      throws Exception {
    CountDownLatch lateMissed = new CountDownLatch(1);
    CountDownLatch firstReturned = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean firstMiss =
        new java.util.concurrent.atomic.AtomicBoolean(true);
    VersionedCache.Probe holdTheFirstMiss =
        new VersionedCache.Probe() {
          @Override
          public void missed(String key) {
            if (firstMiss.getAndSet(false)) {
              lateMissed.countDown();
              try {
                assertThat(firstReturned.await(5, TimeUnit.SECONDS)).isTrue();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
              }
            }
          }
        };
    AtomicInteger loads = new AtomicInteger();
    VersionedCache.Loader loader = key -> Loaded.of(b("v" + loads.incrementAndGet()), loads.get());
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try (VersionedCache probed = withProbe(leases, holdTheFirstMiss)) {
      Future<View> late = pool.submit(() -> probed.loadView("k", TTL, loader));
      assertThat(lateMissed.await(5, TimeUnit.SECONDS)).as("the late caller missed").isTrue();
      View first = probed.loadView("k", TTL, loader);
      assertThat(first.origin()).isEqualTo(Origin.LOADED);
      firstReturned.countDown();
      View v = late.get(5, TimeUnit.SECONDS);
      assertThat(loads).as("loads").hasValue(1);
      assertThat(v.origin()).isEqualTo(Origin.SHARED);
      assertThat(s(v)).isEqualTo("v1@1");
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
  }

  static String s(View v) {
    return v == null
        ? null
        : new String(v.buffer(), v.offset(), v.length(), UTF_8) + "@" + v.version();
  }

  @Test
  void loadViewHandsOutTheLoadedAndTheCachedBytesWithoutACopyAndSaysWhereTheyCameFrom() {
    byte[] page = b("page");
    View loaded = vc.loadView("k", TTL, key -> Loaded.of(page, 4));
    assertThat(loaded.origin()).isEqualTo(Origin.LOADED);
    assertThat(loaded.buffer()).as("the loader's own array").isSameAs(page);
    assertThat(s(loaded)).isEqualTo("page@4");
    View hit =
        vc.loadView(
            "k",
            TTL,
            key -> {
              throw new AssertionError("a hit must not load");
            });
    assertThat(hit.origin()).isEqualTo(Origin.HIT);
    assertThat(s(hit)).isEqualTo("page@4");
    assertThat(vc.stats().total().loads()).isEqualTo(1);
  }

  @Test
  void loadViewOfAnAbsentAnswerIsNullAndCachedAsANegativeEntry() {
    assertThat(vc.loadView("k", TTL, key -> Loaded.absent(1))).isNull();
    assertThat(
            vc.loadView(
                "k",
                TTL,
                key -> {
                  throw new AssertionError("the negative entry must answer");
                }))
        .isNull();
  }

  @Test
  void loadViewServesAnExpiredValueAsStaleWhileOneCallerRefreshesIt() throws Exception {
    Duration ttl = Duration.ofSeconds(10);
    vc.loadView("k", ttl, key -> Loaded.of(b("old"), 1));
    clock.advance(Duration.ofSeconds(11));
    CountDownLatch finish = new CountDownLatch(1);
    AtomicInteger loads = new AtomicInteger();
    VersionedCache.Loader slow =
        key -> {
          loads.incrementAndGet();
          finish.await();
          return Loaded.of(b("new"), 2);
        };
    for (int i = 0; i < 5; i++) {
      View v = vc.loadView("k", ttl, slow);
      assertThat(v.origin()).isEqualTo(Origin.STALE);
      assertThat(s(v)).isEqualTo("old@1");
    }
    finish.countDown();
    awaitValue("k", "new@2");
    View after = vc.loadView("k", ttl, slow);
    assertThat(after.origin()).isEqualTo(Origin.HIT);
    assertThat(s(after)).isEqualTo("new@2");
    assertThat(loads).hasValue(1);
  }

  @Test
  void concurrentMissesOfLoadViewRunTheLoaderOnceAndTheOthersShareItsValue() throws Exception {
    int callers = 8;
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch joined = new CountDownLatch(callers - 1);
    AtomicInteger loads = new AtomicInteger();
    VersionedCache.Loader slow =
        key -> {
          loads.incrementAndGet();
          started.countDown();
          release.await();
          return Loaded.of(b("once"), 1);
        };
    ExecutorService pool = Executors.newFixedThreadPool(callers);
    try (VersionedCache probed = withProbe(true, joinCounter(joined))) {
      List<Future<View>> views = new ArrayList<>();
      for (int i = 0; i < callers; i++) {
        views.add(pool.submit(() -> probed.loadView("k", TTL, slow)));
      }
      assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
      assertThat(joined.await(5, TimeUnit.SECONDS))
          .as("the other callers joined the load in flight")
          .isTrue();
      release.countDown();
      List<Origin> origins = new ArrayList<>();
      for (Future<View> f : views) {
        View v = f.get(5, TimeUnit.SECONDS);
        assertThat(s(v)).isEqualTo("once@1");
        origins.add(v.origin());
      }
      assertThat(origins).containsOnlyOnce(Origin.LOADED).isSubsetOf(Origin.LOADED, Origin.SHARED);
      assertThat(loads).hasValue(1);
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void aLoadedValueOverMaxValueSizeIsRefusedAndNothingIsCached() {
    // Keys of one length: the limit depends on the key's encoded length.
    int max = vc.maxValueSize("big:1");
    assertThat(vc.maxValueSize("big:2")).isEqualTo(max);
    byte[] fits = new byte[max];
    assertThat(vc.loadView("big:1", TTL, key -> Loaded.of(fits, 1)).origin())
        .isEqualTo(Origin.LOADED);
    assertThat(vc.get("big:1")).as("cached").isNotNull();
    byte[] tooLarge = new byte[max + 1];
    assertThatThrownBy(() -> vc.loadView("big:2", TTL, key -> Loaded.of(tooLarge, 1)))
        .isInstanceOf(ValueTooLargeException.class);
    assertThat(vc.get("big:2")).isNull();
    assertThatThrownBy(() -> vc.fill("big:2", tooLarge, 1, TTL))
        .isInstanceOf(ValueTooLargeException.class);
  }

  @Test
  void expiredValueIsServedWhileOneCallerRefreshesInTheBackground() throws Exception {
    vc.load("k", Duration.ofSeconds(10), key -> Loaded.of(b("old"), 1));
    clock.advance(Duration.ofSeconds(11));
    CountDownLatch loading = new CountDownLatch(1);
    CountDownLatch finish = new CountDownLatch(1);
    AtomicInteger loads = new AtomicInteger();
    VersionedCache.Loader slow =
        key -> {
          loads.incrementAndGet();
          loading.countDown();
          finish.await();
          return Loaded.of(b("new"), 2);
        };
    for (int i = 0; i < 20; i++) {
      assertThat(new String(vc.load("k", Duration.ofSeconds(10), slow), UTF_8)).isEqualTo("old");
    }
    assertThat(loading.await(5, TimeUnit.SECONDS)).isTrue();
    finish.countDown();
    awaitValue("k", "new@2");
    assertThat(loads).hasValue(1);
    assertThat(vc.stats().total().staleServed()).isEqualTo(20);
  }

  void awaitValue(String key, String expected) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!expected.equals(s(vc.get(key))) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(s(vc.get(key))).isEqualTo(expected);
  }

  @Test
  void builderRejectsBadSettingsWithMessages() {
    assertThatThrownBy(() -> VersionedCache.builder(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("cache must not be null");
    assertThatThrownBy(() -> VersionedCache.builder(cache).leaseTtl(Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("leaseTtl must be at least 2000 ms: 1000 ms");
    assertThatThrownBy(() -> VersionedCache.builder(cache).earlyRefreshBeta(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("earlyRefreshBeta must be a finite number >= 0: -1.0");
    assertThatThrownBy(() -> VersionedCache.builder(cache).staleGrace(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("staleGrace must not be negative: PT-1S");
    assertThatThrownBy(() -> vc.load("k", Duration.ofSeconds(-1), key -> Loaded.absent(0)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ttl must not be negative: PT-1S (key=k)");
  }

  @Test
  void closedVersionedCacheRefusesCalls() {
    vc.close();
    vc.close();
    assertThatThrownBy(() -> vc.get("k"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("VersionedCache is closed");
  }

  /**
   * The cache-fill-versus-write race (P3): a writer publishes (or invalidates at) a new version
   * while a filler that read the previous version tries to fill it. Whatever the interleaving, the
   * cache must never end up holding the older version.
   */
  @Test
  void fillRacingAWriteNeverLeavesTheOlderVersion() throws Exception {
    int rounds = 10_000;
    CyclicBarrier start = new CyclicBarrier(3);
    CyclicBarrier done = new CyclicBarrier(3);
    String[] key = new String[1];
    boolean[] invalidateRound = new boolean[1];
    Result[] outcomes = new Result[2]; // the writer's and the filler's, each round
    AtomicInteger errors = new AtomicInteger();
    Thread writer =
        new Thread(
            () -> {
              try {
                while (true) {
                  start.await();
                  if (key[0] == null) {
                    return;
                  }
                  outcomes[0] =
                      invalidateRound[0]
                          ? vc.invalidate(key[0], 2)
                          : vc.publish(key[0], b("v2"), 2, TTL);
                  done.await();
                }
              } catch (Exception e) {
                errors.incrementAndGet();
              }
            });
    Thread filler =
        new Thread(
            () -> {
              try {
                while (true) {
                  start.await();
                  if (key[0] == null) {
                    return;
                  }
                  // The filler's database read happened before the write: it holds version 1.
                  outcomes[1] = vc.fill(key[0], b("v1"), 1, TTL);
                  done.await();
                }
              } catch (Exception e) {
                errors.incrementAndGet();
              }
            });
    writer.start();
    filler.start();
    int stale = 0;
    int unconfirmed = 0;
    for (int r = 0; r < rounds; r++) {
      key[0] = "race:" + r;
      invalidateRound[0] = r % 2 == 1;
      start.await(10, TimeUnit.SECONDS);
      done.await(10, TimeUnit.SECONDS);
      Versioned v = vc.get(key[0]);
      if (v != null && v.version() < 2) {
        stale++;
      }
      if (outcomes[0] == Result.UNCONFIRMED || outcomes[1] == Result.UNCONFIRMED) {
        // A stalled write: the key reads as a miss until the backend has deleted it from its
        // server; after that the older version must not come back either.
        unconfirmed++;
        assertThat(vc.awaitReconciled(key[0], Duration.ofSeconds(5))).as(key[0]).isTrue();
        Versioned after = vc.get(key[0]);
        if (after != null && after.version() < 2) {
          stale++;
        }
      }
    }
    key[0] = null;
    start.await(10, TimeUnit.SECONDS);
    writer.join();
    filler.join();
    System.out.println(
        getClass().getSimpleName()
            + ": "
            + rounds
            + " fill/write races, stale="
            + stale
            + ", unconfirmed="
            + unconfirmed);
    assertThat(errors).hasValue(0);
    assertThat(stale).isZero();
    if (!mayLeaveWritesUnconfirmed()) {
      assertThat(unconfirmed).as("unconfirmed writes").isZero();
    }
  }

  /**
   * True if the backend can answer {@link Result#UNCONFIRMED} on a healthy server (memcached: a
   * client stall times a write out); the in-process backend always confirms.
   */
  abstract boolean mayLeaveWritesUnconfirmed();
}

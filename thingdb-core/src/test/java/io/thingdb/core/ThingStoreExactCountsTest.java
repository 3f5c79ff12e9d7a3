package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.cachedThing;
import static io.thingdb.core.ThingStoreSupport.count;
import static io.thingdb.core.ThingStoreSupport.key;
import static io.thingdb.core.ThingStoreSupport.rawEntry;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingStoreSupport.Stored;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * P1: concurrent increments through two ThingDb instances (two app servers: each its own pool and
 * its own memcached client on one shared cluster) are never lost or doubled, in the database or in
 * the cache.
 */
class ThingStoreExactCountsTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
  static final int INSTANCES = 2;
  static final int THREADS = 8;
  static final int INCREMENTS = 2_000;

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  static PostgresFixture pg;
  static final List<HikariDataSource> pools = new ArrayList<>();
  static final List<MemcachedCache> caches = new ArrayList<>();
  static final List<ThingDb> dbs = new ArrayList<>();

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    for (int i = 0; i < INSTANCES; i++) {
      HikariDataSource ds = ThingStoreSupport.pool(pg.jdbcUrl());
      MemcachedCache mc = ThingStoreSupport.memcached(memcached.cluster());
      pools.add(ds);
      caches.add(mc);
      dbs.add(
          ThingDb.builder().database("main", Database.of(ds)).type(LINK, "main").cache(mc).build());
    }
  }

  @AfterAll
  static void stop() {
    dbs.forEach(ThingDb::close);
    caches.forEach(MemcachedCache::close);
    pools.forEach(HikariDataSource::close);
    if (pg != null) {
      pg.close();
    }
  }

  @Test
  void concurrentIncrementsFromTwoInstancesAreExactInTheDatabaseAndTheCache() throws Exception {
    ThingDb first = dbs.get(0);
    Thing t = first.create(first.newThing(LINK).set(TITLE, "popular"));
    int total = INSTANCES * THREADS * INCREMENTS;
    // Every increment returns the counter right after it: exactly 1..total, each once.
    BitSet seenUps = new BitSet(total + 1);
    BitSet seenVersions = new BitSet(total + 2);
    ExecutorService pool = Executors.newFixedThreadPool(INSTANCES * THREADS);
    CountDownLatch go = new CountDownLatch(1);
    long started;
    try {
      List<Future<List<Counts>>> futures = new ArrayList<>();
      for (ThingDb db : dbs) {
        for (int i = 0; i < THREADS; i++) {
          futures.add(
              pool.submit(
                  () -> {
                    List<Counts> mine = new ArrayList<>(INCREMENTS);
                    go.await();
                    for (int j = 0; j < INCREMENTS; j++) {
                      mine.add(db.incr(LINK, t.id(), Counter.UPS, 1));
                    }
                    return mine;
                  }));
        }
      }
      started = System.nanoTime();
      go.countDown();
      for (Future<List<Counts>> f : futures) {
        for (Counts c : f.get()) {
          assertThat(seenUps.get(c.ups())).as("ups %d returned twice", c.ups()).isFalse();
          seenUps.set(c.ups());
          seenVersions.set((int) c.version());
        }
      }
    } finally {
      pool.shutdownNow();
    }
    long millis = (System.nanoTime() - started) / 1_000_000;
    System.out.printf(
        "P1: %d increments (%d instances x %d threads x %d) in %d ms (%.0f/s)%n",
        total, INSTANCES, THREADS, INCREMENTS, millis, total * 1000.0 / Math.max(1, millis));

    assertThat(seenUps.cardinality()).isEqualTo(total);
    assertThat(seenUps.nextSetBit(0)).isEqualTo(1);
    assertThat(seenVersions.cardinality()).isEqualTo(total);
    assertThat(seenVersions.nextSetBit(0)).isEqualTo(2);

    Stored s = storedOrFail(pools.get(0), t);
    assertThat(s.ups()).isEqualTo(total);
    assertThat(s.downs()).isZero();
    assertThat(s.version()).isEqualTo(1L + total);
    assertThat(s.values()).containsEntry("title", "popular");

    // The raw cache entry: absent, a tombstone no newer than the database, or the exact value.
    for (MemcachedCache mc : caches) {
      VersionedCache.Stored raw = rawEntry(mc, key(dbs.get(0), t));
      if (raw != null && raw.kind() == VersionedCache.Kind.VALUE) {
        Thing cached = cachedThing(mc, dbs.get(0), t);
        assertThat(cached.version()).isEqualTo(s.version());
        assertThat(cached.ups()).isEqualTo(total);
        assertThat(cached.get(TITLE)).isEqualTo("popular");
      } else if (raw != null) {
        assertThat(raw.kind()).isEqualTo(VersionedCache.Kind.TOMBSTONE);
        assertThat(raw.version()).isLessThanOrEqualTo(s.version());
      }
      System.out.println(
          "P1: raw cache entry after the run: "
              + (raw == null
                  ? "absent"
                  : (raw.kind() == VersionedCache.Kind.VALUE ? "value" : "tombstone")
                      + " v"
                      + raw.version()));
    }
    for (ThingDb db : dbs) {
      Thing read = db.get(LINK, t.id()).orElseThrow();
      assertThat(read.ups()).isEqualTo(total);
      assertThat(read.version()).isEqualTo(s.version());
    }
    // and the read put the exact value back in the cache (over the tombstone of the same version)
    for (MemcachedCache mc : caches) {
      Thing cached = cachedThing(mc, dbs.get(0), t);
      assertThat(cached).as("cache entry after a read").isNotNull();
      assertThat(cached.ups()).isEqualTo(total);
      assertThat(cached.version()).isEqualTo(s.version());
    }
    try (Scope scope = dbs.get(1).scope()) {
      assertThat(dbs.get(1).get(LINK, t.id()).orElseThrow().ups()).isEqualTo(total);
      assertThat(scope.statements()).isZero();
    }
    // Every outbox row was confirmed or replayed: nothing is left to invalidate.
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (count(pools.get(0), "select count(*) from thingdb_outbox") > 0
        && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(count(pools.get(0), "select count(*) from thingdb_outbox")).isZero();
  }
}

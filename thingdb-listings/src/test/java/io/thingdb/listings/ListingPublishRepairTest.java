package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.core.Thing;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The durable repair of a listing publish that fails after COMMIT (issue 10, item 2): a processor
 * commits a batch, its publish cannot reach the cache node (hung at that moment), and the processor
 * dies before its cache client can reconcile the node. When the node answers again it still holds
 * the previous version; another instance's processors republish the row's current version within
 * the replay grace plus the replay interval.
 *
 * <p>Two cache clients play two processes: A (the processor that dies) and B (a reader and the
 * surviving processors).
 */
class ListingPublishRepairTest {
  static final Duration REPLAY_INTERVAL = Duration.ofMillis(200);
  static final Duration REPLAY_GRACE = Duration.ofMillis(300);

  /**
   * Margin on top of grace + interval for the replay's own work: a database read, one publish over
   * loopback and the clear; it is wide because two cores are shared by several test JVMs.
   */
  static final Duration MARGIN = Duration.ofSeconds(3);

  static final AtomicInteger DATABASES = new AtomicInteger();
  static PostgresFixture pg;

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  /**
   * The cached version of {@code key}, 0 if absent. A read that misses is retried for up to 2 s:
   * the client turns a read that stalls past its 100 ms deadline into a miss, which on a loaded
   * machine is not evidence that the key is gone.
   */
  static long cachedVersion(VersionedCache cache, String key) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
    VersionedCache.Versioned v;
    while ((v = cache.get(key)) == null && System.nanoTime() - deadline < 0) {
      Thread.sleep(20);
    }
    return v == null ? 0 : v.version();
  }

  @Test
  void aListingWhosePublishFailedIsCurrentInTheCacheWithinReplayGracePlusInterval()
      throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    String key = "sr:1:top";
    String cacheKey = ListingStore.CACHE_PREFIX + key;
    try (HikariDataSource ds = Pools.create(pg, "repair_" + DATABASES.incrementAndGet(), 8);
        MemcachedCache cacheB = MemcachedCache.builder().servers(cluster.servers()).build();
        VersionedCache inspectB = VersionedCache.builder(cacheB).build()) {
      VoteWorld a =
          new VoteWorld(ds, 20, ds, MemcachedCache.builder().servers(cluster.servers()).build());
      int node = cluster.servers().indexOf(a.cache.serverFor(cacheKey));
      assertThat(node).as("the node of " + cacheKey).isNotNegative();
      AtomicBoolean hung = new AtomicBoolean();
      try {
        Thing link =
            a.votes.submit(
                a.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 1L).set(VoteWorld.AUTHOR, 1L));
        Thing voter = a.db.create(a.db.newThing(VoteWorld.ACCOUNT));
        a.processors().build().drain();
        assertThat(cachedVersion(inspectB, cacheKey)).as("published v1").isEqualTo(1);

        a.votes.cast(voter.id(), link.id(), 1);
        ListingProcessors dying =
            a.processors()
                .hook(
                    (c, k, jobs) -> {
                      if (k.equals(key) && hung.compareAndSet(false, true)) {
                        cluster.hang(node);
                      }
                    })
                .build();
        dying.drain();
        assertThat(hung).as("the node hung before the batch of " + key + " committed").isTrue();
        assertThat(dying.unconfirmedPublishes())
            .as("publishes the cache could not confirm")
            .isPositive();
        assertThat(a.store.readFromDatabase(key).version()).isEqualTo(2);
      } finally {
        // Process A dies: its cache client, and with it the dirty keys it would reconcile, are
        // gone.
        a.close();
        if (hung.get()) {
          cluster.resume(node);
        }
      }
      assertThat(cachedVersion(inspectB, cacheKey))
          .as("the node came back with the version before the failed publish")
          .isEqualTo(1);

      try (VoteWorld b = new VoteWorld(ds, 20, ds, cacheB);
          ListingProcessors survivor =
              b.processors()
                  .replayInterval(REPLAY_INTERVAL)
                  .replayGrace(REPLAY_GRACE)
                  .build()
                  .start()) {
        long deadline =
            System.nanoTime() + REPLAY_GRACE.plus(REPLAY_INTERVAL).plus(MARGIN).toNanos();
        while (cachedVersion(inspectB, cacheKey) != 2) {
          assertThat(System.nanoTime())
              .as(
                  "the cached "
                      + key
                      + " is current within grace "
                      + REPLAY_GRACE
                      + " + interval "
                      + REPLAY_INTERVAL
                      + " + margin "
                      + MARGIN)
              .isLessThan(deadline);
          Thread.sleep(10);
        }
        assertThat(b.store.get(key).orElseThrow().visible())
            .as("the cached listing equals the stored row")
            .isEqualTo(Listing.decode(b.store.readFromDatabase(key).data()).visible());
        // The replay clears the marks right after its publishes.
        while (b.count("select count(*) from thingdb_listing where unpublished_since is not null")
            > 0) {
          assertThat(System.nanoTime())
              .as("every mark cleared once confirmed")
              .isLessThan(deadline);
          Thread.sleep(10);
        }
        assertThat(survivor.republished()).isPositive();
      }
    }
  }
}

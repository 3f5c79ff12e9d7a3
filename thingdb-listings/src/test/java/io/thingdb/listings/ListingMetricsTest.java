package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thingdb.testing.PostgresFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link ListingMetrics}: the queue's gauges and the processors' counters. */
class ListingMetricsTest {
  static PostgresFixture pg;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stop() {
    pg.close();
  }

  @Test
  void theQueueAndTheProcessorsAreMetered() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (VoteWorld w = new VoteWorld(pg.createDatabase("listing_metrics"), 10);
        ListingProcessors p = w.processors().build()) {
      ListingMetrics.of(p, Tags.of("app", "test")).bindTo(registry);
      // One link: 5 jobs (the subreddit's 4 listings and the author's).
      w.votes.submit(w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 1L).set(VoteWorld.AUTHOR, 2L));
      assertThat(registry.get("thingdb.listings.queue.depth").gauge().value()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.queue.listings").gauge().value()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.queue.oldest").gauge().value()).isNotNegative();
      assertThat(p.drain()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.queue.depth").gauge().value()).isZero();
      assertThat(registry.get("thingdb.listings.queue.oldest").gauge().value()).isZero();
      assertThat(registry.get("thingdb.listings.job.age").functionTimer().count()).isEqualTo(5);
      assertThat(
              registry
                  .get("thingdb.listings.job.age")
                  .functionTimer()
                  .totalTime(java.util.concurrent.TimeUnit.MICROSECONDS))
          .as("five jobs waited from their submit to the drain")
          .isPositive();
      assertThat(registry.get("thingdb.listings.batches").functionCounter().count()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.jobs").functionCounter().count()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.writes").functionCounter().count()).isEqualTo(5);
      assertThat(registry.get("thingdb.listings.conflicts").functionCounter().count()).isZero();
      assertThat(registry.get("thingdb.listings.failures").functionCounter().count()).isZero();
      assertThat(registry.get("thingdb.listings.refills").functionCounter().count()).isPositive();
      assertThat(registry.get("thingdb.listings.publishes.unconfirmed").functionCounter().count())
          .isZero();
      assertThat(registry.get("thingdb.listings.republished").functionCounter().count()).isZero();
    }
  }
}

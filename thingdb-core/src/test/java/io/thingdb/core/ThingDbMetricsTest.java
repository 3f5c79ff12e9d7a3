package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link ThingDbMetrics}: the meters follow the live counters of one ThingDb. */
class ThingDbMetricsTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
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
  void statementsReadsCircuitsOutboxAndTheCacheAreMetered() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (InProcessCache cache = InProcessCache.create();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(pg.createDatabase("metrics")))
                .type(LINK, "main")
                .cache(cache)
                .build()) {
      ThingDbMetrics.of(db, Tags.of("app", "test")).bindTo(registry);
      double before = registry.get("thingdb.core.statements").functionCounter().count();
      Thing link = db.create(db.newThing(LINK).set(TITLE, "t"));
      db.query(ThingQuery.of(LINK).limit(10));
      assertThat(registry.get("thingdb.core.statements").functionCounter().count())
          .isGreaterThan(before);
      assertThat(
              registry
                  .get("thingdb.core.reads")
                  .tags("served_by", "primary")
                  .functionCounter()
                  .count())
          .isPositive();
      assertThat(
              registry
                  .get("thingdb.core.reads")
                  .tags("served_by", "replica")
                  .functionCounter()
                  .count())
          .isZero();
      assertThat(registry.get("thingdb.core.circuit.open").tags("database", "main").gauge().value())
          .isZero();
      assertThat(
              registry
                  .get("thingdb.core.circuit.opened")
                  .tags("database", "main")
                  .functionCounter()
                  .count())
          .isZero();
      assertThat(registry.get("thingdb.core.outbox.depth").tags("database", "main").gauge().value())
          .isBetween(0.0, 1.0);
      assertThat(registry.get("thingdb.core.outbox.replayed").functionCounter().count()).isZero();
      db.get(LINK, link.id());
      assertThat(
              registry
                  .get("thingdb.cache.hits")
                  .tags("server", "local", "app", "test")
                  .functionCounter()
                  .count())
          .isPositive();
    }
  }
}

package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ThingDbSmokeTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> COMMENTS = Prop.int64("num_comments", 0);
  static final ThingType LINK = ThingType.named("link").props(TITLE, COMMENTS).build();
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
  void createReadUpdateIncrement() {
    try (InProcessCache cache = InProcessCache.create();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(pg.dataSource()))
                .type(LINK, "main")
                .cache(cache)
                .build()) {
      Thing t =
          db.create(
              db.newThing(LINK)
                  .set(TITLE, "hello")
                  .date(Instant.parse("2026-01-01T00:00:00.123456789Z")));
      assertThat(t.get(TITLE)).isEqualTo("hello");
      assertThat(t.date()).isEqualTo(Instant.parse("2026-01-01T00:00:00.123456Z"));
      Thing read = db.get(LINK, t.id()).orElseThrow();
      assertThat(read).isEqualTo(t);
      Thing updated = db.update(read.edit().set(TITLE, "bye"));
      assertThat(updated.version()).isEqualTo(2);
      assertThat(db.get(LINK, t.id()).orElseThrow().get(TITLE)).isEqualTo("bye");
      Counts c = db.incr(LINK, t.id(), ThingDb.Counter.UPS, 1);
      assertThat(c.ups()).isEqualTo(1);
      assertThat(db.get(LINK, t.id()).orElseThrow().ups()).isEqualTo(1);
      Thing withComments = db.incr(LINK, t.id(), COMMENTS, 5L);
      assertThat(withComments.get(COMMENTS)).isEqualTo(5L);
      List<Thing> many =
          db.createAll(List.of(db.newThing(LINK).set(TITLE, "a"), db.newThing(LINK)));
      try (Scope scope = db.scope()) {
        assertThat(
                db.getByFullnames(
                    List.of(many.get(1).fullname(), t.fullname()), ThingDb.Missing.FAIL))
            .extracting(Thing::id)
            .containsExactly(many.get(1).id(), t.id());
        assertThat(scope.statements()).isZero();
      }
    }
  }
}

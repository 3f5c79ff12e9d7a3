package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.core.NewThing;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The writer's own listing pages show the writer's own writes before the queue has applied them
 * (issue 10, item 17): {@link Votes} remembers what a session wrote, and {@link
 * ListingReader#withSession} merges it. No processor runs between the write and the reads here.
 * Other readers see the writes once the queue has run.
 */
class ListingOwnWritesTest {
  static final AtomicInteger DATABASES = new AtomicInteger();
  static PostgresFixture pg;
  VoteWorld w;
  ListingReader reader;
  List<Thing> links;
  Thing voter;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    w = new VoteWorld(pg.createDatabase("own_" + DATABASES.incrementAndGet()), 1000);
    reader =
        ListingReader.create(
            w.db, w.store, w.routing, VoteWorld.LINK, VoteWorld.AUTHOR, Clock.systemUTC());
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<NewThing> news = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      news.add(link(1 + i % 2).date(now.minus(i + 1, ChronoUnit.HOURS)));
    }
    links = w.votes.submitAll(null, news);
    voter = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
    w.processors().build().drain();
  }

  @AfterEach
  void close() {
    w.close();
  }

  NewThing link(long sr) {
    return w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, sr).set(VoteWorld.AUTHOR, 1L);
  }

  /** Every item of {@code key} as {@code r} pages it with {@code limit}. */
  static List<Long> readAll(ListingReader r, String key, int limit) {
    List<Long> ids = new ArrayList<>();
    Listing.Cursor after = null;
    do {
      ListingReader.Page page = r.pageFor(1, key, after, limit, TimeWindow.ALL);
      page.items().forEach(t -> ids.add(t.id()));
      after = page.next();
    } while (after != null);
    return ids;
  }

  /** Every item of {@code key} as {@code r} pages it by fullname (a web API's after). */
  static List<Long> readAllByFullname(ListingReader r, String key, int limit) {
    List<Long> ids = new ArrayList<>();
    String after = null;
    do {
      ListingReader.Page page = r.pageForByFullname(1, key, after, limit, TimeWindow.ALL);
      page.items().forEach(t -> ids.add(t.id()));
      after = page.after();
    } while (after != null);
    return ids;
  }

  /** The key as a from-scratch recompute over the database rows orders it. */
  List<Long> recomputed(String key) throws Exception {
    Map<Long, VoteWorld.Row> rows = w.rows();
    return w.recompute(key, rows).stream().map(Listing.Entry::id).toList();
  }

  @Test
  void anAuthorsNewPostIsOnTheirOwnPagesBeforeTheQueueRuns() throws Exception {
    Session session = w.db.session();
    Thing post = w.votes.submit(session, link(1));

    // As the blog does: the session comes back from its token on the next request.
    ListingReader own = reader.withSession(w.db.session(session.token()));
    for (String key : List.of("user:1:submitted:new", "sr:1:new", "sr:1:hot")) {
      assertThat(own.pageFor(1, key, null, 25, TimeWindow.ALL).items().get(0).id())
          .as(key + " through the author's session, before any processor ran")
          .isEqualTo(post.id());
      assertThat(readAll(own, key, 2)).as(key + " paged by 2").isEqualTo(recomputed(key));
      assertThat(readAllByFullname(own, key, 1))
          .as(key + " by fullname")
          .isEqualTo(recomputed(key));
    }
    assertThat(reader.pageFor(1, "user:1:submitted:new", null, 25, TimeWindow.ALL).items())
        .as("another reader sees it once the queue has run")
        .extracting(Thing::id)
        .doesNotContain(post.id());
    assertThat(own.pageFor(1, "sr:2:new", null, 25, TimeWindow.ALL).items())
        .as("not merged into listings it does not belong to")
        .extracting(Thing::id)
        .doesNotContain(post.id());

    w.processors().build().drain();
    String key = "user:1:submitted:new";
    assertThat(readAll(reader, key, 5)).isEqualTo(recomputed(key)).contains(post.id());
    assertThat(readAll(own, key, 5)).as("no duplicate once applied").isEqualTo(recomputed(key));
  }

  @Test
  void aVoteMovesTheThingOnTheVotersPagesBeforeTheQueueRuns() throws Exception {
    Session session = w.db.session();
    Thing lowest = links.get(0); // sr 1, the lowest id there: last of sr:1:top (all scores 0)
    String key = "sr:1:top";
    assertThat(readAll(reader, key, 3)).isEqualTo(recomputed(key));
    w.votes.cast(session, voter.id(), lowest.id(), 1);

    ListingReader own = reader.withSession(session);
    assertThat(own.pageFor(1, key, null, 3, TimeWindow.ALL).items().get(0).id())
        .as("the voted thing leads " + key + " for its voter")
        .isEqualTo(lowest.id());
    for (String k : List.of(key, "sr:1:hot")) {
      assertThat(readAll(own, k, 3))
          .as(k + " through the voter's session")
          .isEqualTo(recomputed(k));
      for (int limit : List.of(1, 2)) {
        assertThat(readAllByFullname(own, k, limit))
            .as(k + " paged by fullname, " + limit + " a page")
            .isEqualTo(recomputed(k));
      }
    }
    // The voter also moved it in the cached listings: every reader sees the new order at once.
    for (String k : List.of(key, "sr:1:hot")) {
      assertThat(readAll(reader, k, 3)).as(k + " for other readers").isEqualTo(recomputed(k));
    }
  }

  @Test
  void aVoteWhoseMovesAreLostIsStillOnTheVotersPagesBeforeTheQueueRuns() throws Exception {
    Session session = w.db.session();
    Thing lowest = links.get(0);
    String key = "sr:1:top";
    assertThat(readAll(reader, key, 3)).isEqualTo(recomputed(key));
    w.votes.cast(session, voter.id(), lowest.id(), 1);
    // As if the moves never reached the cache (a node restarted): readers load the stored copy,
    // which the queue has not updated yet.
    for (String k : List.of(key, "sr:1:hot")) {
      w.cache.delete(ListingStore.CACHE_PREFIX + k);
    }

    ListingReader own = reader.withSession(session);
    for (String k : List.of(key, "sr:1:hot")) {
      assertThat(readAll(own, k, 3))
          .as(k + " through the voter's session")
          .isEqualTo(recomputed(k));
    }
    assertThat(reader.pageFor(1, key, null, 3, TimeWindow.ALL).items().get(0).id())
        .as("other readers see the old order until the queue runs")
        .isNotEqualTo(lowest.id());
    w.processors().build().drain();
    assertThat(readAll(reader, key, 3))
        .as("and the new one once it ran")
        .isEqualTo(recomputed(key));
  }

  @Test
  void aDeletedOrMovedThingLeavesTheWritersPagesAtOnce() throws Exception {
    Session session = w.db.session();
    Thing gone = links.get(0);
    Thing moved = links.get(2);
    w.votes.setDeleted(session, gone, true);
    w.votes.update(session, moved.edit().set(VoteWorld.SR, 2L));

    ListingReader own = reader.withSession(session);
    for (String key : List.of("sr:1:new", "sr:2:new", "user:1:submitted:new")) {
      assertThat(readAll(own, key, 4)).as(key).isEqualTo(recomputed(key));
    }
  }

  @Test
  void aSessionWithoutWritesReadsWhatEveryoneReads() {
    ListingReader own = reader.withSession(w.db.session());
    assertThat(readAll(own, "sr:1:hot", 4)).isEqualTo(readAll(reader, "sr:1:hot", 4));
  }
}

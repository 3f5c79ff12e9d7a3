package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.core.Database;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.testing.ReplicatedPostgres;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Listing writes are read-your-writes through a lagging streaming replica (issue 10, item 16): each
 * takes the caller's session, which records the commit's WAL position, so the caller's next reads
 * through the same session skip a replica that has not replayed it. Replay is paused while the
 * writes are made, so "the replica has not replayed this" holds for certain (no timing); a read
 * without the session is served by the replica and still sees the state before the write. No cache,
 * so every read goes to a database.
 */
class VotesReadYourWritesTest {
  static ReplicatedPostgres pg;
  static HikariDataSource primary;
  static HikariDataSource replica;
  ThingDb db;
  ListingStore store;
  Votes votes;
  Thing link;
  Thing voter;

  @BeforeAll
  static void startServers() {
    pg = ReplicatedPostgres.start(Duration.ofMillis(200));
    primary = pool("primary", pg.primaryUrl());
    replica = pool("replica", pg.standbyUrl());
  }

  @AfterAll
  static void stopServers() {
    replica.close();
    primary.close();
    pg.close();
  }

  static HikariDataSource pool(String name, String url) {
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName(name);
    cfg.setJdbcUrl(url);
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(4);
    cfg.setMinimumIdle(0);
    return new HikariDataSource(cfg);
  }

  @BeforeEach
  void open() {
    db =
        ThingDb.builder()
            .database("main", Database.of(primary).withReplicas(replica))
            .type(VoteWorld.ACCOUNT, "main")
            .type(VoteWorld.LINK, "main")
            .relation(VoteWorld.VOTE, "main")
            .noCache()
            .build();
    store = ListingStore.builder(primary).build();
    votes = Votes.builder(db, primary, VoteWorld.VOTE, new VoteWorld.Routing(100), store).build();
    link =
        votes.submit(db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 1L).set(VoteWorld.AUTHOR, 1L));
    voter = db.create(db.newThing(VoteWorld.ACCOUNT));
    pg.awaitCaughtUp(Duration.ofSeconds(30));
  }

  @AfterEach
  void close() {
    votes.close();
    store.close();
    db.close();
  }

  @Test
  void aVoteCastThroughASessionIsReadBackThroughItWhileTheReplicaLags() {
    Session session = db.session();
    pg.pauseReplay();
    try {
      Votes.Vote v = votes.cast(session, voter.id(), link.id(), 1);
      assertThat(v.ups()).isEqualTo(1);

      Thing seen = db.withSession(session).get(VoteWorld.LINK, link.id()).orElseThrow();
      assertThat(seen.ups()).as("the voter's read through the session").isEqualTo(1);
      assertThat(votes.direction(session, voter.id(), link.id())).isEqualTo(1);
      // The same session restored from its token (a cookie), as a web app does per request.
      assertThat(
              db.withSession(db.session(session.token()))
                  .get(VoteWorld.LINK, link.id())
                  .orElseThrow()
                  .ups())
          .isEqualTo(1);

      assertThat(db.get(VoteWorld.LINK, link.id()).orElseThrow().ups())
          .as("a read without the session, served by the paused replica")
          .isZero();
      assertThat(votes.direction(voter.id(), link.id())).isZero();
    } finally {
      pg.resumeReplay();
    }
  }

  @Test
  void submitsAndEditsThroughASessionAreReadBackThroughItWhileTheReplicaLags() {
    Session session = db.session();
    pg.pauseReplay();
    try {
      Thing post =
          votes.submit(
              session, db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 2L).set(VoteWorld.AUTHOR, 1L));
      Thing edited = votes.update(session, link.edit().set(VoteWorld.SR, 3L));
      Thing spam = votes.markSpam(session, edited, true);
      ThingDb own = db.withSession(session);
      assertThat(own.get(VoteWorld.LINK, post.id())).contains(post);
      assertThat(own.get(VoteWorld.LINK, link.id())).contains(spam);
      assertThat(db.get(VoteWorld.LINK, post.id())).as("not replayed yet").isEmpty();
      assertThat(db.get(VoteWorld.LINK, link.id()).orElseThrow().version())
          .isEqualTo(link.version());
    } finally {
      pg.resumeReplay();
    }
  }
}

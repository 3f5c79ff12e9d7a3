package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.core.OutOfRangeException;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * P6 for the listings' writes: a vote whose counts would leave their range, and a submit or vote
 * with bad input, each get a clear error naming the input, and write nothing: no relation, no
 * count, no pair version, no outbox row, no listing job, no dirty listing.
 */
class VotesBadInputTest {
  static PostgresFixture pg;
  static DataSource ds;
  VoteWorld w;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("votes_bad_input");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    w = new VoteWorld(ds, 20);
  }

  @AfterEach
  void close() {
    w.close();
  }

  /** Row counts of every table a vote or submit writes, and the links' counts and versions. */
  Map<String, String> state() throws SQLException {
    Map<String, String> s = new LinkedHashMap<>();
    for (String table :
        new String[] {
          "thing_link", "data_link", "rel_vote", "relpair_vote", "thingdb_listing_job"
        }) {
      s.put(table, Long.toString(w.count("select count(*) from " + table)));
    }
    s.put(
        "counts",
        Long.toString(
            w.count(
                "select coalesce(sum(ups::bigint * 31 + downs * 7 + version), 0) from thing_link")));
    s.put(
        "relpair versions",
        Long.toString(w.count("select coalesce(sum(version), 0) from relpair_vote")));
    return s;
  }

  Thing link(int ups, int downs) {
    return w.db.create(
        w.db
            .newThing(VoteWorld.LINK)
            .set(VoteWorld.SR, 3L)
            .set(VoteWorld.AUTHOR, 1L)
            .votes(ups, downs));
  }

  Thing account() {
    return w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
  }

  /** Waits (deadline 10 s) until earlier writes' outbox rows are cleaned up in the background. */
  void settle() throws SQLException, InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (w.count("select count(*) from thingdb_outbox") > 0) {
      assertThat(System.nanoTime()).as("outbox not cleaned up within 10 s").isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  @Test
  void anUpVoteOnALinkAtTheLargestCountIsRefusedNamingTheLinkAndWritesNothing() throws Exception {
    Thing full = link(Integer.MAX_VALUE, 0);
    Thing a = account();
    settle();
    Map<String, String> before = state();
    assertThatThrownBy(() -> w.votes.cast(a.id(), full.id(), 1))
        .isInstanceOf(OutOfRangeException.class)
        .hasMessageContaining("link " + full.id())
        .hasMessageContaining("ups 2147483647 + 1 = 2147483648 is above 2147483647")
        .hasMessageContaining("nothing was written");
    assertThat(state()).isEqualTo(before);
    assertThat(w.count("select count(*) from thingdb_outbox")).isZero();
    assertThat(w.db.get(VoteWorld.LINK, full.id()).orElseThrow()).isEqualTo(full);
    assertThat(w.votes.direction(a.id(), full.id())).isZero();
  }

  @Test
  void changingADownVoteToAnUpVoteAtTheLargestCountIsRefusedAndKeepsTheDownVote() throws Exception {
    Thing link = link(Integer.MAX_VALUE, 0);
    Thing a = account();
    w.votes.cast(a.id(), link.id(), -1);
    Thing voted = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
    assertThat(voted.downs()).isEqualTo(1);
    settle();
    Map<String, String> before = state();
    assertThatThrownBy(() -> w.votes.cast(a.id(), link.id(), 1))
        .isInstanceOf(OutOfRangeException.class)
        .hasMessageContaining("link " + link.id())
        .hasMessageContaining("ups 2147483647 + 1");
    assertThat(state()).isEqualTo(before);
    assertThat(w.votes.direction(a.id(), link.id())).isEqualTo(-1);
    assertThat(w.db.get(VoteWorld.LINK, link.id()).orElseThrow()).isEqualTo(voted);
  }

  @Test
  void votesWithIdsOutOfRangeAreRejectedNamingThemAndWriteNothing() throws Exception {
    Thing link = link(0, 0);
    Thing a = account();
    settle();
    Map<String, String> before = state();
    for (long[] ids : new long[][] {{0, link.id()}, {a.id(), 0}, {-1, -1}, {Long.MIN_VALUE, 1}}) {
      assertThatThrownBy(() -> w.votes.cast(ids[0], ids[1], 1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("ids start at 1")
          .hasMessageContaining(Long.toString(ids[0]))
          .hasMessageContaining("nothing was written");
    }
    assertThat(state()).isEqualTo(before);
  }

  @Test
  void aSubmitWhoseRoutingMakesABadKeyIsRefusedNamingTheKeyAndWritesNothing() throws Exception {
    settle();
    Map<String, String> before = state();
    // A negative subreddit id routes to "sr:-5:hot", which the store's key pattern refuses.
    assertThatThrownBy(
            () ->
                w.votes.submit(
                    w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, -5L).set(VoteWorld.AUTHOR, 1L)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("sr:-5:")
        .hasMessageContaining("nothing was written");
    assertThat(state()).isEqualTo(before);
  }
}

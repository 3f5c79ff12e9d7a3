package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.core.NewThing;
import io.thingdb.core.NotFoundException;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Submits, deletes, spam marks and edits through {@link Votes} enqueue their listing jobs in the
 * write's own transaction: both commit or neither does, and after processing the listings show the
 * write.
 */
class ListingWritesTest {
  static final int CAPACITY = 5;
  static PostgresFixture pg;
  static DataSource ds;
  static long nextSr = 100;
  VoteWorld w;
  ListingProcessors p;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("writes");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    w = new VoteWorld(ds, CAPACITY);
    p = w.processors().build();
  }

  @AfterEach
  void close() {
    p.close();
    w.close();
  }

  /** A subreddit no other test uses, so listing assertions see only this test's things. */
  static synchronized long freshSr() {
    return nextSr++;
  }

  NewThing link(long sr, long author, int minutesAgo) {
    return w.db
        .newThing(VoteWorld.LINK)
        .set(VoteWorld.SR, sr)
        .set(VoteWorld.AUTHOR, author)
        .date(Instant.now().truncatedTo(ChronoUnit.MICROS).minus(minutesAgo, ChronoUnit.MINUTES));
  }

  long jobs(long thingId) throws Exception {
    return w.count("select count(*) from thingdb_listing_job where thing_id = " + thingId);
  }

  long links() throws Exception {
    return w.count("select count(*) from thing_link");
  }

  List<Long> ids(String key) {
    return w.store
        .get(key)
        .map(l -> l.visible().stream().map(Listing.Entry::id).toList())
        .orElse(List.of());
  }

  /** The stored listing of every key of {@code sr} and {@code author} equals a recompute. */
  void assertListingsEqualARecompute(long sr, long author) throws Exception {
    Map<Long, VoteWorld.Row> rows = w.rows();
    List<String> keys = new ArrayList<>();
    for (String sort : VoteWorld.SR_SORTS) {
      keys.add("sr:" + sr + ":" + sort);
    }
    keys.add("user:" + author + ":submitted:new");
    for (String key : keys) {
      assertThat(ids(key))
          .as(key)
          .isEqualTo(w.recompute(key, rows).stream().map(Listing.Entry::id).toList());
    }
  }

  /**
   * Votes over {@code w} with a routing that returns a key the store refuses while {@code broken}.
   */
  Votes votesWithRouting(AtomicBoolean broken) {
    ListingRouting routing =
        new ListingRouting() {
          @Override
          public Collection<String> listingsOf(Thing thing) {
            List<String> keys = new ArrayList<>(w.routing.listingsOf(thing));
            if (broken.get()) {
              keys.add("forum:" + thing.get(VoteWorld.SR) + ":hot");
            }
            return keys;
          }

          @Override
          public ListingDefinition definition(String key) {
            return w.routing.definition(key);
          }

          @Override
          public String toString() {
            return "breakable routing";
          }
        };
    return Votes.builder(w.db, ds, VoteWorld.VOTE, routing, w.store).build();
  }

  @Test
  void aSubmitCommitsTheThingWithItsJobsAndProcessingListsIt() throws Exception {
    long sr = freshSr();
    Thing t = w.votes.submit(link(sr, 501, 1));
    assertThat(w.db.get(VoteWorld.LINK, t.id())).isPresent();
    assertThat(jobs(t.id())).isEqualTo(5);
    assertThat(
            w.count(
                "select count(distinct listing_key) from thingdb_listing_job where listing_key like 'sr:"
                    + sr
                    + ":%'"))
        .isEqualTo(4);
    p.drain();
    assertThat(jobs(t.id())).isZero();
    for (String sort : VoteWorld.SR_SORTS) {
      assertThat(ids("sr:" + sr + ":" + sort)).as(sort).containsExactly(t.id());
    }
    assertThat(ids("user:501:submitted:new")).containsExactly(t.id());
  }

  @Test
  void aBatchSubmitEnqueuesEveryThingsJobsInOneTransaction() throws Exception {
    long sr = freshSr();
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      batch.add(link(sr, 502, i));
    }
    List<Thing> created = w.votes.submitAll(null, batch);
    for (Thing t : created) {
      assertThat(jobs(t.id())).isEqualTo(5);
    }
    p.drain();
    // Twelve things against a capacity of five: the listings truncate to the newest five.
    assertThat(ids("sr:" + sr + ":new"))
        .containsExactlyElementsOf(created.subList(0, CAPACITY).stream().map(Thing::id).toList());
    assertListingsEqualARecompute(sr, 502);
  }

  @Test
  void aSubmitWhoseRoutingFailsInTheTransactionWritesNeitherTheThingsNorAnyJob() throws Exception {
    AtomicBoolean broken = new AtomicBoolean(true);
    try (Votes bad = votesWithRouting(broken)) {
      long things = links();
      long allJobs = w.count("select count(*) from thingdb_listing_job");
      long sr = freshSr();
      assertThatThrownBy(() -> bad.submitAll(null, List.of(link(sr, 503, 1), link(sr, 503, 2))))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("listing routing breakable routing returned a bad key for t")
          .hasMessageEndingWith(
              ": listing key 'forum:"
                  + sr
                  + ":hot' does not match the configured listing"
                  + " key pattern (sr|user):\\d+:[a-z:]+; nothing was written");
      assertThat(links()).isEqualTo(things);
      assertThat(w.count("select count(*) from thingdb_listing_job")).isEqualTo(allJobs);
      assertThat(
              w.count(
                  "select count(distinct listing_key) from thingdb_listing_job where listing_key like 'sr:"
                      + sr
                      + ":%'"))
          .isZero();
    }
  }

  @Test
  void deleteAndSpamEnqueueInTheWriteTransactionAndProcessingDropsTheThings() throws Exception {
    long sr = freshSr();
    List<Thing> created =
        w.votes.submitAll(null, List.of(link(sr, 504, 1), link(sr, 504, 2), link(sr, 504, 3)));
    p.drain();
    assertThat(ids("sr:" + sr + ":new")).hasSize(3);
    Thing deleted = w.votes.setDeleted(null, created.get(0), true);
    Thing spam = w.votes.markSpam(null, created.get(1), true);
    assertThat(deleted.deleted()).isTrue();
    assertThat(spam.spam()).isTrue();
    // Committed with their jobs, before any processor ran.
    assertThat(jobs(deleted.id())).isEqualTo(5);
    assertThat(jobs(spam.id())).isEqualTo(5);
    p.drain();
    assertThat(ids("sr:" + sr + ":new")).containsExactly(created.get(2).id());
    assertThat(ids("user:504:submitted:new")).containsExactly(created.get(2).id());
    assertListingsEqualARecompute(sr, 504);

    w.votes.markSpam(null, spam, false);
    p.drain();
    assertThat(ids("sr:" + sr + ":new")).containsExactly(created.get(1).id(), created.get(2).id());
    assertListingsEqualARecompute(sr, 504);
  }

  @Test
  void aDeleteWhoseRoutingFailsInTheTransactionLeavesTheThingLiveAndEnqueuesNothing()
      throws Exception {
    AtomicBoolean broken = new AtomicBoolean(false);
    try (Votes breakable = votesWithRouting(broken)) {
      long sr = freshSr();
      Thing t = breakable.submit(link(sr, 505, 1));
      p.drain();
      broken.set(true);
      assertThatThrownBy(() -> breakable.setDeleted(null, t, true))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageEndingWith("; nothing was written");
      assertThatThrownBy(() -> breakable.markSpam(null, t, true))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageEndingWith("; nothing was written");
      VoteWorld.Row row = w.rows().get(t.id());
      assertThat(row.deleted()).isFalse();
      assertThat(row.spam()).isFalse();
      Thing read = w.db.get(VoteWorld.LINK, t.id()).orElseThrow();
      assertThat(read.deleted()).isFalse();
      assertThat(read.version()).isEqualTo(t.version());
      assertThat(jobs(t.id())).isZero();
      assertThat(ids("sr:" + sr + ":new")).containsExactly(t.id());
    }
  }

  @Test
  void anEditThatMovesAThingToAnotherGroupLeavesTheOldListingsAndJoinsTheNew() throws Exception {
    long from = freshSr();
    long to = freshSr();
    Thing t = w.votes.submit(link(from, 506, 1));
    Thing stays = w.votes.submit(link(from, 506, 2));
    p.drain();
    Thing moved = w.votes.update(null, t.edit().set(VoteWorld.SR, to));
    assertThat(moved.get(VoteWorld.SR)).isEqualTo(to);
    // Jobs for the four listings of each group and the author's one.
    assertThat(jobs(t.id())).isEqualTo(9);
    p.drain();
    for (String sort : VoteWorld.SR_SORTS) {
      assertThat(ids("sr:" + from + ":" + sort)).as(sort).containsExactly(stays.id());
      assertThat(ids("sr:" + to + ":" + sort)).as(sort).containsExactly(t.id());
    }
    assertListingsEqualARecompute(from, 506);
    assertListingsEqualARecompute(to, 506);
  }

  @Test
  void deletingAThingThatNoLongerExistsIsAClearErrorAndEnqueuesNothing() throws Exception {
    Thing t = w.votes.submit(link(freshSr(), 507, 1));
    p.drain();
    w.count(
        "with d as (delete from thing_link where thing_id = "
            + t.id()
            + " returning 1) select count(*) from d");
    long allJobs = w.count("select count(*) from thingdb_listing_job");
    assertThatThrownBy(() -> w.votes.setDeleted(null, t, true))
        .isInstanceOf(NotFoundException.class)
        .hasMessage("no link with id " + t.id());
    assertThat(w.count("select count(*) from thingdb_listing_job")).isEqualTo(allJobs);
  }

  @Test
  void aVoteOnAThingDeletedThroughVotesIsRejectedAndChangesNothing() throws Exception {
    Thing t = w.votes.submit(link(freshSr(), 508, 1));
    Thing account = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
    w.votes.setDeleted(null, t, true);
    p.drain();
    long allJobs = w.count("select count(*) from thingdb_listing_job");
    assertThatThrownBy(() -> w.votes.cast(account.id(), t.id(), 1))
        .isInstanceOf(VoteRejectedException.class)
        .hasMessage(
            "cannot vote on deleted link "
                + t.id()
                + " (vote: account "
                + account.id()
                + " -> link "
                + t.id()
                + "); nothing was written");
    assertThat(w.count("select count(*) from rel_vote where thing2_id = " + t.id())).isZero();
    assertThat(w.rows().get(t.id()).ups()).isZero();
    assertThat(w.count("select count(*) from thingdb_listing_job")).isEqualTo(allJobs);
  }

  @Test
  void deletingAnAlreadyDeletedThingWritesNothing() throws Exception {
    Thing t = w.votes.submit(link(freshSr(), 509, 1));
    Thing deleted = w.votes.setDeleted(null, t, true);
    p.drain();
    Thing again = w.votes.setDeleted(null, deleted, true);
    assertThat(again.version()).isEqualTo(deleted.version());
    assertThat(jobs(t.id())).isZero();
  }
}

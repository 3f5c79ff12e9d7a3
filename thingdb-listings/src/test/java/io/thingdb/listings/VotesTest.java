package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.VersionedCache;
import io.thingdb.core.NotFoundException;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class VotesTest {
  static PostgresFixture pg;
  static DataSource ds;
  VoteWorld w;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("votes");
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

  Thing link(long sr) {
    return w.db.create(
        w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, sr).set(VoteWorld.AUTHOR, 1L));
  }

  Thing account() {
    return w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
  }

  @Test
  void directionChangesApplyTheDifferenceOnceAndRepeatsChangeNothing() {
    Thing link = link(1);
    Thing a = account();
    assertThat(w.votes.cast(a.id(), link.id(), 1))
        .extracting(Votes.Vote::ups, Votes.Vote::downs, Votes.Vote::changed)
        .containsExactly(1, 0, true);
    assertThat(w.votes.cast(a.id(), link.id(), 1))
        .extracting(Votes.Vote::ups, Votes.Vote::downs, Votes.Vote::changed)
        .containsExactly(1, 0, false);
    assertThat(w.votes.cast(a.id(), link.id(), -1))
        .extracting(Votes.Vote::ups, Votes.Vote::downs, Votes.Vote::previous)
        .containsExactly(0, 1, 1);
    assertThat(w.votes.cast(a.id(), link.id(), 0))
        .extracting(Votes.Vote::ups, Votes.Vote::downs, Votes.Vote::previous)
        .containsExactly(0, 0, -1);
    assertThat(w.votes.cast(a.id(), link.id(), 0).changed()).isFalse();
    assertThat(w.votes.direction(a.id(), link.id())).isZero();
    Thing read = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
    assertThat(read.ups()).isZero();
    assertThat(read.downs()).isZero();
  }

  @Test
  void aVoteIsVisibleThroughTheCachedThingAndTheCachedRelationList() {
    Thing link = link(1);
    Thing a = account();
    // Warm both cache keys first, so a missed invalidation would show as a stale read.
    assertThat(w.db.get(VoteWorld.LINK, link.id()).orElseThrow().ups()).isZero();
    assertThat(w.db.relationsByThing1(VoteWorld.VOTE, a.id())).isEmpty();
    w.db.lookup(VoteWorld.VOTE, List.of(new io.thingdb.core.Relation.Pair(a.id(), link.id())));
    w.votes.cast(a.id(), link.id(), 1);
    assertThat(w.db.get(VoteWorld.LINK, link.id()).orElseThrow().ups()).isEqualTo(1);
    assertThat(
            w.db
                .lookup(
                    VoteWorld.VOTE, List.of(new io.thingdb.core.Relation.Pair(a.id(), link.id())))
                .get(new io.thingdb.core.Relation.Pair(a.id(), link.id())))
        .extracting(io.thingdb.core.Relation::name)
        .containsExactly("1");
    w.votes.cast(a.id(), link.id(), -1);
    Thing after = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
    assertThat(after.ups()).isZero();
    assertThat(after.downs()).isEqualTo(1);
    assertThat(
            w.db
                .lookup(
                    VoteWorld.VOTE, List.of(new io.thingdb.core.Relation.Pair(a.id(), link.id())))
                .get(new io.thingdb.core.Relation.Pair(a.id(), link.id())))
        .extracting(io.thingdb.core.Relation::name)
        .containsExactly("-1");
  }

  @Test
  void aVotePatchesTheCachedThingToItsNewCountsAndItsOutboxRowsAreCleanedUp() throws Exception {
    Thing link = link(1);
    Thing a = account();
    String key = w.db.cacheKeyOf(VoteWorld.LINK, link.id());
    assertThat(w.db.get(VoteWorld.LINK, link.id()).orElseThrow().version())
        .isEqualTo(link.version()); // cached
    Votes.Vote v = w.votes.cast(a.id(), link.id(), -1);
    try (VersionedCache view = VersionedCache.builder(w.cache).build()) {
      // Written through, not invalidated: the cache holds the vote's version as a value.
      VersionedCache.Versioned cached = view.get(key);
      assertThat(cached).isNotNull();
      assertThat(cached.version()).isEqualTo(v.version()).isEqualTo(link.version() + 1);
    }
    Thing read = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
    assertThat(read.downs()).isEqualTo(1);
    assertThat(read.ups()).isZero();
    assertThat(read.get(VoteWorld.SR)).isEqualTo(1L); // the props survive the patch
    // Both outbox rows (thing and pair) go once the cache and the background query-cache bump
    // confirmed them: none is left for the replayer.
    String pairPattern = "rel:%:" + a.id() + ":" + link.id();
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
    long left;
    do {
      Thread.sleep(20);
      left =
          w.count(
              "select count(*) from thingdb_outbox where cache_key = '"
                  + key
                  + "' or cache_key like '"
                  + pairPattern
                  + "'");
    } while (left > 0 && System.nanoTime() < deadline);
    assertThat(left).isZero();
  }

  @Test
  void aVoteEnqueuesOneJobPerListingItCanChangeAndNoneForTheNewListings() throws Exception {
    long sr = 1000 + new Random().nextInt(1_000_000);
    Thing link = link(sr);
    Thing a = account();
    long before = w.count("select count(*) from thingdb_listing_job where thing_id = " + link.id());
    w.votes.cast(a.id(), link.id(), 1);
    // hot, top and controversial of the subreddit; not sr:N:new nor the author's
    // user:N:submitted:new, whose sort values a vote does not change.
    assertThat(
            w.count(
                "select count(*) from thingdb_listing_job where thing_id = "
                    + link.id()
                    + " and listing_key like 'sr:"
                    + sr
                    + ":%'"))
        .isEqualTo(3);
    assertThat(
            w.count(
                "select count(*) from thingdb_listing_job where thing_id = "
                    + link.id()
                    + " and listing_key like '%:new'"))
        .isEqualTo(before);
    assertThat(
            w.count("select count(*) from thingdb_listing_job where thing_id = " + link.id())
                - before)
        .isEqualTo(3);
    w.votes.cast(a.id(), link.id(), 1); // a repeat writes nothing
    assertThat(
            w.count("select count(*) from thingdb_listing_job where thing_id = " + link.id())
                - before)
        .isEqualTo(3);
  }

  @Test
  void aVoteKilledAtCommitIsOutcomeUnknownAndHereLeftNoJobNoRelationAndNoCount() throws Exception {
    AtomicBoolean failCommit = new AtomicBoolean(false);
    DataSource killing =
        (DataSource)
            Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {DataSource.class},
                (proxy, m, args) -> {
                  Object r = invoke(m, ds, args);
                  if (!m.getName().equals("getConnection")) {
                    return r;
                  }
                  Connection real = (Connection) r;
                  return Proxy.newProxyInstance(
                      getClass().getClassLoader(),
                      new Class<?>[] {Connection.class},
                      (p2, m2, a2) -> {
                        if (m2.getName().equals("commit") && failCommit.get()) {
                          real.close(); // the process died: the server aborts the transaction
                          throw new SQLException("killed before commit", "08006");
                        }
                        return invoke(m2, real, a2);
                      });
                });
    // The vote commits through core's write transaction, on the ThingDb's DataSource: kill that
    // one.
    try (VoteWorld k = new VoteWorld(killing, 20, killing)) {
      Thing link =
          k.db.create(
              k.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 77L).set(VoteWorld.AUTHOR, 1L));
      Thing a = k.db.create(k.db.newThing(VoteWorld.ACCOUNT));
      failCommit.set(true);
      // The connection died at COMMIT: whether the vote committed is unknown, and the caller is
      // told so (and that a retry is safe), not that nothing was written.
      assertThatThrownBy(() -> k.votes.cast(a.id(), link.id(), 1))
          .isInstanceOf(io.thingdb.core.OutcomeUnknownException.class)
          .hasMessageContaining("the vote may or may not be recorded")
          .hasMessageContaining("casting it again is safe")
          .hasMessageContaining("killed before commit");
      assertThat(k.count("select count(*) from thingdb_listing_job where thing_id = " + link.id()))
          .isZero();
      assertThat(k.count("select count(*) from rel_vote where thing2_id = " + link.id())).isZero();
      assertThat(k.db.get(VoteWorld.LINK, link.id()).orElseThrow().ups()).isZero();
      failCommit.set(false);
      assertThat(k.votes.cast(a.id(), link.id(), 1).ups()).isEqualTo(1);
      // One job per listing a vote can change: the subreddit's hot, top and controversial.
      assertThat(k.count("select count(*) from thingdb_listing_job where thing_id = " + link.id()))
          .isEqualTo(3);
    }
  }

  static Object invoke(java.lang.reflect.Method m, Object target, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  @Test
  void concurrentVotesOnOneThingLeaveCountsEqualToTheRelationRows() throws Exception {
    Thing link = link(2);
    List<Thing> accounts = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      accounts.add(account());
    }
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      long seed = 42 + t;
      Thread th =
          new Thread(
              () -> {
                Random r = new Random(seed);
                try {
                  for (int i = 0; i < 100; i++) {
                    Thing a = accounts.get(r.nextInt(accounts.size()));
                    w.votes.cast(a.id(), link.id(), r.nextInt(3) - 1);
                  }
                } catch (Throwable e) {
                  failures.add(e);
                }
              });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join();
    }
    assertThat(failures).isEmpty();
    long ups =
        w.count("select count(*) from rel_vote where thing2_id = " + link.id() + " and name = '1'");
    long downs =
        w.count(
            "select count(*) from rel_vote where thing2_id = " + link.id() + " and name = '-1'");
    VoteWorld.Row row = w.rows().get(link.id());
    assertThat(row.ups()).isEqualTo(ups);
    assertThat(row.downs()).isEqualTo(downs);
    Thing cached = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
    assertThat(cached.ups()).isEqualTo(ups);
    assertThat(cached.downs()).isEqualTo(downs);
    assertThat(w.count("select count(*) from rel_vote where thing2_id = " + link.id()))
        .isEqualTo(
            w.count(
                "select count(distinct thing1_id) from rel_vote where thing2_id = " + link.id()));
  }

  @Test
  void aDirectionOtherThanMinusOneZeroOrOneIsRejectedAndChangesNothing() throws Exception {
    Thing link = link(3);
    Thing a = account();
    long jobs = w.count("select count(*) from thingdb_listing_job");
    assertThatThrownBy(() -> w.votes.cast(a.id(), link.id(), 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "vote direction must be -1, 0 or +1 (direction=2, vote: account "
                + a.id()
                + " -> link "
                + link.id()
                + "); nothing was written");
    assertThat(w.count("select count(*) from thingdb_listing_job")).isEqualTo(jobs);
    assertThat(w.db.get(VoteWorld.LINK, link.id()).orElseThrow().ups()).isZero();
  }

  @Test
  void aVoteOnADeletedThingIsRejectedAndChangesNothing() throws Exception {
    Thing link = w.db.setDeleted(link(3), true);
    Thing a = account();
    assertThatThrownBy(() -> w.votes.cast(a.id(), link.id(), 1))
        .isInstanceOf(VoteRejectedException.class)
        .hasMessage(
            "cannot vote on deleted link "
                + link.id()
                + " (vote: account "
                + a.id()
                + " -> link "
                + link.id()
                + "); nothing was written");
    assertThat(w.count("select count(*) from rel_vote where thing2_id = " + link.id())).isZero();
    assertThat(w.count("select count(*) from thingdb_listing_job where thing_id = " + link.id()))
        .isZero();
  }

  @Test
  void aVoteDatabaseThatDoesNotHoldTheVotedTablesIsRefused() {
    DataSource other = pg.createDatabase("votes_elsewhere");
    try (ListingStore store = ListingStore.builder(other).build()) {
      assertThatThrownBy(() -> Votes.builder(w.db, other, VoteWorld.VOTE, w.routing, store).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith(
              "the vote database does not hold [thing_link, rel_vote, relpair_vote, thingdb_outbox]:");
    }
  }

  @Test
  void aVoteOnAMissingThingIsRejected() {
    Thing a = account();
    assertThatThrownBy(() -> w.votes.cast(a.id(), 999_999_999L, 1))
        .isInstanceOf(NotFoundException.class)
        .hasMessage(
            "no link with id 999999999 to vote on (vote: account "
                + a.id()
                + " -> link 999999999); nothing was written");
  }
}

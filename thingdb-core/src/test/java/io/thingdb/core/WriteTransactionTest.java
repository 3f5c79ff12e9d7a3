package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The typed write transaction: what commits together, what a failure leaves, and the reads beside
 * it.
 */
class WriteTransactionTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> GROUP = Prop.int64("grp", 0);
  static final ThingType LINK = ThingType.named("link").props(TITLE, GROUP).build();
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final RelationType VOTE = RelationType.named("vote").between(ACCOUNT, LINK).build();
  private static final AtomicInteger DATABASES = new AtomicInteger();
  static PostgresFixture pg;

  DataSource ds;
  InProcessCache cache;
  ThingDb db;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stop() {
    pg.close();
  }

  @BeforeEach
  void open() {
    ds = pg.createDatabase("wt_" + DATABASES.incrementAndGet());
    cache = InProcessCache.create();
    db =
        ThingDb.builder()
            .database("main", Database.of(ds))
            .type(LINK, "main")
            .type(ACCOUNT, "main")
            .relation(VOTE, "main")
            .cache(cache)
            .build();
    ThingStoreSupport.execute(ds, "create table own_log (thing_id bigint not null, note text)");
  }

  @AfterEach
  void close() {
    db.close();
    cache.close();
  }

  @Test
  void thingsCountsARelationAndTheCallersRowsCommitTogether() {
    Thing link = db.create(db.newThing(LINK).set(TITLE, "t"));
    Thing account = db.create(db.newThing(ACCOUNT));
    Relation.Pair pair = new Relation.Pair(account.id(), link.id());
    assertThat(db.lookup(VOTE, List.of(pair)).get(pair)).isEmpty(); // cached: empty
    Counts counts =
        db.write(
            tx -> {
              WriteTransaction.RelationPair p = tx.lockPair(VOTE, account.id(), link.id());
              assertThat(p.relations()).isEmpty();
              p.add("1", null);
              WriteTransaction.Deferred<Optional<Counts>> c = tx.addCounts(LINK, link.id(), 1, 0);
              tx.execute("insert into own_log (thing_id, note) values (?, ?)", link.id(), "voted");
              return c.get().orElseThrow();
            });
    assertThat(counts.ups()).isEqualTo(1);
    assertThat(counts.version()).isEqualTo(link.version() + 1);
    assertThat(ThingStoreSupport.count(ds, "select count(*) from own_log where note = 'voted'"))
        .isEqualTo(1);
    // The cache got the new versions after COMMIT: the thing patched, the pair list published.
    assertThat(db.get(LINK, link.id()).orElseThrow().ups()).isEqualTo(1);
    assertThat(db.lookup(VOTE, List.of(pair)).get(pair))
        .extracting(Relation::name)
        .containsExactly("1");
    // Both outbox rows are confirmed and cleaned up.
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (ThingStoreSupport.count(ds, "select count(*) from thingdb_outbox") > 0
        && System.nanoTime() < deadline) {
      ThingStoreSupport.sleep(20);
    }
    assertThat(ThingStoreSupport.count(ds, "select count(*) from thingdb_outbox")).isZero();
  }

  @Test
  void aQueuedReadIsAnsweredWithTheNextRoundTripFromTheDatabaseWithItsProps() {
    Thing link = db.create(db.newThing(LINK).set(TITLE, "first"));
    Thing account = db.create(db.newThing(ACCOUNT));
    db.get(LINK, link.id()); // cached at its version
    // Another writer changes the row behind the cache's back (as a concurrent writer would
    // between a cache read and this transaction): the transaction's read sees the database.
    ThingStoreSupport.execute(ds, "update thing_link set ups = 7 where thing_id = " + link.id());
    Thing[] seen = new Thing[3];
    db.write(
        tx -> {
          WriteTransaction.Deferred<Optional<Thing>> read = tx.read(LINK, link.id());
          WriteTransaction.Deferred<Optional<Thing>> missing = tx.read(LINK, 999_999L);
          tx.lockPair(VOTE, account.id(), link.id()); // sends both reads with the pair lock
          seen[0] = read.get().orElseThrow();
          assertThat(missing.get()).isEmpty();
          tx.addCounts(LINK, link.id(), 1, 0).get();
          seen[1] = tx.read(LINK, link.id()).get().orElseThrow();
          tx.rollbackOnly();
          return null;
        });
    assertThat(seen[0].ups()).isEqualTo(7);
    assertThat(seen[0].get(TITLE)).isEqualTo("first");
    assertThat(seen[1].ups()).as("its own write").isEqualTo(8);
    assertThat(seen[1].version()).isEqualTo(seen[0].version() + 1);
  }

  @Test
  void aRenameAndARemovalArePublishedAsThePairsNewList() {
    Thing link = db.create(db.newThing(LINK));
    Thing account = db.create(db.newThing(ACCOUNT));
    Relation.Pair pair = new Relation.Pair(account.id(), link.id());
    db.write(
        tx -> {
          WriteTransaction.RelationPair p = tx.lockPair(VOTE, account.id(), link.id());
          p.add("1", null);
          p.add("saved", null);
          return null;
        });
    assertThat(db.lookup(VOTE, List.of(pair)).get(pair))
        .extracting(Relation::name)
        .containsExactly("1", "saved");
    db.write(
        tx -> {
          WriteTransaction.RelationPair p = tx.lockPair(VOTE, account.id(), link.id());
          p.rename(p.named(List.of("1")).orElseThrow(), "-1");
          p.remove(p.named(List.of("saved")).orElseThrow());
          return null;
        });
    List<Relation> cached = db.lookup(VOTE, List.of(pair)).get(pair);
    assertThat(cached).extracting(Relation::name).containsExactly("-1");
    assertThat(cached.get(0).version()).isEqualTo(2);
    assertThat(ThingStoreSupport.column(ds, "select name from rel_vote")).containsExactly("-1");
  }

  @Test
  void aTakenNameIsADuplicateRelationAndNothingIsWritten() {
    Thing link = db.create(db.newThing(LINK));
    Thing account = db.create(db.newThing(ACCOUNT));
    db.write(
        tx -> {
          tx.lockPair(VOTE, account.id(), link.id()).add("1", null);
          return null;
        });
    assertThatThrownBy(
            () ->
                db.write(
                    tx -> {
                      tx.lockPair(VOTE, account.id(), link.id()).add("1", null);
                      tx.addCounts(LINK, link.id(), 1, 0);
                      return null;
                    }))
        .isInstanceOf(DuplicateRelationException.class)
        .hasMessageStartingWith(
            "relation vote (account "
                + account.id()
                + " -> link "
                + link.id()
                + "): the new name is taken in this pair");
    assertThat(db.get(LINK, link.id()).orElseThrow().ups()).isZero();
    assertThat(ThingStoreSupport.count(ds, "select count(*) from rel_vote")).isEqualTo(1);
  }

  @Test
  void aWorkThatThrowsWritesNothingAndRunsNoHook() {
    Thing link = db.create(db.newThing(LINK).set(TITLE, "before"));
    AtomicInteger hooks = new AtomicInteger();
    assertThatThrownBy(
            () ->
                db.write(
                    tx -> {
                      tx.create(db.newThing(LINK).set(TITLE, "new"));
                      tx.update(link.edit().set(TITLE, "after"));
                      tx.addCounts(LINK, link.id(), 1, 0).get();
                      tx.execute("insert into own_log (thing_id) values (?)", link.id());
                      tx.afterCommit(hooks::incrementAndGet);
                      throw new IllegalStateException("changed my mind");
                    }))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("changed my mind");
    assertThat(ThingStoreSupport.count(ds, "select count(*) from thing_link")).isEqualTo(1);
    assertThat(ThingStoreSupport.count(ds, "select count(*) from own_log")).isZero();
    assertThat(ThingStoreSupport.count(ds, "select count(*) from thingdb_outbox")).isZero();
    Thing read = db.get(LINK, link.id()).orElseThrow();
    assertThat(read.get(TITLE)).isEqualTo("before");
    assertThat(read.ups()).isZero();
    assertThat(hooks).hasValue(0);
  }

  @Test
  void aWorkThatCatchesAFailedStatementIsRolledBackAndToldSo() {
    Thing link = db.create(db.newThing(LINK));
    AtomicReference<RuntimeException> caught = new AtomicReference<>();
    assertThatThrownBy(
            () ->
                db.write(
                    tx -> {
                      tx.addCounts(LINK, link.id(), 1, 0).get();
                      try {
                        tx.query("select * from no_such_table", rs -> 1);
                      } catch (RuntimeException e) {
                        caught.set(e); // the work goes on as if nothing happened
                      }
                      return null;
                    }))
        .isInstanceOf(ThingDbException.class)
        .hasMessageContaining(
            "write on main: a statement of this transaction failed and the work went on")
        .hasMessageContaining("no_such_table");
    assertThat(caught.get()).isNotNull();
    assertThat(ThingStoreSupport.count(ds, "select ups from thing_link")).isZero();
    assertThat(db.get(LINK, link.id()).orElseThrow().ups()).isZero();
  }

  @Test
  void rollbackOnlyReturnsTheResultAndWritesNothing() {
    Thing link = db.create(db.newThing(LINK));
    Thing account = db.create(db.newThing(ACCOUNT));
    AtomicInteger hooks = new AtomicInteger();
    String result =
        db.write(
            tx -> {
              tx.lockPair(VOTE, account.id(), link.id()).add("1", null);
              tx.addCounts(LINK, link.id(), 1, 0);
              tx.afterCommit(hooks::incrementAndGet);
              tx.rollbackOnly();
              return "kept";
            });
    assertThat(result).isEqualTo("kept");
    assertThat(ThingStoreSupport.count(ds, "select count(*) from rel_vote")).isZero();
    assertThat(ThingStoreSupport.count(ds, "select count(*) from relpair_vote")).isZero();
    assertThat(ThingStoreSupport.count(ds, "select ups from thing_link")).isZero();
    assertThat(hooks).hasValue(0);
  }

  @Test
  void afterCommitHooksRunOnceAfterTheCacheWasUpdated() {
    Thing link = db.create(db.newThing(LINK));
    List<Integer> seen = new ArrayList<>();
    db.write(
        tx -> {
          tx.addCounts(LINK, link.id(), 3, 0);
          tx.afterCommit(() -> seen.add(db.get(LINK, link.id()).orElseThrow().ups()));
          return null;
        });
    assertThat(seen).containsExactly(3);
  }

  @Test
  void addCountsOfADeletedOrMissingThingIsEmptyAndChangesNothing() {
    Thing link = db.update(db.create(db.newThing(LINK)).edit().deleted(true));
    Optional<Counts> deleted = db.write(tx -> tx.addCounts(LINK, link.id(), 1, 0).get());
    Optional<Counts> missing = db.write(tx -> tx.addCounts(LINK, 999_999, 1, 0).get());
    assertThat(deleted).isEmpty();
    assertThat(missing).isEmpty();
    assertThat(ThingStoreSupport.count(ds, "select ups from thing_link")).isZero();
  }

  @Test
  void theTransactionReadsItsOwnWrites() {
    Thing link = db.create(db.newThing(LINK).set(TITLE, "a"));
    Thing read =
        db.write(
            tx -> {
              tx.update(link.edit().set(TITLE, "b"));
              tx.addCounts(LINK, link.id(), 2, 1);
              return tx.get(LINK, link.id()).orElseThrow();
            });
    assertThat(read.get(TITLE)).isEqualTo("b");
    assertThat(read.ups()).isEqualTo(2);
    assertThat(read.downs()).isEqualTo(1);
    assertThat(read.version()).isEqualTo(3);
  }

  @Test
  void aCallersQueryRunsInTheTransactionAfterWhatWasQueued() {
    Thing link = db.create(db.newThing(LINK));
    long rows =
        db.write(
            tx -> {
              tx.addCounts(LINK, link.id(), 1, 0);
              tx.execute("insert into own_log (thing_id, note) values (?, ?)", link.id(), "x");
              return tx.query(
                      "select count(*) from own_log where thing_id = ?",
                      rs -> rs.getLong(1),
                      link.id())
                  .get(0);
            });
    assertThat(rows).isEqualTo(1);
  }

  @Test
  void callerStatementsNeedTheTransactionsDatabaseFirst() {
    assertThatThrownBy(
            () ->
                db.write(
                    tx -> {
                      tx.execute("insert into own_log (thing_id) values (1)");
                      return null;
                    }))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "execute needs the transaction's database: write a thing or relation of it first (a transaction"
                + " runs on the database of the first type it touches)");
  }

  @Test
  void theTransactionIsUnusableAfterItsWork() {
    Thing link = db.create(db.newThing(LINK));
    AtomicReference<WriteTransaction> leaked = new AtomicReference<>();
    db.write(
        tx -> {
          leaked.set(tx);
          return tx.addCounts(LINK, link.id(), 1, 0).get();
        });
    assertThatThrownBy(() -> leaked.get().addCounts(LINK, link.id(), 1, 0))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "this WriteTransaction is finished: use it only inside the work of ThingDb.write");
    assertThat(db.get(LINK, link.id()).orElseThrow().ups()).isEqualTo(1);
  }

  @Test
  void aTypeOnAnotherDatabaseIsRefusedAndNothingIsWritten() {
    DataSource other = pg.createDatabase("wt_other_" + DATABASES.incrementAndGet());
    ThingType elsewhere = ThingType.named("elsewhere").build();
    try (ThingDb two =
        ThingDb.builder()
            .database("main", Database.of(ds))
            .database("other", Database.of(other))
            .type(LINK, "main")
            .type(elsewhere, "other")
            .cache(cache)
            .build()) {
      long before = ThingStoreSupport.count(ds, "select count(*) from thing_link");
      assertThatThrownBy(
              () ->
                  two.write(
                      tx -> {
                        tx.create(two.newThing(LINK));
                        return tx.create(two.newThing(elsewhere));
                      }))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "type elsewhere is placed on database other, but this transaction runs on database main (its"
                  + " first write); a transaction spans one database");
      assertThat(ThingStoreSupport.count(ds, "select count(*) from thing_link")).isEqualTo(before);
    }
  }

  @Test
  void getLatestReplacesACachedCopyOlderThanTheCommittedRow() {
    Thing link = db.create(db.newThing(LINK).set(TITLE, "a"));
    assertThat(db.get(LINK, link.id()).orElseThrow().version()).isEqualTo(1); // cached at 1
    // A commit whose cache update has not happened yet (the writer is between COMMIT and publish).
    ThingStoreSupport.execute(
        ds, "update thing_link set ups = 7, version = 2 where thing_id = ?", link.id());
    assertThat(db.get(LINK, link.id()).orElseThrow().version()).isEqualTo(1);
    List<Thing> latest = db.getLatest(LINK, List.of(link.id(), 999_999L, link.id()));
    assertThat(latest).hasSize(1);
    assertThat(latest.get(0).version()).isEqualTo(2);
    assertThat(latest.get(0).ups()).isEqualTo(7);
    assertThat(db.get(LINK, link.id()).orElseThrow().version()).isEqualTo(2);
  }

  @Test
  void scanVisitsTheLiveThingsOfTheChosenGroupsSinceTheCutoff() {
    Instant old = Instant.parse("2020-01-01T00:00:00Z");
    Instant recent = Instant.parse("2026-01-01T00:00:00Z");
    Thing a = db.create(db.newThing(LINK).set(GROUP, 1L).date(recent).votes(3, 1));
    db.create(db.newThing(LINK).set(GROUP, 1L).date(old));
    Thing c = db.create(db.newThing(LINK).date(recent)); // group 0: the default, stored as no row
    db.create(db.newThing(LINK).set(GROUP, 2L).date(recent));
    db.update(db.create(db.newThing(LINK).set(GROUP, 1L).date(recent)).edit().spam(true));
    List<String> seen = new ArrayList<>();
    long visited =
        db.scan(
            ThingScan.of(LINK)
                .where(GROUP, List.of(1L, 0L))
                .since(Instant.parse("2025-01-01T00:00:00Z"))
                .from(ds)
                .fetchSize(2),
            row ->
                seen.add(
                    row.id()
                        + ":"
                        + row.get(GROUP)
                        + ":"
                        + row.ups()
                        + ":"
                        + row.downs()
                        + ":"
                        + row.version()
                        + ":"
                        + row.date()));
    assertThat(visited).isEqualTo(2);
    assertThat(seen)
        .containsExactlyInAnyOrder(a.id() + ":1:3:1:1:" + recent, c.id() + ":0:0:0:1:" + recent);
    assertThatThrownBy(() -> ThingScan.of(LINK).where(GROUP, List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("scan of link: where(grp) needs at least one value");
    assertThatThrownBy(() -> db.scan(ThingScan.of(LINK), row -> row.get(TITLE)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("scan of link reads only its filter prop (none), not title");
  }

  @Test
  void tablesMissingFromNamesWhatAnotherDatabaseLacks() {
    DataSource empty = pg.createDatabase("wt_empty_" + DATABASES.incrementAndGet());
    assertThat(db.tablesMissingFrom(ds, List.of(LINK), List.of(VOTE))).isEmpty();
    assertThat(db.tablesMissingFrom(empty, List.of(LINK), List.of(VOTE)))
        .containsExactly("thing_link", "rel_vote", "relpair_vote", "thingdb_outbox");
  }
}

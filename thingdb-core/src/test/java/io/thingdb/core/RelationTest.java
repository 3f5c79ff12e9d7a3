package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.InProcessCache;
import io.thingdb.cache.VersionedCache.Versioned;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Relations: rows, data rows, the per-pair cached lookup and its write-through, bad input. */
class RelationTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final ThingType LINK = ThingType.named("link").prop(TITLE).build();
  static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
  static final Prop<String> NOTE = Prop.string("note", "");
  static final Prop<Instant> SEEN = Prop.instant("seen", Instant.EPOCH);
  static final RelationType VOTE =
      RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT, NOTE, SEEN).build();

  static PostgresFixture pg;

  /**
   * One database for the class; each test works on things of its own, so tests do not interfere.
   */
  static DataSource ds;

  InProcessCache cache;
  ThingDb db;
  Thing alice;
  Thing bob;
  Thing link1;
  Thing link2;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("relations");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    cache = InProcessCache.create();
    db = builder().cache(cache).build();
    alice = db.create(db.newThing(ACCOUNT));
    bob = db.create(db.newThing(ACCOUNT));
    link1 = db.create(db.newThing(LINK).set(TITLE, "one"));
    link2 = db.create(db.newThing(LINK).set(TITLE, "two"));
  }

  @AfterEach
  void close() {
    db.close();
    cache.close();
  }

  ThingDbBuilder builder() {
    return ThingDb.builder()
        .database("main", Database.of(ds))
        .type(ACCOUNT, "main")
        .type(LINK, "main")
        .relation(VOTE, "main");
  }

  // ------------------------------------------------------------------ create, get, list

  @Test
  void createWritesRelationRowAndDataRowsAndPublishesThePairList() {
    Instant date = Instant.parse("2026-03-01T10:00:00.123456789Z");
    Relation vote =
        db.create(
            db.newRelation(VOTE, alice, link1, "1").set(WEIGHT, 3L).set(NOTE, "x").date(date));

    assertThat(vote.id()).isPositive();
    assertThat(vote.fullname())
        .isEqualTo(Fullnames.relation(db.engine.relationHandle(VOTE).id, vote.id()))
        .startsWith("r");
    assertThat(vote.version()).isEqualTo(1);
    assertThat(vote.date()).isEqualTo(Instant.parse("2026-03-01T10:00:00.123456Z"));
    assertThat(vote.get(WEIGHT)).isEqualTo(3L);
    assertThat(vote.get(SEEN)).isEqualTo(Instant.EPOCH);
    assertThat(
            rows(
                "select thing1_id || ':' || thing2_id || ':' || name || ':' || version from rel_vote"
                    + ours()))
        .containsExactly(alice.id() + ":" + link1.id() + ":1:1");
    assertThat(
            rows(
                "select key || '=' || value from data_rel_vote where rel_id = "
                    + vote.id()
                    + " order by key"))
        .containsExactly("note=x", "weight=3");
    assertThat(cachedList(alice.id(), link1.id())).containsExactly(vote);
    assertThat(cachedVersion(alice.id(), link1.id()))
        .isEqualTo(pairVersion(alice.id(), link1.id()))
        .isPositive();
    assertThat(db.getRelation(VOTE, vote.id())).contains(vote);
  }

  @Test
  void getRelationOfUnknownIdIsEmpty() {
    assertThat(db.getRelation(VOTE, 12345)).isEmpty();
  }

  @Test
  void listsByThing1AndThing2OptionallyFilteredByName() {
    Relation a1 = db.create(db.newRelation(VOTE, alice, link1, "1"));
    Relation a2 = db.create(db.newRelation(VOTE, alice, link2, "-1"));
    Relation b1 = db.create(db.newRelation(VOTE, bob, link1, "-1"));
    Relation a1saved = db.create(db.newRelation(VOTE, alice, link1, "saved"));

    assertThat(db.relationsByThing1(VOTE, alice.id())).containsExactly(a1, a2, a1saved);
    assertThat(db.relationsByThing1(VOTE, alice.id(), "-1")).containsExactly(a2);
    assertThat(db.relationsByThing2(VOTE, link1.id())).containsExactly(a1, b1, a1saved);
    assertThat(db.relationsByThing2(VOTE, link1.id(), "-1")).containsExactly(b1);
    assertThat(db.relationsByThing2(VOTE, link2.id(), "0")).isEmpty();
  }

  @Test
  void relationPropsOfEveryKindRoundTripThroughDatabaseAndCache() {
    Prop<Double> score = Prop.float64("score", 0.0);
    Prop<Boolean> flag = Prop.bool("flag", false);
    Prop<byte[]> blob = Prop.bytes("blob", new byte[0]);
    RelationType saved =
        RelationType.named("saved").between(ACCOUNT, LINK).props(score, flag, blob, SEEN).build();
    db.close();
    db = builder().relation(saved, "main").cache(cache).build();
    Instant seen = Instant.parse("2026-01-02T03:04:05.678901Z");
    Relation r =
        db.create(
            db.newRelation(saved, alice.id(), link1.id(), "")
                .set(score, 2.5)
                .set(flag, true)
                .set(blob, new byte[] {1, 2, 3})
                .set(SEEN, seen));

    Relation fromDb = db.getRelation(saved, r.id()).orElseThrow();
    Relation fromCache = db.lookup(saved, List.of(r.pair())).get(r.pair()).get(0);
    for (Relation x : List.of(fromDb, fromCache)) {
      assertThat(x).isEqualTo(r);
      assertThat(x.get(score)).isEqualTo(2.5);
      assertThat(x.get(flag)).isTrue();
      assertThat(x.get(blob)).containsExactly(1, 2, 3);
      assertThat(x.get(SEEN)).isEqualTo(seen);
      assertThat(x.name()).isEmpty();
    }
    assertThat(rows("select count(*) from data_rel_saved where rel_id = " + r.id()))
        .containsExactly("4");
  }

  // ------------------------------------------------------------------ update, delete

  @Test
  void updateWritesOnlyChangedPropsBumpsVersionsAndPublishes() {
    Relation vote =
        db.create(db.newRelation(VOTE, alice, link1, "1").set(WEIGHT, 3L).set(NOTE, "x"));
    long pairBefore = pairVersion(alice.id(), link1.id());

    Relation after = db.update(vote.edit().set(WEIGHT, 1L).set(NOTE, "y").name("-1"));

    assertThat(after.version()).isEqualTo(2);
    assertThat(after.name()).isEqualTo("-1");
    assertThat(after.get(WEIGHT)).isEqualTo(1L);
    assertThat(after.get(NOTE)).isEqualTo("y");
    assertThat(
            rows(
                "select key || '=' || value from data_rel_vote where rel_id = "
                    + vote.id()
                    + " order by key"))
        .containsExactly("note=y");
    assertThat(rows("select name || ':' || version from rel_vote" + ours()))
        .containsExactly("-1:2");
    assertThat(pairVersion(alice.id(), link1.id())).isGreaterThan(pairBefore);
    assertThat(cachedList(alice.id(), link1.id())).containsExactly(after);
    assertThat(cachedVersion(alice.id(), link1.id()))
        .isEqualTo(pairVersion(alice.id(), link1.id()));
    assertThat(db.update(after.edit().set(NOTE, "y")))
        .isSameAs(after); // no change, nothing written
    assertThat(rows("select version from rel_vote" + ours())).containsExactly("2");
  }

  @Test
  void deleteRemovesRelationAndDataRowsAndPublishesTheRemainingList() {
    Relation up = db.create(db.newRelation(VOTE, alice, link1, "1").set(NOTE, "x"));
    Relation saved = db.create(db.newRelation(VOTE, alice, link1, "saved"));
    long pairBefore = pairVersion(alice.id(), link1.id());

    assertThat(db.delete(up)).isTrue();

    assertThat(rows("select rel_id from rel_vote" + ours()))
        .containsExactly(String.valueOf(saved.id()));
    assertThat(rows("select count(*) from data_rel_vote where rel_id = " + up.id()))
        .containsExactly("0");
    assertThat(pairVersion(alice.id(), link1.id())).isGreaterThan(pairBefore);
    assertThat(cachedList(alice.id(), link1.id())).containsExactly(saved);
    assertThat(db.getRelation(VOTE, up.id())).isEmpty();

    long pairAfter = pairVersion(alice.id(), link1.id());
    assertThat(db.delete(up)).isFalse(); // already gone: nothing written
    assertThat(pairVersion(alice.id(), link1.id())).isEqualTo(pairAfter);
    assertThat(outboxRowsAbove(alice.id(), link1.id(), pairAfter)).isZero();
  }

  @Test
  void updateOfDeletedRelationFailsAndWritesNothing() {
    Relation vote = db.create(db.newRelation(VOTE, alice, link1, "1"));
    db.delete(vote);
    long pair = pairVersion(alice.id(), link1.id());
    assertThatThrownBy(() -> db.update(vote.edit().set(NOTE, "late")))
        .isInstanceOf(NotFoundException.class)
        .hasMessage("no relation vote with id " + vote.id());
    assertThat(pairVersion(alice.id(), link1.id())).isEqualTo(pair);
    assertThat(rows("select count(*) from data_rel_vote where rel_id = " + vote.id()))
        .containsExactly("0");
  }

  // ------------------------------------------------------------------ uniqueness

  @Test
  void duplicateCreateIsRefusedWithAClearMessageAndWritesNothing() {
    Relation first = db.create(db.newRelation(VOTE, alice, link1, "1").set(NOTE, "first"));
    long pair = pairVersion(alice.id(), link1.id());
    Versioned cachedBefore = db.engine.cache.get(key(alice.id(), link1.id()));

    assertThatThrownBy(() -> db.create(db.newRelation(VOTE, alice, link1, "1").set(NOTE, "second")))
        .isInstanceOf(DuplicateRelationException.class)
        .hasMessage(
            "relation vote (account "
                + alice.id()
                + " -> link "
                + link1.id()
                + ") with name '1' already exists: (thing1, thing2, name) is unique; nothing was written")
        .hasRootCauseInstanceOf(SQLException.class);

    assertThat(rows("select rel_id from rel_vote" + ours()))
        .containsExactly(String.valueOf(first.id()));
    assertThat(
            rows(
                "select value from data_rel_vote where rel_id in (select rel_id from rel_vote"
                    + ours()
                    + ")"))
        .containsExactly("first");
    assertThat(pairVersion(alice.id(), link1.id())).isEqualTo(pair);
    assertThat(outboxRowsAbove(alice.id(), link1.id(), pair)).isZero();
    Versioned cachedAfter = db.engine.cache.get(key(alice.id(), link1.id()));
    assertThat(cachedAfter.version()).isEqualTo(cachedBefore.version());
    assertThat(cachedList(alice.id(), link1.id())).containsExactly(first);
  }

  @Test
  void renameToANameTakenInThePairIsRefusedAndWritesNothing() {
    db.create(db.newRelation(VOTE, alice, link1, "1"));
    Relation down = db.create(db.newRelation(VOTE, alice, link1, "-1"));
    assertThatThrownBy(() -> db.update(down.edit().name("1").set(NOTE, "n")))
        .isInstanceOf(DuplicateRelationException.class)
        .hasMessageContaining("with name '1' already exists");
    assertThat(rows("select name || ':' || version from rel_vote" + ours() + " order by rel_id"))
        .containsExactly("1:1", "-1:1");
    assertThat(rows("select count(*) from data_rel_vote where rel_id = " + down.id()))
        .containsExactly("0");
  }

  @Test
  void theSameNameMayBeCreatedAgainAfterDelete() {
    Relation first = db.create(db.newRelation(VOTE, alice, link1, "1"));
    db.delete(first);
    Relation again = db.create(db.newRelation(VOTE, alice, link1, "1"));
    assertThat(again.id()).isNotEqualTo(first.id());
    assertThat(db.lookup(VOTE, List.of(first.pair())).get(first.pair())).containsExactly(again);
  }

  // ------------------------------------------------------------------ the cached lookup

  @Test
  void lookupOfManyPairsRunsOneStatementAndAWarmLookupNone() {
    List<Thing> links = db.createAll(java.util.Collections.nCopies(50, db.newThing(LINK)));
    List<Relation.Pair> pairs = new ArrayList<>();
    List<Relation> created = new ArrayList<>();
    for (int i = 0; i < links.size(); i++) {
      pairs.add(new Relation.Pair(alice.id(), links.get(i).id()));
      pairs.add(new Relation.Pair(bob.id(), links.get(i).id()));
      if (i % 3 == 0) {
        created.add(db.create(db.newRelation(VOTE, alice, links.get(i), i % 2 == 0 ? "1" : "-1")));
      }
    }
    for (Relation.Pair p : pairs) {
      cache.delete(key(p.thing1Id(), p.thing2Id())); // a cold cache
    }

    Map<Relation.Pair, List<Relation>> cold;
    try (Scope scope = db.scope()) {
      cold = db.lookup(VOTE, pairs);
      assertThat(scope.statements()).isEqualTo(1);
    }
    assertThat(cold.keySet()).containsExactlyElementsOf(pairs);
    List<Relation> found = new ArrayList<>();
    cold.values().forEach(found::addAll);
    assertThat(found).containsExactlyInAnyOrderElementsOf(created);
    assertThat(cold.values().stream().filter(List::isEmpty).count())
        .isEqualTo(100 - created.size());

    try (Scope scope = db.scope()) {
      Map<Relation.Pair, List<Relation>> warm = db.lookup(VOTE, pairs);
      assertThat(scope.statements()).isZero();
      assertThat(scope.cacheHits()).isEqualTo(100);
      assertThat(warm).isEqualTo(cold);
    }
  }

  @Test
  void negativeAnswersAreCached() {
    Relation.Pair none = new Relation.Pair(bob.id(), link2.id());
    assertThat(db.lookup(VOTE, List.of(none)).get(none)).isEmpty();
    assertThat(cachedList(bob.id(), link2.id())).isEmpty(); // an empty list entry, not a miss
    assertThat(cachedVersion(bob.id(), link2.id())).isZero(); // never written: version 0
    try (Scope scope = db.scope()) {
      assertThat(db.lookup(VOTE, List.of(none)).get(none)).isEmpty();
      assertThat(scope.statements()).isZero();
    }
  }

  @Test
  void createAfterACachedNegativeAnswerIsVisibleOnTheNextLookup() {
    Relation.Pair pair = new Relation.Pair(alice.id(), link2.id());
    assertThat(db.lookup(VOTE, List.of(pair)).get(pair)).isEmpty();
    Relation vote = db.create(db.newRelation(VOTE, alice, link2, "1"));
    try (Scope scope = db.scope()) {
      assertThat(db.lookup(VOTE, List.of(pair)).get(pair)).containsExactly(vote);
      assertThat(scope.statements()).isZero(); // the writer published the new list
    }
  }

  @Test
  void deleteAfterACachedPositiveAnswerIsVisibleOnTheNextLookup() {
    Relation vote = db.create(db.newRelation(VOTE, alice, link2, "1"));
    cache.delete(key(alice.id(), link2.id()));
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).containsExactly(vote);
    db.delete(vote);
    try (Scope scope = db.scope()) {
      assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).isEmpty();
      assertThat(scope.statements()).isZero();
    }
  }

  @Test
  void aFillReadBeforeDeleteAndCreateNeverBringsTheOlderListBack() throws SQLException {
    Relation old = db.create(db.newRelation(VOTE, alice, link1, "1"));
    RelationHandle h = db.engine.relationHandle(VOTE);
    RelationReads.PairState stale;
    try (Connection c = ds.getConnection()) { // a reader's database read, before the writes
      stale = RelationReads.fetchPairs(db.engine.io, c, h, List.of(old.pair())).get(old.pair());
    }
    db.delete(old);
    Relation fresh = db.create(db.newRelation(VOTE, alice, link1, "-1"));
    cache.delete(key(alice.id(), link1.id())); // even with the writer's entry gone (evicted), ...
    db.engine.cache.invalidate(
        key(alice.id(), link1.id()),
        pairVersion(alice.id(), link1.id())); // ... the replay's tombstone
    // ... the slow reader's fill of the list it read before the delete loses:
    db.engine.cache.fillAll(
        Map.of(
            key(alice.id(), link1.id()),
            new Versioned(
                RelationCodec.encode(alice.id(), link1.id(), stale.relations()), stale.version())),
        Duration.ofHours(1));
    assertThat(
            db.engine.cache.fill(
                key(alice.id(), link1.id()),
                RelationCodec.encode(alice.id(), link1.id(), stale.relations()),
                stale.version(),
                Duration.ofHours(1)))
        .isEqualTo(io.thingdb.cache.VersionedCache.Result.SUPERSEDED);
    assertThat(stale.version()).isLessThan(pairVersion(alice.id(), link1.id()));
    assertThat(db.lookup(VOTE, List.of(old.pair())).get(old.pair())).containsExactly(fresh);
  }

  @Test
  void aWriterThatDiesBetweenCommitAndCacheUpdateIsRepairedByTheOutboxReplay() throws Exception {
    AtomicBoolean crash = new AtomicBoolean();
    db.close();
    db =
        builder()
            .cache(cache)
            .outboxReplayInterval(Duration.ofMillis(100))
            .outboxGrace(Duration.ofMillis(100))
            .afterCommitHook(
                what -> {
                  if (crash.get() && what.startsWith("write relation")) {
                    throw new IllegalStateException("simulated crash after COMMIT");
                  }
                })
            .build();
    Relation vote = db.create(db.newRelation(VOTE, alice, link1, "1"));
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).containsExactly(vote);

    crash.set(true);
    assertThatThrownBy(() -> db.delete(vote)).hasMessage("simulated crash after COMMIT");
    assertThat(rows("select count(*) from rel_vote" + ours())).containsExactly("0"); // committed
    assertThat(cachedList(alice.id(), link1.id())).containsExactly(vote); // stale, for now

    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (outboxRowsAbove(alice.id(), link1.id(), 0) > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(outboxRowsAbove(alice.id(), link1.id(), 0)).isZero();
    assertThat(db.engine.cache.get(key(alice.id(), link1.id())))
        .isNull(); // tombstoned at the delete's version
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).isEmpty();
  }

  @Test
  void withoutACacheEverythingReadsTheDatabase() {
    db.close();
    db = builder().noCache().build();
    Relation vote = db.create(db.newRelation(VOTE, alice, link1, "1").set(WEIGHT, 2L));
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).containsExactly(vote);
    Relation after = db.update(vote.edit().set(WEIGHT, 5L));
    assertThat(after.get(WEIGHT)).isEqualTo(5L);
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).containsExactly(after);
    assertThat(db.delete(after)).isTrue();
    assertThat(db.lookup(VOTE, List.of(vote.pair())).get(vote.pair())).isEmpty();
    assertThat(outboxRowsAbove(alice.id(), link1.id(), 0)).isZero();
  }

  // ------------------------------------------------------------------ bad input

  @Test
  void endpointIdsBelowOneAreRefused() {
    assertThatThrownBy(() -> db.newRelation(VOTE, 0, link1.id(), "1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("relation vote: thing1 id out of range: 0 (ids start at 1)");
    assertThatThrownBy(() -> db.newRelation(VOTE, alice.id(), -5, "1"))
        .hasMessage("relation vote: thing2 id out of range: -5 (ids start at 1)");
    assertThatThrownBy(() -> db.lookup(VOTE, List.of(new Relation.Pair(1, 0))))
        .hasMessage("relation vote: thing2 id out of range: 0 (ids start at 1)");
    assertNothingWritten();
  }

  @Test
  void anEndpointOfTheWrongTypeIsRefused() {
    assertThatThrownBy(() -> db.newRelation(VOTE, link1, link2, "1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "relation vote links account -> link: thing1 "
                + link1.fullname()
                + " is of type link, not account");
    assertThatThrownBy(() -> db.newRelation(VOTE, alice, bob, "1"))
        .hasMessage(
            "relation vote links account -> link: thing2 "
                + bob.fullname()
                + " is of type account, not link");
    assertNothingWritten();
  }

  @Test
  void aMissingEndpointGivenByIdIsRefusedAndNothingWritten() {
    NewRelation toNowhere = db.newRelation(VOTE, alice.id(), 999_999, "1");
    assertThatThrownBy(() -> db.create(toNowhere))
        .isInstanceOf(NotFoundException.class)
        .hasMessage(
            "relation vote (account "
                + alice.id()
                + " -> link 999999): no link with id 999999 (thing2);"
                + " nothing was written");
    assertThatThrownBy(() -> db.create(db.newRelation(VOTE, 999_998, link1.id(), "1")))
        .hasMessageContaining("no account with id 999998 (thing1)");
    assertNothingWritten();
    Relation ok = db.create(db.newRelation(VOTE, alice.id(), link1.id(), "1"));
    assertThat(ok.thing2Id()).isEqualTo(link1.id());
  }

  @Test
  void badNamesAreRefused() {
    assertThatThrownBy(() -> db.newRelation(VOTE, alice, link1, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("relation vote: name must not be null (use \"\" for none)");
    assertThatThrownBy(() -> db.newRelation(VOTE, alice, link1, "x".repeat(101)))
        .hasMessage(
            "relation vote: name must be at most 100 characters, was 101: '"
                + "x".repeat(40)
                + "...'");
    assertThatThrownBy(() -> db.newRelation(VOTE, alice, link1, "a\0b"))
        .hasMessage(
            "relation vote: name must not contain NUL characters (PostgreSQL text cannot store them): 'a\\0b'");
    Relation vote = db.create(db.newRelation(VOTE, alice, link1, "x".repeat(100)));
    assertThatThrownBy(() -> vote.edit().name("\0")).hasMessageContaining("must not contain NUL");
    assertThat(rows("select length(name) from rel_vote" + ours())).containsExactly("100");
  }

  @Test
  void anUnknownRelationTypeIsRefused() {
    RelationType other = RelationType.named("follow").between(ACCOUNT, ACCOUNT).build();
    RelationType sameNameOtherObject = RelationType.named("vote").between(ACCOUNT, LINK).build();
    assertThatThrownBy(() -> db.newRelation(other, alice, bob, ""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown relation type follow: register it with ThingDb.builder().relation(...) (registered: [vote])");
    assertThatThrownBy(() -> db.lookup(sameNameOtherObject, List.of(new Relation.Pair(1, 1))))
        .hasMessageStartingWith("unknown relation type vote");
    assertThatThrownBy(() -> db.getRelation(other, 1))
        .hasMessageStartingWith("unknown relation type follow");
    assertNothingWritten();
  }

  @Test
  void theBuilderRefusesRelationsWhoseEndpointTypesOrDatabaseAreMissing() {
    RelationType follow =
        RelationType.named("follow").between(ACCOUNT, ThingType.named("account").build()).build();
    assertThatThrownBy(
            () ->
                ThingDb.builder()
                    .database("main", Database.of(ds))
                    .type(ACCOUNT, "main")
                    .relation(VOTE, "main")
                    .noCache()
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "relation type vote links account -> link, but its thing2 type link is not registered"
                + " (the same ThingType object): call type(link, database) too");
    assertThatThrownBy(
            () ->
                ThingDb.builder()
                    .database("main", Database.of(ds))
                    .type(ACCOUNT, "main")
                    .relation(follow, "main")
                    .noCache()
                    .build())
        .hasMessageContaining(
            "its thing2 type account is not registered (the same ThingType object)");
    assertThatThrownBy(
            () ->
                builder()
                    .relation(RelationType.named("up").between(ACCOUNT, LINK).build(), "other")
                    .noCache()
                    .build())
        .hasMessage(
            "relation type up is placed on database other, which is not configured (configured: [main])");
    ThingType clash = ThingType.named("rel_vote").build();
    assertThatThrownBy(() -> builder().type(clash, "main").noCache().build())
        .hasMessage(
            "type rel_vote and relation type vote would both use the table data_rel_vote; rename one of them");
    assertThatThrownBy(
            () ->
                builder()
                    .relation(RelationType.named("vote").between(ACCOUNT, LINK).build(), "main"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("relation type vote is registered twice");
    assertThatThrownBy(() -> RelationType.named("Vote"))
        .hasMessage("relation type name must match [a-z][a-z0-9_]{0,39}: 'Vote'");
    assertThatThrownBy(() -> RelationType.named("vote").build())
        .hasMessage("relation type vote: call between(thing1Type, thing2Type) before build()");
  }

  @Test
  void aRelationPropWhoseDefaultChangedIsRefusedAtRegistration() {
    RelationType changed =
        RelationType.named("vote").between(ACCOUNT, LINK).props(Prop.int64("weight", 2)).build();
    assertThatThrownBy(
            () ->
                ThingDb.builder()
                    .database("main", Database.of(ds))
                    .type(ACCOUNT, "main")
                    .type(LINK, "main")
                    .relation(changed, "main")
                    .noCache()
                    .build())
        .isInstanceOf(SchemaConflictException.class)
        .hasMessageContaining(
            "'weight' is recorded as LONG default '1' but declared as LONG default '2'");
  }

  // ------------------------------------------------------------------ helpers

  /**
   * No relation, pair version or outbox row involves this test's things, and no data row is
   * orphaned.
   */
  private void assertNothingWritten() {
    assertThat(rows("select count(*) from rel_vote" + ours())).containsExactly("0");
    assertThat(rows("select count(*) from relpair_vote" + ours())).containsExactly("0");
    assertThat(
            rows(
                "select count(*) from data_rel_vote d where not exists (select 1 from rel_vote r where r.rel_id = d.rel_id)"))
        .containsExactly("0");
    for (Thing t : List.of(alice, bob)) {
      for (Thing l : List.of(link1, link2)) {
        assertThat(outboxRowsAbove(t.id(), l.id(), 0)).isZero();
      }
    }
  }

  /** A where clause selecting the rows whose thing1 is one of this test's accounts. */
  private String ours() {
    return " where thing1_id in (" + alice.id() + ", " + bob.id() + ")";
  }

  private String key(long t1, long t2) {
    RelationHandle h = db.engine.relationHandle(VOTE);
    return h.cacheKey(h.db.epoch(), t1, t2);
  }

  private List<Relation> cachedList(long t1, long t2) {
    Versioned v = db.engine.cache.get(key(t1, t2));
    assertThat(v).as("cache entry of pair %d,%d", t1, t2).isNotNull();
    return RelationCodec.decode(db.engine.relationHandle(VOTE), t1, t2, v.value());
  }

  private long cachedVersion(long t1, long t2) {
    return db.engine.cache.get(key(t1, t2)).version();
  }

  private long pairVersion(long t1, long t2) {
    List<String> v =
        rows("select version from relpair_vote where thing1_id = " + t1 + " and thing2_id = " + t2);
    return v.isEmpty() ? 0 : Long.parseLong(v.get(0));
  }

  /**
   * Outbox rows of the pair's cache key above {@code version} (confirmed rows are deleted in the
   * background).
   */
  private long outboxRowsAbove(long t1, long t2, long version) {
    return Long.parseLong(
        rows("select count(*) from thingdb_outbox where cache_key = '"
                + db.engine.relationHandle(VOTE).logicalKey(t1, t2)
                + "' and version > "
                + version)
            .get(0));
  }

  /** The first column of every row, as text (test-only SQL with literal ids). */
  private List<String> rows(String sql) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException(sql, e);
    }
  }
}

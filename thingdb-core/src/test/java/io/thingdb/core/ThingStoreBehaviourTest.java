package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.cachedThing;
import static io.thingdb.core.ThingStoreSupport.column;
import static io.thingdb.core.ThingStoreSupport.count;
import static io.thingdb.core.ThingStoreSupport.key;
import static io.thingdb.core.ThingStoreSupport.rawEntry;
import static io.thingdb.core.ThingStoreSupport.stored;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingDb.Missing;
import io.thingdb.core.ThingStoreSupport.Stored;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each operation of the thing store, one behaviour per test, checked in the tables (read with plain
 * JDBC) and in memcached (read through a separate VersionedCache on the client ThingDb uses, so
 * that its pipelined fills are ordered before our reads).
 */
class ThingStoreBehaviourTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<String> BODY = Prop.string("body", "");
  static final Prop<Long> SCORE = Prop.int64("score", 0);
  static final Prop<Double> RATIO = Prop.float64("ratio", 0.0);
  static final Prop<Boolean> FLAG = Prop.bool("flag", false);
  static final Prop<Instant> WHEN = Prop.instant("when", Instant.EPOCH);
  static final Prop<byte[]> BLOB = Prop.bytes("blob", new byte[0]);
  static final ThingType LINK =
      ThingType.named("link").props(TITLE, BODY, SCORE, RATIO, FLAG, WHEN, BLOB).build();
  static final Prop<String> TEXT = Prop.string("text", "");
  static final ThingType COMMENT = ThingType.named("comment").props(TEXT).build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  static PostgresFixture pg;
  static HikariDataSource ds;
  static MemcachedCache mc;
  static ThingDb db;
  static ThingDb uncached;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    ds = ThingStoreSupport.pool(pg.jdbcUrl());
    mc = ThingStoreSupport.memcached(memcached.cluster());
    db =
        ThingDb.builder()
            .database("main", Database.of(ds))
            .type(LINK, "main")
            .type(COMMENT, "main")
            .cache(mc)
            .build();
    uncached =
        ThingDb.builder()
            .database("main", Database.of(ds))
            .type(LINK, "main")
            .type(COMMENT, "main")
            .noCache()
            .build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {uncached, db, mc, ds, pg}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  private static Thing newLink(String title) {
    return db.create(db.newThing(LINK).set(TITLE, title).set(BODY, "body of " + title));
  }

  /** The cached copy of {@code t}'s key; fails on a miss. */
  private static Thing cached(Thing t) {
    Thing c = cachedThing(mc, db, t);
    assertThat(c).as("cache entry of %s", t.fullname()).isNotNull();
    return c;
  }

  private static void assertCacheHolds(Thing expected) {
    Thing c = cached(expected);
    assertThat(c.version())
        .as("cached version of %s", expected.fullname())
        .isEqualTo(expected.version());
    assertThat(c).isEqualTo(expected);
  }

  private static void assertStoredMatches(Stored s, Thing t) {
    assertThat(s.version()).isEqualTo(t.version());
    assertThat(s.ups()).isEqualTo(t.ups());
    assertThat(s.downs()).isEqualTo(t.downs());
    assertThat(s.deleted()).isEqualTo(t.deleted());
    assertThat(s.spam()).isEqualTo(t.spam());
    assertThat(s.values().keySet()).containsExactlyInAnyOrderElementsOf(t.storedProps().keySet());
  }

  // ------------------------------------------------------------------ create

  @Test
  void createStoresOneRowPerNonDefaultPropAndFillsTheCache() {
    Instant when = Instant.parse("2026-03-04T05:06:07.123456789Z");
    Thing t =
        db.create(
            db.newThing(LINK)
                .set(TITLE, "hello")
                .set(BODY, "")
                .set(SCORE, 7L)
                .set(RATIO, 0.25)
                .set(FLAG, true)
                .set(WHEN, when)
                .set(BLOB, new byte[] {1, 2, 3})
                .votes(3, 1));

    Stored s = storedOrFail(ds, t);
    assertThat(s.version()).isEqualTo(1);
    assertThat(s.ups()).isEqualTo(3);
    assertThat(s.downs()).isEqualTo(1);
    assertThat(s.deleted()).isFalse();
    assertThat(s.spam()).isFalse();
    assertThat(s.values())
        .containsExactly(
            entry("blob", "AQID"),
            entry("flag", "true"),
            entry("ratio", "0.25"),
            entry("score", "7"),
            entry("title", "hello"),
            entry("when", Long.toString(when.getEpochSecond() * 1_000_000 + 123456)));
    assertThat(s.kinds())
        .containsExactly(
            entry("blob", "x"),
            entry("flag", "b"),
            entry("ratio", "d"),
            entry("score", "l"),
            entry("title", "s"),
            entry("when", "i"));
    assertThat(t.get(BODY)).isEmpty();
    assertThat(t.get(WHEN)).isEqualTo(Instant.parse("2026-03-04T05:06:07.123456Z"));

    assertCacheHolds(t);
    try (Scope scope = db.scope()) {
      assertThat(db.get(LINK, t.id())).contains(t);
      assertThat(scope.statements()).isZero();
    }
  }

  @Test
  void createAllRunsTheSameStatementsForTenAndForAThousand() throws InterruptedException {
    List<Thing> ten;
    long forTen;
    try (Scope scope = db.scope()) {
      ten = db.createAll(batch(10));
      forTen = scope.statements();
    }
    List<Thing> thousand;
    long forThousand;
    try (Scope scope = db.scope()) {
      thousand = db.createAll(batch(1000));
      forThousand = scope.statements();
    }
    System.out.printf(
        "createAll: %d statements for 10 things, %d for 1,000%n", forTen, forThousand);
    assertThat(forThousand).isEqualTo(forTen);
    assertThat(forTen).isLessThanOrEqualTo(4); // ids, thing rows, data rows, COMMIT

    long[] ids = thousand.stream().mapToLong(Thing::id).toArray();
    assertThat(
            Long.parseLong(
                column(
                        ds,
                        "select count(*) from thing_link where thing_id = any(?)",
                        (Object) boxed(ids))
                    .get(0)))
        .isEqualTo(1000);
    assertThat(
            count(
                ds, "select count(*) from data_link where thing_id = any(?)", (Object) boxed(ids)))
        .isEqualTo(2000);
    // each thing got its own props, in input order
    String[] titles = IntStream.range(0, 1000).mapToObj(i -> "batch " + i).toArray(String[]::new);
    String[] scores =
        IntStream.range(0, 1000).mapToObj(i -> Long.toString(i + 1L)).toArray(String[]::new);
    assertThat(
            count(
                ds,
                "select count(*) from unnest(?::bigint[], ?::text[], ?::text[]) as e(id, title, score)"
                    + " join data_link t on t.thing_id = e.id and t.key = 'title' and t.value = e.title"
                    + " join data_link s on s.thing_id = e.id and s.key = 'score' and s.value = e.score",
                boxed(ids),
                titles,
                scores))
        .isEqualTo(1000);
    assertThat(thousand).extracting(Thing::version).containsOnly(1L);
    assertThat(ten).hasSize(10);

    try (VersionedCache vc = VersionedCache.builder(mc).build()) {
      // The fills are pipelined adds without replies on three connections: the read can overtake
      // those still in flight on other servers' connections, so it is repeated for a while.
      List<String> keys = thousand.stream().map(t -> ThingStoreSupport.key(db, t)).toList();
      Map<String, VersionedCache.Versioned> hits = vc.getAll(keys);
      for (long deadline = System.nanoTime() + 5_000_000_000L;
          hits.size() < 1000 && System.nanoTime() < deadline; ) {
        Thread.sleep(20);
        hits = vc.getAll(keys);
      }
      assertThat(hits).hasSize(1000);
      for (Thing t : thousand) {
        assertThat(ThingCodec.decode(LINK, t.typeId(), hits.get(key(db, t)).value())).isEqualTo(t);
      }
    }
  }

  private static List<NewThing> batch(int n) {
    List<NewThing> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(db.newThing(LINK).set(TITLE, "batch " + i).set(SCORE, i + 1L));
    }
    return out;
  }

  @Test
  void createAllOfTwoTypesOnOneDatabaseCommitsBothOrNeither() {
    Thing existing = db.create(db.newThing(COMMENT).set(TEXT, "existing"));
    String seq =
        column(ds, "select sequencename from pg_sequences where sequencename like '%comment%'")
            .get(0);
    long links = count(ds, "select count(*) from thing_link");
    long linkData = count(ds, "select count(*) from data_link");
    long nextLink =
        Long.parseLong(
            column(ds, "select last_value from pg_sequences where sequencename like '%link%'")
                .get(0));
    // the next comment id is taken (rows imported behind the sequence's back): its insert fails
    ThingStoreSupport.execute(ds, "select setval('" + seq + "', " + existing.id() + ", false)");
    try {
      assertThatThrownBy(
              () ->
                  db.createAll(
                      List.of(
                          db.newThing(LINK).set(TITLE, "all or nothing"),
                          db.newThing(COMMENT).set(TEXT, "collides"))))
          .isInstanceOf(ThingDbException.class)
          .hasMessageContaining("23505");
    } finally {
      ThingStoreSupport.execute(
          ds, "select setval('" + seq + "', (select max(thing_id) from thing_comment))");
    }
    assertThat(count(ds, "select count(*) from thing_link"))
        .as("links committed without their comments")
        .isEqualTo(links);
    assertThat(count(ds, "select count(*) from data_link")).isEqualTo(linkData);
    assertThat(cachedThing(mc, db, LINK, typeIdOf(LINK), nextLink + 1)).isNull();
    assertThat(column(ds, "select value from data_comment where thing_id = ?", existing.id()))
        .containsExactly("existing");
  }

  private static Long[] boxed(long[] ids) {
    Long[] out = new Long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = ids[i];
    }
    return out;
  }

  /**
   * A thing whose encoding is larger than a memcached item (1 MiB) is stored and read from the
   * database; it is never cached, and when a thing grows past the limit its older cached copy is
   * invalidated rather than left behind.
   */
  @Test
  void aThingTooLargeForTheCacheIsWrittenAndReadThroughTheDatabase() {
    String huge = "x".repeat(mc.maxValueSize("thing:t1_1") + 1);
    Thing big = db.create(db.newThing(LINK).set(TITLE, "big").set(BODY, huge));
    assertThat(storedOrFail(ds, big).values().get("body")).hasSize(huge.length());
    assertThat(db.get(LINK, big.id())).contains(big);
    assertThat(rawEntry(mc, key(db, big))).isNull();

    Thing small = newLink("grows");
    assertCacheHolds(small);
    Thing grown = db.update(small.edit().set(BODY, huge));
    assertThat(grown.version()).isEqualTo(2);
    assertThat(storedOrFail(ds, small).version()).isEqualTo(2);
    VersionedCache.Stored raw = rawEntry(mc, key(db, small));
    assertThat(raw == null || (raw.kind() == VersionedCache.Kind.TOMBSTONE && raw.version() == 2))
        .as("the v1 copy is gone")
        .isTrue();
    assertThat(db.get(LINK, small.id())).contains(grown);
    Counts c = db.incr(LINK, small.id(), Counter.UPS, 1);
    assertThat(c.version()).isEqualTo(3);
    assertThat(db.get(LINK, small.id()).orElseThrow().ups()).isEqualTo(1);
    Thing shrunk =
        db.update(db.get(LINK, small.id()).orElseThrow().edit().set(BODY, "short again"));
    assertCacheHolds(shrunk);
  }

  // ------------------------------------------------------------------ reads

  @Test
  void getReadsTheDatabaseOnAMissAndFillsTheCache() {
    Thing t = newLink("get");
    assertThat(mc.delete(key(db, t))).isEqualTo(io.thingdb.cache.Cache.Outcome.APPLIED);
    try (Scope scope = db.scope()) {
      assertThat(db.get(LINK, t.id())).contains(t);
      assertThat(scope.statements()).isBetween(1L, 2L); // the thing row and its data rows
    }
    assertCacheHolds(t);
    try (Scope scope = db.scope()) {
      assertThat(db.get(LINK, t.id())).contains(t);
      assertThat(scope.statements()).isZero();
      assertThat(scope.cacheHits()).isEqualTo(1);
    }
    assertStoredMatches(storedOrFail(ds, t), t);
  }

  @Test
  void getOfAnAbsentIdIsEmptyAndCachesNothingWrong() {
    long absent =
        Long.parseLong(
            column(ds, "select coalesce(max(thing_id), 0) + 1000000 from thing_link").get(0));
    assertThat(db.get(LINK, absent)).isEmpty();
    assertThat(stored(ds, LINK, absent)).isEmpty();
    assertThat(cachedThing(mc, db, LINK, typeIdOf(LINK), absent)).isNull();
  }

  @Test
  void getManyReturnsInputOrderAndSkipsMissingIds() {
    List<Thing> things = IntStream.range(0, 6).mapToObj(i -> newLink("many " + i)).toList();
    // half cached, half not: the order must not depend on where each came from
    for (int i = 0; i < 6; i += 2) {
      mc.delete(key(db, things.get(i)));
    }
    long missing = things.get(5).id() + 1_000_000;
    List<Long> ids =
        List.of(
            things.get(5).id(),
            missing,
            things.get(0).id(),
            things.get(3).id(),
            things.get(2).id(),
            things.get(5).id(),
            things.get(1).id());
    List<Thing> got = db.getMany(LINK, ids, Missing.SKIP);
    assertThat(got)
        .extracting(Thing::id)
        .containsExactly(
            things.get(5).id(),
            things.get(0).id(),
            things.get(3).id(),
            things.get(2).id(),
            things.get(1).id());
    for (Thing g : got) {
      assertThat(g)
          .isEqualTo(things.stream().filter(t -> t.id() == g.id()).findFirst().orElseThrow());
      assertStoredMatches(storedOrFail(ds, g), g);
      assertCacheHolds(g);
    }
    assertThat(stored(ds, LINK, missing)).isEmpty();
  }

  @Test
  void getManyWithMissingFailNamesEveryMissingId() {
    Thing t = newLink("fail");
    long a = t.id() + 2_000_001;
    long b = t.id() + 2_000_002;
    assertThatThrownBy(() -> db.getMany(LINK, List.of(a, t.id(), b), Missing.FAIL))
        .isInstanceOf(NotFoundException.class)
        .hasMessageContaining("link")
        .hasMessageContaining(Long.toString(a))
        .hasMessageContaining(Long.toString(b))
        .hasMessageNotContaining(Long.toString(t.id()) + ",");
    assertThat(db.getMany(LINK, List.of(t.id()), Missing.FAIL)).containsExactly(t);
  }

  @Test
  void getByFullnamesReadsAcrossTypesInInputOrder() {
    Thing l1 = newLink("l1");
    Thing l2 = newLink("l2");
    Thing c1 = db.create(db.newThing(COMMENT).set(TEXT, "c1"));
    Thing c2 = db.create(db.newThing(COMMENT).set(TEXT, "c2"));
    mc.delete(key(db, l2));
    mc.delete(key(db, c1));
    String missing = Fullnames.thing(typeIdOf(LINK), l2.id() + 3_000_000);
    List<String> names =
        List.of(c2.fullname(), l2.fullname(), missing, l1.fullname(), c1.fullname());

    assertThat(db.getByFullnames(names, Missing.SKIP)).containsExactly(c2, l2, l1, c1);
    assertThatThrownBy(() -> db.getByFullnames(names, Missing.FAIL))
        .isInstanceOf(NotFoundException.class)
        .hasMessageContaining(missing);
    for (Thing t : List.of(l1, l2, c1, c2)) {
      assertStoredMatches(storedOrFail(ds, t), t);
      assertCacheHolds(t);
    }
    assertThat(storedOrFail(ds, c1).values()).containsExactly(entry("text", "c1"));
  }

  // ------------------------------------------------------------------ update

  @Test
  void updateWritesOnlyTheChangedKeysAndDeletesPropsSetToTheirDefault() {
    Thing t = db.create(db.newThing(LINK).set(TITLE, "a").set(BODY, "b").set(SCORE, 5L));
    Map<String, String> xminBefore = xmins(t);

    Thing u = db.update(t.edit().set(TITLE, "a2").set(SCORE, 0L).set(BODY, "b"));

    assertThat(u.version()).isEqualTo(2);
    Stored s = storedOrFail(ds, t);
    assertThat(s.version()).isEqualTo(2);
    assertThat(s.values()).containsExactly(entry("body", "b"), entry("title", "a2"));
    Map<String, String> xminAfter = xmins(t);
    assertThat(xminAfter.get("body"))
        .as("the unchanged body row is not rewritten")
        .isEqualTo(xminBefore.get("body"));
    assertThat(xminAfter.get("title")).isNotEqualTo(xminBefore.get("title"));
    assertThat(u.get(SCORE)).isZero();
    assertThat(u.storedProps()).containsOnlyKeys("title", "body");
    assertCacheHolds(u);
  }

  @Test
  void updateFromAnOldSnapshotKeepsOtherWritersChanges() {
    Thing t = db.create(db.newThing(LINK).set(TITLE, "a").set(BODY, "b"));
    Thing other = db.update(t.edit().set(BODY, "changed by another writer").spam(true));
    assertThat(other.version()).isEqualTo(2);

    Thing u = db.update(t.edit().set(TITLE, "a2").deleted(true)); // from the version-1 snapshot

    assertThat(u.version()).isEqualTo(3);
    assertThat(u.get(BODY)).isEqualTo("changed by another writer");
    assertThat(u.spam()).isTrue();
    assertThat(u.deleted()).isTrue();
    Stored s = storedOrFail(ds, t);
    assertThat(s.values())
        .containsExactly(entry("body", "changed by another writer"), entry("title", "a2"));
    assertThat(s.spam()).isTrue();
    assertThat(s.deleted()).isTrue();
    assertThat(s.version()).isEqualTo(3);
    assertCacheHolds(u);
  }

  @Test
  void updateWithoutChangesWritesNothing() {
    Thing t = newLink("same");
    try (Scope scope = db.scope()) {
      Thing u = db.update(t.edit().set(TITLE, "same").deleted(false).spam(false));
      assertThat(u).isSameAs(t);
      assertThat(scope.statements()).isZero();
    }
    assertThat(storedOrFail(ds, t).version()).isEqualTo(1);
    assertCacheHolds(t);
  }

  @Test
  void updateOfAThingThatIsGoneIsNotFoundAndWritesNothing() {
    Thing t = newLink("gone");
    ThingStoreSupport.execute(ds, "delete from thing_link where thing_id = ?", t.id());
    long outbox = count(ds, "select count(*) from thingdb_outbox");
    assertThatThrownBy(() -> db.update(t.edit().set(TITLE, "x")))
        .isInstanceOf(NotFoundException.class)
        .hasMessageContaining(Long.toString(t.id()));
    assertThat(
            column(ds, "select value from data_link where thing_id = ? and key = 'title'", t.id()))
        .containsExactly("gone");
    assertThat(count(ds, "select count(*) from thingdb_outbox")).isLessThanOrEqualTo(outbox);
  }

  private static Map<String, String> xmins(Thing t) {
    Map<String, String> out = new HashMap<>();
    for (String row :
        column(ds, "select key || '=' || xmin::text from data_link where thing_id = ?", t.id())) {
      out.put(row.substring(0, row.indexOf('=')), row.substring(row.indexOf('=') + 1));
    }
    return out;
  }

  // ------------------------------------------------------------------ increments

  @Test
  void incrAddsToUpsAndDownsAndPatchesTheCachedCopy() {
    Thing t = newLink("votes");
    Counts c = db.incr(LINK, t.id(), Counter.UPS, 3);
    assertThat(c).isEqualTo(new Counts(t.id(), 3, 0, 2));
    Stored s = storedOrFail(ds, t);
    assertThat(s.ups()).isEqualTo(3);
    assertThat(s.version()).isEqualTo(2);
    Thing cached = cached(t);
    assertThat(cached.version()).isEqualTo(2);
    assertThat(cached.ups()).isEqualTo(3);
    assertThat(cached.get(TITLE)).isEqualTo("votes");

    db.incr(LINK, t.id(), Counter.DOWNS, 5);
    c = db.incr(LINK, t.id(), Counter.DOWNS, -2); // counts never go below 0: see BadInputTest
    assertThat(c).isEqualTo(new Counts(t.id(), 3, 3, 4));
    assertThat(storedOrFail(ds, t).downs()).isEqualTo(3);
    assertThat(cached(t).downs()).isEqualTo(3);
    assertThat(cached(t).version()).isEqualTo(4);
  }

  @Test
  void concurrentIncrementsOfUpsAndDownsAreExact() throws Exception {
    Thing t = newLink("concurrent votes");
    int threads = 4;
    int each = 250;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        Counter counter = i % 2 == 0 ? Counter.UPS : Counter.DOWNS;
        done.add(
            pool.submit(
                () -> {
                  for (int j = 0; j < each; j++) {
                    db.incr(LINK, t.id(), counter, 1);
                  }
                }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    Stored s = storedOrFail(ds, t);
    assertThat(s.ups()).isEqualTo(2 * each);
    assertThat(s.downs()).isEqualTo(2 * each);
    assertThat(s.version()).isEqualTo(1 + threads * each);
    VersionedCache.Stored raw = rawEntry(mc, key(db, t));
    if (raw != null && raw.kind() == VersionedCache.Kind.VALUE) {
      Thing cached = cached(t);
      assertThat(cached.version()).isEqualTo(s.version());
      assertThat(cached.ups()).isEqualTo(s.ups());
      assertThat(cached.downs()).isEqualTo(s.downs());
    } else if (raw != null) {
      assertThat(raw.version()).isLessThanOrEqualTo(s.version());
    }
    Thing read = db.get(LINK, t.id()).orElseThrow();
    assertThat(read.ups()).isEqualTo(2 * each);
    assertThat(read.downs()).isEqualTo(2 * each);
    assertThat(read.version()).isEqualTo(s.version());
  }

  @Test
  void concurrentIncrementsOfNumericPropsAreExact() throws Exception {
    Thing t = newLink("counted");
    int threads = 4;
    int each = 100;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        done.add(
            pool.submit(
                () -> {
                  for (int j = 0; j < each; j++) {
                    db.incr(LINK, t.id(), SCORE, 2L);
                    db.incr(LINK, t.id(), RATIO, 0.5);
                  }
                }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    Stored s = storedOrFail(ds, t);
    assertThat(s.values()).containsEntry("score", Long.toString(2L * threads * each));
    // PostgreSQL's float8 text ("200") and Java's ("200.0") differ; the value is what counts
    assertThat(Double.parseDouble(s.values().get("ratio"))).isEqualTo(0.5 * threads * each);
    assertThat(s.version()).isEqualTo(1 + 2L * threads * each);
    Thing cached = cached(t);
    assertThat(cached.version()).isEqualTo(s.version());
    assertThat(cached.get(SCORE)).isEqualTo(2L * threads * each);
    assertThat(cached.get(RATIO)).isEqualTo(0.5 * threads * each);
    assertThat(cached.get(TITLE)).isEqualTo("counted");
  }

  @Test
  void incrementingAPropBackToItsDefaultLeavesNoRow() {
    Thing t = newLink("back to zero");
    Thing up = db.incr(LINK, t.id(), SCORE, 3L);
    assertThat(storedOrFail(ds, t).values()).containsEntry("score", "3");
    assertThat(up.get(SCORE)).isEqualTo(3L);
    Thing zero = db.incr(LINK, t.id(), SCORE, -3L);
    assertThat(zero.get(SCORE)).isZero();
    assertThat(zero.storedProps()).doesNotContainKey("score");
    assertThat(storedOrFail(ds, t).values()).doesNotContainKey("score");
    assertThat(storedOrFail(ds, t).version()).isEqualTo(3);
    assertCacheHolds(zero);
    mc.delete(key(db, t));
    assertThat(db.get(LINK, t.id())).contains(zero);
  }

  @Test
  void incrementOfANonNumericPropIsRefusedAndWritesNothing() {
    Thing t = newLink("not numeric");
    Prop<?> raw = TITLE;
    @SuppressWarnings({"unchecked", "rawtypes"})
    Runnable incr = () -> db.incr(LINK, t.id(), (Prop) raw, (Number) 1L);
    assertThatThrownBy(incr::run)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("title");
    assertThat(storedOrFail(ds, t).version()).isEqualTo(1);
    assertCacheHolds(t);
  }

  // ------------------------------------------------------------------ flags

  @Test
  void softDeleteSetsTheFlagBumpsTheVersionAndCanBeUndone() {
    Thing t = newLink("to delete");
    Thing d = db.setDeleted(t, true);
    assertThat(d.deleted()).isTrue();
    assertThat(d.version()).isEqualTo(2);
    Stored s = storedOrFail(ds, t);
    assertThat(s.deleted()).isTrue();
    assertThat(s.version()).isEqualTo(2);
    assertThat(s.values()).containsOnlyKeys("title", "body");
    assertCacheHolds(d);
    assertThat(db.get(LINK, t.id()).orElseThrow().deleted()).isTrue();

    Thing restored = db.setDeleted(d, false);
    assertThat(restored.deleted()).isFalse();
    assertThat(storedOrFail(ds, t).deleted()).isFalse();
    assertThat(storedOrFail(ds, t).version()).isEqualTo(3);
    assertCacheHolds(restored);
  }

  @Test
  void markSpamSetsTheFlagAndBumpsTheVersion() {
    Thing t = newLink("spammy");
    Thing s1 = db.markSpam(t, true);
    assertThat(s1.spam()).isTrue();
    Stored s = storedOrFail(ds, t);
    assertThat(s.spam()).isTrue();
    assertThat(s.deleted()).isFalse();
    assertThat(s.version()).isEqualTo(2);
    assertCacheHolds(s1);
    Thing s2 = db.markSpam(s1, false);
    assertThat(storedOrFail(ds, t).spam()).isFalse();
    assertThat(storedOrFail(ds, t).version()).isEqualTo(3);
    assertCacheHolds(s2);
  }

  @Test
  void everyWriteBumpsTheVersionByOneAndTheCacheFollows() {
    Thing t = newLink("versions");
    List<String> steps = new ArrayList<>();
    long expected = 1;
    assertVersionEverywhere(t, expected);

    Thing cur = db.update(t.edit().set(TITLE, "v2"));
    steps.add("update");
    assertVersionEverywhere(cur, ++expected);

    db.incr(LINK, t.id(), Counter.UPS, 1);
    cur = db.get(LINK, t.id()).orElseThrow();
    assertVersionEverywhere(cur, ++expected);
    assertThat(cur.ups()).isEqualTo(1);

    db.incr(LINK, t.id(), Counter.DOWNS, 1);
    cur = db.get(LINK, t.id()).orElseThrow();
    assertVersionEverywhere(cur, ++expected);

    cur = db.incr(LINK, t.id(), SCORE, 10L);
    assertVersionEverywhere(cur, ++expected);

    cur = db.setDeleted(cur, true);
    assertVersionEverywhere(cur, ++expected);

    cur = db.markSpam(cur, true);
    assertVersionEverywhere(cur, ++expected);

    cur = db.setDeleted(cur, false);
    assertVersionEverywhere(cur, ++expected);

    assertThat(cur.get(TITLE)).isEqualTo("v2");
    assertThat(cur.get(SCORE)).isEqualTo(10L);
    assertThat(cur.ups()).isEqualTo(1);
    assertThat(cur.downs()).isEqualTo(1);
    assertThat(cur.spam()).isTrue();
    assertThat(steps).isNotEmpty();
  }

  private static void assertVersionEverywhere(Thing t, long expected) {
    assertThat(t.version()).isEqualTo(expected);
    Stored s = storedOrFail(ds, t);
    assertStoredMatches(s, t);
    assertCacheHolds(t);
  }

  // ------------------------------------------------------------------ statement counts

  @Test
  void getManyOfAHundredCachedThingsRunsNoStatement() {
    List<Thing> things =
        db.createAll(
            Collections.nCopies(100, 0).stream()
                .map(i -> db.newThing(LINK).set(TITLE, "cached"))
                .collect(Collectors.toList()));
    List<Long> ids = things.stream().map(Thing::id).toList();
    db.getMany(LINK, ids, Missing.FAIL); // make sure the pipelined fills landed
    try (Scope scope = db.scope()) {
      List<Thing> got = db.getMany(LINK, ids, Missing.FAIL);
      assertThat(got).containsExactlyElementsOf(things);
      assertThat(scope.statements()).isZero();
      assertThat(scope.cacheHits()).isEqualTo(100);
    }
  }

  @Test
  void getManyOfAHundredUncachedThingsRunsAtMostTwoStatementsPerType() {
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      batch.add(
          i % 2 == 0
              ? db.newThing(LINK).set(TITLE, "cold " + i)
              : db.newThing(COMMENT).set(TEXT, "cold " + i));
    }
    List<Thing> things = db.createAll(batch);
    memcached.cluster().flushAll();
    List<Long> links = things.stream().filter(t -> t.type() == LINK).map(Thing::id).toList();
    try (Scope scope = db.scope()) {
      assertThat(db.getMany(LINK, links, Missing.FAIL)).hasSize(50);
      assertThat(scope.statements()).isLessThanOrEqualTo(2);
    }
    memcached.cluster().flushAll();
    List<String> names = things.stream().map(Thing::fullname).toList();
    try (Scope scope = db.scope()) {
      assertThat(db.getByFullnames(names, Missing.FAIL)).containsExactlyElementsOf(things);
      assertThat(scope.statements()).isLessThanOrEqualTo(4);
    }
    try (Scope scope = uncached.scope()) {
      assertThat(uncached.getByFullnames(names, Missing.FAIL)).containsExactlyElementsOf(things);
      assertThat(scope.statements()).isLessThanOrEqualTo(4);
    }
    try (Scope scope = uncached.scope()) {
      assertThat(uncached.getMany(LINK, links, Missing.FAIL)).hasSize(50);
      assertThat(scope.statements()).isLessThanOrEqualTo(2);
    }
    // the database reads filled the cache: the same read again is free
    db.getByFullnames(names, Missing.FAIL);
    try (Scope scope = db.scope()) {
      db.getByFullnames(names, Missing.FAIL);
      assertThat(scope.statements()).isZero();
    }
  }

  private static int typeIdOf(ThingType type) {
    return ThingStoreSupport.typeId(ds, type);
  }
}

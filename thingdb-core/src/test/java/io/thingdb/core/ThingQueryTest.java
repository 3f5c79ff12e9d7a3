package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.Cache;
import io.thingdb.cache.InProcessCache;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Filter.Column;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ThingQueryTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> N = Prop.int64("n", 0);
  static final Prop<Double> X = Prop.float64("x", 0.5);
  static final Prop<Boolean> FLAG = Prop.bool("flag", false);
  static final Prop<Instant> WHEN = Prop.instant("when", Instant.parse("2020-01-01T00:00:00Z"));
  static final Prop<byte[]> BLOB = Prop.bytes("blob", new byte[] {7});
  static final Prop<String> EVIL = Prop.string("x'; drop table thing_link; --", "");

  static final Instant BASE = Instant.parse("2026-01-01T00:00:00.000001Z");
  static final Duration TTL = Duration.ofSeconds(60);
  static final AtomicInteger TYPES = new AtomicInteger();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  static PostgresFixture pg;
  static HikariDataSource ds;

  final List<AutoCloseable> open = new ArrayList<>();

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    pg.createDatabase("query_test");
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.jdbcUrl("query_test"));
    config.setMaximumPoolSize(12);
    config.setPoolName("query-test");
    ds = new HikariDataSource(config);
  }

  @AfterAll
  static void stopPostgres() {
    ds.close();
    pg.close();
  }

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  // ------------------------------------------------------------------ fixtures

  static ThingType newType() {
    return ThingType.named("q" + TYPES.incrementAndGet())
        .props(TITLE, N, X, FLAG, WHEN, BLOB)
        .build();
  }

  InProcessCache inProcess() {
    InProcessCache c = InProcessCache.create();
    open.add(c);
    return c;
  }

  MemcachedCache memcachedCache() {
    MemcachedCache c = MemcachedCache.builder().servers(memcached.cluster().servers()).build();
    open.add(c);
    return c;
  }

  ThingDb open(Cache cache, Clock clock, ThingType... types) {
    ThingDbBuilder b = ThingDb.builder().database("main", Database.of(ds)).clock(clock);
    for (ThingType t : types) {
      b.type(t, "main");
    }
    ThingDb db = (cache == null ? b.noCache() : b.cache(cache)).build();
    open.add(db);
    return db;
  }

  ThingDb open(
      Cache cache, java.util.function.Consumer<ThingDbBuilder> settings, ThingType... types) {
    ThingDbBuilder b = ThingDb.builder().database("main", Database.of(ds)).cache(cache);
    for (ThingType t : types) {
      b.type(t, "main");
    }
    settings.accept(b);
    ThingDb db = b.build();
    open.add(db);
    return db;
  }

  ThingDb open(Cache cache, ThingType... types) {
    return open(cache, Clock.systemUTC(), types);
  }

  static List<Long> ids(ThingQuery.Result r) {
    return r.things().stream().map(Thing::id).toList();
  }

  static List<Long> ids(List<Thing> things) {
    return things.stream().map(Thing::id).toList();
  }

  /** Every thing of the type, deleted and spam included. */
  static List<Thing> all(ThingDb db, ThingType type) {
    return db.query(ThingQuery.of(type).includeDeleted().includeSpam().limit(1000)).things();
  }

  static Comparator<Thing> byDateDesc() {
    return Comparator.comparing(Thing::date)
        .reversed()
        .thenComparing(Comparator.comparingLong(Thing::id).reversed());
  }

  /** Order by a double value descending (or ascending), then id descending: the one total order. */
  static <T> Comparator<T> byValueThenIdDesc(
      java.util.function.ToDoubleFunction<T> value,
      boolean ascending,
      java.util.function.ToLongFunction<T> id) {
    Comparator<T> v = Comparator.comparingDouble(value);
    return (ascending ? v : v.reversed()).thenComparing(Comparator.comparingLong(id).reversed());
  }

  /**
   * Asserts that the query with {@code filter} returns exactly the visible things matching {@code
   * expected}.
   */
  static void assertFilter(
      ThingDb db, ThingType type, List<Thing> all, Filter filter, Predicate<Thing> expected) {
    List<Long> want =
        all.stream()
            .filter(t -> !t.deleted() && !t.spam())
            .filter(expected)
            .sorted(byDateDesc())
            .map(Thing::id)
            .toList();
    assertThat(ids(db.query(ThingQuery.of(type).where(filter).limit(1000))))
        .as(filter.toString())
        .containsExactlyElementsOf(want);
  }

  static long count(String sql) {
    try (Connection c = ds.getConnection();
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new AssertionError(e);
    }
  }

  static double sqlHot(int ups, int downs, Instant date) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement("select thingdb_hot(?, ?, ?::timestamptz)")) {
      ps.setLong(1, ups);
      ps.setLong(2, downs);
      ps.setObject(3, date.atOffset(ZoneOffset.UTC));
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getDouble(1);
      }
    } catch (SQLException e) {
      throw new AssertionError(e);
    }
  }

  /** DESIGN.md 5: round(sign(s) * log10(max(|s|,1)) + (epochSeconds - 1134028003) / 45000, 7). */
  static double javaHot(Thing t) {
    long s = (long) t.ups() - t.downs();
    double order = StrictMath.log10(Math.max(Math.abs(s), 1));
    double seconds = t.date().getEpochSecond() + (t.date().getNano() / 1_000) / 1e6;
    double x = Long.signum(s) * order + (seconds - 1134028003) / 45000;
    return new BigDecimal(x).setScale(7, RoundingMode.HALF_EVEN).doubleValue();
  }

  /** DESIGN.md 5: 0 if ups <= 0 or downs <= 0, else (ups + downs) ^ (min / max). */
  static double javaControversy(Thing t) {
    int u = t.ups();
    int d = t.downs();
    if (u <= 0 || d <= 0) {
      return 0;
    }
    return Math.pow(u + d, (double) Math.min(u, d) / Math.max(u, d));
  }

  /** Walks every page with {@code after}, running {@code between} after each page. */
  static List<Long> walk(ThingDb db, ThingQuery q, Runnable between) {
    List<Long> out = new ArrayList<>();
    String cursor = null;
    for (int pages = 0; pages < 1000; pages++) {
      ThingQuery.Result r = db.query(cursor == null ? q : q.after(cursor));
      out.addAll(ids(r));
      between.run();
      cursor = r.next().orElse(null);
      if (cursor == null) {
        return out;
      }
    }
    throw new AssertionError("more than 1000 pages");
  }

  /** Things with a spread of votes, dates (some tied) and props (some at their defaults). */
  static List<Thing> seedMixed(ThingDb db, ThingType type) {
    List<NewThing> batch = new ArrayList<>();
    batch.add(db.newThing(type).date(BASE).votes(3, 1)); // all props default, no data rows
    batch.add(
        db.newThing(type)
            .date(BASE.plusSeconds(3600))
            .votes(0, 0)
            .set(TITLE, "a")
            .set(N, 5L)
            .set(X, 1.5)
            .set(FLAG, true)
            .set(WHEN, Instant.parse("2021-06-01T00:00:00.000001Z"))
            .set(BLOB, new byte[] {1, 2}));
    batch.add(
        db.newThing(type)
            .date(BASE.plusSeconds(3600))
            .votes(10, 12)
            .set(TITLE, "B")
            .set(N, -3L)
            .set(X, -2.25)
            .set(WHEN, Instant.parse("2019-12-31T23:59:59.999999Z"))
            .set(BLOB, new byte[] {3}));
    batch.add(
        db.newThing(type)
            .date(BASE.minusSeconds(60))
            .votes(5, 3)
            .set(TITLE, "b")
            .set(N, 100L)
            .set(X, 1e10)
            .set(FLAG, true));
    batch.add(
        db.newThing(type)
            .date(BASE.plusSeconds(7200))
            .votes(2, 0)
            .set(TITLE, "")
            .set(N, 0L)); // explicit defaults
    batch.add(db.newThing(type).date(BASE.plusSeconds(60)).votes(1, 1).set(TITLE, "zz").set(N, 7L));
    batch.add(
        db.newThing(type).date(BASE.plusSeconds(120)).votes(4, 4).set(TITLE, "a").set(X, 0.25));
    List<Thing> created = new ArrayList<>(db.createAll(batch));
    // A thing whose props were set and then reset to their defaults: the rows are deleted.
    Thing reset =
        db.create(
            db.newThing(type)
                .date(BASE.plusSeconds(30))
                .set(TITLE, "gone")
                .set(N, 9L)
                .set(FLAG, true)
                .set(BLOB, new byte[] {9}));
    created.add(
        db.update(
            reset.edit().set(TITLE, "").set(N, 0L).set(FLAG, false).set(BLOB, new byte[] {7})));
    // Hidden things: they must never match unless asked for.
    created.add(
        db.setDeleted(
            db.create(db.newThing(type).date(BASE.plusSeconds(10)).set(TITLE, "a")), true));
    created.add(db.create(db.newThing(type).date(BASE.plusSeconds(20)).set(TITLE, "a").spam(true)));
    return created;
  }

  // ------------------------------------------------------------------ filters

  @Test
  void everyComparisonOnBaseColumnsMatchesTheSameThingsAsJava() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<Thing> things = seedMixed(db, type);
    List<Thing> all = all(db, type);
    assertThat(all).hasSize(things.size());
    long midId = things.get(4).id();
    for (long v : new long[] {midId, 0, 2, 4}) {
      Object boxed = v;
      assertFilter(db, type, all, Filter.eq(Column.ID, boxed), t -> t.id() == v);
      assertFilter(db, type, all, Filter.ne(Column.ID, boxed), t -> t.id() != v);
      assertFilter(db, type, all, Filter.lt(Column.ID, boxed), t -> t.id() < v);
      assertFilter(db, type, all, Filter.le(Column.ID, boxed), t -> t.id() <= v);
      assertFilter(db, type, all, Filter.gt(Column.ID, boxed), t -> t.id() > v);
      assertFilter(db, type, all, Filter.ge(Column.ID, boxed), t -> t.id() >= v);
      assertFilter(db, type, all, Filter.eq(Column.UPS, (int) v), t -> t.ups() == v);
      assertFilter(db, type, all, Filter.gt(Column.UPS, (int) v), t -> t.ups() > v);
      assertFilter(db, type, all, Filter.le(Column.DOWNS, boxed), t -> t.downs() <= v);
      assertFilter(db, type, all, Filter.ne(Column.DOWNS, boxed), t -> t.downs() != v);
      assertFilter(db, type, all, Filter.eq(Column.SCORE, boxed), t -> t.score() == v);
      assertFilter(db, type, all, Filter.lt(Column.SCORE, boxed), t -> t.score() < v);
      assertFilter(db, type, all, Filter.ge(Column.SCORE, boxed), t -> t.score() >= v);
    }
    assertFilter(db, type, all, Filter.lt(Column.SCORE, 0), t -> t.score() < 0);
    assertFilter(
        db,
        type,
        all,
        Filter.in(Column.ID, things.get(0).id(), things.get(3).id(), 999_999L),
        t -> t.id() == things.get(0).id() || t.id() == things.get(3).id());
    assertFilter(
        db,
        type,
        all,
        Filter.in(Column.SCORE, List.of(0, 2)),
        t -> t.score() == 0 || t.score() == 2);
    assertFilter(db, type, all, Filter.in(Column.UPS, List.of()), t -> false);
    Instant tied = BASE.plusSeconds(3600);
    assertFilter(db, type, all, Filter.eq(Column.DATE, tied), t -> t.date().equals(tied));
    assertFilter(db, type, all, Filter.ne(Column.DATE, tied), t -> !t.date().equals(tied));
    assertFilter(db, type, all, Filter.lt(Column.DATE, tied), t -> t.date().isBefore(tied));
    assertFilter(db, type, all, Filter.le(Column.DATE, tied), t -> !t.date().isAfter(tied));
    assertFilter(db, type, all, Filter.gt(Column.DATE, BASE), t -> t.date().isAfter(BASE));
    assertFilter(db, type, all, Filter.ge(Column.DATE, BASE), t -> !t.date().isBefore(BASE));
    assertFilter(
        db,
        type,
        all,
        Filter.in(Column.DATE, BASE, tied),
        t -> t.date().equals(BASE) || t.date().equals(tied));
    // Nanoseconds are truncated like stored dates, so this is the same instant as BASE.
    assertFilter(
        db, type, all, Filter.eq(Column.DATE, BASE.plusNanos(999)), t -> t.date().equals(BASE));
  }

  @Test
  void deletedAndSpamColumnsMatchOnlyWhenTheThingsAreIncluded() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Thing plain = db.create(db.newThing(type));
    Thing deleted = db.setDeleted(db.create(db.newThing(type)), true);
    Thing spam = db.create(db.newThing(type).spam(true));
    Thing both = db.markSpam(db.setDeleted(db.create(db.newThing(type)), true), true);
    ThingQuery q = ThingQuery.of(type);
    assertThat(ids(db.query(q.where(Filter.eq(Column.DELETED, true))))).isEmpty();
    assertThat(ids(db.query(q.where(Filter.eq(Column.DELETED, true)).includeDeleted())))
        .containsExactly(deleted.id());
    assertThat(ids(db.query(q.where(Filter.eq(Column.SPAM, true)).includeSpam())))
        .containsExactly(spam.id());
    assertThat(ids(db.query(q.where(Filter.ne(Column.SPAM, true)).includeDeleted().includeSpam())))
        .containsExactly(deleted.id(), plain.id());
    assertThat(
            ids(db.query(q.where(Filter.in(Column.DELETED, true)).includeDeleted().includeSpam())))
        .containsExactly(both.id(), deleted.id());
  }

  @Test
  void everyComparisonOnPropsTreatsMissingRowsAsTheDefault() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    seedMixed(db, type);
    List<Thing> all = all(db, type);
    // Things without a row for the prop must match comparisons with its default.
    assertThat(
            count(
                "select count(*) from thing_"
                    + type.name()
                    + " t where not exists"
                    + " (select 1 from data_"
                    + type.name()
                    + " d where d.thing_id = t.thing_id)"))
        .isGreaterThanOrEqualTo(2);
    checkProp(db, type, all, TITLE, String::compareTo, List.of("", "a", "B", "b", "zz", "nope"));
    checkProp(db, type, all, N, Long::compareTo, List.of(0L, 5L, -3L, 100L, 7L, -1000L));
    checkProp(db, type, all, X, Double::compare, List.of(0.5, 1.5, -2.25, 1e10, 0.25, 0.3));
    checkProp(
        db,
        type,
        all,
        WHEN,
        Instant::compareTo,
        List.of(
            WHEN.defaultValue(),
            Instant.parse("2021-06-01T00:00:00.000001Z"),
            Instant.parse("2019-12-31T23:59:59.999999Z"),
            Instant.parse("2021-06-01T00:00:00Z")));
    checkProp(db, type, all, FLAG, null, List.of(false, true));
    checkProp(
        db,
        type,
        all,
        BLOB,
        null,
        List.of(new byte[] {7}, new byte[] {1, 2}, new byte[] {3}, new byte[0]));
    // The default matches things that never had a row and things whose row was deleted.
    assertThat(ids(db.query(ThingQuery.of(type).where(Filter.eq(TITLE, "")).limit(1000))))
        .hasSize(3);
  }

  private static <T> void checkProp(
      ThingDb db,
      ThingType type,
      List<Thing> all,
      Prop<T> prop,
      Comparator<T> order,
      List<T> probes) {
    PropKind kind = prop.kind();
    for (T v : probes) {
      assertFilter(db, type, all, Filter.eq(prop, v), t -> Prop.valueEquals(kind, t.get(prop), v));
      assertFilter(db, type, all, Filter.ne(prop, v), t -> !Prop.valueEquals(kind, t.get(prop), v));
      if (order != null) {
        assertFilter(db, type, all, Filter.lt(prop, v), t -> order.compare(t.get(prop), v) < 0);
        assertFilter(db, type, all, Filter.le(prop, v), t -> order.compare(t.get(prop), v) <= 0);
        assertFilter(db, type, all, Filter.gt(prop, v), t -> order.compare(t.get(prop), v) > 0);
        assertFilter(db, type, all, Filter.ge(prop, v), t -> order.compare(t.get(prop), v) >= 0);
      }
    }
    List<T> some = probes.subList(0, 2);
    assertFilter(
        db,
        type,
        all,
        Filter.in(prop, some),
        t -> some.stream().anyMatch(v -> Prop.valueEquals(kind, t.get(prop), v)));
    assertFilter(db, type, all, Filter.in(prop, List.of()), t -> false);
  }

  @Test
  void stringsCompareByCodePointWhateverTheCollation() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Thing upper = db.create(db.newThing(type).set(TITLE, "B"));
    Thing lower = db.create(db.newThing(type).set(TITLE, "a"));
    Thing accent = db.create(db.newThing(type).set(TITLE, "\u00e9"));
    // "B" < "a" < "é" in String.compareTo; a linguistic collation would put "a" first.
    assertThat(
            ids(
                db.query(
                    ThingQuery.of(type).where(Filter.lt(TITLE, "a")).where(Filter.ne(TITLE, "")))))
        .containsExactly(upper.id());
    assertThat(ids(db.query(ThingQuery.of(type).where(Filter.gt(TITLE, "a")))))
        .containsExactly(accent.id());
    assertThat(lower.get(TITLE)).isEqualTo("a");
  }

  @Test
  void andOrNestMatchTheSameThingsAsJava() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<Thing> things = seedMixed(db, type);
    List<Thing> all = all(db, type);
    Filter f =
        Filter.or(
            Filter.and(Filter.eq(FLAG, true), Filter.gt(N, 10L)),
            Filter.and(
                Filter.eq(TITLE, "a"), Filter.or(Filter.lt(X, 1.0), Filter.ge(Column.SCORE, 0))),
            Filter.eq(Column.ID, things.get(2).id()));
    Predicate<Thing> p =
        t ->
            (t.get(FLAG) && t.get(N) > 10)
                || (t.get(TITLE).equals("a") && (t.get(X) < 1.0 || t.score() >= 0))
                || t.id() == things.get(2).id();
    assertFilter(db, type, all, f, p);
    assertThat(all.stream().filter(t -> !t.deleted() && !t.spam()).filter(p).count())
        .isBetween(2L, 5L);
    assertFilter(
        db,
        type,
        all,
        Filter.and(Filter.in(TITLE, "a", "b"), Filter.ne(FLAG, true)),
        t -> (t.get(TITLE).equals("a") || t.get(TITLE).equals("b")) && !t.get(FLAG));
    assertFilter(db, type, all, Filter.and(Filter.or(Filter.eq(N, 5L))), t -> t.get(N) == 5L);
    // Two where() calls combine with and.
    assertThat(
            ids(
                db.query(
                    ThingQuery.of(type).where(Filter.eq(TITLE, "a")).where(Filter.eq(FLAG, true)))))
        .containsExactly(things.get(1).id());
  }

  @Test
  void propKeyWithSqlInItIsDataNotSql() {
    ThingType link = ThingType.named("link").props(TITLE, EVIL).build();
    ThingDb db = open(inProcess(), link);
    Thing evil = db.create(db.newThing(link).set(EVIL, "'; drop table thing_link; --"));
    Thing plain = db.create(db.newThing(link).set(TITLE, "x"));
    assertThat(
            ids(
                db.query(
                    ThingQuery.of(link).where(Filter.eq(EVIL, "'; drop table thing_link; --")))))
        .containsExactly(evil.id());
    assertThat(ids(db.query(ThingQuery.of(link).where(Filter.eq(EVIL, "")))))
        .containsExactly(plain.id());
    assertThat(ids(db.query(ThingQuery.of(link).where(Filter.in(EVIL, "x' or '1'='1"))))).isEmpty();
    assertThat(count("select count(*) from thing_link")).isEqualTo(2);
    assertThat(count("select count(*) from data_link where key = 'x''; drop table thing_link; --'"))
        .isEqualTo(1);
  }

  // ------------------------------------------------------------------ sorts

  @Test
  void dateSortIsNewestFirstWithTiesByIdDescending() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      batch.add(db.newThing(type).date(BASE.plusSeconds(i % 3 * 60L)));
    }
    List<Thing> things = db.createAll(batch);
    List<Thing> desc = things.stream().sorted(byDateDesc()).toList();
    assertThat(ids(db.query(ThingQuery.of(type)))).containsExactlyElementsOf(ids(desc));
    assertThat(ids(db.query(ThingQuery.of(type).sort(Sort.DATE))))
        .containsExactlyElementsOf(ids(desc));
    List<Thing> asc =
        things.stream()
            .sorted(
                Comparator.comparing(Thing::date)
                    .thenComparing(Comparator.comparingLong(Thing::id).reversed()))
            .toList();
    assertThat(ids(db.query(ThingQuery.of(type).sort(Sort.DATE.ascending()))))
        .containsExactlyElementsOf(ids(asc));
    assertThat(ids(asc).get(0))
        .isEqualTo(things.get(6).id()); // oldest date, highest id among the tied
  }

  @Test
  void scoreSortBreaksTiesByIdDescendingBothWays() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<NewThing> batch = new ArrayList<>();
    int[][] votes = {{3, 1}, {5, 3}, {0, 0}, {2, 0}, {1, 1}, {10, 12}, {7, 5}, {0, 2}};
    for (int[] v : votes) {
      batch.add(db.newThing(type).votes(v[0], v[1]).date(BASE));
    }
    List<Thing> things = db.createAll(batch);
    for (boolean ascending : new boolean[] {false, true}) {
      List<Long> want =
          things.stream()
              .sorted(byValueThenIdDesc(Thing::score, ascending, Thing::id))
              .map(Thing::id)
              .toList();
      Sort sort = ascending ? Sort.SCORE.ascending() : Sort.SCORE;
      assertThat(ids(db.query(ThingQuery.of(type).sort(sort))))
          .as(sort.toString())
          .containsExactlyElementsOf(want);
      assertThat(walk(db, ThingQuery.of(type).sort(sort).limit(2), () -> {}))
          .containsExactlyElementsOf(want);
    }
  }

  @Test
  void hotSortOrdersLikeTheJavaFormulaWithTiesByIdDescending() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Random random = new Random(42);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      Instant date =
          BASE.plus(random.nextInt(5 * 86_400), ChronoUnit.SECONDS)
              .plus(random.nextInt(1_000_000), ChronoUnit.MICROS);
      int ups = random.nextInt(60);
      int downs = random.nextInt(60);
      batch.add(db.newThing(type).votes(ups, downs).date(date));
      if (i % 8 == 0) {
        batch.add(db.newThing(type).votes(ups, downs).date(date)); // an exact tie
      }
    }
    List<Thing> things = db.createAll(batch);
    List<Long> want =
        things.stream()
            .sorted(byValueThenIdDesc(ThingQueryTest::javaHot, false, Thing::id))
            .map(Thing::id)
            .toList();
    assertThat(ids(db.query(ThingQuery.of(type).sort(Sort.HOT).limit(1000))))
        .containsExactlyElementsOf(want);
    assertThat(walk(db, ThingQuery.of(type).sort(Sort.HOT).limit(7), () -> {}))
        .containsExactlyElementsOf(want);
  }

  @Test
  void controversySortOrdersLikeTheJavaFormulaWithTiesByIdDescending() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    int[][] votes = {
      {2, 3}, {0, 5}, {10, 10}, {3, 2}, {5, 0}, {1, 100}, {0, 0}, {50, 49}, {7, 7}, {4, 1}
    };
    List<NewThing> batch = new ArrayList<>();
    for (int[] v : votes) {
      batch.add(db.newThing(type).votes(v[0], v[1]).date(BASE));
    }
    List<Thing> things = db.createAll(batch);
    List<Long> want =
        things.stream()
            .sorted(byValueThenIdDesc(ThingQueryTest::javaControversy, false, Thing::id))
            .map(Thing::id)
            .toList();
    assertThat(ids(db.query(ThingQuery.of(type).sort(Sort.CONTROVERSY))))
        .containsExactlyElementsOf(want);
    assertThat(walk(db, ThingQuery.of(type).sort(Sort.CONTROVERSY).limit(3), () -> {}))
        .containsExactlyElementsOf(want);
    // (2, 3) and (3, 2) tie exactly; the later id comes first.
    assertThat(want.indexOf(things.get(3).id())).isEqualTo(want.indexOf(things.get(0).id()) - 1);
  }

  @Test
  void negativeZeroHotSortsEqualToZero() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Instant epoch = Instant.ofEpochSecond(1134028003);
    Thing positiveZero = db.create(db.newThing(type).date(epoch.plus(1, ChronoUnit.MILLIS)));
    Thing zero = db.create(db.newThing(type).votes(1, 0).date(epoch));
    Thing negativeZero = db.create(db.newThing(type).date(epoch.minus(1, ChronoUnit.MILLIS)));
    Thing one = db.create(db.newThing(type).votes(10, 0).date(epoch));
    Thing minusOne = db.create(db.newThing(type).votes(0, 10).date(epoch));
    assertThat(Double.doubleToRawLongBits(sqlHot(0, 0, negativeZero.date())))
        .isEqualTo(Double.doubleToRawLongBits(-0.0));
    assertThat(Double.doubleToRawLongBits(sqlHot(0, 0, positiveZero.date()))).isEqualTo(0L);
    assertThat(count("select count(*) where '-0'::float8 = '0'::float8")).isEqualTo(1);
    // If -0.0 sorted below 0.0, negativeZero (the highest id of the three) would come last.
    List<Long> want =
        List.of(one.id(), negativeZero.id(), zero.id(), positiveZero.id(), minusOne.id());
    assertThat(ids(db.query(ThingQuery.of(type).sort(Sort.HOT)))).containsExactlyElementsOf(want);
    assertThat(walk(db, ThingQuery.of(type).sort(Sort.HOT).limit(1), () -> {}))
        .containsExactlyElementsOf(want);
  }

  @Test
  void propSortUsesTheDefaultForMissingRowsWithTiesByIdDescending() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<NewThing> batch = new ArrayList<>();
    long[] ns = {5, 0, -3, 5, 100, 0, 7};
    double[] xs = {0.5, 1.5, -2.25, 1e10, 0.5, 0.25, 1.5};
    for (int i = 0; i < ns.length; i++) {
      batch.add(
          db.newThing(type)
              .set(N, ns[i])
              .set(X, xs[i])
              .set(WHEN, BASE.plusSeconds(ns[i]))
              .date(BASE));
    }
    List<Thing> things = db.createAll(batch);
    for (boolean ascending : new boolean[] {false, true}) {
      Sort byN = ascending ? Sort.prop(N).ascending() : Sort.prop(N);
      Sort byX = ascending ? Sort.prop(X).ascending() : Sort.prop(X);
      Sort byWhen = ascending ? Sort.prop(WHEN).ascending() : Sort.prop(WHEN);
      assertThat(ids(db.query(ThingQuery.of(type).sort(byN))))
          .as(byN.toString())
          .containsExactlyElementsOf(
              things.stream()
                  .sorted(byValueThenIdDesc(t -> t.get(N), ascending, Thing::id))
                  .map(Thing::id)
                  .toList());
      assertThat(ids(db.query(ThingQuery.of(type).sort(byX))))
          .as(byX.toString())
          .containsExactlyElementsOf(
              things.stream()
                  .sorted(byValueThenIdDesc(t -> t.get(X), ascending, Thing::id))
                  .map(Thing::id)
                  .toList());
      assertThat(walk(db, ThingQuery.of(type).sort(byWhen).limit(2), () -> {}))
          .as(byWhen.toString())
          .containsExactlyElementsOf(
              things.stream()
                  .sorted(byValueThenIdDesc(t -> t.get(WHEN).toEpochMilli(), ascending, Thing::id))
                  .map(Thing::id)
                  .toList());
    }
  }

  // ------------------------------------------------------------------ pagination

  @Test
  void walkingAllPagesYieldsEveryMatchingThingOnceInOrder() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Random random = new Random(7);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      batch.add(
          db.newThing(type)
              .votes(random.nextInt(5), random.nextInt(5))
              .date(BASE.plusSeconds(random.nextInt(4) * 60L))
              .set(N, (long) random.nextInt(3))
              .set(FLAG, i % 4 != 0));
    }
    db.createAll(batch);
    List<Sort> sorts =
        List.of(
            Sort.DATE,
            Sort.DATE.ascending(),
            Sort.SCORE,
            Sort.SCORE.ascending(),
            Sort.HOT,
            Sort.CONTROVERSY,
            Sort.prop(N),
            Sort.prop(N).ascending());
    for (Sort sort : sorts) {
      ThingQuery q = ThingQuery.of(type).where(Filter.eq(FLAG, true)).sort(sort);
      List<Long> whole = ids(db.query(q.limit(1000)));
      assertThat(whole).hasSize(22);
      for (int pageSize : new int[] {1, 4, 22, 25}) {
        assertThat(walk(db, q.limit(pageSize), () -> {}))
            .as(sort + " by " + pageSize)
            .containsExactlyElementsOf(whole);
      }
    }
  }

  @Test
  void pagesNeverRepeatOrSkipOlderThingsWhileNewOnesAreInserted() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Random random = new Random(11);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      batch.add(
          db.newThing(type)
              .votes(random.nextInt(4), random.nextInt(4))
              .date(BASE.plusSeconds(random.nextInt(6) * 60L)));
    }
    db.createAll(batch);
    for (Sort sort : List.of(Sort.DATE, Sort.SCORE, Sort.HOT, Sort.DATE.ascending())) {
      ThingQuery q = ThingQuery.of(type).sort(sort);
      List<Long> before = ids(db.query(q.limit(1000)));
      Set<Long> original = new HashSet<>(before);
      List<Long> walked =
          walk(
              db,
              q.limit(5),
              () -> {
                // Ties with existing things, newer and older dates, equal scores: anything may
                // arrive.
                db.create(
                    db.newThing(type)
                        .votes(random.nextInt(4), random.nextInt(4))
                        .date(BASE.plusSeconds(random.nextInt(8) * 60L - 60)));
                db.create(db.newThing(type).date(BASE.plusSeconds(120)));
              });
      assertThat(new LinkedHashSet<>(walked)).as(sort + ": no duplicates").hasSameSizeAs(walked);
      assertThat(walked.stream().filter(original::contains).toList())
          .as(sort + ": every older thing, in order")
          .containsExactlyElementsOf(before);
    }
  }

  @Test
  void cursorByIdAndByFullnameContinueAtTheSamePlace() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    List<Thing> things =
        db.createAll(
            List.of(
                db.newThing(type).date(BASE),
                db.newThing(type).date(BASE),
                db.newThing(type).date(BASE.minusSeconds(1)),
                db.newThing(type).date(BASE.plusSeconds(1))));
    ThingQuery.Result first = db.query(ThingQuery.of(type).limit(2));
    assertThat(ids(first)).containsExactly(things.get(3).id(), things.get(1).id());
    assertThat(first.next()).contains(things.get(1).fullname());
    ThingQuery.Result byName =
        db.query(ThingQuery.of(type).limit(2).after(first.next().orElseThrow()));
    ThingQuery.Result byId = db.query(ThingQuery.of(type).limit(2).after(things.get(1).id()));
    assertThat(ids(byName)).containsExactly(things.get(0).id(), things.get(2).id());
    assertThat(ids(byId)).isEqualTo(ids(byName));
    assertThat(byName.next()).isEmpty();
    // The cursor thing need not match the filter, nor be visible.
    db.setDeleted(things.get(1), true);
    assertThat(
            ids(
                db.query(
                    ThingQuery.of(type)
                        .where(Filter.ne(Column.ID, things.get(1).id()))
                        .after(things.get(1).id()))))
        .containsExactly(things.get(0).id(), things.get(2).id());
  }

  // ------------------------------------------------------------------ visibility

  @Test
  void deletedAndSpamThingsAreExcludedUnlessAskedFor() {
    ThingType type = newType();
    ThingDb db = open(inProcess(), type);
    Thing plain = db.create(db.newThing(type).date(BASE));
    Thing deleted = db.setDeleted(db.create(db.newThing(type).date(BASE.plusSeconds(1))), true);
    Thing spam = db.create(db.newThing(type).date(BASE.plusSeconds(2)).spam(true));
    Thing both =
        db.setDeleted(db.create(db.newThing(type).date(BASE.plusSeconds(3)).spam(true)), true);
    ThingQuery q = ThingQuery.of(type);
    assertThat(ids(db.query(q))).containsExactly(plain.id());
    assertThat(ids(db.query(q.includeDeleted()))).containsExactly(deleted.id(), plain.id());
    assertThat(ids(db.query(q.includeSpam()))).containsExactly(spam.id(), plain.id());
    assertThat(ids(db.query(q.includeDeleted().includeSpam())))
        .containsExactly(both.id(), spam.id(), deleted.id(), plain.id());
    assertThat(db.query(q.includeDeleted()).things().get(0).deleted()).isTrue();
    db.setDeleted(deleted, false);
    assertThat(ids(db.query(q))).containsExactly(deleted.id(), plain.id());
  }

  // ------------------------------------------------------------------ statements and the query
  // cache

  @Test
  void uncachedQueryRunsOneStatementPlusTheMissesOfGetMany() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type);
    db.createAll(
        List.of(
            db.newThing(type).set(TITLE, "a"),
            db.newThing(type).set(TITLE, "b"),
            db.newThing(type)));
    ThingQuery q = ThingQuery.of(type).where(Filter.ne(TITLE, "zz"));
    try (Scope s = db.scope()) {
      assertThat(db.query(q).things()).hasSize(3); // things warm from the create's fill
      assertThat(s.statements()).isEqualTo(1);
      assertThat(s.cacheHits()).isEqualTo(3);
    }
    memcached.cluster().flushAll();
    long queried;
    List<Long> found;
    try (Scope s = db.scope()) {
      found = ids(db.query(q));
      queried = s.statements();
    }
    memcached.cluster().flushAll();
    try (Scope s = db.scope()) {
      assertThat(ids(db.getMany(type, found, ThingDb.Missing.FAIL))).isEqualTo(found).hasSize(3);
      assertThat(s.statements()).isBetween(1L, 2L);
      assertThat(queried)
          .as("the ids, then what getMany runs for the misses")
          .isEqualTo(1 + s.statements());
    }
    try (Scope s = db.scope()) {
      assertThat(db.query(q.where(Filter.eq(TITLE, "none"))).things()).isEmpty();
      assertThat(s.statements()).isEqualTo(1);
    }
  }

  @Test
  void warmCachedQueryRunsNoStatements() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type);
    List<Thing> things =
        db.createAll(
            List.of(
                db.newThing(type).votes(2, 0),
                db.newThing(type).votes(1, 0),
                db.newThing(type).votes(3, 0)));
    ThingQuery q = ThingQuery.of(type).sort(Sort.SCORE).limit(2).cached(TTL);
    ThingQuery.Result first;
    try (Scope s = db.scope()) {
      first = db.query(q);
      assertThat(s.statements()).isEqualTo(1);
    }
    try (Scope s = db.scope()) {
      ThingQuery.Result second = db.query(q);
      assertThat(s.statements()).isZero();
      assertThat(ids(second))
          .containsExactly(things.get(2).id(), things.get(0).id())
          .isEqualTo(ids(first));
      assertThat(second.next()).isEqualTo(first.next());
      assertThat(db.query(q.after(second.next().orElseThrow())).things())
          .extracting(Thing::id)
          .containsExactly(things.get(1).id());
    }
    try (Scope s = db.scope()) {
      db.query(q.after(first.next().orElseThrow()));
      assertThat(s.statements()).isZero();
    }
    assertThat(mc.get(genKey(type))).isNotNull();
  }

  @Test
  void writesToTheTypeRetireCachedResults() {
    ThingType type = newType();
    ThingType other = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type, other);
    Thing a = db.create(db.newThing(type).set(TITLE, "a").votes(1, 0).date(BASE));
    ThingQuery q =
        ThingQuery.of(type).where(Filter.ne(TITLE, "hidden")).sort(Sort.SCORE).cached(TTL);
    Supplier<List<Long>> run =
        () -> {
          List<Long> cached = ids(db.query(q));
          assertThat(cached)
              .as("cached equals uncached")
              .isEqualTo(
                  ids(
                      db.query(
                          ThingQuery.of(type).where(Filter.ne(TITLE, "hidden")).sort(Sort.SCORE))));
          return cached;
        };
    assertThat(run.get()).containsExactly(a.id());
    Thing b = db.create(db.newThing(type).set(TITLE, "b").date(BASE));
    assertThat(run.get()).containsExactly(a.id(), b.id());
    db.incr(type, b.id(), ThingDb.Counter.UPS, 5);
    assertThat(run.get()).containsExactly(b.id(), a.id());
    db.update(db.get(type, a.id()).orElseThrow().edit().set(TITLE, "hidden"));
    assertThat(run.get()).containsExactly(b.id());
    db.update(db.get(type, a.id()).orElseThrow().edit().set(TITLE, "a"));
    assertThat(run.get()).containsExactly(b.id(), a.id());
    ThingQuery byN = ThingQuery.of(type).where(Filter.gt(N, 0L)).cached(TTL);
    assertThat(ids(db.query(byN))).isEmpty();
    db.incr(type, a.id(), N, 3L);
    assertThat(ids(db.query(byN))).containsExactly(a.id());
    db.setDeleted(db.get(type, a.id()).orElseThrow(), true);
    assertThat(run.get()).containsExactly(b.id());
    db.markSpam(db.get(type, b.id()).orElseThrow(), true);
    assertThat(run.get()).isEmpty();
    // A write to another type leaves this type's results cached.
    db.create(db.newThing(other));
    try (Scope s = db.scope()) {
      assertThat(ids(db.query(q))).isEmpty();
      assertThat(s.statements()).isZero();
    }
  }

  @Test
  void writeThroughAnotherInstanceRetiresCachedResults() {
    ThingType type = newType();
    ThingDb reader = open(memcachedCache(), type);
    ThingDb writer = open(memcachedCache(), type);
    Thing a = writer.create(writer.newThing(type).date(BASE));
    ThingQuery q = ThingQuery.of(type).cached(TTL);
    assertThat(ids(reader.query(q))).containsExactly(a.id());
    try (Scope s = writer.scope()) {
      assertThat(ids(writer.query(q))).containsExactly(a.id());
      assertThat(s.statements()).as("the reader's cached result is shared").isZero();
    }
    Thing b = writer.create(writer.newThing(type).date(BASE.plusSeconds(1)));
    assertThat(ids(reader.query(q))).containsExactly(b.id(), a.id());
  }

  /**
   * The type's generation counter as stored, 0 if absent. A read that times out is a miss too
   * (MemcachedCache never fails a read), so a miss is read again a few times before it counts.
   */
  /**
   * The key of the type's generation counter: its name under the cache epoch of this class's
   * database (one PostgreSQL server, one epoch).
   */
  static String genKey(ThingType type) {
    try (java.sql.Connection c = ds.getConnection()) {
      Epoch e = Epoch.read(new Sql(false), c);
      return e.prefix() + "gen:" + type.name();
    } catch (java.sql.SQLException e) {
      throw new AssertionError("cannot read the cache epoch: " + e.getMessage(), e);
    }
  }

  static long generation(MemcachedCache mc, ThingType type) {
    byte[] g = null;
    for (int i = 0; i < 10 && g == null; i++) {
      if (i > 0) {
        sleepQuietly(20);
      }
      g = mc.get(genKey(type));
    }
    return g == null ? 0 : Long.parseLong(new String(g, StandardCharsets.US_ASCII).trim());
  }

  static long outboxRows(Thing t) {
    return count(
        "select count(*) from thingdb_outbox where cache_key = 'thing:" + t.fullname() + "'");
  }

  @Test
  void theWritingInstanceNeverServesAListCachedBeforeItsWriteWhileTheBumpIsOwed() {
    ThingType type = newType();
    ThingDb writer =
        open(memcachedCache(), b -> b.queryCacheBumpDelay(Duration.ofSeconds(10)), type);
    ThingDb reader = open(memcachedCache(), type);
    MemcachedCache mc = memcachedCache();
    Thing a = writer.create(writer.newThing(type).votes(2, 0));
    Thing b = writer.create(writer.newThing(type).votes(1, 0));
    ThingQuery q = ThingQuery.of(type).sort(Sort.SCORE).cached(TTL);
    assertThat(ids(reader.query(q))).containsExactly(a.id(), b.id());
    long before = generation(mc, type);
    writer.incr(type, b.id(), ThingDb.Counter.UPS, 5);
    // The bump is owed for 10 s: the list cached before the write is still current for other
    // instances (the window the delay allows; this proves the test exercises it)...
    assertThat(generation(mc, type)).isEqualTo(before);
    assertThat(ids(reader.query(q))).containsExactly(a.id(), b.id());
    // ...but not for the writer: its generation read sends the owed bump.
    assertThat(ids(writer.query(q))).containsExactly(b.id(), a.id());
    assertThat(generation(mc, type)).isGreaterThan(before);
    assertThat(ids(reader.query(q))).containsExactly(b.id(), a.id());
  }

  @Test
  void otherInstancesStopServingAListCachedBeforeAWriteWithinTheBumpDelay()
      throws InterruptedException {
    ThingType type = newType();
    Duration delay = Duration.ofMillis(200);
    ThingDb writer = open(memcachedCache(), b -> b.queryCacheBumpDelay(delay), type);
    ThingDb reader = open(memcachedCache(), type);
    MemcachedCache mc = memcachedCache();
    Thing a = writer.create(writer.newThing(type).set(TITLE, "a").votes(2, 0));
    Thing b = writer.create(writer.newThing(type).set(TITLE, "b").votes(1, 0));
    ThingQuery q =
        ThingQuery.of(type).where(Filter.ne(TITLE, "hidden")).sort(Sort.SCORE).cached(TTL);
    assertThat(ids(reader.query(q))).containsExactly(a.id(), b.id());
    for (int round = 0; round < 3; round++) {
      long before = generation(mc, type);
      if (round == 0) {
        writer.incr(type, b.id(), ThingDb.Counter.UPS, 5); // b before a
      } else if (round == 1) {
        writer.update(writer.get(type, a.id()).orElseThrow().edit().set(TITLE, "hidden")); // a gone
      } else {
        writer.incr(type, a.id(), N, 3L); // a prop increment: a version, no change to the list
      }
      // The bound: the delay plus one cache write; the rest is slack for a loaded machine's
      // scheduler, not part of the contract. Nothing here reads through the writer.
      Thread.sleep(delay.toMillis() + 800);
      assertThat(generation(mc, type))
          .as("round %d: bumped in the background", round)
          .isGreaterThan(before);
      List<Long> expected = round == 0 ? List.of(b.id(), a.id()) : List.of(b.id());
      assertThat(ids(reader.query(q))).as("round %d", round).containsExactlyElementsOf(expected);
    }
  }

  @Test
  void aWriteIsConfirmedInTheOutboxOnlyOnceItsBumpHasLanded() {
    ThingType type = newType();
    ThingDb writer =
        open(
            memcachedCache(),
            b ->
                b.queryCacheBumpDelay(Duration.ofSeconds(10))
                    .outboxReplayInterval(Duration.ofHours(1)),
            type);
    Thing a = writer.create(writer.newThing(type));
    writer.incr(type, a.id(), ThingDb.Counter.UPS, 1);
    writer.incr(type, a.id(), ThingDb.Counter.DOWNS, 1);
    writer.update(writer.get(type, a.id()).orElseThrow().edit().set(TITLE, "t"));
    // The cache holds version 4, but the bump is owed: a crash now must leave the rows for the
    // replayer, which bumps the type. They stay well past the 50 ms confirmation flush.
    assertThat(writer.get(type, a.id()).orElseThrow().version()).isEqualTo(4);
    sleepQuietly(300);
    assertThat(outboxRows(a)).isEqualTo(3);
    writer.query(ThingQuery.of(type).cached(TTL)); // its generation read sends the bump
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (outboxRows(a) > 0 && System.nanoTime() < deadline) {
      sleepQuietly(20);
    }
    assertThat(outboxRows(a)).isZero();
  }

  @Test
  void countsAddedInAWriteTransactionPatchTheCachedThingAndOweTheBumpLikeAnIncrement() {
    ThingType type = newType();
    ThingDb writer =
        open(
            memcachedCache(),
            b ->
                b.queryCacheBumpDelay(Duration.ofSeconds(10))
                    .outboxReplayInterval(Duration.ofHours(1)),
            type);
    ThingDb reader = open(memcachedCache(), type);
    MemcachedCache mc = memcachedCache();
    Thing a = writer.create(writer.newThing(type).set(TITLE, "a").votes(2, 0));
    Thing b = writer.create(writer.newThing(type).set(TITLE, "b").votes(1, 0));
    ThingQuery q = ThingQuery.of(type).sort(Sort.SCORE).cached(TTL);
    assertThat(ids(reader.query(q))).containsExactly(a.id(), b.id());
    assertThat(writer.get(type, b.id()).orElseThrow().version()).isEqualTo(b.version()); // cached
    // A write transaction (as the listings module's votes write): counts, version and outbox row
    // in one transaction, the cache updated after COMMIT.
    long before = generation(mc, type);
    Counts counts = writer.write(tx -> tx.addCounts(type, b.id(), 5, 0).get()).orElseThrow();
    assertThat(counts.ups()).isEqualTo(6);
    assertThat(counts.version()).isEqualTo(b.version() + 1);
    // Patched, not invalidated: the cached value is the new version, props intact.
    try (io.thingdb.cache.VersionedCache view =
        io.thingdb.cache.VersionedCache.builder(mc).build()) {
      io.thingdb.cache.VersionedCache.Versioned cached = view.get(writer.cacheKeyOf(type, b.id()));
      assertThat(cached).isNotNull();
      assertThat(cached.version()).isEqualTo(b.version() + 1);
    }
    Thing read = reader.get(type, b.id()).orElseThrow();
    assertThat(read.ups()).isEqualTo(6);
    assertThat(read.get(TITLE)).isEqualTo("b");
    // The bump is owed (10 s), so the outbox row stays for a crash's replayer...
    assertThat(generation(mc, type)).isEqualTo(before);
    sleepQuietly(300);
    assertThat(outboxRows(b)).isEqualTo(1);
    // ...until the writer's own generation read sends it: then the row goes and others see it.
    assertThat(ids(writer.query(q))).containsExactly(b.id(), a.id());
    assertThat(ids(reader.query(q))).containsExactly(b.id(), a.id());
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (outboxRows(b) > 0 && System.nanoTime() < deadline) {
      sleepQuietly(20);
    }
    assertThat(outboxRows(b)).isZero();
  }

  @Test
  void closeSendsTheOwedBumps() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb writer =
        open(memcachedCache(), b -> b.queryCacheBumpDelay(Duration.ofSeconds(10)), type);
    Thing a = writer.create(writer.newThing(type));
    long before = generation(mc, type);
    writer.incr(type, a.id(), ThingDb.Counter.UPS, 1);
    assertThat(generation(mc, type)).isEqualTo(before);
    writer.close();
    assertThat(generation(mc, type)).isGreaterThan(before);
    assertThat(
            count(
                "select count(*) from thingdb_outbox where cache_key = 'thing:"
                    + a.fullname()
                    + "'"))
        .isZero();
  }

  @Test
  void aWriterThatDiesBeforeItsBumpIsCoveredByAnotherInstancesOutboxReplay()
      throws InterruptedException {
    ThingType type = newType();
    Duration interval = Duration.ofMillis(100);
    Duration grace = Duration.ofMillis(200);
    ThingDb reader =
        open(memcachedCache(), b -> b.outboxReplayInterval(interval).outboxGrace(grace), type);
    // The writer dies between COMMIT and its cache update (the hook throws), so it neither
    // patches the cached thing nor owes a bump; its own replayer is too slow to matter here.
    ThingDb writer =
        open(
            memcachedCache(),
            b ->
                b.outboxReplayInterval(Duration.ofHours(1))
                    .afterCommitHook(
                        what -> {
                          if (what.startsWith("incr")) {
                            throw new IllegalStateException("writer killed after COMMIT");
                          }
                        }),
            type);
    Thing a = writer.create(writer.newThing(type).votes(2, 0));
    Thing b = writer.create(writer.newThing(type).votes(1, 0));
    ThingQuery q = ThingQuery.of(type).sort(Sort.SCORE).cached(TTL);
    assertThat(ids(reader.query(q))).containsExactly(a.id(), b.id());
    assertThatThrownBy(() -> writer.incr(type, b.id(), ThingDb.Counter.UPS, 5))
        .hasMessage("writer killed after COMMIT");
    assertThat(outboxRows(b)).isEqualTo(1);
    // Within the replay interval plus grace (plus slack for the scheduler), the reader's replayer
    // invalidates b and bumps the type: the list cached before the write is retired.
    Thread.sleep(interval.toMillis() + grace.toMillis() + 1_000);
    assertThat(outboxRows(b)).isZero();
    assertThat(ids(reader.query(q))).containsExactly(b.id(), a.id());
    assertThat(reader.get(type, b.id()).orElseThrow().ups()).isEqualTo(6);
  }

  static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  @Test
  void lostGenerationCounterNeverResurrectsAnOlderResult() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type);
    String gen = genKey(type);
    Thing a = db.create(db.newThing(type).date(BASE));
    ThingQuery q = ThingQuery.of(type).cached(TTL);
    assertThat(ids(db.query(q))).containsExactly(a.id()); // cached at generation G
    Thing b = db.create(db.newThing(type).date(BASE.plusSeconds(1))); // G + 1
    assertThat(mc.delete(gen)).isEqualTo(Cache.Outcome.APPLIED);
    assertThat(ids(db.query(q))).containsExactly(b.id(), a.id());
    // The same after the counter is lost while nobody reads: a write re-creates it.
    Thing c = db.create(db.newThing(type).date(BASE.plusSeconds(2)));
    mc.delete(gen);
    Thing d = db.create(db.newThing(type).date(BASE.plusSeconds(3)));
    assertThat(ids(db.query(q))).containsExactly(d.id(), c.id(), b.id(), a.id());
    // And after a flush of every node.
    Thing e = db.create(db.newThing(type).date(BASE.plusSeconds(4)));
    memcached.cluster().flushAll();
    assertThat(ids(db.query(q))).containsExactly(e.id(), d.id(), c.id(), b.id(), a.id());
    // A fresh instance (no memory of earlier generations) after a loss: the clock moves it forward.
    Thing f = db.create(db.newThing(type).date(BASE.plusSeconds(5)));
    mc.delete(gen);
    ThingDb fresh = open(memcachedCache(), type);
    assertThat(ids(fresh.query(q))).containsExactly(f.id(), e.id(), d.id(), c.id(), b.id(), a.id());
  }

  @Test
  void lostGenerationCounterMovesForwardEvenWithAStoppedClock() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, Clock.fixed(Instant.now(), ZoneOffset.UTC), type);
    String gen = genKey(type);
    Thing a = db.create(db.newThing(type).date(BASE));
    ThingQuery q = ThingQuery.of(type).cached(TTL);
    assertThat(ids(db.query(q))).containsExactly(a.id());
    long seeded = Long.parseLong(new String(mc.get(gen), StandardCharsets.US_ASCII).trim());
    Thing b = db.create(db.newThing(type).date(BASE.plusSeconds(1)));
    mc.delete(gen);
    // Re-created from the same clock reading it would be back at `seeded`, the old result's key.
    assertThat(ids(db.query(q))).containsExactly(b.id(), a.id());
    assertThat(Long.parseLong(new String(mc.get(gen), StandardCharsets.US_ASCII).trim()))
        .isGreaterThan(seeded + 1);
  }

  @Test
  void unreachableGenerationServerSendsCachedQueriesToTheDatabase() {
    ThingType type = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type);
    Thing a = db.create(db.newThing(type).date(BASE));
    ThingQuery q = ThingQuery.of(type).cached(TTL);
    assertThat(ids(db.query(q))).containsExactly(a.id());
    String server = mc.serverFor(genKey(type));
    int node = memcached.cluster().servers().indexOf(server);
    memcached.cluster().stop(node);
    for (int i = 0; i < 2; i++) {
      try (Scope s = db.scope()) {
        assertThat(ids(db.query(q))).containsExactly(a.id());
        assertThat(s.statements()).as("no generation, no query cache").isGreaterThanOrEqualTo(1);
      }
    }
    // The bump of this write fails, and no cached result hides it.
    Thing b = db.create(db.newThing(type).date(BASE.plusSeconds(1)));
    assertThat(ids(db.query(q))).containsExactly(b.id(), a.id());
  }

  @Test
  void concurrentColdRunsOfACachedQueryLoadItOnce() throws Exception {
    ThingType type = newType();
    // Long deadlines: a read that times out is a miss by design, and a miss after the first load
    // has filled the key would rightly load again; this test is about single-flight and leases.
    MemcachedCache mc =
        MemcachedCache.builder()
            .servers(memcached.cluster().servers())
            .readDeadline(Duration.ofSeconds(2))
            .writeTimeout(Duration.ofSeconds(2))
            .build();
    open.add(mc);
    ThingDb db = open(mc, type);
    db.createAll(List.of(db.newThing(type), db.newThing(type), db.newThing(type)));
    ThingQuery q = ThingQuery.of(type).sort(Sort.HOT).cached(TTL);
    long loadsBefore = db.engine.cache.stats().total().loads();
    int threads = 8;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<List<Long>>> results = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        results.add(
            pool.submit(
                () -> {
                  go.await();
                  return ids(db.query(q));
                }));
      }
      go.countDown();
      List<Long> first = results.get(0).get(10, TimeUnit.SECONDS);
      assertThat(first).hasSize(3);
      for (Future<List<Long>> f : results) {
        assertThat(f.get(10, TimeUnit.SECONDS)).isEqualTo(first);
      }
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }
    // Exactly one: a reader that missed just before the first load finished and left the
    // single-flight map re-reads the key before loading (unprotected, it would be 8).
    assertThat(db.engine.cache.stats().total().loads() - loadsBefore).isEqualTo(1);
  }

  @Test
  void uncachedQueriesReadReplicasButCachedListsLoadFromThePrimary() {
    ThingType type = newType();
    // A second pool on the same database plays the replica: not in recovery, so always caught up.
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.jdbcUrl("query_test"));
    config.setMaximumPoolSize(2);
    config.setPoolName("query-test-replica");
    HikariDataSource replica = new HikariDataSource(config);
    open.add(replica);
    ThingDb db =
        ThingDb.builder()
            .database("main", Database.of(ds).withReplicas(replica))
            .type(type, "main")
            .cache(memcachedCache())
            .build();
    open.add(db);
    Session session = db.session();
    Thing a = db.withSession(session).create(db.newThing(type));
    long replicaReads = db.engine.routing.replicaReads.sum();
    long primaryReads = db.engine.routing.primaryReads.sum();
    assertThat(ids(db.withSession(session).query(ThingQuery.of(type)))).containsExactly(a.id());
    assertThat(db.engine.routing.replicaReads.sum() - replicaReads).isEqualTo(1);
    assertThat(ids(db.withSession(session).query(ThingQuery.of(type).cached(TTL))))
        .containsExactly(a.id());
    assertThat(db.engine.routing.replicaReads.sum() - replicaReads)
        .as("the cached list came from the primary")
        .isEqualTo(1);
    assertThat(db.engine.routing.primaryReads.sum() - primaryReads)
        .as("the fill bypasses routing")
        .isZero();
  }

  @Test
  void cachedQueryWithoutACacheReadsTheDatabase() {
    ThingType type = newType();
    ThingDb db = open(null, type);
    Thing a = db.create(db.newThing(type));
    long queried;
    try (Scope s = db.scope()) {
      assertThat(ids(db.query(ThingQuery.of(type).cached(TTL)))).containsExactly(a.id());
      queried = s.statements();
    }
    try (Scope s = db.scope()) {
      db.getMany(type, List.of(a.id()), ThingDb.Missing.FAIL);
      assertThat(queried).isEqualTo(1 + s.statements());
    }
  }

  // ------------------------------------------------------------------ bad input

  @Test
  void badLimitsAreRefusedWithTheRange() {
    ThingQuery q = ThingQuery.of(newType());
    assertThatThrownBy(() -> q.limit(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("limit must be between 1 and 1000: 0");
    assertThatThrownBy(() -> q.limit(1001))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("limit must be between 1 and 1000: 1001");
    assertThat(q.limit(1000).limit(1)).isNotNull();
    assertThatThrownBy(() -> q.cached(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("query cache ttl must be positive: PT0S");
  }

  @Test
  void unknownPropsAreRefusedNamingTheTypeAndProp() {
    ThingType type = newType();
    Prop<String> nope = Prop.string("nope", "");
    Prop<Long> stranger = Prop.int64("n", 1); // same name, another default: not the declared prop
    String declared = "(declared: [title, n, x, flag, when, blob])";
    assertThatThrownBy(
            () -> ThingQuery.of(type).where(Filter.or(Filter.eq(N, 1L), Filter.eq(nope, "x"))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown prop 'nope' of type " + type.name() + " " + declared);
    assertThatThrownBy(() -> ThingQuery.of(type).sort(Sort.prop(stranger)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown prop 'n' of type " + type.name() + " " + declared);
  }

  @Test
  @SuppressWarnings({"unchecked", "rawtypes"})
  void wrongValueKindsAreRefusedNamingPropAndValue() {
    Prop raw = TITLE;
    assertThatThrownBy(() -> Filter.eq(raw, 5L))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("prop 'title' is STRING but the value is a Long: 5");
    Prop rawN = N;
    assertThatThrownBy(() -> Filter.in(rawN, List.of(1L, "two")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("prop 'n' is LONG but the value is a String: two");
    assertThatThrownBy(() -> Filter.eq(Column.SCORE, "5"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("column score takes an Integer or Long, but the value is a String: 5");
    assertThatThrownBy(() -> Filter.lt(Column.DATE, 5L))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("column date takes an Instant, but the value is a Long: 5");
    assertThatThrownBy(() -> Filter.eq(Column.DELETED, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("column deleted takes a Boolean, but the value is a Integer: 1");
    assertThatThrownBy(() -> Filter.eq(X, Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("prop 'x': doubles must be finite: NaN");
    assertThatThrownBy(() -> Filter.eq(TITLE, "a\0b"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "prop 'title': strings must not contain NUL characters (PostgreSQL text cannot store them)");
    assertThatThrownBy(() -> Filter.lt(FLAG, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("lt is not defined on BOOLEAN prop 'flag': use eq, ne or in");
    assertThatThrownBy(() -> Filter.ge(Column.SPAM, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ge is not defined on column spam: use eq, ne or in");
    assertThatThrownBy(() -> Filter.and())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("and needs at least one filter");
    assertThatThrownBy(() -> Sort.prop(TITLE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "cannot sort by STRING prop 'title': only LONG, DOUBLE and INSTANT props can be sorted by");
    assertThatThrownBy(() -> Sort.HOT.ascending())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ascending order is supported for date, score and prop sorts, not hot");
  }

  @Test
  void badCursorsAreRefusedAndChangeNothing() {
    ThingType type = newType();
    ThingType other = newType();
    MemcachedCache mc = memcachedCache();
    ThingDb db = open(mc, type, other);
    Thing a = db.create(db.newThing(type).set(TITLE, "a"));
    Thing elsewhere = db.create(db.newThing(other));
    ThingQuery q = ThingQuery.of(type).cached(TTL);
    db.query(q);
    byte[] genBefore = mc.get(genKey(type));
    String rows =
        "select (select count(*) from thing_"
            + type.name()
            + ") * 1000 + (select count(*) from data_"
            + type.name()
            + ")";
    long rowsBefore = count(rows);
    assertThatThrownBy(() -> q.after("t1_"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad cursor for after(): malformed fullname 't1_': expected t<base36 type>_<base36 id>, e.g. t3_15bfi0");
    assertThatThrownBy(() -> q.after("T1_1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad cursor for after(): malformed fullname 'T1_1': expected t<base36 type>_<base36 id>, e.g. t3_15bfi0");
    assertThatThrownBy(() -> q.after("r1_1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bad cursor for after(): 'r1_1' names a relation, not a thing");
    assertThatThrownBy(() -> q.after("t1_-5"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad cursor for after(): malformed fullname 't1_-5': type and id must be lowercase base36");
    assertThatThrownBy(() -> q.after(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("id out of range for " + type.name() + ": 0 (ids start at 1)");
    String otherType = elsewhere.fullname().substring(1, elsewhere.fullname().indexOf('_'));
    String ownType = a.fullname().substring(1, a.fullname().indexOf('_'));
    assertThatThrownBy(() -> db.query(q.after(elsewhere.fullname())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad cursor for after(): '"
                + elsewhere.fullname()
                + "' names type id "
                + Integer.parseInt(otherType, 36)
                + ", but the query is over "
                + type.name()
                + " (type id "
                + Integer.parseInt(ownType, 36)
                + ")");
    String missing = "t" + ownType + "_zzzz";
    assertThatThrownBy(() -> db.query(q.after(missing)))
        .isInstanceOf(NotFoundException.class)
        .hasMessage(
            "bad cursor for after(): '"
                + missing
                + "' names no "
                + type.name()
                + " (id "
                + Long.parseLong("zzzz", 36)
                + "); start again without after()");
    assertThatThrownBy(() -> db.query(ThingQuery.of(type).after(1_000_000)))
        .isInstanceOf(NotFoundException.class)
        .hasMessage(
            "bad cursor for after(): '1000000' names no "
                + type.name()
                + " (id 1000000); start again without after()");
    assertThatThrownBy(() -> db.query(ThingQuery.of(newType())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("unknown type q");
    assertThat(count(rows)).isEqualTo(rowsBefore);
    assertThat(mc.get(genKey(type))).isEqualTo(genBefore);
    assertThat(ids(db.query(q))).containsExactly(a.id());
  }
}

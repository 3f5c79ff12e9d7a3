package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.cachedThing;
import static io.thingdb.core.ThingStoreSupport.column;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingDb.Missing;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * P6 for bad input: each gets a clear exception naming what was wrong, and neither the database
 * (every ThingDB table, compared row by row, and the list of tables) nor memcached (its write
 * counters and the cached copy of an existing thing) changes.
 */
class ThingStoreBadInputTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> SCORE = Prop.int64("score", 0);
  static final String SQL_KEY = "x'); drop table thing_link; --";
  static final Prop<String> SQL = Prop.string(SQL_KEY, "");
  static final Prop<Double> RATIO = Prop.float64("ratio", 0.0);
  static final Prop<Long> LOW = Prop.int64("low", Long.MIN_VALUE);
  static final ThingType LINK =
      ThingType.named("link").props(TITLE, SCORE, SQL, RATIO, LOW).build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static PostgresFixture pg;
  static HikariDataSource ds;
  static MemcachedCache mc;
  static ThingDb db;
  static Thing witness;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    ds = ThingStoreSupport.pool(pg.jdbcUrl());
    mc = ThingStoreSupport.memcached(memcached.cluster());
    db = ThingDb.builder().database("main", Database.of(ds)).type(LINK, "main").cache(mc).build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {db, mc, ds, pg}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  // ------------------------------------------------------------------ "nothing changed"

  /** Every table's rows (digested), the table list, memcached's write counters, a cached thing. */
  private static Map<String, String> state() {
    Map<String, String> s = new LinkedHashMap<>();
    List<String> tables =
        column(
            ds, "select tablename from pg_tables where schemaname = 'public' order by tablename");
    s.put("tables", tables.toString());
    for (String table : tables) {
      s.put(
          table,
          column(
                  ds,
                  "select count(*) || ':' || md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
                      + " from "
                      + table
                      + " t")
              .get(0));
    }
    s.put(
        "sequences",
        column(
                ds,
                "select string_agg(sequencename || '=' || coalesce(last_value, 0), ',' order by sequencename)"
                    + " from pg_sequences")
            .toString());
    String stats = memcached.cluster().rawCommand(0, "stats");
    for (String line : stats.split("\r?\n")) {
      String[] f = line.split(" ");
      if (f.length == 3
          && f[1].matches(
              "cmd_set|cmd_touch|cmd_flush|delete_hits|delete_misses|incr_hits|incr_misses"
                  + "|decr_hits|decr_misses|cas_hits|cas_misses|cas_badval")) {
        s.put("memcached " + f[1], f[2]);
      }
    }
    Thing cached = witness == null ? null : cachedThing(mc, db, witness);

    s.put("cached witness", cached == null ? "miss" : cached.toString() + cached.storedProps());
    return s;
  }

  /**
   * Runs {@code bad}, expects {@code type} with every fragment in its message, and no change
   * anywhere.
   */
  private static void rejected(
      ThrowingCallable bad, Class<? extends Throwable> type, String... fragments) {
    ensureWitness();
    Map<String, String> before = state();
    assertThatThrownBy(bad)
        .isInstanceOf(type)
        .satisfies(
            e -> {
              for (String f : fragments) {
                assertThat(e.getMessage()).contains(f);
              }
            });
    assertThat(state()).isEqualTo(before);
  }

  /** An existing thing, in the database and (again, after the per-test flush) in the cache. */
  private static void ensureWitness() {
    if (witness == null) {
      witness = db.create(db.newThing(LINK).set(TITLE, "witness").set(SCORE, 1L));
    }
    assertThat(db.get(LINK, witness.id())).contains(witness);
    assertThat(cachedThing(mc, db, witness)).isEqualTo(witness);
    // earlier writes' confirmed outbox rows are deleted in the background: let that settle
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (ThingStoreSupport.count(ds, "select count(*) from thingdb_outbox") > 0) {
      assertThat(System.nanoTime())
          .as("the outbox rows of earlier writes were not cleaned up within 10 s")
          .isLessThan(deadline);
      ThingStoreSupport.sleep(20);
    }
  }

  /**
   * Creates a thing and waits (deadline 5 s) until its cache fill, a pipelined add without a reply,
   * has landed: so that a later snapshot of memcached's counters is not overtaken by it.
   */
  private static Thing created(NewThing n) {
    Thing t = db.create(n);
    assertThat(cachedThing(mc, db, t)).isEqualTo(t);
    return t;
  }

  // ------------------------------------------------------------------ types

  @Test
  void anUnregisteredTypeIsRejectedByName() {
    ThingType ghost = ThingType.named("ghost").prop(TITLE).build();
    for (ThrowingCallable bad :
        List.<ThrowingCallable>of(
            () -> db.newThing(ghost),
            () -> db.get(ghost, 1),
            () -> db.getMany(ghost, List.of(1L, 2L), Missing.SKIP),
            () -> db.incr(ghost, 1, Counter.UPS, 1),
            () -> db.incr(ghost, 1, SCORE, 1L),
            () -> db.createAll(List.of(db.newThing(LINK), new NewThing(ghost))))) {
      rejected(bad, IllegalArgumentException.class, "unknown type ghost", "register");
    }
    assertThat(column(ds, "select count(*) from pg_tables where tablename like '%ghost%'"))
        .containsExactly("0");
  }

  @Test
  void typeNamesThatAreNotIdentifiersAreRejectedByName() {
    for (String name :
        List.of(
            "Link",
            "1link",
            "link-x",
            "",
            "_link",
            "li nk",
            "link;drop table thing_link",
            "l" + "x".repeat(40),
            "ünïcode")) {
      rejected(
          () -> ThingType.named(name),
          IllegalArgumentException.class,
          "'" + name + "'",
          "[a-z][a-z0-9_]{0,39}");
    }
    assertThat(ThingType.named("l" + "x".repeat(39)).build().name()).hasSize(40);
    rejected(() -> ThingType.named(null), NullPointerException.class, "type name");
    rejected(
        () -> ThingDb.builder().database("Main DB", Database.of(ds)),
        IllegalArgumentException.class,
        "'Main DB'");
  }

  // ------------------------------------------------------------------ props

  @Test
  void aPropOfTheWrongKindIsRejectedByName() {
    Prop<Long> titleAsLong = Prop.int64("title", 0);
    rejected(
        () -> db.create(db.newThing(LINK).set(titleAsLong, 5L)),
        IllegalArgumentException.class,
        "'title'",
        "STRING",
        "LONG");
    rejected(
        () -> db.update(witness.edit().set(titleAsLong, 5L)),
        IllegalArgumentException.class,
        "'title'",
        "LONG");
    rejected(
        () -> db.incr(LINK, witness.id(), titleAsLong, 5L),
        IllegalArgumentException.class,
        "'title'");
    rejected(() -> witness.get(titleAsLong), IllegalArgumentException.class, "'title'");
    Prop<String> titleWithOtherDefault = Prop.string("title", "untitled");
    rejected(
        () -> db.create(db.newThing(LINK).set(titleWithOtherDefault, "x")),
        IllegalArgumentException.class,
        "'title'",
        "untitled");

    @SuppressWarnings({"rawtypes", "unchecked"})
    Prop<Object> raw = (Prop) TITLE;
    rejected(
        () -> db.create(db.newThing(LINK).set(raw, 42L)),
        IllegalArgumentException.class,
        "'title'",
        "STRING",
        "Long",
        "42");
    rejected(
        () -> db.update(witness.edit().set(raw, 42L)),
        IllegalArgumentException.class,
        "'title'",
        "Long");
    rejected(
        () -> db.create(db.newThing(LINK).set(Prop.string("undeclared", ""), "x")),
        IllegalArgumentException.class,
        "'undeclared'",
        "link");
    @SuppressWarnings({"rawtypes", "unchecked"})
    Prop<Object> rawTitle = (Prop) TITLE;
    rejected(
        () -> db.incr(LINK, witness.id(), (Prop) rawTitle, (Number) 1L),
        IllegalArgumentException.class,
        "'title'",
        "LONG and DOUBLE");
  }

  @Test
  void idsOutOfRangeAreRejectedByValue() {
    for (long id : new long[] {0, -1, Long.MIN_VALUE}) {
      rejected(
          () -> db.get(LINK, id),
          IllegalArgumentException.class,
          "id out of range",
          "link",
          Long.toString(id));
      rejected(
          () -> db.getMany(LINK, List.of(witness.id(), id), Missing.SKIP),
          IllegalArgumentException.class,
          Long.toString(id));
      rejected(
          () -> db.incr(LINK, id, Counter.UPS, 1),
          IllegalArgumentException.class,
          Long.toString(id));
      rejected(
          () -> db.incr(LINK, id, SCORE, 1L), IllegalArgumentException.class, Long.toString(id));
    }
    List<Long> withNull = new ArrayList<>(List.of(witness.id()));
    withNull.add(null);
    rejected(() -> db.getMany(LINK, withNull, Missing.SKIP), NullPointerException.class, "null");
  }

  @Test
  void malformedFullnamesAreRejectedNamingTheInput() {
    for (String bad :
        List.of(
            "", "t", "x1_2", "t1_", "t1_ZZ", "t1_-5", "t_5", "t1_0", "t01_5", "T1_5", "t1_5 ",
            "t1_\0", "t1__5")) {
      rejected(
          () -> db.getByFullnames(List.of(witness.fullname(), bad), Missing.SKIP),
          IllegalArgumentException.class,
          "fullname '" + bad + "'");
    }
    String huge = "t1_" + "z".repeat(100_000);
    rejected(
        () -> db.getByFullnames(List.of(huge), Missing.SKIP),
        IllegalArgumentException.class,
        "malformed fullname 't1_zzzz",
        "...'",
        "out of range");
    assertThatThrownBy(() -> Fullnames.parse(huge))
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(300));
    rejected(
        () -> db.getByFullnames(List.of("tzz_1"), Missing.SKIP),
        IllegalArgumentException.class,
        "'tzz_1'",
        "not registered");
    rejected(
        () -> db.getByFullnames(List.of("r1_1"), Missing.SKIP),
        IllegalArgumentException.class,
        "'r1_1'",
        "relation");
    List<String> withNull = new ArrayList<>();
    withNull.add(null);
    rejected(
        () -> db.getByFullnames(withNull, Missing.SKIP), IllegalArgumentException.class, "null");
  }

  // ------------------------------------------------------------------ data that looks like SQL or
  // is not text

  @Test
  void aPropKeyAndValueWithSqlInThemAreStoredLiterally() {
    String value = "Robert'); drop table data_link; --";
    Thing t = db.create(db.newThing(LINK).set(SQL, value).set(TITLE, "bobby"));
    assertThat(
            column(
                ds, "select value from data_link where thing_id = ? and key = ?", t.id(), SQL_KEY))
        .containsExactly(value);
    assertThat(
            column(
                ds,
                "select count(*) from pg_tables where tablename in ('thing_link', 'data_link')"))
        .containsExactly("2");
    assertThat(
            column(
                ds, "select prop from thingdb_props where type_name = 'link' and prop like 'x%'"))
        .containsExactly(SQL_KEY);
    assertThat(storedOrFail(ds, t).values())
        .containsEntry(SQL_KEY, value)
        .containsEntry("title", "bobby");
    assertThat(cachedThing(mc, db, t)).isEqualTo(t);
    assertThat(cachedThing(mc, db, t).get(SQL)).isEqualTo(value);
    Thing u = db.update(t.edit().set(SQL, value + value));
    assertThat(storedOrFail(ds, t).values()).containsEntry(SQL_KEY, value + value);
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
    mc.delete(ThingStoreSupport.key(db, t));
    assertThat(db.get(LINK, t.id()).orElseThrow().get(SQL)).isEqualTo(value + value);
  }

  @Test
  void stringsWithNulBytesAreRejectedAndNothingIsWritten() {
    rejected(
        () -> db.create(db.newThing(LINK).set(TITLE, "nul\0byte")),
        IllegalArgumentException.class,
        "'title'",
        "NUL");
    rejected(
        () ->
            db.createAll(
                List.of(db.newThing(LINK).set(TITLE, "fine"), db.newThing(LINK).set(TITLE, "\0"))),
        IllegalArgumentException.class,
        "'title'",
        "NUL");
    rejected(
        () -> db.update(witness.edit().set(TITLE, "\0")),
        IllegalArgumentException.class,
        "'title'",
        "NUL");
    rejected(() -> Prop.string("ti\0tle", ""), IllegalArgumentException.class, "ti\\0tle", "NUL");
    rejected(() -> Prop.string("title", "\0"), IllegalArgumentException.class, "'title'", "NUL");
    assertThat(storedOrFail(ds, witness).values()).containsEntry("title", "witness");
  }

  // ------------------------------------------------------------------ counts and numeric props

  @Test
  void voteCountsThatWouldLeaveZeroToIntMaxAreRefusedNamingTheThingAndNothingIsWritten() {
    Thing full = created(db.newThing(LINK).set(TITLE, "full").votes(Integer.MAX_VALUE, 0));
    String name = "link " + full.id() + " (" + full.fullname() + ")";
    rejected(
        () -> db.incr(LINK, full.id(), Counter.UPS, 1),
        OutOfRangeException.class,
        name,
        "ups 2147483647 + 1 = 2147483648 is above 2147483647",
        "nothing was written");
    rejected(
        () -> db.incr(LINK, full.id(), Counter.UPS, Integer.MIN_VALUE),
        OutOfRangeException.class,
        name,
        "ups 2147483647 - 2147483648 = -1 is below 0");
    rejected(
        () -> db.incr(LINK, full.id(), Counter.DOWNS, -1),
        OutOfRangeException.class,
        name,
        "downs 0 - 1 = -1 is below 0");
    rejected(
        () -> db.write(tx -> tx.addCounts(LINK, full.id(), 1, 0).get()),
        OutOfRangeException.class,
        name,
        "ups 2147483647 + 1");
    rejected(
        () -> db.write(tx -> tx.addCounts(LINK, full.id(), -1, -1).get()),
        OutOfRangeException.class,
        name,
        "downs 0 - 1 = -1 is below 0");
    // A work that catches the refusal cannot commit what was sent with it.
    java.util.concurrent.atomic.AtomicReference<OutOfRangeException> caught =
        new java.util.concurrent.atomic.AtomicReference<>();
    rejected(
        () ->
            db.write(
                tx -> {
                  try {
                    tx.addCounts(LINK, full.id(), 0, -1).get();
                  } catch (OutOfRangeException e) {
                    caught.set(e);
                  }
                  return tx.counts(LINK, full.id());
                }),
        OutOfRangeException.class,
        "the work went on after a refused counts change",
        "nothing was written");
    assertThat(caught.get()).hasMessageContaining("downs 0 - 1");
    // In range still works; a missing thing is still "not found", not "out of range".
    assertThat(db.incr(LINK, full.id(), Counter.UPS, -1).ups()).isEqualTo(Integer.MAX_VALUE - 1);
    assertThatThrownBy(() -> db.incr(LINK, 999_999_999L, Counter.UPS, 1))
        .isInstanceOf(NotFoundException.class)
        .hasMessageContaining("999999999");
    java.util.Optional<Counts> missing =
        db.write(tx -> tx.addCounts(LINK, 999_999_999L, 1, 0).get());
    assertThat(missing).isEmpty();
  }

  @Test
  void numericPropIncrementsThatOverflowAreRefusedNamingThePropAndNothingIsWritten() {
    Thing big =
        created(
            db.newThing(LINK)
                .set(TITLE, "big")
                .set(SCORE, Long.MAX_VALUE)
                .set(RATIO, Double.MAX_VALUE));
    String name = "link " + big.id() + " (" + big.fullname() + ")";
    rejected(
        () -> db.incr(LINK, big.id(), SCORE, 1L),
        OutOfRangeException.class,
        "cannot add 1 to prop 'score' of " + name,
        "LONG",
        "nothing was written");
    rejected(
        () -> db.incr(LINK, big.id(), RATIO, Double.MAX_VALUE),
        OutOfRangeException.class,
        "prop 'ratio' of " + name,
        "DOUBLE",
        "finite");
    // No stored row yet: the default (Long.MIN_VALUE) minus 1 overflows before PostgreSQL sees it.
    rejected(
        () -> db.incr(LINK, big.id(), LOW, -1L),
        OutOfRangeException.class,
        "cannot add -1 to prop 'low' of " + name,
        "LONG");
    rejected(
        () -> db.incr(LINK, big.id(), RATIO, Double.NaN),
        IllegalArgumentException.class,
        "'ratio'",
        "finite",
        "NaN");
    rejected(
        () -> db.incr(LINK, big.id(), RATIO, Double.NEGATIVE_INFINITY),
        IllegalArgumentException.class,
        "'ratio'",
        "Infinity");
    assertThat(storedOrFail(ds, big).values())
        .containsEntry("score", Long.toString(Long.MAX_VALUE))
        .doesNotContainKey("low");
    assertThat(db.incr(LINK, big.id(), SCORE, -1L).get(SCORE)).isEqualTo(Long.MAX_VALUE - 1);
  }

  @Test
  void propNamesThatAreBaseColumnsAreRefusedNamingTheProp() {
    for (String column :
        List.of("id", "thing_id", "ups", "downs", "deleted", "spam", "date", "version")) {
      rejected(
          () -> ThingType.named("clash").prop(Prop.int64(column, 0)),
          IllegalArgumentException.class,
          "type clash: prop name '" + column + "' is reserved",
          "base column");
    }
    for (String column :
        List.of("id", "rel_id", "thing1_id", "thing2_id", "name", "date", "version")) {
      rejected(
          () -> RelationType.named("clash").prop(Prop.string(column, "")),
          IllegalArgumentException.class,
          "relation type clash: prop name '" + column + "' is reserved");
    }
    // Only exact names: a prop that merely contains a column's name is fine.
    assertThat(ThingType.named("fine").prop(Prop.int64("ups_total", 0)).build().props()).hasSize(1);
    assertThat(
            RelationType.named("fine")
                .between(LINK, LINK)
                .prop(Prop.string("name_lower", ""))
                .build()
                .props())
        .hasSize(1);
  }

  /**
   * A Java string with half of a surrogate pair is not Unicode text: UTF-8 cannot encode it, so the
   * driver would store a replacement character instead, silently changing the value.
   */
  @Test
  void stringsWithUnpairedSurrogatesAreRejectedNamingThePropAndNothingIsWritten() {
    for (String bad : List.of("\uD83D", "tail \uDE00", "swapped \uDE00\uD83D", "😀".substring(1))) {
      rejected(
          () -> db.create(db.newThing(LINK).set(TITLE, bad)),
          IllegalArgumentException.class,
          "'title'",
          "unpaired surrogate");
      rejected(
          () -> db.update(witness.edit().set(TITLE, bad)),
          IllegalArgumentException.class,
          "'title'",
          "unpaired surrogate");
    }
    rejected(
        () -> Prop.string("ti\uD83Dtle", ""),
        IllegalArgumentException.class,
        "prop name",
        "unpaired surrogate");
    rejected(
        () -> Prop.string("title", "\uDE00"),
        IllegalArgumentException.class,
        "'title'",
        "unpaired surrogate");
    RelationType tag = RelationType.named("tag").between(LINK, LINK).build();
    rejected(
        () -> Relation.checkName(tag, "\uD83D"),
        IllegalArgumentException.class,
        "unpaired surrogate");
    assertThat(Prop.string("title", "😀").defaultValue()).isEqualTo("😀");
  }

  // ------------------------------------------------------------------ schema

  @Test
  void aRegistrationThatChangesAPropsKindOrDefaultIsRefusedNamingTheProp() {
    pg.createDatabase("conflicts");
    try (HikariDataSource other =
        ThingStoreSupport.pool(pg.jdbcUrl("conflicts"), 2, Duration.ofSeconds(30))) {
      ThingType v1 =
          ThingType.named("doc").props(Prop.string("title", ""), Prop.int64("views", 0)).build();
      try (ThingDb first =
          ThingDb.builder()
              .database("main", Database.of(other))
              .type(v1, "main")
              .cache(mc)
              .build()) {
        first.create(first.newThing(v1).set(Prop.string("title", ""), "kept"));
      }
      String props =
          column(
                  other,
                  "select string_agg(prop || ':' || value_kind || ':' || default_value, ',' order by prop)"
                      + " from thingdb_props")
              .get(0);
      assertThat(props).isEqualTo("title:s:,views:l:0");

      ThingType kindChanged =
          ThingType.named("doc").props(Prop.int64("title", 0), Prop.int64("views", 0)).build();
      assertThatThrownBy(
              () ->
                  ThingDb.builder()
                      .database("main", Database.of(other))
                      .type(kindChanged, "main")
                      .cache(mc)
                      .build())
          .isInstanceOf(SchemaConflictException.class)
          .hasMessageContaining("type doc")
          .hasMessageContaining("'title'")
          .hasMessageContaining("STRING")
          .hasMessageContaining("LONG")
          .hasMessageNotContaining("'views'");
      ThingType defaultChanged =
          ThingType.named("doc").props(Prop.string("title", ""), Prop.int64("views", 7)).build();
      assertThatThrownBy(
              () ->
                  ThingDb.builder()
                      .database("main", Database.of(other))
                      .type(defaultChanged, "main")
                      .noCache()
                      .build())
          .isInstanceOf(SchemaConflictException.class)
          .hasMessageContaining("'views'")
          .hasMessageContaining("default '0'")
          .hasMessageContaining("default '7'");
      assertThat(
              column(
                      other,
                      "select string_agg(prop || ':' || value_kind || ':' || default_value, ',' order by prop)"
                          + " from thingdb_props")
                  .get(0))
          .isEqualTo(props);
      assertThat(column(other, "select value from data_doc where key = 'title'"))
          .containsExactly("kept");

      // a new prop is not a conflict, and changes nothing stored
      ThingType added =
          ThingType.named("doc")
              .props(Prop.string("title", ""), Prop.int64("views", 0), Prop.bool("pinned", false))
              .build();
      try (ThingDb later =
          ThingDb.builder()
              .database("main", Database.of(other))
              .type(added, "main")
              .noCache()
              .build()) {
        assertThat(
                later
                    .getByFullnames(List.of(Fullnames.thing(1, 1)), Missing.FAIL)
                    .get(0)
                    .get(Prop.string("title", "")))
            .isEqualTo("kept");
      }
    }
  }

  @Test
  void anOlderLibraryRefusesANewerSchema() {
    pg.createDatabase("newer");
    try (HikariDataSource other =
        ThingStoreSupport.pool(pg.jdbcUrl("newer"), 2, Duration.ofSeconds(30))) {
      ThingType doc = ThingType.named("doc").prop(Prop.string("title", "")).build();
      try (ThingDb first =
          ThingDb.builder()
              .database("main", Database.of(other))
              .type(doc, "main")
              .noCache()
              .build()) {
        first.create(first.newThing(doc));
      }
      ThingStoreSupport.execute(
          other, "update thingdb_schema set version = 999 where component = 'thingdb'");
      List<String> tables =
          column(
              other,
              "select tablename from pg_tables where schemaname = 'public' order by tablename");
      ThingType more = ThingType.named("more").build();
      assertThatThrownBy(
              () ->
                  ThingDb.builder()
                      .database("main", Database.of(other))
                      .type(doc, "main")
                      .type(more, "main")
                      .cache(mc)
                      .build())
          .isInstanceOf(SchemaConflictException.class)
          .hasMessageContaining("999")
          .hasMessageContaining(Integer.toString(Schema.VERSION))
          .hasMessageContaining("upgrade ThingDB");
      assertThat(column(other, "select version from thingdb_schema")).containsExactly("999");
      assertThat(
              column(
                  other,
                  "select tablename from pg_tables where schemaname = 'public' order by tablename"))
          .isEqualTo(tables);
    }
  }
}

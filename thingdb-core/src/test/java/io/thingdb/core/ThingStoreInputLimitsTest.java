package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.cachedThing;
import static io.thingdb.core.ThingStoreSupport.column;
import static io.thingdb.core.ThingStoreSupport.count;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingDb.Missing;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.MutableClock;
import io.thingdb.testing.PostgresFixture;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Inputs at the limits, each with a defined outcome: strings outside the Basic Multilingual Plane
 * and of a mebibyte, through PostgreSQL and the cache; a createAll of 100,000 things, sent as
 * bounded statements; two processes registering the same schema at once; and a clock that goes
 * backwards between two writes.
 */
class ThingStoreInputLimitsTest {
  static final Prop<String> BODY = Prop.string("body", "");
  static final Prop<String> EMOJI_NAMED = Prop.string("ключ 😀 𝄞", "");
  static final ThingType NOTE = ThingType.named("note").props(BODY, EMOJI_NAMED).build();
  static final ThingType BULK = ThingType.named("bulk").props(BODY).build();
  static final ThingType TIMED = ThingType.named("timed").props(BODY).build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static PostgresFixture pg;
  static HikariDataSource ds;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    ds = ThingStoreSupport.pool(pg.jdbcUrl());
  }

  @AfterAll
  static void stop() {
    if (ds != null) {
      ds.close();
    }
    if (pg != null) {
      pg.close();
    }
  }

  /** A client with memcached's default item size limit, 1 MiB. */
  static MemcachedCache cache() {
    return MemcachedCache.builder().servers(memcached.cluster().servers()).build();
  }

  // ------------------------------------------------------------------ strings

  static final String MEBIBYTE_ASCII = "a".repeat(1 << 20);

  /** 1 Mi chars: 512 Ki emoji, each a surrogate pair in Java and 4 bytes in UTF-8. */
  static final String MEBIBYTE_EMOJI = "😀".repeat(1 << 19);

  /**
   * Just under what one 1 MiB cache item holds with the thing's framing: 1,040,000 UTF-8 bytes of
   * emoji and ASCII, the largest kind of string that is still cached.
   */
  static final String ALMOST_AN_ITEM = ("😀" + "x".repeat(96)).repeat(10_400);

  static List<String> strings() {
    return List.of(
        "emoji 😀👍🏽🇩🇪 and a family 👨‍👩‍👧 (zero-width joiners)",
        "outside the BMP: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝄞 𠜎 \uD83E\uDD84",
        "combining: e\u0301 vs \u00e9, kept apart",
        ALMOST_AN_ITEM);
  }

  static String label(String s) {
    return s.length() > 80 ? s.length() + " chars starting '" + s.substring(0, 4) + "'" : s;
  }

  @Test
  void supplementaryCharactersAndMebibyteStringsRoundTripThroughPostgresAndTheCache() {
    try (MemcachedCache mc = cache();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(ds))
                .type(NOTE, "main")
                .cache(mc)
                .build()) {
      for (String s : strings()) {
        Thing t = db.create(db.newThing(NOTE).set(BODY, s).set(EMOJI_NAMED, "😀 " + s.length()));
        // PostgreSQL holds exactly these code points, as UTF-8
        assertThat(storedOrFail(ds, t).values())
            .as(label(s))
            .containsEntry("body", s)
            .containsEntry(EMOJI_NAMED.name(), "😀 " + s.length());
        assertThat(
                column(
                    ds,
                    "select length(value) || ' ' || octet_length(value) from data_note"
                        + " where thing_id = ? and key = 'body'",
                    t.id()))
            .containsExactly(
                s.codePointCount(0, s.length()) + " " + s.getBytes(StandardCharsets.UTF_8).length);
        // the cache holds them too (filled by the create), and a read is served from it
        Thing cached = cachedThing(mc, db, t);
        assertThat(cached).as(label(s)).isEqualTo(t);
        assertThat(cached.get(BODY)).isEqualTo(s);
        assertThat(cached.get(EMOJI_NAMED)).isEqualTo("😀 " + s.length());
        try (Scope scope = db.scope()) {
          assertThat(db.get(NOTE, t.id()).orElseThrow().get(BODY)).isEqualTo(s);
          assertThat(scope.statements()).as("served from the cache").isZero();
        }
        // an update publishes the new value; a miss reads it back from PostgreSQL
        Thing u = db.update(t.edit().set(BODY, s.substring(2) + "✓"));
        assertThat(cachedThing(mc, db, u).get(BODY)).isEqualTo(s.substring(2) + "✓");
        mc.delete(ThingStoreSupport.key(db, t));
        assertThat(db.get(NOTE, t.id()).orElseThrow()).isEqualTo(u);
        assertThat(db.get(NOTE, t.id()).orElseThrow().get(BODY)).isEqualTo(s.substring(2) + "✓");
      }
    }
  }

  /**
   * With memcached's default item size (1 MiB) a thing holding a 1 MiB string does not fit in one
   * item: it is stored in PostgreSQL like any other, never cached, and every read gets it whole.
   */
  @Test
  void mebibyteStringsTooLargeForOneCacheItemAreStoredAndServedWholeFromPostgres() {
    try (MemcachedCache mc = cache();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(ds))
                .type(NOTE, "main")
                .cache(mc)
                .build()) {
      Thing t = db.create(db.newThing(NOTE).set(BODY, MEBIBYTE_EMOJI));
      assertThat(storedOrFail(ds, t).values()).containsEntry("body", MEBIBYTE_EMOJI);
      assertThat(ThingStoreSupport.rawEntry(mc, ThingStoreSupport.key(db, t))).isNull();
      assertThat(db.get(NOTE, t.id()).orElseThrow().get(BODY)).isEqualTo(MEBIBYTE_EMOJI);
      Thing u = db.update(t.edit().set(BODY, MEBIBYTE_ASCII));
      assertThat(db.get(NOTE, t.id()).orElseThrow()).isEqualTo(u);
      assertThat(storedOrFail(ds, t).values()).containsEntry("body", MEBIBYTE_ASCII);
      // invalidated at the new version, never left holding an older, smaller copy
      VersionedCacheEntry entry = VersionedCacheEntry.of(mc, db, t);
      assertThat(entry.version()).isGreaterThanOrEqualTo(u.version());
      assertThat(entry.isValue()).isFalse();
    }
  }

  /** What the cache holds under a thing's key: its version, and whether it is a value. */
  record VersionedCacheEntry(long version, boolean isValue) {
    static VersionedCacheEntry of(MemcachedCache mc, ThingDb db, Thing t) {
      io.thingdb.cache.VersionedCache.Stored s =
          ThingStoreSupport.rawEntry(mc, ThingStoreSupport.key(db, t));
      return s == null
          ? new VersionedCacheEntry(0, false)
          : new VersionedCacheEntry(
              s.version(), s.kind() == io.thingdb.cache.VersionedCache.Kind.VALUE);
    }
  }

  // ------------------------------------------------------------------ a batch of 100,000

  @Test
  void aHundredThousandThingsAreCreatedInBoundedStatements() {
    StatementRecorder recorder = new StatementRecorder(ds);
    int n = 100_000;
    try (MemcachedCache mc = cache();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(recorder.dataSource()))
                .type(BULK, "main")
                .cache(mc)
                .build()) {
      List<NewThing> batch = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        batch.add(db.newThing(BULK).set(BODY, "bulk " + i));
      }
      recorder.executed.clear();

      List<Thing> created = db.createAll(batch);

      assertThat(created).hasSize(n);
      for (int i = 0; i < n; i += 9_999) {
        assertThat(created.get(i).get(BODY)).isEqualTo("bulk " + i);
      }
      assertThat(new HashSet<>(created.stream().map(Thing::id).toList())).hasSize(n);
      assertThat(count(ds, "select count(*) from thing_bulk")).isEqualTo(n);
      assertThat(count(ds, "select count(*) from data_bulk")).isEqualTo(n);
      List<StatementRecorder.Executed> inserts =
          recorder.executed.stream().filter(e -> e.sql().startsWith("insert into")).toList();
      List<StatementRecorder.Executed> ids =
          recorder.executed.stream().filter(e -> e.sql().contains("nextval")).toList();
      // ten chunks of 10,000: ids, thing rows and data rows per chunk
      assertThat(ids).hasSize(10);
      assertThat(inserts).hasSize(20);
      assertThat(inserts)
          .allSatisfy(
              e -> {
                assertThat(e.parameters()).isLessThanOrEqualTo(5);
                assertThat(e.largestArray()).isEqualTo(ThingWrites.INSERT_CHUNK);
                assertThat(e.sql().length()).isLessThan(500);
              });
      assertThat(recorder.executed).allSatisfy(e -> assertThat(e.parameters()).isLessThan(65_535));
      // the committed things are readable, the sample from the cache
      List<Long> sample = created.stream().limit(1_000).map(Thing::id).toList();
      assertThat(db.getMany(BULK, sample, Missing.FAIL)).isEqualTo(created.subList(0, 1_000));
    }
  }

  @Test
  void largePropsEndAChunkEarly() {
    StatementRecorder recorder = new StatementRecorder(ds);
    try (ThingDb db =
        ThingDb.builder()
            .database("main", Database.of(recorder.dataSource()))
            .type(BULK, "main")
            .noCache()
            .build()) {
      List<NewThing> batch = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        batch.add(db.newThing(BULK).set(BODY, i + MEBIBYTE_ASCII));
      }
      recorder.executed.clear();
      List<Thing> created = db.createAll(batch);
      assertThat(created)
          .extracting(t -> t.get(BODY).length())
          .containsOnly((1 << 20) + 1, (1 << 20) + 2);
      List<StatementRecorder.Executed> dataInserts =
          recorder.executed.stream().filter(e -> e.sql().startsWith("insert into data_")).toList();
      // 16 Mi chars per statement: 16 things of ~1 Mi chars each, so 40 things take 3 statements
      assertThat(dataInserts).hasSize(3);
      assertThat(dataInserts).allSatisfy(e -> assertThat(e.largestArray()).isLessThanOrEqualTo(16));
    }
  }

  // ------------------------------------------------------------------ two processes

  /**
   * Two JVMs build a ThingDb with the same twelve types on a fresh database at the same moment (the
   * child is released by a line on its standard input, the parent starts at once), three times. The
   * registrations run under the registry's advisory lock: both succeed, agree on every type's id,
   * and the registry holds one row per type.
   */
  @Test
  void twoProcessesRegisteringTheSameSchemaAtOnceBothSucceedWithOneRowPerType() throws Exception {
    for (int round = 0; round < 3; round++) {
      String database = "registry_race_" + round;
      pg.createDatabase(database);
      String url = pg.jdbcUrl(database);
      Path log = Files.createTempFile("thingdb-registrar-", ".log");
      Process child =
          new ProcessBuilder(
                  Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                  "-cp",
                  System.getProperty("java.class.path"),
                  SchemaRegistrar.class.getName(),
                  url)
              .redirectError(log.toFile())
              .start();
      try {
        BufferedReader out =
            new BufferedReader(
                new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        // The child's output is read on a thread of its own, so that a child that hangs fails the
        // test at a deadline instead of blocking it.
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader =
            new Thread(
                () -> {
                  try {
                    for (String line = out.readLine(); line != null; line = out.readLine()) {
                      lines.add(line);
                    }
                  } catch (IOException e) {
                    lines.add("(reading the child's output failed: " + e + ")");
                  }
                },
                "registrar-output-" + round);
        reader.start();
        assertThat(lines.poll(60, TimeUnit.SECONDS))
            .as("the child's first line within 60 s; its log: %s", readLog(log))
            .isEqualTo("ready");
        Writer in = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.UTF_8);
        in.write("go\n");
        in.flush();
        List<String> mine = SchemaRegistrar.register(url);
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).as("the child exited within 60 s").isTrue();
        reader.join(10_000);
        List<String> theirs = new ArrayList<>(lines);
        assertThat(child.exitValue())
            .as("child exit code; its output: %s; its log: %s", theirs, readLog(log))
            .isZero();
        assertThat(theirs).as("both processes see the same ids").isEqualTo(mine);
      } finally {
        if (child.isAlive()) {
          child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        Files.deleteIfExists(log);
      }
      try (HikariDataSource check = ThingStoreSupport.pool(url, 1, Duration.ofSeconds(30))) {
        assertThat(count(check, "select count(*) from thingdb_registry")).isEqualTo(12);
        assertThat(
                count(
                    check,
                    "select count(*) from (select name from thingdb_registry group by name"
                        + " having count(*) > 1) d"))
            .isZero();
        assertThat(count(check, "select count(*) from thingdb_props")).isEqualTo(36);
        assertThat(
                count(
                    check, "select count(*) from pg_tables where tablename like 'thing_shared_%'"))
            .isEqualTo(12);
      }
    }
  }

  private static String readLog(Path log) {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  // ------------------------------------------------------------------ the clock

  /**
   * The clock steps back an hour between writes. Versions come from the database (version = version
   * + 1), so they keep rising and the cache keeps serving the newest; a creation date is what the
   * configured clock said (ThingDbBuilder#clock), so a thing created after the step is dated before
   * one created before it. Nothing is rejected and nothing is served stale.
   */
  @Test
  void aClockGoingBackwardsKeepsVersionsRisingAndDatesAsTheClockSaid() {
    Instant start = Instant.parse("2026-12-05T12:00:00Z");
    MutableClock clock = new MutableClock(start.toEpochMilli());
    try (MemcachedCache mc = cache();
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(ds))
                .type(TIMED, "main")
                .cache(mc)
                .clock(clock)
                .build()) {
      Thing first = db.create(db.newThing(TIMED).set(BODY, "before the step"));
      assertThat(first.date()).isEqualTo(start);

      clock.advance(Duration.ofHours(-1));
      Thing second = db.create(db.newThing(TIMED).set(BODY, "after the step"));
      assertThat(second.date()).isEqualTo(start.minus(1, ChronoUnit.HOURS));
      assertThat(second.id()).isGreaterThan(first.id());

      Thing v2 = db.update(first.edit().set(BODY, "edited after the step"));
      Counts v3 = db.incr(TIMED, first.id(), Counter.UPS, 1);
      clock.advance(Duration.ofHours(-1));
      Thing v4 = db.update(db.get(TIMED, first.id()).orElseThrow().edit().set(BODY, "again"));
      assertThat(List.of(first.version(), v2.version(), v3.version(), v4.version()))
          .containsExactly(1L, 2L, 3L, 4L);
      Thing read = db.get(TIMED, first.id()).orElseThrow();
      assertThat(read).isEqualTo(v4);
      assertThat(read.ups()).isEqualTo(1);
      assertThat(read.date()).as("an update keeps the creation date").isEqualTo(start);
      assertThat(cachedThing(mc, db, v4)).isEqualTo(v4);
      assertThat(storedOrFail(ds, first).version()).isEqualTo(4);
      assertThat(db.getMany(TIMED, List.of(first.id(), second.id()), Missing.FAIL))
          .extracting(Thing::date)
          .containsExactly(start, start.minus(1, ChronoUnit.HOURS));
    }
  }
}

package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.core.NewThing;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ListingRecomputeTest {
  static final int THINGS = 100_000;
  static final int CAPACITY = 100;

  /** Declared groups: subreddits 1 to 4 and 0 (the prop's default, never stored as data). */
  static final long[] GROUPS = {0, 1, 2, 3, 4};

  static final List<TimeWindow> WINDOWS =
      List.of(TimeWindow.HOUR, TimeWindow.DAY, TimeWindow.WEEK, TimeWindow.MONTH, TimeWindow.YEAR);
  static final Instant NOW = Instant.now().truncatedTo(ChronoUnit.MICROS);
  static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);

  static PostgresFixture pg;
  static DataSource ds;
  static VoteWorld w;
  static long createMillis;

  @BeforeAll
  static void setUp() throws SQLException {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("recompute");
    w = new VoteWorld(ds, CAPACITY);
    Random rnd = new Random(42);
    long start = System.nanoTime();
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < THINGS; i++) {
      // sr 5 is not declared: its things are scanned past, never written anywhere.
      long sr = rnd.nextInt(6);
      NewThing t =
          w.db
              .newThing(VoteWorld.LINK)
              .set(VoteWorld.AUTHOR, (long) rnd.nextInt(1000))
              .votes(rnd.nextInt(60), rnd.nextInt(60))
              .spam(rnd.nextInt(50) == 0)
              .date(randomDate(rnd));
      if (sr != 0) {
        t.set(VoteWorld.SR, sr);
      }
      batch.add(t);
      if (batch.size() == 5_000) {
        w.db.createAll(batch);
        batch.clear();
      }
    }
    createMillis = (System.nanoTime() - start) / 1_000_000;
    try (Connection c = ds.getConnection();
        Statement st = c.createStatement()) {
      st.executeUpdate("update thing_link set deleted = true where thing_id % 41 = 0");
      st.execute("analyze thing_link");
      st.execute("analyze data_link");
    }
  }

  /**
   * A date spread over the windows: some in the last hour, more in the day, ..., some older than a
   * year.
   */
  static Instant randomDate(Random rnd) {
    long[] spans = {3_600L, 86_400L, 7 * 86_400L, 30 * 86_400L, 365 * 86_400L, 400 * 86_400L};
    long span = spans[rnd.nextInt(spans.length)];
    long micros = (long) (rnd.nextDouble() * span * 1_000_000L);
    return NOW.minus(micros, ChronoUnit.MICROS);
  }

  @AfterAll
  static void tearDown() {
    if (w != null) {
      w.close();
    }
    pg.close();
  }

  static ListingRecompute.Builder recompute() {
    ListingRecompute.Builder b =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(CAPACITY)
            .clock(CLOCK);
    for (long g : GROUPS) {
      b.group("sr:" + g, g);
    }
    return b;
  }

  /** The SQL query the recompute replaces: ids and values, in listing order. */
  static List<Listing.Entry> sql(long group, ListingSort sort, TimeWindow window)
      throws SQLException {
    String fn = sort == ListingSort.TOP ? "thingdb_score" : "thingdb_controversy";
    List<Listing.Entry> out = new ArrayList<>();
    try (Connection c = ds.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select t.thing_id, "
                    + fn
                    + "(t.ups, t.downs) from thing_link t"
                    + " left join data_link d on d.thing_id = t.thing_id and d.key = 'sr'"
                    + " where coalesce(d.value, '0') = ? and not t.deleted and not t.spam and t.date >= ?"
                    + " order by "
                    + fn
                    + "(t.ups, t.downs) desc, t.thing_id desc limit ?")) {
      ps.setString(1, Long.toString(group));
      ps.setTimestamp(2, Timestamp.from(window.cutoff(NOW).orElseThrow()));
      ps.setInt(3, CAPACITY);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Listing.Entry(rs.getLong(1), 0, rs.getDouble(2)));
        }
      }
    }
    return out;
  }

  @Test
  void recomputeOver100000ThingsEqualsTheSqlQueryItReplaces() throws SQLException {
    // A stale listing is replaced whole.
    Listing stale = Listing.create(CAPACITY);
    stale.upsert(Long.MAX_VALUE - 1, 1, 1e9);
    w.store.put("sr:1:top:day", stale);
    ListingRecompute.Summary summary;
    try (ListingRecompute r = recompute().build()) {
      summary = r.runOnce();
    }
    System.out.printf(
        "recompute of %d things: created in %d ms with createAll (batches of 5,000); %s%n",
        THINGS, createMillis, summary);
    assertThat(summary.groups()).isEqualTo(GROUPS.length);
    assertThat(summary.listingsWritten()).isEqualTo(GROUPS.length * WINDOWS.size() * 2);
    long liveInYear =
        w.count(
            "select count(*) from thing_link t left join data_link d on d.thing_id = t.thing_id"
                + " and d.key = 'sr' where coalesce(d.value, '0') <> '5' and not deleted and not spam and date >= '"
                + Timestamp.from(TimeWindow.YEAR.cutoff(NOW).orElseThrow())
                + "'::timestamp at time zone current_setting('TimeZone')");
    assertThat(summary.thingsScanned()).isEqualTo(liveInYear);
    assertThat(summary.thingsScanned()).isBetween(60_000L, 80_000L);
    int ties = 0;
    for (long g : GROUPS) {
      for (TimeWindow window : WINDOWS) {
        for (ListingSort sort : List.of(ListingSort.TOP, ListingSort.CONTROVERSIAL)) {
          String key = ListingRecompute.key("sr:" + g, sort, window);
          Listing listing = w.store.get(key).orElseThrow();
          List<Listing.Entry> expected = sql(g, sort, window);
          List<Listing.Entry> actual = listing.visible();
          assertThat(listing.capacity()).isEqualTo(CAPACITY);
          assertThat(actual).as(key).hasSize(expected.size());
          if (window != TimeWindow.HOUR) {
            assertThat(actual).as(key).hasSize(CAPACITY);
          }
          for (int i = 0; i < expected.size(); i++) {
            Listing.Entry e = expected.get(i);
            Listing.Entry a = actual.get(i);
            if (sort == ListingSort.TOP) {
              assertThat(a.value()).as("%s #%d", key, i).isEqualTo(e.value());
            } else {
              assertThat(Math.abs(a.value() - e.value()))
                  .as("%s #%d", key, i)
                  .isLessThanOrEqualTo(Math.ulp(e.value()));
            }
            assertThat(a.id())
                .as("%s #%d (values %s / %s)", key, i, a.value(), e.value())
                .isEqualTo(e.id());
            if (i > 0 && a.value() == actual.get(i - 1).value()) {
              ties++;
            }
          }
          // The entries below the visible part (the slack) continue the same order.
          assertThat(listing.entries().size()).isLessThanOrEqualTo(listing.maxSize());
        }
      }
    }
    // Exact ties (broken by id descending) were exercised.
    assertThat(ties).isGreaterThan(100);
    assertThat(w.store.get("sr:1:top:day").orElseThrow().entry(Long.MAX_VALUE - 1)).isEmpty();
    assertThat(w.store.get("sr:5:top:day")).isEmpty();
    assertThat(w.store.get("sr:1:top:all")).isEmpty();
  }

  @Test
  void theSlackHoldsTheNextEntriesInOrder() throws SQLException {
    try (ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(10)
            .clock(CLOCK)
            .windows(Set.of(TimeWindow.WEEK))
            .group("sr:2", 2)
            .build()) {
      ListingRecompute.Summary s = r.runOnce();
      assertThat(s.listingsWritten()).isEqualTo(2);
    }
    Listing l = w.store.get("sr:2:top:week").orElseThrow();
    List<Listing.Entry> expected = sql(2, ListingSort.TOP, TimeWindow.WEEK);
    assertThat(l.entries().size()).isEqualTo(l.maxSize()).isGreaterThan(10);
    for (int i = 0; i < l.entries().size(); i++) {
      assertThat(l.entries().get(i).id()).isEqualTo(expected.get(i).id());
    }
    assertThat(l.isComplete()).isFalse();
  }

  @Test
  void readersHideThingsThatAgedOutOfTheWindowSinceTheLastRecompute() {
    try (ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(50)
            .clock(CLOCK)
            .windows(Set.of(TimeWindow.HOUR))
            .group("sr:4", 4)
            .build()) {
      r.runOnce();
    }
    List<Listing.Entry> stored = w.store.get("sr:4:top:hour").orElseThrow().visible();
    Instant later = NOW.plus(Duration.ofMinutes(20));
    ListingReader reader =
        ListingReader.create(
            w.db, w.store, VoteWorld.LINK, VoteWorld.AUTHOR, Clock.fixed(later, ZoneOffset.UTC));
    List<Long> expected = new ArrayList<>();
    for (var t :
        w.db.getMany(
            VoteWorld.LINK,
            stored.stream().map(Listing.Entry::id).toList(),
            io.thingdb.core.ThingDb.Missing.SKIP)) {
      if (!t.date().isBefore(later.minus(Duration.ofHours(1)))) {
        expected.add(t.id());
      }
    }
    assertThat(expected.size()).isLessThan(stored.size()).isPositive();
    List<Long> read =
        reader.page("sr:4:top:hour", null, 100, TimeWindow.HOUR).items().stream()
            .map(io.thingdb.core.Thing::id)
            .toList();
    assertThat(read).isEqualTo(expected);
  }

  @Test
  void scheduledRunsRecomputeInTheBackgroundUntilClosed() throws Exception {
    try (Connection c = ds.getConnection();
        Statement st = c.createStatement()) {
      st.executeUpdate("delete from thingdb_listing where key like 'sr:3:%:all'");
    }
    ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(5)
            .clock(CLOCK)
            .windows(EnumSet.of(TimeWindow.ALL))
            .group("sr:3", 3)
            .interval(Duration.ofMillis(50))
            .build();
    r.start();
    try {
      assertThatThrownBy(r::start)
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("listing recompute of link is already started");
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (w.count(
              "select coalesce(max(version), 0) from thingdb_listing where key = 'sr:3:top:all'")
          < 3) {
        assertThat(System.nanoTime()).as("three scheduled runs").isLessThan(deadline);
        Thread.sleep(20);
      }
    } finally {
      r.close();
    }
    long version = w.count("select version from thingdb_listing where key = 'sr:3:top:all'");
    Thread.sleep(200);
    assertThat(w.count("select version from thingdb_listing where key = 'sr:3:top:all'"))
        .isEqualTo(version);
    assertThatThrownBy(r::runOnce)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("listing recompute of link is closed");
    assertThat(w.store.get("sr:3:top:all").orElseThrow().visible()).hasSize(5);
  }

  @Test
  void badInputIsRejectedWithClearMessages() {
    ListingRecompute.Builder b =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR);
    assertThatThrownBy(() -> b.capacity(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing capacity must be between 1 and 1000000 (capacity=0)");
    assertThatThrownBy(() -> b.group(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("group must not be null");
    assertThatThrownBy(() -> b.group(null, 1))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("group prefix must not be null");
    assertThatThrownBy(() -> b.group("", 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("group prefix must not be empty (value=1)");
    assertThatThrownBy(() -> b.group("forum:1", 1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.windows(Set.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("windows must not be empty");
    assertThatThrownBy(() -> b.interval(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("recompute interval must be positive (interval=PT0S)");
    assertThatThrownBy(b::build)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("listing recompute of link needs at least one group");
    b.group("sr:1", 1);
    assertThatThrownBy(() -> b.group("sr:1", 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("group prefix sr:1 is declared twice");
    assertThatThrownBy(() -> b.group("sr:7", 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("groups sr:1 and sr:7 have the same sr value 1");
    assertThatThrownBy(() -> TimeWindow.parse("decade"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown time window 'decade' (expected one of hour, day, week, month, year, all)");
    assertThatThrownBy(
            () ->
                ListingRecompute.builder(
                    w.db, ds, w.store, VoteWorld.LINK, io.thingdb.core.Prop.int64("subreddit", 0)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown prop 'subreddit' of type link (declared: "
                + VoteWorld.LINK.props().stream().map(io.thingdb.core.Prop::name).toList()
                + ")");
    assertThatThrownBy(
            () ->
                ListingRecompute.builder(
                    w.db, ds, w.store, VoteWorld.LINK, io.thingdb.core.Prop.int64("sr", 9)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("group prop ")
        .hasMessageContaining("differs from the prop 'sr' declared on type link");
    assertThatThrownBy(() -> ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("groupProp must not be null");
  }
}

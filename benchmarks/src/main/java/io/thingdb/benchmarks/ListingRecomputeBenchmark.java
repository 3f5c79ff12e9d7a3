package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Database;
import io.thingdb.core.Prop;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingType;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingRecompute;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.ListingStore;
import io.thingdb.listings.TimeWindow;
import io.thingdb.testing.MemcachedCluster;
import java.io.RandomAccessFile;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Batch recompute of the windowed top/controversial listings over 1,000,000 things in 100 groups
 * (goal: at most 60 s on this machine), a workload harness with its baseline in the same run.
 *
 * <p>The things are written in bulk with SQL straight into ThingDB's tables ({@code thing_link} and
 * one {@code data_link} row per thing for its group prop {@code sr}, 1 to 100): ups and downs
 * uniform in 0..59, dates uniform over the last 400 days, 2% deleted and 2% spam. Then, {@code
 * runs} times:
 *
 * <ul>
 *   <li>{@code thingdb}: {@link ListingRecompute#runOnce()} for the 100 groups, windows hour, day,
 *       week, month and year, capacity 1,000: one streaming pass over the year's things, the top
 *       entries per group, sort and window in bounded heaps, and 1,000 listings written to
 *       PostgreSQL and published to memcached.
 *   <li>{@code sql}: the SQL query the recompute replaces, once per group, sort and window (1,000
 *       queries): live things of the group in the window, ordered by {@code thingdb_score} or
 *       {@code thingdb_controversy} descending and id descending, limit 1,000, rows fetched,
 *       nothing written. An index on {@code data_link (key, value, thing_id)} serves the group
 *       filter.
 * </ul>
 *
 * A fixed clock makes every run see the same windows.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.thingdb.benchmarks.ListingRecomputeBenchmark
 * [things=1000000] [groups=100] [runs=3] [sync=off] [out=FILE.json]}; takes {@code /tmp/jmh.lock}
 * unless {@code -Djmh.ignoreLock=true}. Not thread-safe.
 */
public final class ListingRecomputeBenchmark {
  static final Prop<Long> SR = Prop.int64("sr", 0);
  static final ThingType LINK = ThingType.named("link").props(SR).build();
  static final int CAPACITY = Listing.DEFAULT_CAPACITY;
  static final List<TimeWindow> WINDOWS =
      List.of(TimeWindow.HOUR, TimeWindow.DAY, TimeWindow.WEEK, TimeWindow.MONTH, TimeWindow.YEAR);

  private ListingRecomputeBenchmark() {}

  static long sqlBaseline(HikariDataSource pool, int groups, Instant now) throws SQLException {
    long rows = 0;
    try (Connection c = pool.getConnection()) {
      for (ListingSort sort : List.of(ListingSort.TOP, ListingSort.CONTROVERSIAL)) {
        String fn = sort == ListingSort.TOP ? "thingdb_score" : "thingdb_controversy";
        try (PreparedStatement ps =
            c.prepareStatement(
                "select t.thing_id, "
                    + fn
                    + "(t.ups, t.downs) from"
                    + " thing_link t join data_link d on d.thing_id = t.thing_id and d.key = 'sr' where d.value = ?"
                    + " and not t.deleted and not t.spam and t.date >= ? order by "
                    + fn
                    + "(t.ups, t.downs) desc,"
                    + " t.thing_id desc limit ?")) {
          for (int g = 1; g <= groups; g++) {
            for (TimeWindow w : WINDOWS) {
              ps.setString(1, Integer.toString(g));
              ps.setTimestamp(2, Timestamp.from(w.cutoff(now).orElseThrow()));
              ps.setInt(3, CAPACITY);
              try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                  rows++;
                }
              }
            }
          }
        }
      }
    }
    return rows;
  }

  static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    int n = s.size();
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }

  /** Parses {@code key=value} arguments, takes the JMH lock, runs, writes the JSON. */
  public static void main(String[] args) throws Exception {
    Map<String, String> defaults = new LinkedHashMap<>();
    defaults.put("things", "1000000");
    defaults.put("groups", "100");
    defaults.put("runs", "3");
    defaults.put("sync", "off");
    defaults.put("out", "");
    Map<String, String> options = Harness.options(args, defaults);
    int things = Integer.parseInt(options.get("things"));
    int groups = Integer.parseInt(options.get("groups"));
    int runs = Integer.parseInt(options.get("runs"));
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    try (RandomAccessFile lockFile = new RandomAccessFile("/tmp/jmh.lock", "rw");
        FileLock lock = Boolean.getBoolean("jmh.ignoreLock") ? null : lockFile.getChannel().lock();
        BenchPostgres pg = BenchPostgres.start(options.get("sync"));
        MemcachedCluster memcached = MemcachedCluster.start(1)) {
      String settings = pg.settings();
      System.out.println("PostgreSQL: " + settings);
      HikariConfig config = new HikariConfig();
      config.setJdbcUrl(pg.jdbcUrl(""));
      config.setUsername("postgres");
      config.setMaximumPoolSize(4);
      config.setPoolName("recompute");
      List<Double> ours = new ArrayList<>();
      List<Double> sql = new ArrayList<>();
      long scanned = 0;
      long populateMillis;
      try (HikariDataSource pool = new HikariDataSource(config);
          MemcachedCache cache = MemcachedCache.builder().servers(memcached.server(0)).build();
          ThingDb db =
              ThingDb.builder()
                  .database("main", Database.of(pool))
                  .type(LINK, "main")
                  .cache(cache)
                  .build();
          ListingStore store = ListingStore.builder(pool).cache(cache).build()) {
        long start = System.nanoTime();
        try (Connection c = pool.getConnection();
            var st = c.createStatement()) {
          st.execute("select setseed(0.42)");
          st.execute(
              "insert into thing_link (thing_id, ups, downs, deleted, spam, date, version)"
                  + " select g, floor(random() * 60)::int, floor(random() * 60)::int, random() < 0.02,"
                  + " random() < 0.02, '"
                  + Timestamp.from(now)
                  + "'::timestamp - random() * interval '400 days', 1"
                  + " from generate_series(1, "
                  + things
                  + ") g");
          st.execute(
              "insert into data_link (thing_id, key, value, kind) select g, 'sr', (g % "
                  + groups
                  + " + 1)::text, 'l' from generate_series(1, "
                  + things
                  + ") g");
          st.execute("select setval('thingseq_link', " + things + ")");
          st.execute("create index on data_link (key, value, thing_id)");
          st.execute("vacuum analyze thing_link");
          st.execute("vacuum analyze data_link");
        }
        populateMillis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf(Locale.ROOT, "populated %,d things in %,d ms%n", things, populateMillis);
        ListingRecompute.Builder b =
            ListingRecompute.builder(db, pool, store, LINK, SR)
                .capacity(CAPACITY)
                .clock(Clock.fixed(now, ZoneOffset.UTC));
        for (int g = 1; g <= groups; g++) {
          b.group("sr:" + g, g);
        }
        try (ListingRecompute recompute = b.build()) {
          for (int run = 1; run <= runs; run++) {
            long t0 = System.nanoTime();
            ListingRecompute.Summary summary = recompute.runOnce();
            double s1 = (System.nanoTime() - t0) / 1e9;
            long t1 = System.nanoTime();
            long rows = sqlBaseline(pool, groups, now);
            double s2 = (System.nanoTime() - t1) / 1e9;
            ours.add(s1);
            sql.add(s2);
            scanned = summary.thingsScanned();
            System.out.printf(
                Locale.ROOT,
                "run %d: recompute %.2f s (%,d things scanned, %d listings written);"
                    + " SQL baseline %.2f s (%,d rows in %d queries)%n",
                run,
                s1,
                summary.thingsScanned(),
                summary.listingsWritten(),
                s2,
                rows,
                groups * WINDOWS.size() * 2);
          }
        }
        // The recompute's listing equals the query for one sample group.
        checkSample(pool, store, now);
      }
      List<Double> ratios = new ArrayList<>();
      for (int i = 0; i < ours.size(); i++) {
        ratios.add(sql.get(i) / ours.get(i));
      }
      String json =
          String.format(
              Locale.ROOT,
              "{%n  \"benchmark\": \"io.thingdb.benchmarks.ListingRecomputeBenchmark\","
                  + "%n  \"finished\": \"%s\",%n  \"options\": {\"things\": %d, \"groups\": %d, \"runs\": %d, \"windows\":"
                  + " \"hour,day,week,month,year\", \"capacity\": %d},%n  \"postgres\": \"%s\",%n  \"populateMillis\": %d,"
                  + "%n  \"thingsScanned\": %d,%n  \"recomputeSeconds\": %s,%n  \"sqlBaselineSeconds\": %s,"
                  + "%n  \"recomputeSecondsMedian\": %.3f,%n  \"sqlBaselineSecondsMedian\": %.3f,"
                  + "%n  \"speedupMedian\": %.3f,%n  \"speedupMin\": %.3f,%n  \"speedupMax\": %.3f%n}%n",
              Instant.now(),
              things,
              groups,
              runs,
              CAPACITY,
              settings,
              populateMillis,
              scanned,
              ours,
              sql,
              median(ours),
              median(sql),
              median(ratios),
              ratios.stream().mapToDouble(Double::doubleValue).min().orElseThrow(),
              ratios.stream().mapToDouble(Double::doubleValue).max().orElseThrow());
      System.out.print(json);
      if (!options.get("out").isEmpty()) {
        Files.writeString(Path.of(options.get("out")), json, StandardCharsets.UTF_8);
      }
    }
  }

  private static void checkSample(HikariDataSource pool, ListingStore store, Instant now)
      throws SQLException {
    String key = ListingRecompute.key("sr:7", ListingSort.TOP, TimeWindow.MONTH);
    List<Long> expected = new ArrayList<>();
    try (Connection c = pool.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select t.thing_id from thing_link t join data_link d"
                    + " on d.thing_id = t.thing_id and d.key = 'sr' where d.value = '7' and not t.deleted and not t.spam"
                    + " and t.date >= ? order by thingdb_score(t.ups, t.downs) desc, t.thing_id desc limit ?")) {
      ps.setTimestamp(1, Timestamp.from(TimeWindow.MONTH.cutoff(now).orElseThrow()));
      ps.setInt(2, CAPACITY);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          expected.add(rs.getLong(1));
        }
      }
    }
    List<Long> actual =
        store.get(key).orElseThrow().visible().stream().map(Listing.Entry::id).toList();
    if (!actual.equals(expected)) {
      throw new IllegalStateException(
          key
              + " differs from the SQL query: "
              + actual.size()
              + " vs "
              + expected.size()
              + " entries");
    }
  }
}

package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.ThingDb;
import io.thingdb.testing.ForwardingDataSource;
import io.thingdb.testing.MemcachedCluster;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * What a change of memcached servers costs the database, with and without {@link MemcachedCache}'s
 * warm-up: real memcached processes (four), an embedded PostgreSQL holding {@code things} links,
 * and {@code instances} ThingDb instances (as app servers: each its own MemcachedCache, ThingDb and
 * pool share) reading links by id at a fixed total arrival rate with Zipf popularity. The harness
 * counts the SQL statements every instance sends (all of them reads: nothing is written during the
 * runs) per second, changes the servers of every instance, one after the other {@code skewMs} apart
 * as instances polling a servers file do, and keeps counting.
 *
 * <p>Scenarios, each on a flushed and fully primed cache: adding a fourth server to three, without
 * warm-up and with it; then removing one of four, without and with. The figure of merit is the
 * extra statements after the change (those above the rate before it) over the window: warm-up's
 * share of the cold figure (the goal: at most 10% in the first minute).
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar io.thingdb.benchmarks.RingChangeWarmup
 * [things=100000] [rate=2000] [instances=3] [threads=2] [before=10] [after=60] [removeAfter=30]
 * [skewMs=500] [out=DIR]}. Writes {@code ring-warmup-<time>.json} and {@code
 * ring-warmup-<time>.png} into {@code out}.
 */
public final class RingChangeWarmup {
  private RingChangeWarmup() {}

  /** One scenario's settings. */
  private record Scenario(String name, boolean add, boolean warm, int afterSeconds) {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new LinkedHashMap<>();
    args.put("things", "100000");
    args.put("rate", "2000");
    args.put("instances", "3");
    args.put("threads", "2");
    args.put("before", "10");
    args.put("after", "60");
    args.put("removeAfter", "30");
    args.put("skewMs", "500");
    args.put("out", "benchmarks/results/2026-12-05-cluster");
    for (String a : argv) {
      int eq = a.indexOf('=');
      if (eq < 1 || !args.containsKey(a.substring(0, eq))) {
        throw new IllegalArgumentException("unknown argument " + a + "; known: " + args.keySet());
      }
      args.put(a.substring(0, eq), a.substring(eq + 1));
    }
    int things = Integer.parseInt(args.get("things"));
    int after = Integer.parseInt(args.get("after"));
    int removeAfter = Integer.parseInt(args.get("removeAfter"));
    List<Scenario> scenarios =
        List.of(
            new Scenario("add-node-cold", true, false, after),
            new Scenario("add-node-warm", true, true, after),
            new Scenario("remove-node-cold", false, false, removeAfter),
            new Scenario("remove-node-warm", false, true, removeAfter));
    Instant started = Instant.now();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("harness", "RingChangeWarmup");
    out.put("started", started.toString());
    out.put("options", new LinkedHashMap<>(args));
    Map<String, Object> results = new LinkedHashMap<>();
    try (BenchPostgres pg = BenchPostgres.start("off");
        MemcachedCluster cluster = MemcachedCluster.start(4)) {
      HikariDataSource pool = pg.pool("ring-warmup", "");
      long[] ids;
      try (ThingDb loader = BenchThings.thingDb(pool, null)) {
        long t0 = System.nanoTime();
        ids = BenchThings.populate(loader, things, 42);
        System.out.printf(
            "populated %d links in %d ms%n",
            things, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
      }
      for (Scenario s : scenarios) {
        results.put(s.name(), run(s, args, cluster, pool, ids));
      }
    }
    out.put("scenarios", results);
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("add_node_extra_reads_ratio", ratio(results, "add-node"));
    summary.put("remove_node_extra_reads_ratio", ratio(results, "remove-node"));
    summary.put("goal", "extra database reads with warm-up <= 10% of those without");
    out.put("summary", summary);
    Path dir = Path.of(args.get("out"));
    Files.createDirectories(dir);
    String stamp = started.toString().replace(":", "").replaceAll("\\.\\d+", "");
    Path json = dir.resolve("ring-warmup-" + stamp + ".json");
    Files.writeString(json, JsonOut.write(out));
    Path png = dir.resolve("ring-warmup-" + stamp + ".png");
    plot(results, png, Integer.parseInt(args.get("before")));
    System.out.println("summary: " + summary);
    System.out.println("wrote " + json + " and " + png);
  }

  private static Double ratio(Map<String, Object> results, String prefix) {
    double cold = extra(results.get(prefix + "-cold"));
    double warm = extra(results.get(prefix + "-warm"));
    return cold <= 0 ? null : warm / cold;
  }

  @SuppressWarnings("unchecked")
  private static double extra(Object scenario) {
    return ((Number) ((Map<String, Object>) scenario).get("extra_reads_after_change"))
        .doubleValue();
  }

  private static Map<String, Object> run(
      Scenario s, Map<String, String> args, MemcachedCluster cluster, DataSource pool, long[] ids)
      throws InterruptedException {
    int instances = Integer.parseInt(args.get("instances"));
    int threads = Integer.parseInt(args.get("threads"));
    int rate = Integer.parseInt(args.get("rate"));
    int before = Integer.parseInt(args.get("before"));
    long skewMs = Long.parseLong(args.get("skewMs"));
    List<String> three = cluster.servers().subList(0, 3);
    List<String> four = cluster.servers();
    List<String> initial = s.add() ? three : four;
    List<String> changed = s.add() ? four : three;
    // Long enough to cover the window measured: the window is the first minute (or less).
    Duration warmUp = s.warm() ? Duration.ofSeconds(s.afterSeconds() + 10) : Duration.ZERO;
    cluster.flushAll();

    LongAdder statements = new LongAdder();
    List<MemcachedCache> caches = new ArrayList<>();
    List<ThingDb> dbs = new ArrayList<>();
    try {
      for (int i = 0; i < instances; i++) {
        MemcachedCache cache =
            MemcachedCache.builder().servers(initial).namespace("ring").warmUp(warmUp).build();
        caches.add(cache);
        dbs.add(BenchThings.thingDb(counting(pool, statements), cache));
      }
      long t0 = System.nanoTime();
      List<Long> chunk = new ArrayList<>();
      for (long id : ids) {
        chunk.add(id);
        if (chunk.size() == 1000) {
          dbs.get(0).getMany(BenchThings.LINK, chunk, ThingDb.Missing.FAIL);
          chunk.clear();
        }
      }
      if (!chunk.isEmpty()) {
        dbs.get(0).getMany(BenchThings.LINK, chunk, ThingDb.Missing.FAIL);
      }
      System.out.printf(
          "%s: primed %d links in %d ms%n",
          s.name(), ids.length, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));

      AtomicBoolean stop = new AtomicBoolean();
      LongAdder reads = new LongAdder();
      List<Thread> readers = new ArrayList<>();
      int perThread = Math.max(1, rate / (instances * threads));
      long intervalNanos = TimeUnit.SECONDS.toNanos(1) / perThread;
      long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
      for (int i = 0; i < instances; i++) {
        ThingDb db = dbs.get(i);
        for (int t = 0; t < threads; t++) {
          int[] sequence = Keys.zipfSequence(ids.length, 1 << 18, 7919L * (i * threads + t + 1));
          Thread reader =
              new Thread(
                  () -> {
                    // Open loop: the n-th read is due at start + n * interval whatever the reads
                    // before it took, so a slow period does not lower the offered load.
                    long n = 0;
                    while (!stop.get()) {
                      long due = start + n * intervalNanos;
                      long wait = due - System.nanoTime();
                      if (wait > 0) {
                        LockSupport.parkNanos(wait);
                        continue;
                      }
                      long id = ids[sequence[(int) (n & (sequence.length - 1))]];
                      db.get(BenchThings.LINK, id);
                      reads.increment();
                      n++;
                    }
                  },
                  "ring-reader-" + i + "-" + t);
          reader.setDaemon(true);
          readers.add(reader);
          reader.start();
        }
      }
      statements.reset();
      int seconds = before + s.afterSeconds();
      long[] perSecond = new long[seconds];
      long[] readsPerSecond = new long[seconds];
      long tick = start;
      long changedAt = 0;
      int nextChange = 0;
      for (int sec = 0; sec < seconds; sec++) {
        long end = tick + TimeUnit.SECONDS.toNanos(1);
        while (System.nanoTime() - end < 0) {
          if (sec >= before && nextChange < instances) {
            long due = tick + TimeUnit.MILLISECONDS.toNanos(skewMs * nextChange);
            if (sec > before || System.nanoTime() - due >= 0) {
              if (nextChange == 0) {
                changedAt = System.nanoTime();
              }
              caches.get(nextChange).reconfigure(changed);
              nextChange++;
              continue;
            }
          }
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        perSecond[sec] = statements.sumThenReset();
        readsPerSecond[sec] = reads.sumThenReset();
        tick = end;
      }
      stop.set(true);
      for (Thread r : readers) {
        r.join(TimeUnit.SECONDS.toMillis(10));
      }
      double baseline = 0;
      for (int sec = 1; sec < before; sec++) { // the first second still settles
        baseline += perSecond[sec];
      }
      baseline /= Math.max(1, before - 1);
      long afterTotal = 0;
      for (int sec = before; sec < seconds; sec++) {
        afterTotal += perSecond[sec];
      }
      double extra = afterTotal - baseline * s.afterSeconds();
      long copies = 0;
      for (MemcachedCache c : caches) {
        copies += c.warmUpCopies();
      }
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("servers_before", initial);
      r.put("servers_after", changed);
      r.put("warm_up_ms", warmUp.toMillis());
      r.put("change_at_second", before);
      r.put("skew_between_instances_ms", skewMs);
      r.put("statements_per_second", asList(perSecond));
      r.put("reads_per_second", asList(readsPerSecond));
      r.put("baseline_statements_per_second", baseline);
      r.put("statements_after_change", afterTotal);
      r.put("extra_reads_after_change", extra);
      r.put("window_seconds", s.afterSeconds());
      r.put("warm_up_copies", copies);
      System.out.printf(
          "%s: baseline %.1f statements/s, %d in the %d s after the change (extra %.0f), %d"
              + " copies; change at +%d ms%n",
          s.name(),
          baseline,
          afterTotal,
          s.afterSeconds(),
          extra,
          copies,
          TimeUnit.NANOSECONDS.toMillis(changedAt - start));
      return r;
    } finally {
      for (ThingDb db : dbs) {
        db.close();
      }
      for (MemcachedCache c : caches) {
        c.close();
      }
    }
  }

  private static List<Long> asList(long[] values) {
    List<Long> out = new ArrayList<>(values.length);
    for (long v : values) {
      out.add(v);
    }
    return out;
  }

  /** {@code ds} with every statement executed through it counted in {@code count}. */
  private static DataSource counting(DataSource ds, LongAdder count) {
    return new ForwardingDataSource(ds) {
      @Override
      public Connection getConnection() throws SQLException {
        return countingConnection(ds.getConnection(), count);
      }

      @Override
      public Connection getConnection(String user, String password) throws SQLException {
        return countingConnection(ds.getConnection(user, password), count);
      }
    };
  }

  private static Connection countingConnection(Connection c, LongAdder count) {
    return (Connection)
        proxy(
            c,
            Connection.class,
            (p, m, a) -> {
              Object r = invoke(c, m, a);
              if (r instanceof Statement st
                  && m.getName().matches("prepareStatement|createStatement|prepareCall")) {
                return countingStatement(st, count);
              }
              return r;
            });
  }

  private static Object countingStatement(Statement st, LongAdder count) {
    Class<?> type =
        st instanceof java.sql.CallableStatement
            ? java.sql.CallableStatement.class
            : st instanceof java.sql.PreparedStatement
                ? java.sql.PreparedStatement.class
                : Statement.class;
    return proxy(
        st,
        type,
        (p, m, a) -> {
          if (m.getName().startsWith("execute") && !m.getName().equals("executeBatch")) {
            count.increment();
          }
          return invoke(st, m, a);
        });
  }

  private static Object proxy(Object target, Class<?> type, InvocationHandler h) {
    return Proxy.newProxyInstance(
        RingChangeWarmup.class.getClassLoader(), new Class<?>[] {type}, h);
  }

  private static Object invoke(Object target, java.lang.reflect.Method m, Object[] a)
      throws Throwable {
    try {
      return m.invoke(target, a);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  /**
   * One panel per change (adding, removing), a line per run: the statements of every instance in
   * each second, plotted at the second's end (so the point at 1 is the first second after the
   * change).
   */
  @SuppressWarnings("unchecked")
  private static void plot(Map<String, Object> results, Path file, int before) throws IOException {
    CombinedDomainXYPlot combined =
        new CombinedDomainXYPlot(
            new NumberAxis("seconds since the first instance applied the change"));
    for (String change : List.of("add-node", "remove-node")) {
      XYSeriesCollection data = new XYSeriesCollection();
      for (String mode : List.of("cold", "warm")) {
        Map<String, Object> r = (Map<String, Object>) results.get(change + "-" + mode);
        List<Long> perSecond = (List<Long>) r.get("statements_per_second");
        XYSeries series =
            new XYSeries(
                change
                    + (mode.equals("cold")
                        ? ", no warm-up"
                        : ", warm-up " + ((Number) r.get("warm_up_ms")).longValue() / 1000 + " s"));
        for (int sec = 0; sec < perSecond.size(); sec++) {
          series.add(sec - before + 1, perSecond.get(sec));
        }
        data.addSeries(series);
      }
      XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
      renderer.setSeriesPaint(0, new Color(200, 60, 50));
      renderer.setSeriesPaint(1, new Color(40, 90, 170));
      renderer.setSeriesStroke(0, new BasicStroke(2f));
      renderer.setSeriesStroke(1, new BasicStroke(2f));
      XYPlot plot = new XYPlot(data, null, new NumberAxis("statements/s, " + change), renderer);
      plot.setBackgroundPaint(Color.WHITE);
      plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
      plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
      plot.addDomainMarker(new ValueMarker(0, Color.BLACK, new BasicStroke(1f)));
      combined.add(plot, 1);
    }
    JFreeChart chart =
        new JFreeChart(
            "PostgreSQL statements/s (all app instances) around a change of memcached servers",
            JFreeChart.DEFAULT_TITLE_FONT,
            combined,
            true);
    chart.setBackgroundPaint(Color.WHITE);
    ChartUtils.saveChartAsPNG(new File(file.toString()), chart, 1000, 700);
  }
}

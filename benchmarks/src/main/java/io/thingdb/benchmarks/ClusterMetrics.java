package io.thingdb.benchmarks;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Samples the cluster once a second while the workload runs: every instance's Prometheus {@code
 * /metrics} (the {@code thingdb_*} meters, summed over their labels per instance) and, from each
 * PostgreSQL server, its transaction and tuple counters, whether it is in recovery, its replay lag
 * (replicas: now minus the last replayed transaction's time) and its replicas' {@code replay_lag}
 * (primaries). An instance or server that does not answer leaves its entry out of that sample.
 * {@link #run} runs on one thread; {@link #samples()} may be read from any thread.
 */
final class ClusterMetrics {
  /**
   * One second's readings.
   *
   * @param millis epoch milliseconds of the sample
   * @param apps per instance name, metric name to the sum of its values
   * @param pg per server name, reading name to value
   */
  record Sample(
      long millis, Map<String, Map<String, Double>> apps, Map<String, Map<String, Double>> pg) {}

  private final Map<String, URI> apps;
  private final Map<String, String> pgUrls;
  private final Map<String, Connection> connections = new TreeMap<>();
  private final List<Sample> samples = new CopyOnWriteArrayList<>();
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofMillis(500)).build();

  /**
   * @param apps instance name to its {@code /metrics} URL
   * @param pgUrls server name to a JDBC URL (user and password in it)
   */
  ClusterMetrics(Map<String, URI> apps, Map<String, String> pgUrls) {
    this.apps = new LinkedHashMap<>(apps);
    this.pgUrls = new LinkedHashMap<>(pgUrls);
  }

  List<Sample> samples() {
    return List.copyOf(samples);
  }

  /** Samples every second until interrupted. */
  void run() {
    long next = System.nanoTime();
    try {
      while (!Thread.currentThread().isInterrupted()) {
        samples.add(sampleOnce());
        next += TimeUnit.SECONDS.toNanos(1);
        long wait = next - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        } else {
          next = System.nanoTime();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      for (Connection c : connections.values()) {
        try {
          c.close();
        } catch (SQLException e) {
          // closing anyway at the end of the run
        }
      }
    }
  }

  Sample sampleOnce() {
    long millis = System.currentTimeMillis();
    Map<String, Map<String, Double>> appOut = new TreeMap<>();
    for (Map.Entry<String, URI> e : apps.entrySet()) {
      Map<String, Double> m = scrape(e.getValue());
      if (m != null) {
        appOut.put(e.getKey(), m);
      }
    }
    Map<String, Map<String, Double>> pgOut = new TreeMap<>();
    for (Map.Entry<String, String> e : pgUrls.entrySet()) {
      Map<String, Double> m = pgReadings(e.getKey(), e.getValue());
      if (m != null) {
        pgOut.put(e.getKey(), m);
      }
    }
    return new Sample(millis, appOut, pgOut);
  }

  private Map<String, Double> scrape(URI uri) {
    try {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).GET().build(),
              HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        return null;
      }
      return parsePrometheus(r.body());
    } catch (java.io.IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /**
   * Sums every {@code thingdb_*}, {@code process_cpu_*} and {@code process_uptime_*} sample over
   * its labels; for the few per-label series the plots need ({@code queue}), keeps {@code
   * name{label=value}} too.
   */
  static Map<String, Double> parsePrometheus(String text) {
    Map<String, Double> out = new TreeMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.charAt(0) == '#') {
        continue;
      }
      if (!line.startsWith("thingdb_")
          && !line.startsWith("process_cpu")
          && !line.startsWith("process_uptime")) {
        continue;
      }
      int brace = line.indexOf('{');
      int space = line.lastIndexOf(' ');
      if (space < 0) {
        continue;
      }
      String name =
          brace >= 0 && brace < space ? line.substring(0, brace) : line.substring(0, space);
      double v;
      try {
        v = Double.parseDouble(line.substring(space + 1));
      } catch (NumberFormatException e) {
        continue;
      }
      if (Double.isNaN(v)) {
        continue;
      }
      out.merge(name, v, Double::sum);
      if (brace >= 0) {
        int q = line.indexOf("queue=\"", brace);
        if (q > 0 && q < space) {
          int qe = line.indexOf('"', q + 7);
          out.merge(name + "{queue=" + line.substring(q + 7, qe) + "}", v, Double::sum);
        }
      }
    }
    return out;
  }

  private static final String PG_SQL =
      "select pg_is_in_recovery(),"
          + " (select sum(xact_commit + xact_rollback) from pg_stat_database),"
          + " (select sum(tup_returned + tup_fetched) from pg_stat_database),"
          + " (select sum(tup_inserted + tup_updated + tup_deleted) from pg_stat_database),"
          + " case when pg_is_in_recovery() then"
          + "   case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0"
          + "   else extract(epoch from now() - pg_last_xact_replay_timestamp()) end end,"
          + " (select max(extract(epoch from replay_lag)) from pg_stat_replication),"
          + " (select count(*) from pg_stat_replication)";

  private Map<String, Double> pgReadings(String name, String url) {
    try {
      Connection c = connections.get(name);
      if (c == null || c.isClosed()) {
        Properties p = new Properties();
        p.setProperty("connectTimeout", "1");
        p.setProperty("socketTimeout", "3");
        p.setProperty("ApplicationName", "cluster-workload-metrics");
        c = DriverManager.getConnection(url, p);
        connections.put(name, c);
      }
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery(PG_SQL)) {
        rs.next();
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("in_recovery", rs.getBoolean(1) ? 1.0 : 0.0);
        m.put("xact_total", rs.getDouble(2));
        m.put("tup_read_total", rs.getDouble(3));
        m.put("tup_written_total", rs.getDouble(4));
        double lag = rs.getDouble(5);
        if (!rs.wasNull()) {
          m.put("replay_lag_s", lag);
        }
        double replicaLag = rs.getDouble(6);
        if (!rs.wasNull()) {
          m.put("replicas_replay_lag_s", replicaLag);
        }
        m.put("replicas", rs.getDouble(7));
        return m;
      }
    } catch (SQLException e) {
      Connection c = connections.remove(name);
      if (c != null) {
        try {
          c.close();
        } catch (SQLException ignored) {
          // the connection is broken already
        }
      }
      return null;
    }
  }

  // ------------------------------------------------------------------ series

  /** Per-second rate of a counter summed over instances; counter resets (restarts) are handled. */
  static double[] rate(List<Sample> s, String metric, boolean pg) {
    double[] out = new double[Math.max(0, s.size() - 1)];
    for (int i = 1; i < s.size(); i++) {
      Map<String, Map<String, Double>> a = pg ? s.get(i - 1).pg() : s.get(i - 1).apps();
      Map<String, Map<String, Double>> b = pg ? s.get(i).pg() : s.get(i).apps();
      double dt = (s.get(i).millis() - s.get(i - 1).millis()) / 1000.0;
      double sum = 0;
      for (Map.Entry<String, Map<String, Double>> e : b.entrySet()) {
        double d = delta(a.get(e.getKey()), e.getValue(), metric);
        if (!Double.isNaN(d)) {
          sum += d; // NaN: the instance was down in one of the two samples
        }
      }
      out[i - 1] = dt > 0 ? sum / dt : 0;
    }
    return out;
  }

  /**
   * How much a counter grew between two samples of one instance: after a restart (its uptime went
   * down) everything it counted since; a sum that went down without a restart lost a series (a
   * memcached server's meters removed after a ring change), which is no growth, not a restart. NaN
   * if either sample lacks the counter.
   */
  static double delta(Map<String, Double> before, Map<String, Double> now, String metric) {
    if (before == null || now == null || before.get(metric) == null || now.get(metric) == null) {
      return Double.NaN;
    }
    double b = before.get(metric);
    double n = now.get(metric);
    if (n >= b) {
      return n - b;
    }
    Double upBefore = before.get(UPTIME);
    Double upNow = now.get(UPTIME);
    boolean restarted = upBefore == null || upNow == null || upNow < upBefore;
    return restarted ? n : 0;
  }

  private static final String UPTIME = "process_uptime_seconds";

  /** Per-second rate of a counter of one server or instance (NaN where it did not answer). */
  static double[] rateOf(List<Sample> s, String instance, String metric, boolean pg) {
    double[] out = new double[Math.max(0, s.size() - 1)];
    for (int i = 1; i < s.size(); i++) {
      Map<String, Double> a = (pg ? s.get(i - 1).pg() : s.get(i - 1).apps()).get(instance);
      Map<String, Double> b = (pg ? s.get(i).pg() : s.get(i).apps()).get(instance);
      double dt = (s.get(i).millis() - s.get(i - 1).millis()) / 1000.0;
      double d = delta(a, b, metric);
      out[i - 1] = Double.isNaN(d) || dt <= 0 ? Double.NaN : d / dt;
    }
    return out;
  }

  /** A gauge per sample: the maximum over instances (NaN where none reported it). */
  static double[] max(List<Sample> s, String metric, boolean pg) {
    double[] out = new double[Math.max(0, s.size() - 1)];
    for (int i = 1; i < s.size(); i++) {
      double m = Double.NaN;
      for (Map<String, Double> v : (pg ? s.get(i).pg() : s.get(i).apps()).values()) {
        Double x = v.get(metric);
        if (x != null && (Double.isNaN(m) || x > m)) {
          m = x;
        }
      }
      out[i - 1] = m;
    }
    return out;
  }

  /** A gauge of one server or instance per sample (NaN where it did not answer). */
  static double[] gaugeOf(List<Sample> s, String instance, String metric, boolean pg) {
    double[] out = new double[Math.max(0, s.size() - 1)];
    for (int i = 1; i < s.size(); i++) {
      Map<String, Double> v = (pg ? s.get(i).pg() : s.get(i).apps()).get(instance);
      Double x = v == null ? null : v.get(metric);
      out[i - 1] = x == null ? Double.NaN : x;
    }
    return out;
  }

  /** Every metric name any instance reported. */
  static List<String> appMetricNames(List<Sample> s) {
    java.util.TreeSet<String> names = new java.util.TreeSet<>();
    for (Sample x : s) {
      for (Map<String, Double> m : x.apps().values()) {
        names.addAll(m.keySet());
      }
    }
    return new ArrayList<>(names);
  }
}

package io.thingdb.benchmarks;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogarithmicAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.IntervalMarker;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.Layer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Draws the cluster run's plots (PNG, JFreeChart) from its JSON report: throughput and latency,
 * database statements, cache hit ratios, listing queue and vote-to-visible, replica lag; every
 * panel marks each fault (a shaded band from its start to its end, labelled at the start).
 * Stateless and thread-safe.
 */
final class ClusterPlots {
  private ClusterPlots() {}

  private static final Color[] PALETTE = {
    new Color(31, 119, 180),
    new Color(214, 39, 40),
    new Color(44, 160, 44),
    new Color(255, 127, 14),
    new Color(148, 103, 189),
    new Color(140, 86, 75),
    new Color(23, 190, 207)
  };

  private record Series(String name, List<Double> x, List<Double> y) {}

  private record Panel(String axis, boolean log, List<Series> series) {}

  /**
   * Writes {@code NAME-throughput.png}, {@code -db}, {@code -cache}, {@code -queue}, {@code -lag}.
   */
  @SuppressWarnings("unchecked")
  static void write(Path dir, String name, Map<String, Object> json) throws IOException {
    Map<String, Object> ps = (Map<String, Object>) json.get("per_second");
    Map<String, Object> m = (Map<String, Object>) json.get("metrics");
    List<Map<String, Object>> faults = (List<Map<String, Object>>) json.get("faults");
    int secs = ((List<?>) ps.get("requests")).size();
    List<Double> sec = new ArrayList<>();
    for (int i = 0; i < secs; i++) {
      sec.add(i + 0.5);
    }
    List<Double> t = nums(m.get("t_s"));

    List<Double> errors = new ArrayList<>();
    List<Double> e5 = nums(ps.get("http_5xx"));
    List<Double> ce = nums(ps.get("connection_errors"));
    for (int i = 0; i < secs; i++) {
      errors.add(e5.get(i) + ce.get(i));
    }
    draw(
        dir.resolve(name + "-throughput.png"),
        "Throughput and latency (open loop, through HAProxy)",
        faults,
        List.of(
            new Panel(
                "requests / s",
                false,
                List.of(
                    new Series("completed requests (by due second)", sec, nums(ps.get("requests"))),
                    new Series("writes", sec, nums(ps.get("writes"))),
                    new Series("5xx + connection errors", sec, errors))),
            new Panel(
                "latency ms (log)",
                true,
                List.of(
                    new Series("p50", sec, nums(ps.get("p50_ms"))),
                    new Series("p99", sec, nums(ps.get("p99_ms")))))));

    List<Series> pgSeries = new ArrayList<>();
    List<Series> lag = new ArrayList<>();
    Map<String, Object> pg = (Map<String, Object>) m.get("postgresql");
    for (Map.Entry<String, Object> e : pg.entrySet()) {
      Map<String, Object> one = (Map<String, Object>) e.getValue();
      pgSeries.add(new Series(e.getKey() + " transactions/s", t, nums(one.get("xact_per_s"))));
      List<Double> replay = nums(one.get("replay_lag_s"));
      if (replay.stream().anyMatch(v -> !v.isNaN())) {
        lag.add(new Series(e.getKey() + " replay lag (s)", t, replay));
      }
    }
    draw(
        dir.resolve(name + "-db.png"),
        "Database statements",
        faults,
        List.of(
            new Panel(
                "app statements / s",
                false,
                List.of(
                    new Series(
                        "ThingDB statements/s (all instances)",
                        t,
                        nums(m.get("app_statements_per_s"))))),
            new Panel("PostgreSQL xact / s", false, pgSeries)));

    draw(
        dir.resolve(name + "-cache.png"),
        "Cache hit ratio",
        faults,
        List.of(
            new Panel(
                "hit ratio",
                false,
                List.of(
                    new Series(
                        "app cache (memcached) hits/(hits+misses)",
                        t,
                        nums(m.get("app_cache_hit_ratio"))),
                    new Series(
                        "edge (HAProxy) hits / anonymous requests",
                        sec,
                        nums(ps.get("edge_hit_ratio_anonymous"))))),
            new Panel(
                "per s",
                false,
                List.of(
                    new Series("app cache misses/s", t, nums(m.get("app_cache_misses_per_s"))),
                    new Series("app cache loads/s", t, nums(m.get("app_cache_loads_per_s")))))));

    List<Series> visible = new ArrayList<>();
    Map<String, Object> probe = (Map<String, Object>) json.get("vote_to_visible");
    if (probe != null) {
      visible.add(
          new Series(
              "vote-to-visible, other logged-in reader (probe, ms)",
              nums(probe.get("t_s")),
              nums(probe.get("ms"))));
    }
    visible.add(
        new Series(
            "listing job age, mean ms (enqueue to applied)",
            t,
            nums(m.get("listing_job_age_mean_ms"))));
    for (Map.Entry<String, Object> e : m.entrySet()) {
      if (e.getKey().toLowerCase(Locale.ROOT).contains("visible")) {
        visible.add(new Series(e.getKey(), t, nums(e.getValue())));
      }
      if (e.getKey().toLowerCase(Locale.ROOT).contains("lag") && e.getValue() instanceof List<?>) {
        lag.add(new Series("app: " + e.getKey(), t, nums(e.getValue())));
      }
    }
    draw(
        dir.resolve(name + "-queue.png"),
        "Listing queue and vote-to-visible",
        faults,
        List.of(
            new Panel(
                "queue depth (jobs)",
                false,
                List.of(
                    new Series("links queue", t, nums(m.get("queue_depth_links"))),
                    new Series("comments queue", t, nums(m.get("queue_depth_comments"))))),
            new Panel("ms", false, visible)));

    draw(
        dir.resolve(name + "-lag.png"),
        "Replica lag",
        faults,
        List.of(
            new Panel(
                "seconds",
                false,
                lag.isEmpty() ? List.of(new Series("no lag reported", t, zeros(t.size()))) : lag)));
  }

  private static List<Double> zeros(int n) {
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(0.0);
    }
    return out;
  }

  private static List<Double> nums(Object o) {
    List<Double> out = new ArrayList<>();
    if (o instanceof List<?> l) {
      for (Object v : l) {
        out.add(v instanceof Number n ? n.doubleValue() : Double.NaN);
      }
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private static void draw(
      Path file, String title, List<Map<String, Object>> faults, List<Panel> panels)
      throws IOException {
    CombinedDomainXYPlot plot =
        new CombinedDomainXYPlot(new NumberAxis("seconds from the start of the run"));
    plot.setGap(8);
    boolean first = true;
    int colour = 0; // one legend for all panels: each series its own colour
    for (Panel p : panels) {
      XYSeriesCollection data = new XYSeriesCollection();
      for (Series s : p.series()) {
        XYSeries xy = new XYSeries(s.name(), false, true);
        for (int i = 0; i < Math.min(s.x().size(), s.y().size()); i++) {
          double y = s.y().get(i);
          if (!Double.isNaN(y) && !(p.log() && y <= 0)) {
            xy.add((double) s.x().get(i), y);
          } else {
            xy.add((double) s.x().get(i), (Number) null);
          }
        }
        data.addSeries(xy);
      }
      NumberAxis axis = p.log() ? new LogarithmicAxis(p.axis()) : new NumberAxis(p.axis());
      if (p.log()) {
        ((LogarithmicAxis) axis).setAllowNegativesFlag(false);
      } else {
        axis.setAutoRangeIncludesZero(true);
      }
      XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
      for (int i = 0; i < p.series().size(); i++) {
        r.setSeriesStroke(i, new BasicStroke(1.2f));
        r.setSeriesPaint(i, PALETTE[colour++ % PALETTE.length]);
      }
      XYPlot sub = new XYPlot(data, null, axis, r);
      sub.setBackgroundPaint(Color.WHITE);
      sub.setDomainGridlinePaint(new Color(220, 220, 220));
      sub.setRangeGridlinePaint(new Color(220, 220, 220));
      for (Map<String, Object> f : faults) {
        double start = ((Number) f.get("start_s")).doubleValue();
        double end = ((Number) f.get("end_s")).doubleValue();
        IntervalMarker band = new IntervalMarker(start, Math.max(end, start + 0.5));
        band.setPaint(new Color(255, 160, 160, 70));
        sub.addDomainMarker(band, Layer.BACKGROUND);
        ValueMarker line = new ValueMarker(start);
        line.setPaint(new Color(200, 0, 0));
        line.setStroke(new BasicStroke(1.0f));
        if (first) {
          boolean low = faults.indexOf(f) % 2 == 1;
          line.setLabel((String) f.get("fault"));
          line.setLabelFont(new Font("SansSerif", Font.PLAIN, 10));
          line.setLabelPaint(new Color(150, 0, 0));
          line.setLabelAnchor(low ? RectangleAnchor.BOTTOM_RIGHT : RectangleAnchor.TOP_RIGHT);
          line.setLabelTextAnchor(low ? TextAnchor.BOTTOM_LEFT : TextAnchor.TOP_LEFT);
        }
        sub.addDomainMarker(line, Layer.FOREGROUND);
      }
      plot.add(sub, 1);
      first = false;
    }
    JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
    chart.setBackgroundPaint(Color.WHITE);
    ChartUtils.saveChartAsPNG(new File(file.toString()), chart, 1400, 350 + 250 * panels.size());
  }
}

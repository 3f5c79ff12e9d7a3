package io.thingdb.benchmarks;

import io.thingdb.testing.MemcachedCluster;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Small pieces the benchmark harnesses share: {@code name=value} arguments, ordered tear-down, and
 * memcached's own counters per operation.
 */
final class Harness {
  /** The memcached counters worth dividing by operations. */
  private static final List<String> MEMCACHED_COUNTERS =
      List.of(
          "cmd_get",
          "get_hits",
          "get_misses",
          "cmd_set",
          "cas_hits",
          "cas_badval",
          "cas_misses",
          "incr_hits",
          "incr_misses",
          "delete_hits",
          "bytes_read",
          "bytes_written");

  private Harness() {}

  /**
   * Parses {@code name=value} arguments over {@code defaults}; an unknown name or an argument
   * without {@code =} is refused, naming the known ones.
   *
   * @return the defaults with the given values put over them, in the defaults' order
   */
  static Map<String, String> options(String[] args, Map<String, String> defaults) {
    Map<String, String> options = new LinkedHashMap<>(defaults);
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq < 0 || !options.containsKey(a.substring(0, eq))) {
        throw new IllegalArgumentException(
            "unknown argument " + a + "; known: " + options.keySet());
      }
      options.put(a.substring(0, eq), a.substring(eq + 1));
    }
    return options;
  }

  /**
   * Closes each non-null resource in the given order, all of them even when one fails; the first
   * failure is thrown with the later ones suppressed (checked exceptions wrapped).
   */
  static void closeInOrder(AutoCloseable... resources) {
    Throwable first = null;
    for (AutoCloseable r : resources) {
      if (r == null) {
        continue;
      }
      try {
        r.close();
      } catch (Exception | Error e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first instanceof RuntimeException re) {
      throw re;
    }
    if (first instanceof Error err) {
      throw err;
    }
    if (first != null) {
      throw new IllegalStateException("closing a benchmark resource failed: " + first, first);
    }
  }

  /**
   * The counters worth dividing by operations from node 0 of {@code memcached} ({@code stats}), for
   * explaining a score rather than measuring it: read them at the end of a trial's set-up and at
   * the start of its tear-down, outside any measurement, and pass both to {@link #perOp}.
   */
  static Map<String, Long> memcachedCounters(MemcachedCluster memcached) {
    Map<String, String> stats = memcached.stats(0);
    Map<String, Long> out = new LinkedHashMap<>();
    for (String name : MEMCACHED_COUNTERS) {
      String value = stats.get(name);
      if (value != null) {
        out.put(name, Long.parseLong(value));
      }
    }
    return out;
  }

  /** {@code name=per-op} for every counter that moved between {@code before} and {@code after}. */
  static String perOp(Map<String, Long> before, Map<String, Long> after, long ops) {
    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, Long> e : after.entrySet()) {
      long delta = e.getValue() - before.getOrDefault(e.getKey(), 0L);
      if (delta != 0) {
        out.append(out.length() == 0 ? "" : ", ")
            .append(e.getKey())
            .append('=')
            .append(String.format("%.2f", delta / (double) Math.max(1, ops)));
      }
    }
    return out.toString();
  }
}

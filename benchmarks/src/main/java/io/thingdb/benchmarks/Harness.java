package io.thingdb.benchmarks;

import java.util.LinkedHashMap;
import java.util.Map;

/** Small pieces the benchmark harnesses share: {@code name=value} arguments and ordered tear-down. */
final class Harness {
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
        throw new IllegalArgumentException("unknown argument " + a + "; known: " + options.keySet());
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
}

package io.thingdb.benchmarks;

import java.util.Collection;
import java.util.Locale;
import java.util.Map;

/**
 * A small JSON writer for the harness's result files (maps, collections, long arrays, strings,
 * numbers, booleans, null), indented so that the committed files read well. Stateless and
 * thread-safe.
 */
final class JsonOut {
  private JsonOut() {}

  /** {@code value} as indented JSON text. */
  static String write(Object value) {
    StringBuilder sb = new StringBuilder(1024);
    write(sb, value, 0);
    return sb.append('\n').toString();
  }

  private static void write(StringBuilder sb, Object value, int depth) {
    if (value == null) {
      sb.append("null");
    } else if (value instanceof String s) {
      string(sb, s);
    } else if (value instanceof Double d) {
      if (!Double.isFinite(d)) {
        sb.append("null");
      } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
        sb.append((long) (double) d);
      } else {
        // One decimal for large figures (req/s), four for small ones (ratios, milliseconds).
        sb.append(
            new java.math.BigDecimal(d)
                .setScale(Math.abs(d) >= 100 ? 1 : 4, java.math.RoundingMode.HALF_EVEN)
                .stripTrailingZeros()
                .toPlainString());
      }
    } else if (value instanceof Number || value instanceof Boolean) {
      sb.append(value);
    } else if (value instanceof Map<?, ?> m) {
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append("{\n");
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) {
          sb.append(",\n");
        }
        first = false;
        indent(sb, depth + 1);
        string(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue(), depth + 1);
      }
      sb.append('\n');
      indent(sb, depth);
      sb.append('}');
    } else if (value instanceof Collection<?> c) {
      boolean scalars = c.stream().noneMatch(v -> v instanceof Map || v instanceof Collection);
      sb.append('[');
      boolean first = true;
      for (Object v : c) {
        if (!first) {
          sb.append(scalars ? ", " : ",");
        }
        first = false;
        if (!scalars) {
          sb.append('\n');
          indent(sb, depth + 1);
        }
        write(sb, v, depth + 1);
      }
      if (!scalars && !c.isEmpty()) {
        sb.append('\n');
        indent(sb, depth);
      }
      sb.append(']');
    } else {
      throw new IllegalArgumentException(
          "JsonOut cannot write a " + value.getClass().getName() + ": " + value);
    }
  }

  private static void indent(StringBuilder sb, int depth) {
    sb.append("  ".repeat(depth));
  }

  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}

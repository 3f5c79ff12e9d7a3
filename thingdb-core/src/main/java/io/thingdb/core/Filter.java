package io.thingdb.core;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * A condition on the things of one type, for {@link ThingQuery#where}: a comparison of a base
 * column or a prop with values, or an {@code and}/{@code or} of other filters (nestable).
 *
 * <p>A prop compares by its value as the thing has it: a thing with no stored row for the prop has
 * the prop's default, so {@code eq(TITLE, "")} (the default) matches every thing that never set a
 * title. Values compare as their kind does: long and instant props numerically (instants to the
 * microsecond), double props as IEEE doubles ({@code -0.0} equals {@code 0.0}), strings by Unicode
 * code point (collation {@code "C"}, the order of {@link String#compareTo} outside the surrogate
 * range), booleans and bytes for equality only.
 *
 * <p>Every factory validates at once: a value of the wrong kind is an {@link
 * IllegalArgumentException} that names the prop (or column) and the value; a null value is a {@link
 * NullPointerException}. Whether a prop belongs to the queried type is checked by {@link
 * ThingQuery#where}. Immutable and thread-safe.
 */
public final class Filter {

  /** The base columns of every thing type that a filter can compare. */
  public enum Column {
    /** The thing id; values are {@link Integer} or {@link Long}. */
    ID,
    /** Up votes; values are {@link Integer} or {@link Long}. */
    UPS,
    /** Down votes; values are {@link Integer} or {@link Long}. */
    DOWNS,
    /** {@code ups - downs}; values are {@link Integer} or {@link Long}. */
    SCORE,
    /** The creation date; values are {@link Instant}s, truncated to microseconds. */
    DATE,
    /** The soft-delete flag; values are {@link Boolean}. Equality only. */
    DELETED,
    /** The spam flag; values are {@link Boolean}. Equality only. */
    SPAM;

    String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    boolean ordered() {
      return this != DELETED && this != SPAM;
    }

    Object accept(Object value) {
      Objects.requireNonNull(value, () -> "value of column " + label() + " must not be null");
      switch (this) {
        case DATE:
          if (value instanceof Instant i) {
            return i.truncatedTo(ChronoUnit.MICROS);
          }
          throw wrong("an Instant", value);
        case DELETED:
        case SPAM:
          if (value instanceof Boolean) {
            return value;
          }
          throw wrong("a Boolean", value);
        default:
          if (value instanceof Integer || value instanceof Long) {
            return ((Number) value).longValue();
          }
          throw wrong("an Integer or Long", value);
      }
    }

    private IllegalArgumentException wrong(String wanted, Object value) {
      return new IllegalArgumentException(
          "column "
              + label()
              + " takes "
              + wanted
              + ", but the value is a "
              + value.getClass().getSimpleName()
              + ": "
              + value);
    }
  }

  /** The operator of a node. */
  enum Op {
    EQ("eq", "="),
    NE("ne", "<>"),
    LT("lt", "<"),
    LE("le", "<="),
    GT("gt", ">"),
    GE("ge", ">="),
    IN("in", null),
    AND("and", null),
    OR("or", null);

    final String label;
    final String sql;

    Op(String label, String sql) {
      this.label = label;
      this.sql = sql;
    }

    boolean ordering() {
      return this == LT || this == LE || this == GT || this == GE;
    }
  }

  private final Op op;
  private final Column column;
  private final Prop<?> prop;

  /** Normalised values: Long/Instant/Boolean for columns, the prop's Java values for props. */
  private final List<Object> values;

  private final List<Filter> children;

  private Filter(Op op, Column column, Prop<?> prop, List<Object> values, List<Filter> children) {
    this.op = op;
    this.column = column;
    this.prop = prop;
    this.values = values;
    this.children = children;
  }

  // ------------------------------------------------------------------ props

  /** The prop equals {@code value} (a thing without a row for it has the default). */
  public static <T> Filter eq(Prop<T> prop, T value) {
    return compare(Op.EQ, prop, value);
  }

  /** The prop differs from {@code value}. */
  public static <T> Filter ne(Prop<T> prop, T value) {
    return compare(Op.NE, prop, value);
  }

  /** The prop is less than {@code value}; string, long, double and instant props only. */
  public static <T> Filter lt(Prop<T> prop, T value) {
    return compare(Op.LT, prop, value);
  }

  /** The prop is at most {@code value}; string, long, double and instant props only. */
  public static <T> Filter le(Prop<T> prop, T value) {
    return compare(Op.LE, prop, value);
  }

  /** The prop is greater than {@code value}; string, long, double and instant props only. */
  public static <T> Filter gt(Prop<T> prop, T value) {
    return compare(Op.GT, prop, value);
  }

  /** The prop is at least {@code value}; string, long, double and instant props only. */
  public static <T> Filter ge(Prop<T> prop, T value) {
    return compare(Op.GE, prop, value);
  }

  /** The prop equals one of {@code values} (none: matches nothing). */
  @SafeVarargs
  public static <T> Filter in(Prop<T> prop, T... values) {
    Objects.requireNonNull(values, "values must not be null");
    List<T> list = new ArrayList<>(values.length);
    for (T v : values) {
      list.add(v);
    }
    return in(prop, list);
  }

  /** The prop equals one of {@code values} (empty: matches nothing). */
  public static <T> Filter in(Prop<T> prop, Collection<? extends T> values) {
    Objects.requireNonNull(prop, "prop must not be null");
    Objects.requireNonNull(values, "values must not be null");
    List<Object> accepted = new ArrayList<>(values.size());
    for (Object v : values) {
      accepted.add(prop.accept(v));
    }
    return new Filter(Op.IN, null, prop, List.copyOf(accepted), List.of());
  }

  private static Filter compare(Op op, Prop<?> prop, Object value) {
    Objects.requireNonNull(prop, "prop must not be null");
    Object v = prop.accept(value);
    if (op.ordering() && (prop.kind() == PropKind.BOOLEAN || prop.kind() == PropKind.BYTES)) {
      throw new IllegalArgumentException(
          op.label
              + " is not defined on "
              + prop.kind()
              + " prop '"
              + prop.name()
              + "': use eq, ne or in");
    }
    return new Filter(op, null, prop, List.of(v), List.of());
  }

  // ------------------------------------------------------------------ base columns

  /** The column equals {@code value}. */
  public static Filter eq(Column column, Object value) {
    return compare(Op.EQ, column, value);
  }

  /** The column differs from {@code value}. */
  public static Filter ne(Column column, Object value) {
    return compare(Op.NE, column, value);
  }

  /** The column is less than {@code value}; not for {@code DELETED} and {@code SPAM}. */
  public static Filter lt(Column column, Object value) {
    return compare(Op.LT, column, value);
  }

  /** The column is at most {@code value}; not for {@code DELETED} and {@code SPAM}. */
  public static Filter le(Column column, Object value) {
    return compare(Op.LE, column, value);
  }

  /** The column is greater than {@code value}; not for {@code DELETED} and {@code SPAM}. */
  public static Filter gt(Column column, Object value) {
    return compare(Op.GT, column, value);
  }

  /** The column is at least {@code value}; not for {@code DELETED} and {@code SPAM}. */
  public static Filter ge(Column column, Object value) {
    return compare(Op.GE, column, value);
  }

  /** The column equals one of {@code values} (none: matches nothing). */
  public static Filter in(Column column, Object... values) {
    Objects.requireNonNull(values, "values must not be null");
    return in(column, Arrays.asList(values));
  }

  /** The column equals one of {@code values} (empty: matches nothing). */
  public static Filter in(Column column, Collection<?> values) {
    Objects.requireNonNull(column, "column must not be null");
    Objects.requireNonNull(values, "values must not be null");
    List<Object> accepted = new ArrayList<>(values.size());
    for (Object v : values) {
      accepted.add(column.accept(v));
    }
    return new Filter(Op.IN, column, null, List.copyOf(accepted), List.of());
  }

  private static Filter compare(Op op, Column column, Object value) {
    Objects.requireNonNull(column, "column must not be null");
    Object v = column.accept(value);
    if (op.ordering() && !column.ordered()) {
      throw new IllegalArgumentException(
          op.label + " is not defined on column " + column.label() + ": use eq, ne or in");
    }
    return new Filter(op, column, null, List.of(v), List.of());
  }

  // ------------------------------------------------------------------ combinations

  /** All of {@code filters} hold; at least one is required. */
  public static Filter and(Filter... filters) {
    Objects.requireNonNull(filters, "filters must not be null");
    return combine(Op.AND, Arrays.asList(filters));
  }

  /** All of {@code filters} hold; at least one is required. */
  public static Filter and(List<Filter> filters) {
    return combine(Op.AND, filters);
  }

  /** At least one of {@code filters} holds; at least one is required. */
  public static Filter or(Filter... filters) {
    Objects.requireNonNull(filters, "filters must not be null");
    return combine(Op.OR, Arrays.asList(filters));
  }

  /** At least one of {@code filters} holds; at least one is required. */
  public static Filter or(List<Filter> filters) {
    return combine(Op.OR, filters);
  }

  private static Filter combine(Op op, List<Filter> filters) {
    Objects.requireNonNull(filters, "filters must not be null");
    if (filters.isEmpty()) {
      throw new IllegalArgumentException(op.label + " needs at least one filter");
    }
    for (Filter f : filters) {
      Objects.requireNonNull(f, op.label + " filters must not contain null");
    }
    return new Filter(op, null, null, List.of(), List.copyOf(filters));
  }

  /**
   * Whether this filter, or any filter it combines, compares {@code column}: a listing module asks
   * whether a vote (which changes only ups, downs and the version) can change what a filter
   * matches.
   *
   * @throws NullPointerException if {@code column} is null
   */
  public boolean mentions(Column column) {
    Objects.requireNonNull(column, "column must not be null");
    if (this.column == column) {
      return true;
    }
    for (Filter f : children) {
      if (f.mentions(column)) {
        return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------------------ for the query compiler

  Op op() {
    return op;
  }

  /** The column compared, or null for a prop comparison or a combination. */
  Column column() {
    return column;
  }

  /** The prop compared, or null for a column comparison or a combination. */
  Prop<?> prop() {
    return prop;
  }

  List<Object> values() {
    return values;
  }

  List<Filter> children() {
    return children;
  }

  /** Checks every prop in the tree against {@code type}. */
  void checkProps(ThingType type) {
    if (prop != null) {
      type.check(prop);
    }
    for (Filter f : children) {
      f.checkProps(type);
    }
  }

  @Override
  public String toString() {
    if (op == Op.AND || op == Op.OR) {
      StringBuilder sb = new StringBuilder(op.label).append('(');
      for (int i = 0; i < children.size(); i++) {
        sb.append(i == 0 ? "" : ", ").append(children.get(i));
      }
      return sb.append(')').toString();
    }
    String subject = column != null ? column.label() : "'" + prop.name() + "'";
    List<String> shown = new ArrayList<>(values.size());
    for (Object v : values) {
      shown.add(
          v instanceof byte[] b
              ? "base64:" + Base64.getEncoder().encodeToString(b)
              : String.valueOf(v));
    }
    return op.label + "(" + subject + ", " + (op == Op.IN ? shown.toString() : shown.get(0)) + ")";
  }
}

package io.thingdb.core;

import java.util.Objects;

/**
 * The order of a {@link ThingQuery}: one sort value per thing, descending unless {@link
 * #ascending()} is asked for, with ties always broken by thing id descending, so every sort is one
 * total order and a cursor names one position in it.
 *
 * <p>The values are those of DESIGN.md section 5, computed in SQL by the functions the library
 * creates: {@link #DATE} ({@code date}, microseconds), {@link #SCORE} ({@code ups - downs}), {@link
 * #HOT} ({@code thingdb_hot(ups, downs, date)}) and {@link #CONTROVERSY} ({@code
 * thingdb_controversy(ups, downs)}); {@link #prop} sorts by a long, double or instant prop (its
 * default for things without a row). {@code -0.0}, which {@code thingdb_hot} returns for values
 * that round to zero from below, sorts equal to {@code 0.0} (PostgreSQL compares them as equal), so
 * such things are ordered by id like any other tie.
 *
 * <p>Cost: {@link #DATE} pages walk the {@code (date desc, thing_id desc)} index from the cursor.
 * The other sorts compute their value for every thing that passes the filter and keep the top of
 * the page ({@code thingdb_hot} is PL/pgSQL, about 6 µs a row: 20,000 things take about 130 ms a
 * page); for hot or controversial pages of large types use thingdb-listings, which keep them
 * precomputed. Immutable and thread-safe.
 */
public final class Sort {
  /** The kinds of sort value. */
  enum Kind {
    DATE,
    SCORE,
    HOT,
    CONTROVERSY,
    PROP
  }

  /** Newest first. */
  public static final Sort DATE = new Sort(Kind.DATE, null, false);

  /** Highest {@code ups - downs} first. */
  public static final Sort SCORE = new Sort(Kind.SCORE, null, false);

  /** Hottest first ({@code thingdb_hot}). */
  public static final Sort HOT = new Sort(Kind.HOT, null, false);

  /** Most controversial first ({@code thingdb_controversy}). */
  public static final Sort CONTROVERSY = new Sort(Kind.CONTROVERSY, null, false);

  private final Kind kind;
  private final Prop<?> prop;
  private final boolean ascending;

  private Sort(Kind kind, Prop<?> prop, boolean ascending) {
    this.kind = kind;
    this.prop = prop;
    this.ascending = ascending;
  }

  /**
   * Highest value of {@code prop} first; a thing without a row for the prop sorts by the default.
   *
   * @throws IllegalArgumentException if the prop is not a LONG, DOUBLE or INSTANT prop
   */
  public static Sort prop(Prop<?> prop) {
    Objects.requireNonNull(prop, "prop must not be null");
    PropKind k = prop.kind();
    if (k != PropKind.LONG && k != PropKind.DOUBLE && k != PropKind.INSTANT) {
      throw new IllegalArgumentException(
          "cannot sort by "
              + k
              + " prop '"
              + prop.name()
              + "': only LONG, DOUBLE and INSTANT props can be sorted by");
    }
    return new Sort(Kind.PROP, prop, false);
  }

  /**
   * The same sort, lowest value first (ties still by id descending). Allowed for {@link #DATE},
   * {@link #SCORE} and prop sorts.
   *
   * @throws IllegalArgumentException for {@link #HOT} and {@link #CONTROVERSY}
   */
  public Sort ascending() {
    if (kind == Kind.HOT || kind == Kind.CONTROVERSY) {
      throw new IllegalArgumentException(
          "ascending order is supported for date, score and prop sorts, not "
              + kind.name().toLowerCase(java.util.Locale.ROOT));
    }
    return new Sort(kind, prop, true);
  }

  /** Whether the lowest value comes first. */
  public boolean isAscending() {
    return ascending;
  }

  Kind kind() {
    return kind;
  }

  /** The prop of a prop sort, else null. */
  Prop<?> prop() {
    return prop;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Sort s
        && s.kind == kind
        && Objects.equals(s.prop, prop)
        && s.ascending == ascending;
  }

  @Override
  public int hashCode() {
    return Objects.hash(kind, prop, ascending);
  }

  @Override
  public String toString() {
    String what =
        kind == Kind.PROP
            ? "prop '" + prop.name() + "'"
            : kind.name().toLowerCase(java.util.Locale.ROOT);
    return what + (ascending ? " ascending" : " descending");
  }
}

package io.thingdb.core;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * What {@link ThingDb#scan} reads: the live (not deleted, not spam) things of one type, optionally
 * only those whose prop holds one of some values and those dated at or after an instant, through a
 * DataSource of the caller's choice (a replica kept for batch jobs). One statement: the thing rows
 * joined with the one data row of the filter prop. Immutable and thread-safe; each setter returns a
 * new scan.
 */
public final class ThingScan {
  /** Receives the things of a scan, one at a time. */
  @FunctionalInterface
  public interface Visitor {
    /**
     * Visits one thing. {@code row} is valid only during the call.
     *
     * @throws RuntimeException to stop the scan; {@link ThingDb#scan} rethrows it
     */
    void visit(Row row);
  }

  /**
   * One scanned thing: its base columns and the filter prop. Valid only during {@link
   * Visitor#visit}.
   */
  public interface Row {
    /** The thing's id. */
    long id();

    /** Its {@code ups}. */
    int ups();

    /** Its {@code downs}. */
    int downs();

    /** Its date. */
    Instant date();

    /** Its version. */
    long version();

    /**
     * The value of the scan's filter prop (its default when the thing stores none).
     *
     * @throws IllegalArgumentException if {@code prop} is not the filter prop
     */
    <T> T get(Prop<T> prop);
  }

  private final ThingType type;
  private final Prop<?> prop;
  private final List<String> values;
  private final Instant since;
  private final DataSource from;
  private final int fetchSize;

  private ThingScan(
      ThingType type,
      Prop<?> prop,
      List<String> values,
      Instant since,
      DataSource from,
      int fetchSize) {
    this.type = type;
    this.prop = prop;
    this.values = values;
    this.since = since;
    this.from = from;
    this.fetchSize = fetchSize;
  }

  /** A scan of every live thing of {@code type}, from its primary, 1,000 rows per fetch. */
  public static ThingScan of(ThingType type) {
    return new ThingScan(
        Objects.requireNonNull(type, "type must not be null"), null, null, null, null, 1000);
  }

  /**
   * Only things whose {@code prop} is one of {@code values} (a thing that stores no value has the
   * prop's default). One filter prop per scan.
   *
   * @throws IllegalArgumentException if {@code prop} is not declared on the scan's type, or {@code
   *     values} is empty
   */
  public <T> ThingScan where(Prop<T> prop, Collection<T> values) {
    Prop.checkDeclaredOn(type, prop);
    Objects.requireNonNull(values, "values must not be null");
    if (values.isEmpty()) {
      throw new IllegalArgumentException(
          "scan of " + type.name() + ": where(" + prop.name() + ") needs at least one value");
    }
    List<String> encoded = new ArrayList<>(values.size());
    for (T v : values) {
      encoded.add(prop.kind().encode(Objects.requireNonNull(v, "values must not contain null")));
    }
    return new ThingScan(type, prop, List.copyOf(encoded), since, from, fetchSize);
  }

  /** Only things dated at or after {@code since}. */
  public ThingScan since(Instant since) {
    return new ThingScan(
        type,
        prop,
        values,
        Objects.requireNonNull(since, "since must not be null"),
        from,
        fetchSize);
  }

  /**
   * Reads through {@code dataSource}, which must reach the type's database or a streaming replica
   * of it (the default is the type's primary).
   */
  public ThingScan from(DataSource dataSource) {
    return new ThingScan(
        type,
        prop,
        values,
        since,
        Objects.requireNonNull(dataSource, "dataSource must not be null"),
        fetchSize);
  }

  /**
   * Rows per fetch of the cursor (default 1,000).
   *
   * @throws IllegalArgumentException if not between 1 and 1,000,000
   */
  public ThingScan fetchSize(int rows) {
    if (rows < 1 || rows > 1_000_000) {
      throw new IllegalArgumentException(
          "scan of " + type.name() + ": fetchSize must be between 1 and 1000000: " + rows);
    }
    return new ThingScan(type, prop, values, since, from, rows);
  }

  /** The scanned type. */
  public ThingType type() {
    return type;
  }

  /** The DataSource to read through, or null for the type's primary. */
  DataSource from() {
    return from;
  }

  long run(Sql sql, DataSource source, Visitor visitor) throws SQLException {
    String t = type.name();
    StringBuilder q = new StringBuilder("select t.thing_id, t.ups, t.downs, t.date, t.version");
    List<Object> params = new ArrayList<>();
    if (prop != null) {
      String dflt = prop.kind().encode(prop.defaultValue());
      q.append(", coalesce(d.value, ?) from thing_")
          .append(t)
          .append(" t left join data_")
          .append(t)
          .append(" d on d.thing_id = t.thing_id and d.key = ?");
      params.add(dflt);
      params.add(prop.name());
      q.append(" where not t.deleted and not t.spam and coalesce(d.value, ?) = any(?)");
      params.add(dflt);
      params.add(values.toArray(new String[0]));
    } else {
      q.append(", null from thing_").append(t).append(" t where not t.deleted and not t.spam");
    }
    if (since != null) {
      q.append(" and t.date >= ?");
      params.add(Timestamp.from(since));
    }
    long visited = 0;
    long start = System.nanoTime();
    try (Connection c = source.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      c.setAutoCommit(false); // lets the driver stream with a cursor
      try (PreparedStatement ps = c.prepareStatement(q.toString())) {
        ps.setFetchSize(fetchSize);
        Sql.bind(c, ps, params.toArray());
        try (ResultSet rs = ps.executeQuery()) {
          Cursor row = new Cursor(rs);
          while (rs.next()) {
            visited++;
            visitor.visit(row);
          }
        }
      } finally {
        c.rollback();
        c.setAutoCommit(autoCommit);
      }
    } finally {
      sql.logged(q.toString(), params.toArray(), visited, start);
    }
    return visited;
  }

  private final class Cursor implements Row {
    private final ResultSet rs;

    Cursor(ResultSet rs) {
      this.rs = rs;
    }

    @Override
    public long id() {
      try {
        return rs.getLong(1);
      } catch (SQLException e) {
        throw failed(e);
      }
    }

    @Override
    public int ups() {
      try {
        return rs.getInt(2);
      } catch (SQLException e) {
        throw failed(e);
      }
    }

    @Override
    public int downs() {
      try {
        return rs.getInt(3);
      } catch (SQLException e) {
        throw failed(e);
      }
    }

    @Override
    public Instant date() {
      try {
        return rs.getTimestamp(4).toInstant();
      } catch (SQLException e) {
        throw failed(e);
      }
    }

    @Override
    public long version() {
      try {
        return rs.getLong(5);
      } catch (SQLException e) {
        throw failed(e);
      }
    }

    @Override
    public <T> T get(Prop<T> p) {
      if (prop == null || !prop.name().equals(p.name())) {
        throw new IllegalArgumentException(
            "scan of "
                + type.name()
                + " reads only its filter prop"
                + (prop == null ? " (none)" : " " + prop.name())
                + ", not "
                + p.name());
      }
      try {
        @SuppressWarnings("unchecked") // the filter prop is p: same name on the same type
        T value = (T) prop.kind().decode(rs.getString(6));
        return value;
      } catch (SQLException e) {
        throw failed(e);
      }
    }
  }

  private ThingDbException failed(SQLException e) {
    return new ThingDbException(
        "scan of " + type.name() + ": reading a row failed: " + e.getMessage(), e);
  }

  @Override
  public String toString() {
    return "ThingScan["
        + type.name()
        + (prop == null ? "" : ", " + prop.name() + " in " + values)
        + (since == null ? "" : ", since " + since)
        + "]";
  }
}

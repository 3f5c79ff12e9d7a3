package io.thingdb.core;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs every SQL statement ThingDB issues: binds parameters, logs each statement at DEBUG on {@code
 * io.thingdb.sql} with its duration and row count (parameters masked unless enabled), and counts it
 * in the thread's open {@link Scope}s. Thread-safe (stateless apart from settings).
 */
final class Sql {
  static final Logger SQL_LOG = LoggerFactory.getLogger("io.thingdb.sql");

  /** Maps one row. */
  @FunctionalInterface
  interface RowMapper<T> {
    T map(ResultSet rs) throws SQLException;
  }

  private final boolean logParameters;

  /** Statements sent (each statement of a pipelined round trip counts), for metrics. */
  final java.util.concurrent.atomic.LongAdder statements =
      new java.util.concurrent.atomic.LongAdder();

  Sql(boolean logParameters) {
    this.logParameters = logParameters;
  }

  <T> List<T> query(Connection c, String sql, RowMapper<T> mapper, Object... params)
      throws SQLException {
    long start = System.nanoTime();
    List<T> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bind(c, ps, params);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(mapper.map(rs));
        }
      }
    } finally {
      done(sql, params, out.size(), start);
    }
    return out;
  }

  /**
   * {@link #query} for a statement of connection setup, run once per physical connection (the cache
   * epoch's timeline): logged and counted in {@link #statements}, but not in the thread's {@link
   * Scope}s, which measure what an operation costs on a connection already set up.
   */
  <T> List<T> setupQuery(Connection c, String sql, RowMapper<T> mapper) throws SQLException {
    long start = System.nanoTime();
    List<T> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(mapper.map(rs));
      }
    } finally {
      statements.increment();
      log(sql, new Object[0], out.size(), start);
    }
    return out;
  }

  int update(Connection c, String sql, Object... params) throws SQLException {
    long start = System.nanoTime();
    int rows = -1;
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bind(c, ps, params);
      rows = ps.executeUpdate();
      return rows;
    } finally {
      done(sql, params, rows, start);
    }
  }

  /**
   * One statement of a {@link #pipeline}: its SQL (no trailing semicolon), its parameters, and what
   * to do with its result: {@code rows} (may be null) reads a result set, {@code count} (may be
   * null) an update count.
   */
  record Piped(
      String sql, Object[] params, RowMapper<?> rows, java.util.function.IntConsumer count) {}

  /**
   * Runs {@code statements} in ONE round trip, in order, inside the connection's transaction:
   * pgjdbc sends the statements of one query string as consecutive parse/bind/execute messages
   * followed by a single sync, so three statements cost one network wait instead of three. Each
   * statement's result goes to its handler. The first failing statement fails the call (the
   * transaction is then aborted and must be rolled back). Each statement is logged and counted as
   * one statement.
   */
  void pipeline(Connection c, List<Piped> statements) throws SQLException {
    if (statements.isEmpty()) {
      return;
    }
    long start = System.nanoTime();
    StringBuilder all = new StringBuilder();
    int n = 0;
    for (Piped p : statements) {
      if (all.length() > 0) {
        all.append(";\n");
      }
      all.append(p.sql());
      n += p.params().length;
    }
    Object[] params = new Object[n];
    int at = 0;
    for (Piped p : statements) {
      System.arraycopy(p.params(), 0, params, at, p.params().length);
      at += p.params().length;
    }
    int done = 0;
    try (PreparedStatement ps = c.prepareStatement(all.toString())) {
      bind(c, ps, params);
      boolean resultSet = ps.execute();
      for (Piped p : statements) {
        if (resultSet) {
          try (ResultSet rs = ps.getResultSet()) {
            while (rs.next()) {
              if (p.rows() != null) {
                p.rows().map(rs);
              }
            }
          }
        } else if (p.count() != null) {
          p.count().accept(ps.getUpdateCount());
        }
        done++;
        resultSet = ps.getMoreResults();
      }
    } finally {
      for (int i = 0; i < statements.size(); i++) {
        Piped p = statements.get(i);
        done(p.sql(), p.params(), i < done ? 1 : -1, start);
      }
    }
  }

  void execute(Connection c, String sql) throws SQLException {
    long start = System.nanoTime();
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    } finally {
      done(sql, new Object[0], 0, start);
    }
  }

  void commit(Connection c) throws SQLException {
    long start = System.nanoTime();
    try {
      c.commit();
    } finally {
      done("COMMIT", new Object[0], 0, start);
    }
  }

  /** Logs and counts a statement run outside this class (a streaming scan). */
  void logged(String sql, Object[] params, long rows, long start) {
    done(sql, params, (int) Math.min(rows, Integer.MAX_VALUE), start);
  }

  private void done(String sql, Object[] params, int rows, long start) {
    Scope.countStatement();
    statements.increment();
    log(sql, params, rows, start);
  }

  private void log(String sql, Object[] params, int rows, long start) {
    if (SQL_LOG.isDebugEnabled()) {
      double ms = (System.nanoTime() - start) / 1e6;
      SQL_LOG.debug(
          "{} ms, {} rows: {}{}",
          String.format("%.3f", ms),
          rows,
          oneLine(sql),
          params.length == 0
              ? ""
              : logParameters
                  ? " " + describe(params)
                  : " [" + params.length + " parameters masked]");
    }
  }

  private static String oneLine(String sql) {
    return sql.replaceAll("\\s+", " ").trim();
  }

  private static String describe(Object[] params) {
    List<String> out = new ArrayList<>();
    for (Object p : params) {
      if (p instanceof long[] a) {
        out.add(Arrays.toString(a.length > 20 ? Arrays.copyOf(a, 20) : a));
      } else if (p instanceof Object[] a) {
        out.add(Arrays.toString(a.length > 20 ? Arrays.copyOf(a, 20) : a));
      } else {
        out.add(String.valueOf(p));
      }
    }
    return out.toString();
  }

  static void bind(Connection c, PreparedStatement ps, Object[] params) throws SQLException {
    for (int i = 0; i < params.length; i++) {
      ps.setObject(i + 1, jdbcValue(c, params[i]));
    }
  }

  private static Object jdbcValue(Connection c, Object p) throws SQLException {
    if (p instanceof Instant i) {
      return OffsetDateTime.ofInstant(i, ZoneOffset.UTC);
    }
    if (p instanceof long[] a) {
      return array(c, "bigint", Arrays.stream(a).boxed().toArray());
    }
    if (p instanceof int[] a) {
      return array(c, "integer", Arrays.stream(a).boxed().toArray());
    }
    if (p instanceof boolean[] a) {
      Boolean[] boxed = new Boolean[a.length];
      for (int i = 0; i < a.length; i++) {
        boxed[i] = a[i];
      }
      return array(c, "boolean", boxed);
    }
    if (p instanceof String[] a) {
      return array(c, "text", a);
    }
    if (p instanceof Instant[] a) {
      Object[] t = new Object[a.length];
      for (int i = 0; i < a.length; i++) {
        t[i] = OffsetDateTime.ofInstant(a[i], ZoneOffset.UTC);
      }
      return array(c, "timestamptz", t);
    }
    return p;
  }

  private static Array array(Connection c, String type, Object[] values) throws SQLException {
    return c.createArrayOf(type, values);
  }

  static Instant instant(ResultSet rs, String column) throws SQLException {
    OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
    return t == null ? null : t.toInstant();
  }
}

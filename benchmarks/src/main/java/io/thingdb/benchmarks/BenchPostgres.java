package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The PostgreSQL 15 server of one benchmark trial, and what only the benchmarks need around it. The
 * server is thingdb-testing's {@link PostgresFixture}, the one the tests use; this class adds the
 * HikariCP pools that both sides of a comparison use, the settings the results print, the
 * statements {@code pg_stat_statements} counted, and the registration of the server's processes
 * with {@link ProcessCpuProfiler}.
 *
 * <p>{@code sync = "off"} keeps zonky's defaults ({@code fsync}, {@code synchronous_commit} and
 * {@code full_page_writes} off): a commit returns once its WAL is handed to the OS, which measures
 * the client and the server's CPU, not the disk. {@code sync = "on"} is the fixture's durable mode,
 * as a production server runs: each commit then waits for an fsync of the WAL. {@link #settings()}
 * reports what the server actually runs with, read back with {@code SHOW}.
 *
 * <p>With {@code -Dthingdb.bench.pgStatements=true} the server loads {@code pg_stat_statements} and
 * {@link #statements} reports per operation what it ran. Read at the end of a trial's set-up and at
 * the start of its tear-down, outside any measurement; the extension costs the server a little on
 * every statement, so runs that use it are for diagnosis, not for the committed scores.
 *
 * <p>Not thread-safe: set up and torn down by one JMH thread; the pools it hands out are.
 */
final class BenchPostgres implements AutoCloseable {
  /** Both sides of every comparison get a pool of this size, so that pooling costs the same. */
  static final int POOL_SIZE = 8;

  /** Twice the fixture's default: a fork starts its server while others may be busy. */
  private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(60);

  private final PostgresFixture server;
  private final long postmasterPid;
  private final List<HikariDataSource> pools = new ArrayList<>();

  private BenchPostgres(PostgresFixture server) {
    this.server = server;
    this.postmasterPid = postmasterPid(server);
    ProcessCpuProfiler.watch(postmasterPid);
  }

  /**
   * The postmaster is the parent of every backend (zonky starts it through pg_ctl, not as our
   * child).
   */
  private static long postmasterPid(PostgresFixture server) {
    try (Connection c = server.dataSource().getConnection();
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("select pg_backend_pid()")) {
      rs.next();
      long backend = rs.getLong(1);
      return ProcessHandle.of(backend)
          .flatMap(ProcessHandle::parent)
          .map(ProcessHandle::pid)
          .orElseThrow(
              () ->
                  new IllegalStateException(
                      "cannot find the parent of PostgreSQL backend " + backend));
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot reach the embedded PostgreSQL on port " + server.port() + ": " + e.getMessage(),
          e);
    }
  }

  /** Whether this fork records PostgreSQL statements (see the class comment). */
  static boolean recordsStatements() {
    return Boolean.getBoolean("thingdb.bench.pgStatements");
  }

  /**
   * Starts a server on a free port with an empty data directory (deleted on {@link #close()}).
   *
   * @param sync {@code off} for zonky's defaults, {@code on} for fsync, synchronous_commit and
   *     full_page_writes on
   */
  static BenchPostgres start(String sync) {
    PostgresFixture.Builder b = PostgresFixture.builder().startupTimeout(STARTUP_TIMEOUT);
    switch (sync) {
      case "off" -> {}
      case "on" -> b.durable();
      default -> throw new IllegalArgumentException("pgSync must be off or on: \"" + sync + "\"");
    }
    if (recordsStatements()) {
      b.serverConfig("shared_preload_libraries", "pg_stat_statements");
    }
    PostgresFixture server = b.start();
    try {
      return new BenchPostgres(server);
    } catch (RuntimeException e) {
      try {
        server.close();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** {@code jdbc:postgresql://localhost:PORT/postgres?user=postgres} plus {@code extra} options. */
  String jdbcUrl(String extra) {
    String url = server.jdbcUrl();
    return extra.isEmpty() ? url : url + (url.contains("?") ? "&" : "?") + extra;
  }

  /**
   * A fixed-size pool of {@link #POOL_SIZE} connections, all opened before this returns so that no
   * measurement pays for a connection start.
   *
   * @param urlOptions extra JDBC URL options, e.g. {@code reWriteBatchedInserts=true}, or empty
   */
  HikariDataSource pool(String name, String urlOptions) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl(urlOptions));
    config.setUsername("postgres");
    config.setMaximumPoolSize(POOL_SIZE);
    config.setMinimumIdle(POOL_SIZE);
    config.setPoolName(name);
    HikariDataSource ds = new HikariDataSource(config);
    pools.add(ds);
    List<Connection> held = new ArrayList<>();
    try {
      for (int i = 0; i < POOL_SIZE; i++) {
        held.add(ds.getConnection());
      }
    } catch (SQLException e) {
      throw new IllegalStateException(
          "pool " + name + " could not open " + POOL_SIZE + " connections", e);
    } finally {
      for (Connection c : held) {
        try {
          c.close();
        } catch (SQLException e) {
          // returned to the pool or evicted; either way not our concern here
        }
      }
    }
    return ds;
  }

  /** {@code fsync=..., synchronous_commit=..., full_page_writes=..., server_version=...}. */
  String settings() {
    StringBuilder out = new StringBuilder();
    try (Connection c = server.dataSource().getConnection();
        Statement st = c.createStatement()) {
      for (String name :
          List.of(
              "fsync",
              "synchronous_commit",
              "full_page_writes",
              "shared_buffers",
              "server_version")) {
        try (ResultSet rs = st.executeQuery("show " + name)) {
          rs.next();
          out.append(out.length() == 0 ? "" : ", ")
              .append(name)
              .append('=')
              .append(rs.getString(1));
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the PostgreSQL settings: " + e.getMessage(), e);
    }
    return out.toString();
  }

  /** Runs {@code sql} outside any pool (VACUUM cannot run in a transaction block). */
  void execute(String sql) {
    try (Connection c = server.dataSource().getConnection();
        Statement st = c.createStatement()) {
      st.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /** Starts counting statements afresh, if this fork records them (see the class comment). */
  void resetStatements() {
    if (recordsStatements()) {
      execute("create extension if not exists pg_stat_statements");
      execute("select pg_stat_statements_reset()");
    }
  }

  /**
   * The statements run since {@link #resetStatements()}, most frequent first, each with its calls
   * and rows per operation and its mean execution time; empty unless this fork records them.
   */
  String statements(long ops) {
    if (!recordsStatements()) {
      return "";
    }
    StringBuilder out = new StringBuilder();
    try (Connection c = server.dataSource().getConnection();
        Statement st = c.createStatement();
        ResultSet rs =
            st.executeQuery(
                "select calls, rows, mean_exec_time, total_exec_time, query from pg_stat_statements"
                    + " where query not like '%pg_stat_statements%' order by calls desc limit 8")) {
      while (rs.next()) {
        out.append(
            String.format(
                "%n  %8.3f calls/op %8.3f rows/op %8.1f us mean %8.1f us/op total: %s",
                rs.getLong(1) / (double) ops,
                rs.getLong(2) / (double) ops,
                rs.getDouble(3) * 1000,
                rs.getDouble(4) * 1000 / ops,
                rs.getString(5).replaceAll("\\s+", " ")));
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read pg_stat_statements: " + e.getMessage(), e);
    }
    return out.toString();
  }

  /** Closes the pools this server handed out, then stops the server. Idempotent. */
  @Override
  public void close() {
    RuntimeException failure = null;
    for (HikariDataSource ds : pools) {
      try {
        ds.close();
      } catch (RuntimeException e) {
        failure = failure == null ? e : failure;
      }
    }
    pools.clear();
    ProcessCpuProfiler.unwatch(postmasterPid);
    server.close();
    if (failure != null) {
      throw failure;
    }
  }
}

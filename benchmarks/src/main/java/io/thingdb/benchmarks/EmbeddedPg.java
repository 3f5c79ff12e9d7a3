package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One embedded PostgreSQL 15 server (zonky) for a benchmark trial, and the HikariCP pools that
 * both sides of a comparison use.
 *
 * <p>zonky starts PostgreSQL with {@code fsync}, {@code synchronous_commit} (and {@code
 * full_page_writes}) off: a commit returns once its WAL is handed to the OS, which measures the
 * client and the server's CPU, not the disk. {@code sync = "on"} turns all three on, as a
 * production server runs: each commit then waits for an fsync of the WAL. {@link #settings()}
 * reports what the server actually runs with, read back with {@code SHOW}, for the results.
 *
 * <p>Not thread-safe: set up and torn down by one JMH thread; the pools it hands out are.
 */
final class EmbeddedPg implements AutoCloseable {
  /** Both sides of every comparison get a pool of this size, so that pooling costs the same. */
  static final int POOL_SIZE = 8;

  private final EmbeddedPostgres server;
  private final long postmasterPid;
  private final List<HikariDataSource> pools = new ArrayList<>();

  private EmbeddedPg(EmbeddedPostgres server) {
    this.server = server;
    this.postmasterPid = postmasterPid(server);
    ProcessCpuProfiler.watch(postmasterPid);
  }

  /** The postmaster is the parent of every backend (zonky starts it through pg_ctl, not as our child). */
  private static long postmasterPid(EmbeddedPostgres server) {
    try (Connection c = server.getPostgresDatabase().getConnection(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("select pg_backend_pid()")) {
      rs.next();
      long backend = rs.getLong(1);
      return ProcessHandle.of(backend).flatMap(ProcessHandle::parent).map(ProcessHandle::pid)
          .orElseThrow(() -> new IllegalStateException("cannot find the parent of PostgreSQL backend " + backend));
    } catch (SQLException e) {
      throw new IllegalStateException("cannot reach the embedded PostgreSQL: " + e.getMessage(), e);
    }
  }

  /**
   * Starts a server on a free port with an empty data directory (deleted on {@link #close()}).
   *
   * @param sync {@code off} for zonky's defaults, {@code on} for fsync, synchronous_commit and
   *     full_page_writes on
   */
  static EmbeddedPg start(String sync) {
    EmbeddedPostgres.Builder b = EmbeddedPostgres.builder().setPGStartupWait(Duration.ofSeconds(60));
    switch (sync) {
      case "off" -> { }
      case "on" -> b.setServerConfig("fsync", "on")
          .setServerConfig("synchronous_commit", "on")
          .setServerConfig("full_page_writes", "on");
      default -> throw new IllegalArgumentException("pgSync must be off or on: \"" + sync + "\"");
    }
    if (ServerCounters.pgStatements()) {
      b.setServerConfig("shared_preload_libraries", "pg_stat_statements");
    }
    EmbeddedPostgres server;
    try {
      server = b.start();
    } catch (IOException e) {
      throw new UncheckedIOException("embedded PostgreSQL did not start: " + e.getMessage(), e);
    }
    try {
      return new EmbeddedPg(server);
    } catch (RuntimeException e) {
      try {
        server.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** {@code jdbc:postgresql://localhost:PORT/postgres?user=postgres} plus {@code extra} options. */
  String jdbcUrl(String extra) {
    String url = server.getJdbcUrl("postgres", "postgres");
    return extra.isEmpty() ? url : url + (url.contains("?") ? "&" : "?") + extra;
  }

  /**
   * A fixed-size pool of {@link #POOL_SIZE} connections, all opened before this returns so that
   * no measurement pays for a connection start.
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
      throw new IllegalStateException("pool " + name + " could not open " + POOL_SIZE + " connections", e);
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
    try (Connection c = server.getPostgresDatabase().getConnection(); Statement st = c.createStatement()) {
      for (String name : List.of("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "server_version")) {
        try (ResultSet rs = st.executeQuery("show " + name)) {
          rs.next();
          out.append(out.length() == 0 ? "" : ", ").append(name).append('=').append(rs.getString(1));
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the PostgreSQL settings: " + e.getMessage(), e);
    }
    return out.toString();
  }

  /** Runs {@code sql} outside any pool (VACUUM cannot run in a transaction block). */
  void execute(String sql) {
    try (Connection c = server.getPostgresDatabase().getConnection(); Statement st = c.createStatement()) {
      st.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /** Starts counting statements afresh, if this fork records them (see {@link ServerCounters}). */
  void resetStatements() {
    if (ServerCounters.pgStatements()) {
      execute("create extension if not exists pg_stat_statements");
      execute("select pg_stat_statements_reset()");
    }
  }

  /**
   * The statements run since {@link #resetStatements()}, most frequent first, each with its calls
   * and rows per operation and its mean execution time; empty unless this fork records them.
   */
  String statements(long ops) {
    if (!ServerCounters.pgStatements()) {
      return "";
    }
    StringBuilder out = new StringBuilder();
    try (Connection c = server.getPostgresDatabase().getConnection(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("select calls, rows, mean_exec_time, total_exec_time, query from pg_stat_statements"
            + " where query not like '%pg_stat_statements%' order by calls desc limit 8")) {
      while (rs.next()) {
        out.append(String.format("%n  %8.3f calls/op %8.3f rows/op %8.1f us mean %8.1f us/op total: %s",
            rs.getLong(1) / (double) ops, rs.getLong(2) / (double) ops, rs.getDouble(3) * 1000,
            rs.getDouble(4) * 1000 / ops, rs.getString(5).replaceAll("\\s+", " ")));
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
    try {
      server.close();
    } catch (IOException e) {
      throw new UncheckedIOException("stopping embedded PostgreSQL failed", e);
    }
    if (failure != null) {
      throw failure;
    }
  }
}

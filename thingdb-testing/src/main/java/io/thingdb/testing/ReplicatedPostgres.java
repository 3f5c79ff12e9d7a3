package io.thingdb.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL 15 primary and one hot standby streaming from it, both zonky processes on loopback
 * ports, user {@code postgres}, trust authentication: for tests of read routing to replicas,
 * read-your-writes and a replica that lags, pauses or goes down.
 *
 * <pre>{@code
 * try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ofMillis(500))) {
 *   ReplicatedPostgres.execute(pg.primaryUrl(), "create table t (v text)");
 *   pg.awaitCaughtUp(Duration.ofSeconds(30));
 *   pg.pauseReplay();   // from here the standby replays nothing
 *   ...
 *   pg.resumeReplay();
 * }
 * }</pre>
 *
 * <p>zonky ships initdb, pg_ctl and postgres but no pg_basebackup, so the standby is made the way
 * that works with those alone: start the primary once (initdb), make sure its pg_hba.conf admits
 * replication connections from 127.0.0.1, stop it cleanly (zonky's close is {@code pg_ctl stop -m
 * fast}, which writes a shutdown checkpoint), copy its data directory, add {@code standby.signal}
 * and {@code primary_conninfo} (plus {@code recovery_min_apply_delay} to make it lag) to the copy's
 * {@code postgresql.auto.conf}, then start the primary again and the copy on its own port. A
 * cleanly stopped cluster is a consistent snapshot, so the standby accepts read-only connections at
 * once and streams everything written after the checkpoint. Both servers use the same binaries, as
 * streaming replication requires.
 *
 * <p>{@code recovery_min_apply_delay} holds back each commit record until its commit time plus the
 * delay; everything after it in the WAL waits too. {@link #pauseReplay()} stops replay altogether,
 * which makes "the replica has not replayed this" deterministic.
 *
 * <p>Failover: {@link #stopPrimaryImmediately()} crashes the primary ({@code pg_ctl stop -m
 * immediate}) and {@link #promoteStandby()} promotes the standby ({@code pg_ctl promote}), which
 * then writes on a new timeline on its own port. A promotion first replays all the WAL the standby
 * has received, even with replay paused, so pausing replay loses nothing; what asynchronous
 * replication loses is WAL the standby never received. {@link #stopStreaming()} makes that
 * deterministic (the standby keeps serving reads but receives nothing more), and {@link
 * #requireSynchronousStandby()} makes every commit wait until the standby has flushed its WAL.
 *
 * <p>The static {@link #query}, {@link #column} and {@link #execute} run one statement on any JDBC
 * URL, this pair's or a {@link PostgresFixture}'s.
 *
 * <p>Not thread-safe: set up and torn down by one test class; the URLs may be used from any thread.
 */
public final class ReplicatedPostgres implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReplicatedPostgres.class);
  private static final Duration STARTUP = Duration.ofSeconds(60);
  private static final Pattern REPLICATION_TRUST =
      Pattern.compile("(?m)^\\s*host\\s+replication\\s+all\\s+127\\.0\\.0\\.1/32\\s+trust\\s*$");

  /** Files of a running (or zonky-locked) cluster that a copy must not take along. */
  private static final Set<String> NOT_COPIED =
      Set.of("postmaster.pid", "postmaster.opts", "epg-lock");

  private Path primaryDir;
  private Path standbyDir;
  private final Duration applyDelay;
  private EmbeddedPostgres primary;
  private EmbeddedPostgres standby;
  private int primaryPort;
  private int standbyPort;

  private ReplicatedPostgres(Duration applyDelay) throws IOException {
    this.applyDelay = applyDelay;
    this.primaryDir = Files.createTempDirectory("thingdb-primary-");
    this.standbyDir = Files.createTempDirectory("thingdb-standby-");
  }

  /**
   * Starts a primary and a standby that applies each commit {@code applyDelay} after it happened
   * ({@link Duration#ZERO} for a standby that keeps up as fast as it can), and returns once the
   * standby has replayed everything the primary wrote so far.
   *
   * @throws IllegalArgumentException if {@code applyDelay} is null, negative, or not a whole number
   *     of milliseconds below 2^31 (PostgreSQL's limit for {@code recovery_min_apply_delay})
   * @throws IllegalStateException if either server does not start; the message says why
   */
  public static ReplicatedPostgres start(Duration applyDelay) {
    if (applyDelay == null
        || applyDelay.isNegative()
        || applyDelay.toMillis() > Integer.MAX_VALUE
        || applyDelay.toNanos() % 1_000_000 != 0) {
      throw new IllegalArgumentException(
          "applyDelay must be a whole number of milliseconds from 0 to "
              + Integer.MAX_VALUE
              + " (was "
              + applyDelay
              + ")");
    }
    ReplicatedPostgres r;
    try {
      r = new ReplicatedPostgres(applyDelay);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot create data directories for a replicated PostgreSQL", e);
    }
    try {
      r.setUp();
      return r;
    } catch (IOException | RuntimeException e) {
      r.close();
      throw new IllegalStateException(
          "cannot start a primary with a streaming standby: " + e.getMessage(), e);
    }
  }

  private void setUp() throws IOException {
    primary = launch(primaryDir, 0);
    primaryPort = primary.getPort();
    Path hba = primaryDir.resolve("pg_hba.conf");
    String rules = Files.readString(hba);
    if (!REPLICATION_TRUST.matcher(rules).find()) {
      // Read when the primary starts again below, so no reload is needed.
      Files.writeString(
          hba, "\nhost replication all 127.0.0.1/32 trust\n", StandardOpenOption.APPEND);
      log.info("added a replication rule for 127.0.0.1 to {}", hba);
    }
    primary.close(); // pg_ctl stop -m fast: a shutdown checkpoint, a consistent data directory
    primary = null;
    copyDataDirectory(primaryDir, standbyDir);
    Files.writeString(standbyDir.resolve("standby.signal"), "");
    Files.writeString(
        standbyDir.resolve("postgresql.auto.conf"),
        "\nprimary_conninfo = 'host=127.0.0.1 port="
            + primaryPort
            + " user=postgres application_name=thingdb_standby'\n"
            + "recovery_min_apply_delay = '"
            + applyDelay.toMillis()
            + "ms'\n",
        StandardOpenOption.APPEND);
    primary = launch(primaryDir, primaryPort);
    standby = launch(standbyDir, 0);
    standbyPort = standby.getPort();
    if (!query(standbyUrl(), "select pg_is_in_recovery()::text").equals("true")) {
      throw new IllegalStateException(
          "the copy on port " + standbyPort + " did not start as a standby");
    }
    awaitCaughtUp(Duration.ofSeconds(30));
    log.info(
        "primary on port {}, standby on port {} (recovery_min_apply_delay {} ms)",
        primaryPort,
        standbyPort,
        applyDelay.toMillis());
  }

  private EmbeddedPostgres launch(Path dir, int port) throws IOException {
    EmbeddedPostgres.Builder b =
        EmbeddedPostgres.builder()
            .setDataDirectory(dir)
            .setCleanDataDirectory(false) // close() deletes it; zonky would on every stop
            .setRegisterShutdownHook(false)
            .setPGStartupWait(STARTUP)
            .setServerConfig("wal_level", "replica")
            .setServerConfig("max_wal_senders", "4")
            .setServerConfig("wal_keep_size", "128MB")
            .setServerConfig("hot_standby", "on");
    if (port != 0) {
      b.setPort(port);
    }
    EmbeddedPostgres pg = b.start();
    // zonky's readiness check is "SELECT 1 answers on the port", which another test JVM's server
    // would pass if it had taken the port while ours was down.
    String reported;
    try {
      reported =
          query(
              "jdbc:postgresql://localhost:" + pg.getPort() + "/postgres?user=postgres",
              "show data_directory");
    } catch (RuntimeException e) {
      closeQuietly(pg);
      throw e;
    }
    if (!Files.isSameFile(Path.of(reported), dir)) {
      closeQuietly(pg);
      throw new IllegalStateException(
          "port " + pg.getPort() + " is served by the PostgreSQL of " + reported + ", not " + dir);
    }
    return pg;
  }

  private static void copyDataDirectory(Path from, Path to) throws IOException {
    try (Stream<Path> paths = Files.walk(from)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        Path rel = from.relativize(p);
        if (rel.toString().isEmpty() || NOT_COPIED.contains(rel.toString())) {
          continue;
        }
        Path target = to.resolve(rel);
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
          Files.setPosixFilePermissions(target, Files.getPosixFilePermissions(p));
        } else {
          Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES);
        }
      }
    }
  }

  /** {@code jdbc:postgresql://localhost:PORT/postgres?user=postgres} of the primary. */
  public String primaryUrl() {
    return "jdbc:postgresql://localhost:" + primaryPort + "/postgres?user=postgres";
  }

  /** The same for the standby. */
  public String standbyUrl() {
    return "jdbc:postgresql://localhost:" + standbyPort + "/postgres?user=postgres";
  }

  /**
   * The primary's port; it stays the same for the life of this pair, unless {@link
   * #rebuildOldPrimaryAsStandby()} swaps the roles.
   */
  public int primaryPort() {
    return primaryPort;
  }

  /**
   * The standby's port; it stays the same across {@link #stopStandby()} and {@link
   * #startStandbyAgain()}.
   */
  public int standbyPort() {
    return standbyPort;
  }

  /**
   * The standby's {@code pg_last_wal_replay_lsn()} as a 64-bit number: the text form {@code X/Y}
   * (two hexadecimal halves) read as {@code X << 32 | Y}, so positions compare as numbers.
   */
  public long standbyReplayLsn() {
    String lsn = query(standbyUrl(), "select pg_last_wal_replay_lsn()::text");
    int slash = lsn.indexOf('/');
    return (Long.parseLong(lsn.substring(0, slash), 16) << 32)
        | Long.parseLong(lsn.substring(slash + 1), 16);
  }

  /**
   * Returns once the standby has applied everything the primary committed before this call: commits
   * a marker row on the primary and waits until the standby shows it. (Waiting for an LSN instead
   * could wait forever on an idle primary, whose insert position can sit a page header past the
   * last record.)
   *
   * @throws IllegalStateException naming the standby's port if it has not caught up within {@code
   *     timeout}
   */
  public void awaitCaughtUp(Duration timeout) {
    long marker;
    try (Connection c = DriverManager.getConnection(primaryUrl());
        Statement st = c.createStatement()) {
      st.execute("create table if not exists replication_marker (id bigserial primary key)");
      try (ResultSet rs =
          st.executeQuery("insert into replication_marker default values returning id")) {
        rs.next();
        marker = rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot write a marker on the primary (port " + primaryPort + ")", e);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    SQLException last = null;
    while (System.nanoTime() - deadline < 0) {
      try (Connection c = DriverManager.getConnection(standbyUrl());
          Statement st = c.createStatement();
          ResultSet rs =
              st.executeQuery("select count(*) from replication_marker where id = " + marker)) {
        rs.next();
        if (rs.getLong(1) == 1) {
          return;
        }
      } catch (SQLException e) {
        last = e; // 42P01 until the standby has replayed the create table
      }
      sleep(Duration.ofMillis(20));
    }
    throw new IllegalStateException(
        "the standby on port "
            + standbyPort
            + " did not replay marker "
            + marker
            + " within "
            + timeout.toMillis()
            + " ms",
        last);
  }

  /**
   * Stops replay on the standby ({@code pg_wal_replay_pause()}) and waits until it has paused; it
   * still receives WAL, but applies none until {@link #resumeReplay()}.
   */
  public void pauseReplay() {
    execute(standbyUrl(), "select pg_wal_replay_pause()");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!query(standbyUrl(), "select pg_get_wal_replay_pause_state()").equals("paused")) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "the standby on port " + standbyPort + " did not pause replay");
      }
      sleep(Duration.ofMillis(10));
    }
  }

  /** Resumes replay on the standby. */
  public void resumeReplay() {
    execute(standbyUrl(), "select pg_wal_replay_resume()");
  }

  /**
   * Stops the standby cleanly ({@code pg_ctl stop -m fast}); its port stays reserved for it.
   *
   * @throws IllegalStateException if it is already stopped
   */
  public void stopStandby() {
    if (standby == null) {
      throw new IllegalStateException("the standby on port " + standbyPort + " is already stopped");
    }
    EmbeddedPostgres s = standby;
    standby = null;
    try {
      s.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop the standby on port " + standbyPort, e);
    }
  }

  /**
   * Starts the standby again on the same port and data directory; it resumes streaming.
   *
   * @throws IllegalStateException if it is running
   */
  public void startStandbyAgain() {
    if (standby != null) {
      throw new IllegalStateException("the standby on port " + standbyPort + " is running");
    }
    try {
      standby = launch(standbyDir, standbyPort);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the standby again on port " + standbyPort, e);
    }
  }

  /**
   * Crashes the primary: {@code pg_ctl stop -m immediate} (no shutdown checkpoint, no WAL sent to
   * the standby after this), then releases zonky's handle, which logs that it could not stop the
   * server that is already down. Its port stays reserved; it is not started again.
   *
   * @throws IllegalStateException if it is already stopped or does not stop
   */
  public void stopPrimaryImmediately() {
    if (primary == null) {
      throw new IllegalStateException("the primary on port " + primaryPort + " is already stopped");
    }
    pgCtl(primaryDir, "stop", "-m", "immediate", "-w", "-t", "30");
    EmbeddedPostgres p = primary;
    primary = null;
    LoopbackPorts.awaitClosed(primaryPort, Duration.ofSeconds(30), "the stopped primary");
    log.info(
        "primary on port {} stopped immediately; releasing zonky's handle (it logs that it could"
            + " not stop the server, which is already down)",
        primaryPort);
    closeQuietly(p);
  }

  /**
   * Promotes the standby ({@code pg_ctl promote -w}): it replays the WAL it has received (a paused
   * replay ends), switches to a new timeline and accepts writes on {@link #standbyPort()}. Returns
   * once it is out of recovery.
   *
   * @throws IllegalStateException if the standby is stopped or does not leave recovery within 60 s
   */
  public void promoteStandby() {
    if (standby == null) {
      throw new IllegalStateException("the standby on port " + standbyPort + " is stopped");
    }
    pgCtl(standbyDir, "promote", "-w", "-t", "60");
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!query(standbyUrl(), "select pg_is_in_recovery()::text").equals("false")) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "the standby on port " + standbyPort + " did not leave recovery after pg_ctl promote");
      }
      sleep(Duration.ofMillis(10));
    }
    log.info(
        "standby on port {} promoted: timeline {}",
        standbyPort,
        query(standbyUrl(), "select substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8)"));
  }

  /**
   * After {@link #stopPrimaryImmediately()} and {@link #promoteStandby()}: makes the stopped old
   * primary a standby of the promoted one, as an operator rebuilding it would, and swaps the roles,
   * so that from here {@link #primaryUrl()} and {@link #primaryPort()} name the promoted server and
   * {@link #standbyUrl()} and {@link #standbyPort()} the rebuilt one, which replays the new
   * timeline. The old primary's data is discarded (it may hold writes the new timeline lost): the
   * promoted server is stopped cleanly (a shutdown checkpoint), its data directory copied over the
   * old primary's with {@code standby.signal} and a {@code primary_conninfo} of its port, and both
   * are started again on their ports (the promoted server is down for that while). Returns once the
   * rebuilt standby has replayed everything.
   *
   * @throws IllegalStateException if the old primary runs or the standby was not promoted
   */
  public void rebuildOldPrimaryAsStandby() {
    if (primary != null) {
      throw new IllegalStateException(
          "the primary on port " + primaryPort + " runs: stop it with stopPrimaryImmediately()");
    }
    if (standby == null
        || !query(standbyUrl(), "select pg_is_in_recovery()::text").equals("false")) {
      throw new IllegalStateException(
          "the standby on port " + standbyPort + " is not a promoted primary: promoteStandby()");
    }
    try {
      standby.close(); // pg_ctl stop -m fast: a shutdown checkpoint
      standby = null;
      deleteRecursively(primaryDir);
      Files.createDirectories(primaryDir);
      // PostgreSQL refuses a data directory that others may read (0700 or 0750 only).
      Files.setPosixFilePermissions(primaryDir, Files.getPosixFilePermissions(standbyDir));
      copyDataDirectory(standbyDir, primaryDir);
      Files.deleteIfExists(primaryDir.resolve("recovery.signal"));
      Files.writeString(primaryDir.resolve("standby.signal"), "");
      Files.writeString(
          primaryDir.resolve("postgresql.auto.conf"),
          "\nprimary_conninfo = 'host=127.0.0.1 port="
              + standbyPort
              + " user=postgres application_name=thingdb_standby'\n"
              + "recovery_min_apply_delay = '"
              + applyDelay.toMillis()
              + "ms'\n",
          StandardOpenOption.APPEND);
      // Its pg_hba.conf came from the primary's after the replication rule was added.
      EmbeddedPostgres promoted = launch(standbyDir, standbyPort);
      EmbeddedPostgres rebuilt = launch(primaryDir, primaryPort);
      // Swap the roles: the promoted server is the primary from now on.
      Path dir = primaryDir;
      primaryDir = standbyDir;
      standbyDir = dir;
      int port = primaryPort;
      primaryPort = standbyPort;
      standbyPort = port;
      primary = promoted;
      standby = rebuilt;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot rebuild the old primary as a standby", e);
    }
    if (!query(standbyUrl(), "select pg_is_in_recovery()::text").equals("true")) {
      throw new IllegalStateException(
          "the rebuilt server on port " + standbyPort + " did not start as a standby");
    }
    awaitCaughtUp(Duration.ofSeconds(30));
    log.info("primary now on port {}, rebuilt standby on port {}", primaryPort, standbyPort);
  }

  /**
   * Stops the standby's streaming from the primary ({@code primary_conninfo} emptied with {@code
   * ALTER SYSTEM} and the configuration reloaded, which stops its WAL receiver) and returns once no
   * WAL receiver runs: from here the standby receives nothing the primary writes, as a standby cut
   * off by a network partition. It keeps serving reads.
   *
   * @throws IllegalStateException if its WAL receiver still runs after 30 s
   */
  public void stopStreaming() {
    execute(standbyUrl(), "alter system set primary_conninfo = ''");
    execute(standbyUrl(), "select pg_reload_conf()");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!query(standbyUrl(), "select count(*)::text from pg_stat_wal_receiver").equals("0")) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "the standby on port " + standbyPort + " still has a WAL receiver after 30 s");
      }
      sleep(Duration.ofMillis(10));
    }
  }

  /**
   * Makes replication synchronous: {@code synchronous_standby_names} names the standby on the
   * primary and {@code synchronous_commit} is {@code on} for the {@code postgres} role (zonky
   * starts servers with it off on the command line, which a role setting overrides), so every
   * commit on a connection opened after this call returns only once the standby has flushed its
   * WAL. Returns once the primary reports the standby as synchronous.
   *
   * @throws IllegalStateException if the standby does not become synchronous within 30 s
   */
  public void requireSynchronousStandby() {
    execute(primaryUrl(), "alter system set synchronous_standby_names = 'thingdb_standby'");
    execute(primaryUrl(), "alter role postgres set synchronous_commit = 'on'");
    execute(primaryUrl(), "select pg_reload_conf()");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!column(primaryUrl(), "select sync_state from pg_stat_replication").contains("sync")) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "the standby on port " + standbyPort + " did not become synchronous within 30 s");
      }
      sleep(Duration.ofMillis(10));
    }
  }

  /**
   * Runs zonky's {@code pg_ctl} (next to the binary the running postmaster of {@code dataDir} was
   * started from) with {@code args} on {@code dataDir}, in a user namespace when zonky runs its
   * servers in one (as root).
   */
  private void pgCtl(Path dataDir, String... args) {
    Path pidFile = dataDir.resolve("postmaster.pid");
    Path pgCtl;
    try {
      long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
      pgCtl = Path.of("/proc", Long.toString(pid), "exe").toRealPath().resolveSibling("pg_ctl");
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("cannot find the pg_ctl of the server in " + dataDir, e);
    }
    List<String> command = new ArrayList<>();
    if (LinuxUtils.isUnshareAvailable()) {
      command.addAll(List.of("unshare", "-U"));
    }
    command.addAll(List.of(pgCtl.toString(), "-D", dataDir.toString()));
    command.addAll(List.of(args));
    log.info("running {}", String.join(" ", command));
    PostgresFixture.run(command, 90);
  }

  /**
   * The first column of the first row of {@code sql} on {@code url}, as text, over a new
   * connection.
   *
   * @throws IllegalStateException naming the statement and the URL if it fails or returns no row
   */
  public static String query(String url, String sql) {
    try (Connection c = DriverManager.getConnection(url);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      if (!rs.next()) {
        throw new IllegalStateException("no row from " + sql + " on " + url);
      }
      return rs.getString(1);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + " failed on " + url + ": " + e.getMessage(), e);
    }
  }

  /**
   * Runs {@code sql} (which may return rows, ignored) on {@code url} over a new connection, in
   * auto-commit mode.
   *
   * @throws IllegalStateException naming the statement and the URL if it fails
   */
  public static void execute(String url, String sql) {
    try (Connection c = DriverManager.getConnection(url);
        Statement st = c.createStatement()) {
      st.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + " failed on " + url + ": " + e.getMessage(), e);
    }
  }

  /**
   * The values of the first column of {@code sql} on {@code url}, as text, over a new connection.
   *
   * @throws IllegalStateException naming the statement and the URL if it fails
   */
  public static List<String> column(String url, String sql) {
    try (Connection c = DriverManager.getConnection(url);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException(sql + " failed on " + url + ": " + e.getMessage(), e);
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** Stops both servers (standby first) and deletes their data directories. Idempotent. */
  @Override
  public void close() {
    if (standby != null) {
      closeQuietly(standby);
      standby = null;
    }
    if (primary != null) {
      closeQuietly(primary);
      primary = null;
    }
    deleteRecursively(standbyDir);
    deleteRecursively(primaryDir);
  }

  private static void closeQuietly(EmbeddedPostgres pg) {
    try {
      pg.close();
    } catch (IOException | RuntimeException e) {
      log.warn("stopping PostgreSQL on port {} failed", pg.getPort(), e);
    }
  }

  private static void deleteRecursively(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      log.warn("cannot delete {}", dir, e);
    }
  }

  @Override
  public String toString() {
    return "ReplicatedPostgres[primary port "
        + primaryPort
        + ", standby port "
        + standbyPort
        + ", apply delay "
        + applyDelay.toMillis()
        + " ms]";
  }
}

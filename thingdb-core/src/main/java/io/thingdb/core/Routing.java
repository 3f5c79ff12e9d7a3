package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses where a read runs: a replica in rotation (round robin) that has replayed the session's
 * WAL position on that database, else the primary (read-your-writes).
 *
 * <p>A replica whose connection fails (SQLSTATE class 08, an administrator or crash shutdown,
 * "cannot connect now", too many connections, or a pool timeout) is taken out of rotation for
 * {@code downFor}, measured on the ThingDb's clock, with one warning; the read goes to the primary.
 * Once that time is up, the first reader to notice hands one probe to a background thread and
 * carries on to another replica or the primary; the probe (a statement on a fresh connection) puts
 * the replica back in rotation, or keeps it out for another {@code downFor}. No reader ever waits
 * for a dead replica's connection timeout after its first failure: with a replica that stays dead
 * (a stopped server still named in the configuration), a reader probing it itself would pay that
 * timeout once per {@code downFor} for as long as it stays configured. Any other error on a replica
 * (a query cancelled by a conflict with recovery, a table the replica has not replayed yet right
 * after a type was registered) sends just that read to the primary, which serves it or raises the
 * error itself. Thread-safe.
 */
final class Routing {
  private static final Logger log = LoggerFactory.getLogger(Routing.class);

  private final Sql sql;
  private final Clock clock;
  private final long downForMillis;
  private final Executor prober;
  private final AtomicInteger next = new AtomicInteger();

  /** Reads served by a replica. */
  final LongAdder replicaReads = new LongAdder();

  /** Reads served by the primary. */
  final LongAdder primaryReads = new LongAdder();

  /** Reads sent to the primary because the replica had not replayed the session's position. */
  final LongAdder laggingReplicaSkips = new LongAdder();

  /** Times a replica was taken out of rotation: a first failure, or a failed probe. */
  final LongAdder replicaFailures = new LongAdder();

  /**
   * Reads a replica failed for a reason of the read, not the connection, that went to the primary.
   */
  final LongAdder replicaErrors = new LongAdder();

  /**
   * Routing with replicas out of rotation for {@code downFor} after a connection failure, on {@code
   * clock}, probed back on {@code prober} (a probe waits at most the replica pool's connection
   * timeout there).
   */
  Routing(Sql sql, Duration downFor, Clock clock, Executor prober) {
    this.sql = sql;
    this.clock = clock;
    this.downForMillis = downFor.toMillis();
    this.prober = prober;
  }

  /** A read on one connection. */
  @FunctionalInterface
  interface ReadWork<T> {
    T run(Connection c) throws SQLException;
  }

  /** The replica a read (probe false) or a background probe (probe true) tries. */
  private record Pick(DbHandle.Replica replica, boolean probe) {}

  /**
   * A read's result and where it ran.
   *
   * @param value the result
   * @param fromReplica whether a replica served it
   */
  record Served<T>(T value, boolean fromReplica) {}

  <T> T read(DbHandle db, Session session, Retry retry, ReadWork<T> work) {
    return readServed(db, session, retry, work).value();
  }

  /**
   * Like {@link #read}, telling where the read ran. Callers fill the cache only from primary reads:
   * a replica may lag behind a write whose cached value was evicted, and a fill from it would then
   * put an older version into the empty slot, where nothing newer is left to refuse it (versioned
   * fills stop a fill only while a newer value or tombstone is still cached).
   */
  <T> Served<T> readServed(DbHandle db, Session session, Retry retry, ReadWork<T> work) {
    long wanted = wanted(db, session);
    // Long.MAX_VALUE: no replica can serve it; do not spend a replica connection to find out.
    Pick pick = wanted == Long.MAX_VALUE ? null : pick(db);
    if (pick != null) {
      DbHandle.Replica replica = pick.replica();
      try (Connection c = replica.dataSource.getConnection()) {
        // A pool can hand out a connection to a server that has just gone (HikariCP skips its
        // liveness check for connections used in the last 500 ms): only a statement that ran
        // proves the replica is back.
        if (wanted == 0 || caughtUp(c, replica, wanted)) {
          T result = work.run(c);
          replicaReads.increment();
          return new Served<>(result, true);
        }
        laggingReplicaSkips.increment();
      } catch (SQLException e) {
        failed(db, pick, e);
      }
    }
    return retry.run(
        db,
        "read on the primary of " + db.name,
        () -> {
          try (Connection c = db.circuit.connect()) {
            T result = work.run(c);
            primaryReads.increment();
            return new Served<>(result, false);
          }
        });
  }

  /**
   * The WAL position a replica must have replayed to serve {@code session}'s reads on {@code db}
   * (0: any replica will do; {@link Long#MAX_VALUE}: none, the primary serves them).
   *
   * <p>A position on the database's current timeline, or of unknown timeline (a token from before
   * positions carried timelines), is compared as it is. A position on an earlier timeline (the
   * session wrote before a promotion) is capped at {@link Epoch#since()}, the new primary's WAL
   * position when this instance learned the new timeline: the new timeline continues the old one up
   * to its switch point, which lies below that, so a replica that has replayed that far has every
   * write of the old timeline that survived; what the session wrote beyond the switch point is lost
   * on every server, and waiting for it would send the session to the primary until the new
   * timeline's WAL happened to pass the lost position. A position on a later timeline than this
   * instance knows (a token from an instance that learned of a promotion first; reads that use the
   * cache have already checked the epoch for it, {@link DbHandle#epochFor}) sends the read to the
   * primary and asks for an epoch check, which teaches this instance the new timeline within one
   * check.
   */
  static long wanted(DbHandle db, Session session) {
    Session.Position p = session == null ? null : session.position(db.name);
    if (p == null) {
      return 0;
    }
    Epoch current = db.epoch();
    if (p.timeline() == 0 || current == null || p.timeline() == current.timeline()) {
      return p.lsn();
    }
    if (Integer.compareUnsigned(p.timeline(), current.timeline()) < 0) {
      return Math.min(p.lsn(), current.since());
    }
    db.requestEpochCheck();
    return Long.MAX_VALUE;
  }

  private Pick pick(DbHandle db) {
    List<DbHandle.Replica> replicas = db.replicas;
    int n = replicas.size();
    if (n == 0) {
      return null;
    }
    long now = clock.millis();
    int start = Math.floorMod(next.getAndIncrement(), n);
    for (int i = 0; i < n; i++) {
      DbHandle.Replica r = replicas.get((start + i) % n);
      long down = r.downUntil.get();
      if (down == DbHandle.Replica.IN_ROTATION) {
        return new Pick(r, false);
      }
      // Its time is up: the reader that moves the deadline on hands a probe to the background
      // thread; this reader, like everyone else, skips the replica until the probe brings it back.
      if (now >= down && r.downUntil.compareAndSet(down, now + downForMillis)) {
        probeLater(db, r);
      }
    }
    return null;
  }

  private void probeLater(DbHandle db, DbHandle.Replica replica) {
    try {
      prober.execute(() -> probe(db, replica));
    } catch (RejectedExecutionException e) {
      // The ThingDb is closing: no read will ask for this replica again.
      log.debug("{} of database {} not probed: closing", replica, db.name);
    }
  }

  /** One statement on a fresh connection of {@code replica}: back in rotation if it runs. */
  private void probe(DbHandle db, DbHandle.Replica replica) {
    Pick pick = new Pick(replica, true);
    try (Connection c = replica.dataSource.getConnection()) {
      sql.query(c, "select 1", rs -> rs.getInt(1));
      backInRotation(db, replica);
    } catch (SQLException e) {
      failed(db, pick, e);
    } catch (RuntimeException e) {
      log.warn("probing {} of database {} failed unexpectedly", replica, db.name, e);
    }
  }

  private void backInRotation(DbHandle db, DbHandle.Replica replica) {
    long down = replica.downUntil.get();
    if (down != DbHandle.Replica.IN_ROTATION
        && replica.downUntil.compareAndSet(down, DbHandle.Replica.IN_ROTATION)) {
      log.info("{} of database {} answers again; back in rotation", replica, db.name);
    }
  }

  private void failed(DbHandle db, Pick pick, SQLException e) {
    DbHandle.Replica replica = pick.replica();
    String state = e.getSQLState();
    if (takesReplicaDown(e)) {
      long previous = replica.downUntil.getAndSet(clock.millis() + downForMillis);
      if (previous == DbHandle.Replica.IN_ROTATION || pick.probe()) {
        replicaFailures.increment();
        log.warn(
            "{} of database {} failed{} (SQLSTATE {}: {}); out of rotation for {} ms, reading from the primary",
            replica,
            db.name,
            pick.probe() ? " when probed" : "",
            state,
            e.getMessage(),
            downForMillis);
      } else {
        log.debug(
            "{} of database {} failed while already out of rotation (SQLSTATE {}: {})",
            replica,
            db.name,
            state,
            e.getMessage());
      }
      return;
    }
    replicaErrors.increment();
    if (pick.probe()) {
      backInRotation(db, replica); // it answered, if only with an error of this read
    }
    if ("40001".equals(state)) {
      // Hot standby cancels queries that conflict with replay; routine under write load.
      log.debug(
          "{} of database {} cancelled a read (SQLSTATE 40001: {}); the primary serves it",
          replica,
          db.name,
          e.getMessage());
    } else {
      log.warn(
          "{} of database {} could not serve a read (SQLSTATE {}: {}); the primary serves it. Right after a type"
              + " is registered a lagging replica may not have its tables yet; if this persists, check that the replica"
              + " DataSource reaches a standby of this database's primary",
          replica,
          db.name,
          state,
          e.getMessage());
    }
  }

  /** Failures of the server or the connection to it, rather than of one read. */
  private static boolean takesReplicaDown(SQLException e) {
    String state = e.getSQLState();
    return Retry.isConnectionFailure(e) || "57P03".equals(state) || "53300".equals(state);
  }

  /**
   * Whether the replica has replayed {@code wanted}, the primary's {@code
   * pg_current_wal_insert_lsn()} read after the session's COMMIT returned. That position is at or
   * past the end of the commit record, so a replica whose {@code pg_last_wal_replay_lsn()} (the end
   * of the last record it applied) reaches it has applied the commit, and the read that follows on
   * the same connection takes a new snapshot that includes it. The position can overshoot by a page
   * header when the commit record ended exactly on a WAL page boundary; the session then reads from
   * the primary until more WAL is replayed, which costs load but never correctness.
   */
  private boolean caughtUp(Connection c, DbHandle.Replica replica, long wanted)
      throws SQLException {
    if (replica.knownReplay >= wanted) {
      return true;
    }
    String lsn =
        sql.query(c, "select pg_last_wal_replay_lsn()::text", rs -> rs.getString(1)).get(0);
    if (lsn == null) {
      return true; // not in recovery: a promoted standby, which has everything up to its promotion
    }
    long replayed = Session.parseLsn(lsn);
    synchronized (replica) {
      if (replayed > replica.knownReplay) {
        replica.knownReplay = replayed;
      }
    }
    return replayed >= wanted;
  }

  /** For tests: which source served reads. */
  DataSource primaryOf(DbHandle db) {
    return db.database.primary();
  }
}

package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses where a read runs: a replica in rotation that has replayed the session's WAL position,
 * else the primary. A replica whose connection fails is taken out of rotation for a while and
 * probed back in by the next read after that. Thread-safe.
 */
final class Routing {
  private static final Logger log = LoggerFactory.getLogger(Routing.class);

  private final Sql sql;
  private final long downForNanos;
  private final AtomicInteger next = new AtomicInteger();
  final LongAdder replicaReads = new LongAdder();
  final LongAdder primaryReads = new LongAdder();
  final LongAdder laggingReplicaSkips = new LongAdder();

  Routing(Sql sql, Duration downFor) {
    this.sql = sql;
    this.downForNanos = downFor.toNanos();
  }

  /** A read on one connection. */
  @FunctionalInterface
  interface ReadWork<T> {
    T run(Connection c) throws SQLException;
  }

  <T> T read(DbHandle db, Session session, Retry retry, ReadWork<T> work) {
    DbHandle.Replica replica = pick(db.replicas);
    if (replica != null) {
      long wanted = session == null ? 0 : session.position(db.name);
      try (Connection c = replica.dataSource.getConnection()) {
        if (wanted == 0 || caughtUp(c, replica, wanted)) {
          T result = work.run(c);
          replicaReads.increment();
          return result;
        }
        laggingReplicaSkips.increment();
      } catch (SQLException e) {
        if (Retry.isTransient(e)) {
          replica.downUntil = System.nanoTime() + downForNanos;
          log.warn("replica {} of database {} failed ({}); out of rotation for {} ms, reading from the primary",
              replica.index, db.name, e.getMessage(), downForNanos / 1_000_000);
        } else {
          throw new ThingDbException("read on a replica of " + db.name + " failed (SQLSTATE " + e.getSQLState() + "): "
              + e.getMessage(), e);
        }
      }
    }
    return retry.run("read on " + db.name, () -> {
      try (Connection c = db.database.primary().getConnection()) {
        T result = work.run(c);
        primaryReads.increment();
        return result;
      }
    });
  }

  private DbHandle.Replica pick(List<DbHandle.Replica> replicas) {
    int n = replicas.size();
    if (n == 0) {
      return null;
    }
    long now = System.nanoTime();
    int start = Math.floorMod(next.getAndIncrement(), n);
    for (int i = 0; i < n; i++) {
      DbHandle.Replica r = replicas.get((start + i) % n);
      if (r.downUntil == 0 || now - r.downUntil >= 0) {
        return r;
      }
    }
    return null;
  }

  private boolean caughtUp(Connection c, DbHandle.Replica replica, long wanted) throws SQLException {
    if (replica.knownReplay >= wanted) {
      return true;
    }
    String lsn = sql.query(c, "select pg_last_wal_replay_lsn()::text", rs -> rs.getString(1)).get(0);
    if (lsn == null) {
      return true; // not in recovery: this "replica" is a primary, nothing to wait for
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

package io.thingdb.core;

import io.thingdb.cache.VersionedCache;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the read and write paths ({@link ThingReads}, {@link ThingWrites}, {@link RelationReads},
 * {@link RelationWrites}) use, and nothing more: the SQL runner, the versioned cache (null without
 * one) and its TTL, replica routing, retries and the clock. They get this, not the {@link Engine},
 * so they cannot reach the outbox, the query cache or the registry behind the engine's back.
 * Immutable and thread-safe.
 */
record Io(
    Sql sql, VersionedCache cache, Duration cacheTtl, Routing routing, Retry retry, Clock clock) {
  private static final Logger log = LoggerFactory.getLogger(ThingDb.class);

  /**
   * Whether things are cached (writes then record outbox rows and update the cache after COMMIT).
   */
  boolean cached() {
    return cache != null;
  }

  /**
   * The instant now on the configured clock, truncated to microseconds (PostgreSQL's precision).
   */
  Instant now() {
    return clock.instant().truncatedTo(ChronoUnit.MICROS);
  }

  /**
   * The epoch a write on {@code c} (a connection to {@code db}'s primary, before its transaction
   * begins) will commit on: the timeline of the server {@code c} reaches, read once per physical
   * connection ({@link Epoch#CONNECTION_SQL}, outside the operation's {@link Scope}: connection
   * setup) and remembered for it, since a running primary never changes its timeline. A server on a
   * later timeline than this instance knows teaches it the new epoch ({@link DbHandle#learn})
   * before anything is written; one on an earlier timeline (an old primary still answering) gives
   * that older epoch, whose keys no reader uses. Returns null if the server is in recovery (a write
   * there fails on its own). The physical connection is found by {@code unwrap(Connection.class)},
   * which pools such as HikariCP answer with their delegate; a pool that does not would cost the
   * statement on every write, never a wrong epoch.
   *
   * @throws SQLException if the statement fails
   */
  Epoch connectionEpoch(DbHandle db, Connection c) throws SQLException {
    Connection physical = c.isWrapperFor(Connection.class) ? c.unwrap(Connection.class) : c;
    Integer known;
    synchronized (db.connectionTimelines) {
      known = db.connectionTimelines.get(physical);
    }
    Epoch current = db.epoch();
    if (known != null) {
      return known == current.timeline() ? current : current.onTimeline(known, current.since());
    }
    String[] row =
        sql.setupQuery(
                c, Epoch.CONNECTION_SQL, rs -> new String[] {rs.getString(1), rs.getString(2)})
            .get(0);
    if (row[0] == null) {
      return null;
    }
    int timeline = Epoch.parseTimeline(row[0]);
    synchronized (db.connectionTimelines) {
      db.connectionTimelines.put(physical, timeline);
    }
    if (timeline == current.timeline()) {
      return current;
    }
    Epoch seen = current.onTimeline(timeline, Session.parseLsn(row[1]));
    if (Integer.compareUnsigned(timeline, current.timeline()) > 0) {
      db.learn(seen, "a new connection to its primary");
    }
    return seen;
  }

  /**
   * Records in {@code session} (if any, and if the database has replicas) the timeline and WAL
   * position after a commit made on {@code c}, for read-your-writes. Never throws.
   */
  void recordPosition(DbHandle db, Session session, Connection c) {
    if (session != null && !db.database.replicas().isEmpty()) {
      // Read after COMMIT: pg_current_wal_lsn() can lag an asynchronously committed record, and
      // a position read inside the transaction is before its commit record.
      // Being after COMMIT, this never throws: Retry would run the committed write again. Any
      // primary connection gives a position at or after this commit; with none answering, the
      // session reads from the primary until this instance learns a later timeline (Long.MAX_VALUE
      // on the current one: no replica reaches it; see Routing#wanted).
      for (int attempt = 0; attempt < 2; attempt++) {
        try (Connection other = attempt == 0 ? null : db.database.primary().getConnection()) {
          String[] row =
              sql.query(
                      attempt == 0 ? c : other,
                      Epoch.AFTER_COMMIT_SQL,
                      rs -> new String[] {rs.getString(1), rs.getString(2)})
                  .get(0);
          session.committed(db.name, Epoch.parseTimeline(row[0]), Session.parseLsn(row[1]));
          return;
        } catch (SQLException | RuntimeException e) {
          log.warn(
              "cannot read the WAL position of database {} after a commit ({}); {}",
              db.name,
              e.getMessage(),
              attempt == 0
                  ? "asking another connection"
                  : "this session reads from the primary from now on");
        }
      }
      session.committed(db.name, db.epoch().timeline(), Long.MAX_VALUE);
    }
  }
}

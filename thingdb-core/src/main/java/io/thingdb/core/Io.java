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
   * Records in {@code session} (if any, and if the database has replicas) the WAL position after a
   * commit made on {@code c}, for read-your-writes. Never throws.
   */
  void recordPosition(DbHandle db, Session session, Connection c) {
    if (session != null && !db.database.replicas().isEmpty()) {
      // Read after COMMIT: pg_current_wal_lsn() can lag an asynchronously committed record, and
      // a position read inside the transaction is before its commit record.
      // Being after COMMIT, this never throws: Retry would run the committed write again. Any
      // primary connection gives a position at or after this commit; with none answering, the
      // session reads from the primary from now on (Long.MAX_VALUE: no replica reaches it).
      long position = Long.MAX_VALUE;
      for (int attempt = 0; attempt < 2 && position == Long.MAX_VALUE; attempt++) {
        try (Connection other = attempt == 0 ? null : db.database.primary().getConnection()) {
          String lsn =
              sql.query(
                      attempt == 0 ? c : other,
                      "select pg_current_wal_insert_lsn()::text",
                      rs -> rs.getString(1))
                  .get(0);
          position = Session.parseLsn(lsn);
        } catch (SQLException e) {
          log.warn(
              "cannot read the WAL position of database {} after a commit ({}); {}",
              db.name,
              e.getMessage(),
              attempt == 0
                  ? "asking another connection"
                  : "this session reads from the primary from now on");
        }
      }
      session.committed(db.name, position);
    }
  }
}

package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * A database's cache epoch: the PostgreSQL system identifier of its primary and the timeline that
 * primary writes on. Every cache key core uses for the database's things, relation pairs, query
 * generations and query lists starts with {@link #prefix()}, so a promotion (a new timeline) or a
 * different cluster behind the same name (a new system identifier) makes every entry cached before
 * it unreachable.
 *
 * <p>Why keys and not values: with asynchronous replication a promotion can lose the last
 * acknowledged transactions, and their write-through is in memcached. The new timeline then reuses
 * the lost transactions' version numbers for different contents, so no version comparison can tell
 * a lost value from a current one; only a different key can. A cold cache after a failover is the
 * accepted cost. A streaming standby has its primary's system identifier, so the identifier alone
 * would not change at a promotion; the timeline alone would not change when a database is replaced
 * by another cluster (a fresh initdb starts at timeline 1 again).
 *
 * <p>The prefix is {@code e<id>.<timeline>:}: {@code <id>} is the system identifier folded to 32
 * bits in base 36 (at most 7 characters; it only has to differ between clusters that take turns
 * under one database name), {@code <timeline>} the timeline in base 36. Immutable.
 *
 * @param systemId {@code system_identifier} of {@code pg_control_system()}
 * @param timeline the primary's current timeline (the first 8 hexadecimal digits of {@code
 *     pg_walfile_name(pg_current_wal_insert_lsn())}; {@code pg_control_checkpoint()}'s timeline
 *     lags a promotion until the next checkpoint)
 * @param since the primary's WAL insert position when this epoch was learned: everything of older
 *     timelines that survived the switch lies below it ({@link Routing} compares positions of older
 *     timelines with it)
 * @param prefix the key prefix, {@link #prefixOf}
 */
record Epoch(long systemId, int timeline, long since, String prefix) {

  static Epoch of(long systemId, int timeline, long since) {
    return new Epoch(systemId, timeline, since, prefixOf(systemId, timeline));
  }

  /**
   * One statement on a primary: its system identifier, timeline and WAL insert position. {@code
   * pg_control_system()} is executable by any role on PostgreSQL 15 (checked by a test with a role
   * without privileges); {@code pg_walfile_name} fails on a server in recovery, which is how a
   * DataSource that reaches a standby instead of a primary shows.
   */
  static final String CHECK_SQL =
      "select system_identifier, substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8),"
          + " pg_current_wal_insert_lsn()::text from pg_control_system()";

  /**
   * Run on the connection of a commit, right after COMMIT, for read-your-writes: the timeline and
   * the WAL insert position. One round trip, which read-your-writes ran before timelines too.
   */
  static final String AFTER_COMMIT_SQL =
      "select substr(pg_walfile_name(l), 1, 8), l::text from pg_current_wal_insert_lsn() as l";

  /**
   * Run once per physical connection before its first write: the timeline of the server it reaches
   * and its WAL insert position, or nulls if the server is in recovery (a standby: no write will
   * commit there; asked again next time, since a standby can be promoted under a live connection).
   * A running primary never changes its timeline, so every later commit on the connection happens
   * on this one.
   */
  static final String CONNECTION_SQL =
      "select substr(pg_walfile_name(l), 1, 8), l::text from (select case when"
          + " pg_is_in_recovery() then null else pg_current_wal_insert_lsn() end as l) as p";

  static String prefixOf(long systemId, int timeline) {
    long folded = (systemId ^ (systemId >>> 32)) & 0xFFFF_FFFFL;
    return "e" + Long.toString(folded, 36) + "." + Integer.toString(timeline, 36) + ":";
  }

  /** The same cluster on a later timeline, learned at WAL position {@code since}. */
  Epoch onTimeline(int newTimeline, long since) {
    return of(systemId, newTimeline, since);
  }

  /**
   * Whether {@code other} replaces this epoch: another cluster, or a later timeline of this one. An
   * earlier timeline of the same cluster never does (an old primary that still answers after a
   * promotion must not take the cache back to its timeline).
   */
  boolean supersededBy(Epoch other) {
    return other.systemId != systemId || other.timeline > timeline;
  }

  /** Parses the 8 hexadecimal digits of a WAL file name's timeline. */
  static int parseTimeline(String hex8) {
    return Integer.parseUnsignedInt(hex8, 16);
  }

  /**
   * Reads the epoch of the primary {@code c} is connected to.
   *
   * @throws SQLException if the statement fails: on a standby ({@code pg_walfile_name} is refused
   *     in recovery), or where {@code pg_control_system()} is not executable by the role
   */
  static Epoch read(Sql sql, Connection c) throws SQLException {
    List<Epoch> rows =
        sql.query(
            c,
            CHECK_SQL,
            rs ->
                of(
                    rs.getLong(1),
                    parseTimeline(rs.getString(2)),
                    Session.parseLsn(rs.getString(3))));
    return rows.get(0);
  }

  @Override
  public String toString() {
    return "system " + Long.toUnsignedString(systemId) + " timeline " + timeline;
  }
}

package io.thingdb.listings;

import io.thingdb.core.ThingDbException;
import io.thingdb.core.WriteTransaction;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import javax.sql.DataSource;

/**
 * The durable listing-update queue: {@code thingdb_listing_job} (one row per (listing, thing)
 * change) and {@code thingdb_listing_dirty} (one row per listing with pending jobs, the unit a
 * processor claims). Stateless.
 */
final class ListingQueue {
  private ListingQueue() {}

  static void createTables(DataSource dataSource) {
    try (Connection c = dataSource.getConnection();
        Statement st = c.createStatement()) {
      st.execute(
          "create table if not exists thingdb_listing_job (id bigserial primary key,"
              + " listing_key text not null, thing_id bigint not null, created_at timestamptz not null default now())");
      st.execute(
          "create index if not exists thingdb_listing_job_key on thingdb_listing_job (listing_key)");
      st.execute(
          "create table if not exists thingdb_listing_dirty (listing_key text primary key,"
              + " since timestamptz not null default now())");
      st.execute(
          "create index if not exists thingdb_listing_dirty_since on thingdb_listing_dirty (since)");
    } catch (SQLException e) {
      throw new ThingDbException("creating the listing queue tables failed: " + e.getMessage(), e);
    }
  }

  /**
   * Enqueues one job per key for {@code thingId} and marks the keys dirty, inside the caller's
   * transaction.
   *
   * <p>The dirty upsert is {@code do update}, not {@code do nothing}: an update waits for the row
   * lock of a processor that has claimed the key, and if that processor deletes the row and
   * commits, PostgreSQL retries the insert. With {@code do nothing} the vote would see the claimed
   * row, skip it, and the processor would then delete it, leaving this job with no dirty row. Keys
   * are upserted in sorted order so two writers never take dirty-row locks in opposite orders.
   */
  static void enqueue(Connection c, String[] sorted, long thingId) throws SQLException {
    if (sorted.length == 0) {
      return;
    }
    try (PreparedStatement ps = c.prepareStatement(ENQUEUE)) {
      ps.setLong(1, thingId);
      Array array = c.createArrayOf("text", sorted);
      ps.setArray(2, array);
      ps.setArray(3, array);
      ps.executeUpdate();
    }
  }

  /**
   * {@link #enqueue(Connection, String[], long)} queued in a core write transaction: it runs in the
   * transaction's next round trip, after the statements queued before it (a vote's counts update,
   * which takes the thing's row lock before these take the dirty rows' locks).
   *
   * @param sorted the keys, from {@link #sortedKeys}
   */
  static void enqueue(WriteTransaction tx, String[] sorted, long thingId) {
    if (sorted.length != 0) {
      tx.execute(ENQUEUE, thingId, sorted, sorted);
    }
  }

  /**
   * One statement (one round trip on the vote's hot path): the jobs in a data-modifying CTE, which
   * PostgreSQL runs to completion whether or not the outer statement reads it, then the dirty rows.
   * Parameters: the thing id, the sorted keys twice.
   */
  private static final String ENQUEUE =
      "with j as (insert into thingdb_listing_job (listing_key, thing_id)"
          + " select k, ? from unnest(?::text[]) k) insert into thingdb_listing_dirty as cur (listing_key, since)"
          + " select k, now() from unnest(?::text[]) with ordinality as u(k, n) order by n"
          + " on conflict (listing_key) do update set since = least(cur.since, excluded.since)";

  /** The keys of {@link #enqueue}, de-duplicated and sorted (the dirty rows' lock order). */
  static String[] sortedKeys(Collection<String> keys) {
    return new TreeSet<>(keys).toArray(new String[0]);
  }

  private static final String DIRTY_UPSERT =
      "insert into thingdb_listing_dirty as cur (listing_key, since)"
          + " select k, now() from unnest(?::text[]) with ordinality as u(k, n) order by n"
          + " on conflict (listing_key) do update set since = least(cur.since, excluded.since)";

  /**
   * {@link #enqueue} for several things at once, with one statement for the jobs and one for the
   * dirty rows whatever the count.
   *
   * @param keysByThing the routed keys of each thing id
   */
  static void enqueueAll(WriteTransaction tx, Map<Long, ? extends Collection<String>> keysByThing) {
    List<String> jobKeys = new ArrayList<>();
    List<Long> jobThings = new ArrayList<>();
    TreeSet<String> dirty = new TreeSet<>();
    for (Map.Entry<Long, ? extends Collection<String>> e : keysByThing.entrySet()) {
      for (String key : e.getValue()) {
        jobKeys.add(key);
        jobThings.add(e.getKey());
        dirty.add(key);
      }
    }
    if (jobKeys.isEmpty()) {
      return;
    }
    long[] things = new long[jobThings.size()];
    for (int i = 0; i < things.length; i++) {
      things[i] = jobThings.get(i);
    }
    tx.execute(
        "insert into thingdb_listing_job (listing_key, thing_id) select * from unnest(?::text[], ?::bigint[])",
        jobKeys.toArray(new String[0]),
        things);
    tx.execute(DIRTY_UPSERT, (Object) dirty.toArray(new String[0]));
  }
}

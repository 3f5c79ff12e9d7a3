package io.thingdb.listings;

import io.thingdb.core.ThingDbException;
import io.thingdb.core.WriteTransaction;
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
 * The durable listing-update queue: {@code thingdb_listing_job}, one row per (listing, thing)
 * change, inserted in the writer's transaction. The rows are the whole queue: a writer only inserts
 * (it updates no shared row, so concurrent writers of one listing never wait for each other or for
 * a processor), and {@link ListingProcessors} find the listings to work on by walking the {@code
 * (listing_key, id)} index. Stateless.
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
          "create index if not exists thingdb_listing_job_key_id on thingdb_listing_job (listing_key, id)");
      // The index of earlier versions, which the one above covers.
      st.execute("drop index if exists thingdb_listing_job_key");
    } catch (SQLException e) {
      throw new ThingDbException("creating the listing queue tables failed: " + e.getMessage(), e);
    }
  }

  /** Enqueues one job per key for {@code thingId}, inside the caller's transaction. */
  static void enqueue(Connection c, String[] sorted, long thingId) throws SQLException {
    if (sorted.length == 0) {
      return;
    }
    try (PreparedStatement ps = c.prepareStatement(ENQUEUE)) {
      ps.setLong(1, thingId);
      ps.setArray(2, c.createArrayOf("text", sorted));
      ps.executeUpdate();
    }
  }

  /**
   * {@link #enqueue(Connection, String[], long)} queued in a core write transaction: it runs in the
   * transaction's next round trip, after the statements queued before it.
   *
   * @param sorted the keys, from {@link #sortedKeys}
   */
  static void enqueue(WriteTransaction tx, String[] sorted, long thingId) {
    if (sorted.length != 0) {
      tx.execute(ENQUEUE, thingId, sorted);
    }
  }

  /** Parameters: the thing id, the keys. */
  private static final String ENQUEUE =
      "insert into thingdb_listing_job (listing_key, thing_id) select k, ? from unnest(?::text[]) k";

  /** The keys of {@link #enqueue}, de-duplicated and sorted. */
  static String[] sortedKeys(Collection<String> keys) {
    return new TreeSet<>(keys).toArray(new String[0]);
  }

  /**
   * {@link #enqueue} for several things at once, in one statement whatever the count.
   *
   * @param keysByThing the routed keys of each thing id
   */
  static void enqueueAll(WriteTransaction tx, Map<Long, ? extends Collection<String>> keysByThing) {
    List<String> jobKeys = new ArrayList<>();
    List<Long> jobThings = new ArrayList<>();
    for (Map.Entry<Long, ? extends Collection<String>> e : keysByThing.entrySet()) {
      for (String key : e.getValue()) {
        jobKeys.add(key);
        jobThings.add(e.getKey());
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
  }
}

package io.thingdb.core;

import io.thingdb.cache.VersionedCache.Result;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable side of write-through. Every write records (cache key without its epoch, version) in
 * {@code thingdb_outbox} in its own transaction. After COMMIT the writer updates the cache; rows
 * whose update the cache confirmed, and whose type's query-cache bump has landed, are deleted in
 * batches (one statement per database every 50 ms, not one per write). Rows still present after the
 * grace period belong to writers that crashed or could not reach the cache: any instance's replayer
 * invalidates their keys at the recorded version and bumps the query-cache generations of their
 * types, retrying until the cache confirms. Thread-safe; owns one thread.
 */
final class Outbox implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Outbox.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final Engine db;
  private final Duration replayInterval;
  private final Duration grace;
  private final ScheduledExecutorService thread;
  private final Map<DbHandle, ConcurrentLinkedQueue<Long>> confirmed = new ConcurrentHashMap<>();
  final LongAdder replayed = new LongAdder();

  /** Databases on which the outbox's last work failed for a reason other than the connection. */
  private final Map<DbHandle, Boolean> failing = new ConcurrentHashMap<>();

  Outbox(Engine db, Duration replayInterval, Duration grace) {
    this.db = db;
    this.replayInterval = replayInterval;
    this.grace = grace;
    String name = "thingdb-outbox-" + INSTANCES.incrementAndGet();
    this.thread = Daemons.scheduler(name);
  }

  void start() {
    if (db.cache == null) {
      return; // no cache, nothing to keep consistent
    }
    thread.scheduleWithFixedDelay(this::flushConfirmed, 50, 50, TimeUnit.MILLISECONDS);
    long every = replayInterval.toMillis();
    thread.scheduleWithFixedDelay(this::replayAll, every, every, TimeUnit.MILLISECONDS);
  }

  /** Called by a writer after its cache update: a confirmed row can go. */
  void confirm(DbHandle database, long outboxId, Result r) {
    if (outboxId == 0 || r == Result.UNCONFIRMED) {
      return; // left for the replayer
    }
    confirmed(database, outboxId);
  }

  /** The row's write is fully reflected in the cache (value and query generation): it can go. */
  void confirmed(DbHandle database, long outboxId) {
    confirmed.computeIfAbsent(database, k -> new ConcurrentLinkedQueue<>()).add(outboxId);
  }

  private void flushConfirmed() {
    for (Map.Entry<DbHandle, ConcurrentLinkedQueue<Long>> e : confirmed.entrySet()) {
      if (e.getKey().circuit.isOpen()) {
        continue; // kept until the database is back
      }
      List<Long> ids = new ArrayList<>();
      Long id;
      while (ids.size() < 10_000 && (id = e.getValue().poll()) != null) {
        ids.add(id);
      }
      if (!ids.isEmpty()) {
        try {
          delete(e.getKey(), ids);
          succeeded(e.getKey());
        } catch (SQLException | RuntimeException ex) {
          // The rows stay; the replayer will find them confirmed (SUPERSEDED) and delete them.
          failed(
              e.getKey(),
              "deleting "
                  + ids.size()
                  + " confirmed outbox rows failed; the replayer will clean"
                  + " them up",
              ex);
        }
      }
    }
  }

  private void delete(DbHandle database, List<Long> ids) throws SQLException {
    try (Connection c = database.circuit.connect()) {
      db.sql.update(
          c,
          "delete from thingdb_outbox where id = any(?)",
          ids.stream().mapToLong(Long::longValue).toArray());
    }
  }

  private void replayAll() {
    for (DbHandle database : db.databases.values()) {
      if (database.circuit.isOpen()) {
        continue; // the circuit's probe finds the database back; the rows wait in it meanwhile
      }
      try {
        replay(database);
        succeeded(database);
      } catch (SQLException | RuntimeException e) {
        failed(
            database,
            "replaying the cache outbox failed; retrying every "
                + replayInterval.toMillis()
                + " ms",
            e);
      }
    }
  }

  /**
   * A failure of the outbox's work on {@code database}: counted by the database's circuit, which
   * reports an outage in one line of its own; any other failure is logged at WARN once until the
   * outbox works again (each repetition at DEBUG), without its stack trace (at DEBUG).
   */
  private void failed(DbHandle database, String what, Exception e) {
    if (e instanceof SQLException se) {
      database.circuit.failed(se);
      if (Circuit.isConnectionLevel(se)) {
        log.debug("outbox of {}: {}: {}", database.name, what, e.getMessage());
        return;
      }
    }
    if (failing.put(database, Boolean.TRUE) == null) {
      log.warn("outbox of {}: {}: {}", database.name, what, e.toString());
    }
    log.debug("outbox of {}: {}", database.name, what, e);
  }

  private void succeeded(DbHandle database) {
    database.circuit.succeeded();
    if (failing.remove(database) != null) {
      log.info("outbox of {} works again", database.name);
    }
  }

  /** Invalidates the keys of rows older than the grace period; returns how many were confirmed. */
  int replay(DbHandle database) throws SQLException {
    record Row(long id, String key, long version) {}
    List<Row> rows;
    try (Connection c = database.circuit.connect()) {
      rows =
          db.sql.query(
              c,
              "select id, cache_key, version from thingdb_outbox"
                  + " where created_at < now() - ? * interval '1 millisecond' order by id limit 1000",
              rs -> new Row(rs.getLong(1), rs.getString(2), rs.getLong(3)),
              grace.toMillis());
      if (!rows.isEmpty()) {
        // The rows come from this server: its epoch must be known before their keys are spelled,
        // or a replay right after a promotion would invalidate keys no reader uses any more.
        database.learn(Epoch.read(db.sql, c), "the outbox replay");
      }
    }
    if (rows.isEmpty()) {
      return 0;
    }
    List<Long> done = new ArrayList<>();
    List<String> keys = new ArrayList<>();
    // Rows record keys without an epoch: a row read from this primary belongs to its history,
    // which the current epoch's keys cache. A row that survived a promotion from the old timeline
    // is invalidated under the new epoch at a version the new primary has, which is harmless.
    String prefix = database.epoch().prefix();
    for (Row r : rows) {
      Result result = db.cache.invalidate(prefix + r.key(), r.version());
      if (result != Result.UNCONFIRMED) {
        done.add(r.id());
        keys.add(r.key());
      }
    }
    // The writer may have died before its query-cache bump too (QueryCache confirms a row only
    // once the bump landed): bump the types of these things before the rows go.
    if (!done.isEmpty() && !db.queryCache.bumpForReplay(db, keys)) {
      log.warn(
          "outbox of {}: could not bump the query-cache generations of {} replayed keys; will retry",
          database.name,
          done.size());
      return 0;
    }
    if (!done.isEmpty()) {
      delete(database, done);
      replayed.add(done.size());
      log.info(
          "outbox of {}: invalidated {} cache keys left by writers that could not update the cache ({} still pending)",
          database.name,
          done.size(),
          rows.size() - done.size());
    }
    return done.size();
  }

  @Override
  public void close() {
    thread.shutdown();
    try {
      if (thread.awaitTermination(2, TimeUnit.SECONDS)) {
        flushConfirmed();
      } else {
        thread.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      thread.shutdownNow();
    }
  }
}

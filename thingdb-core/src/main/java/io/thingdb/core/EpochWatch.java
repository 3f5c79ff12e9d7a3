package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps each database's cache {@link Epoch} current. The engine learns an epoch at build ({@link
 * #readAtBuild}), from every new physical connection a write uses (its server's timeline, read once
 * per connection, see {@link Io#connectionEpoch}), from a check on a reader's thread when a session
 * shows a later timeline ({@link DbHandle#epochFor}), and from this watch: one check per database
 * every {@code interval}, and one at once when the database answers again after connection-level
 * failures (the first operation that succeeds after them, or the probe that closes its circuit): a
 * failover shows as lost connections followed by a server that answers. While connections to the
 * database fail (a failure within the last interval, or an open circuit) the periodic check is
 * skipped, so that it does not take the pool's connections from the operations and the outbox
 * during an outage; it resumes one interval after the last failure.
 *
 * <p>The window this gives: an instance that only reads uses the new epoch's keys at most two
 * {@code interval}s plus one check (a connection from the pool and one statement; bounded by the
 * pool's connection timeout) after the promoted primary accepts connections through the primary
 * DataSource and this instance's connections to the database stop failing (one interval of pause
 * after the last failure, one to the next check); an instance whose operations reach the database
 * learns it at the first one that succeeds. Before the promotion no epoch can be learned: the new
 * primary does not exist yet.
 *
 * <p>A check that fails for another reason than the connection (a DataSource that reaches a
 * standby: {@code pg_walfile_name} is refused in recovery; a role refused {@code
 * pg_control_system()}) is logged at WARN once until a check succeeds again. Thread-safe; owns one
 * daemon thread, stopped by {@link #close}.
 */
final class EpochWatch implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ThingDb.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final Sql sql;
  private final Collection<DbHandle> databases;
  private final Duration interval;
  private final ScheduledExecutorService thread;
  private final Map<DbHandle, AtomicBoolean> requested = new ConcurrentHashMap<>();
  private final Map<DbHandle, Boolean> failing = new ConcurrentHashMap<>();

  EpochWatch(Sql sql, Collection<DbHandle> databases, Duration interval) {
    this.sql = sql;
    this.databases = databases;
    this.interval = interval;
    String name = "thingdb-epoch-" + INSTANCES.incrementAndGet();
    this.thread = Daemons.scheduler(name);
    for (DbHandle db : databases) {
      requested.put(db, new AtomicBoolean());
    }
  }

  /**
   * Reads {@code db}'s epoch from its primary DataSource at build.
   *
   * @throws ThingDbException naming the database if it cannot: no silent fallback to a cache
   *     without epochs
   */
  static void readAtBuild(Sql sql, DbHandle db) {
    try (Connection c = db.database.primary().getConnection()) {
      db.learn(Epoch.read(sql, c), "the build");
    } catch (SQLException e) {
      throw new ThingDbException(
          "cannot read the cache epoch of database "
              + db.name
              + " (system identifier and timeline of its primary, by \""
              + Epoch.CHECK_SQL
              + "\"): "
              + e.getMessage()
              + ". ThingDB needs a primary DataSource that reaches the primary and a role that may"
              + " execute pg_control_system() (PUBLIC may on PostgreSQL 15 unless revoked)",
          e);
    }
  }

  /** Starts the periodic checks. */
  void start() {
    long every = interval.toMillis();
    thread.scheduleWithFixedDelay(this::checkAll, every, every, TimeUnit.MILLISECONDS);
  }

  /** Asks for a check of {@code db} as soon as the thread is free; coalesces repeated requests. */
  void request(DbHandle db) {
    AtomicBoolean flag = requested.get(db);
    if (flag == null || !flag.compareAndSet(false, true)) {
      return;
    }
    try {
      thread.execute(
          () -> {
            flag.set(false);
            check(db, "a check of its primary on request");
          });
    } catch (RejectedExecutionException e) {
      flag.set(false); // closing
    }
  }

  private void checkAll() {
    for (DbHandle db : databases) {
      if (!db.circuit.isOpen() && !db.circuit.failedWithin(interval)) {
        check(db, "a periodic check of its primary");
      }
    }
  }

  /**
   * One check of {@code db}, on the caller's thread; {@code how} names it in the log. Never throws.
   */
  void check(DbHandle db, String how) {
    try (Connection c = db.circuit.connect()) {
      db.learn(Epoch.read(sql, c), how);
      if (failing.remove(db) != null) {
        log.info("database {}: the cache epoch check works again", db.name);
      }
    } catch (SQLException e) {
      if (Circuit.isConnectionLevel(e)) {
        log.debug("database {}: cache epoch check: {}", db.name, e.getMessage());
      } else if (failing.put(db, Boolean.TRUE) == null) {
        log.warn(
            "database {}: cannot check the cache epoch (SQLSTATE {}: {}); does the primary"
                + " DataSource reach a standby? Retrying every {} ms",
            db.name,
            e.getSQLState(),
            e.getMessage(),
            interval.toMillis());
      }
    } catch (RuntimeException e) {
      log.warn("database {}: cache epoch check failed", db.name, e);
    }
  }

  @Override
  public void close() {
    thread.shutdownNow();
    try {
      if (!thread.awaitTermination(5, TimeUnit.SECONDS)) {
        log.warn("the cache epoch check did not stop within 5 s of close()");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

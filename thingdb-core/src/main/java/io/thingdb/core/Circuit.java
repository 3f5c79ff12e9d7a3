package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The circuit in front of one database's primary. Closed, operations acquire connections as usual
 * and every connection-level failure (SQLSTATE class 08, 57P01-57P03, a pool's acquire timeout)
 * counts; {@code threshold} of them in a row, with no success in between, open it. Open, every
 * operation on the database fails at once with {@link DatabaseUnavailableException} instead of
 * waiting for the pool, and one probe (a connection and {@code select 1}, on the engine's probe
 * thread; through {@link Database#probe()} when the database has a probe DataSource of its own)
 * runs every {@code probeInterval}; the probe that succeeds closes it. There is no half-open trial
 * by callers: only the probe touches a database whose circuit is open, so an outage costs one
 * waiting connection attempt at a time, not one per request thread.
 *
 * <p>Logs one WARN line when it opens and one INFO line when it closes, on logger {@code
 * io.thingdb.core.Circuit}; failed probes at DEBUG. Thread-safe.
 */
final class Circuit {
  private static final Logger log = LoggerFactory.getLogger(Circuit.class);

  /** What an open circuit knows about the outage. */
  private record Open(long sinceNanos, int failures, SQLException last) {}

  private final String database;
  private final DataSource primary;

  /** What the probe connects through: the primary, or {@link Database#probe()}'s own. */
  private final DataSource probeSource;

  private final Sql sql;
  private final int threshold;
  private final Duration probeInterval;
  private final ScheduledExecutorService prober;
  private final AtomicInteger consecutive = new AtomicInteger();
  private volatile Open open;
  private final LongAdder failedFast = new LongAdder();

  /** Times the circuit opened (for tests and metrics). */
  final LongAdder opened = new LongAdder();

  /**
   * Told when the database answers again after connection-level failures (the first success after
   * them, or the probe that closes the circuit): the engine checks the database's cache epoch then,
   * since a failover shows as lost connections followed by a server that answers. Must not block.
   */
  private volatile Runnable connectionEvent = () -> {};

  /** Whether a connection-level failure happened since the last success. */
  private volatile boolean failedSinceSuccess;

  /** {@link System#nanoTime()} of the last connection-level failure. */
  private volatile long lastFailureNanos = System.nanoTime() - Long.MAX_VALUE / 2;

  Circuit(
      String database,
      DataSource primary,
      DataSource probeSource,
      Sql sql,
      int threshold,
      Duration probeInterval,
      ScheduledExecutorService prober) {
    this.database = database;
    this.primary = primary;
    this.probeSource = probeSource;
    this.sql = sql;
    this.threshold = threshold;
    this.probeInterval = probeInterval;
    this.prober = prober;
  }

  /**
   * Whether {@code e} says the server or the connection to it failed, rather than one statement:
   * what counts toward opening the circuit.
   */
  static boolean isConnectionLevel(SQLException e) {
    if (e instanceof SQLTransientConnectionException) {
      return true; // HikariCP's acquire timeout, whatever SQLSTATE it copied from its last failure
    }
    String state = e.getSQLState();
    return state == null
        || state.startsWith("08")
        || "57P01".equals(state)
        || "57P02".equals(state)
        || "57P03".equals(state);
  }

  boolean isOpen() {
    return open != null;
  }

  /** The hint callers get: a retry sooner than the next probe fails fast again. */
  Duration retryAfter() {
    return probeInterval;
  }

  /**
   * A connection to the primary, unless the circuit is open.
   *
   * @throws OpenException (an SQLException, so that it travels the paths a refused connection
   *     takes) if the circuit is open; {@link Retry} turns it into {@link
   *     DatabaseUnavailableException} naming the operation
   */
  Connection connect() throws SQLException {
    if (open != null) {
      failedFast.increment();
      throw new OpenException(this);
    }
    return primary.getConnection();
  }

  /** An operation on the database succeeded: the failures so far were not consecutive. */
  void succeeded() {
    if (consecutive.get() != 0) {
      consecutive.set(0);
    }
    if (failedSinceSuccess) {
      failedSinceSuccess = false;
      connectionEvent.run();
    }
  }

  /** Whether a connection-level failure happened within {@code window} before now. */
  boolean failedWithin(Duration window) {
    return System.nanoTime() - lastFailureNanos < window.toNanos();
  }

  /** Sets what {@link #succeeded} and a successful probe tell (see {@code connectionEvent}). */
  void onConnectionEvent(Runnable listener) {
    this.connectionEvent = listener;
  }

  /** Counts {@code e} if it is a connection-level failure; opens the circuit at the threshold. */
  void failed(SQLException e) {
    if (e instanceof OpenException || !isConnectionLevel(e)) {
      return;
    }
    lastFailureNanos = System.nanoTime();
    failedSinceSuccess = true;
    int n = consecutive.incrementAndGet();
    if (n < threshold || open != null) {
      return;
    }
    synchronized (this) {
      if (open != null) {
        return;
      }
      open = new Open(System.nanoTime(), n, e);
    }
    opened.increment();
    log.warn(
        "database {} is unavailable: {} connection failures in a row (last: SQLSTATE {}: {});"
            + " its operations fail at once with DatabaseUnavailableException while one probe"
            + " tries it every {} ms",
        database,
        n,
        e.getSQLState(),
        e.getMessage(),
        probeInterval.toMillis());
    scheduleProbe();
  }

  /**
   * The exception for operation {@code what} while the circuit is open, or for a connection-level
   * {@code cause} that ended it.
   */
  DatabaseUnavailableException unavailable(String what, int attempts, SQLException cause) {
    Open o = open;
    String tried = attempts > 1 ? " after " + attempts + " attempts" : "";
    if (o == null) {
      return new DatabaseUnavailableException(
          database,
          probeInterval,
          what
              + " failed"
              + tried
              + " (SQLSTATE "
              + cause.getSQLState()
              + "): "
              + cause.getMessage(),
          cause);
    }
    return new DatabaseUnavailableException(
        database,
        probeInterval,
        what + " failed" + tried + ": " + describe(o),
        cause instanceof OpenException ? o.last() : cause);
  }

  private String describe(Open o) {
    long downMillis = (System.nanoTime() - o.sinceNanos()) / 1_000_000;
    return "database "
        + database
        + " is unavailable (down for "
        + downMillis
        + " ms after "
        + o.failures()
        + " connection failures in a row; last: SQLSTATE "
        + o.last().getSQLState()
        + ": "
        + o.last().getMessage()
        + "); retry after "
        + probeInterval.toMillis()
        + " ms";
  }

  /** A fresh exception describing the open circuit, or null if it is closed. */
  DatabaseUnavailableException unavailableNow() {
    Open o = open;
    return o == null
        ? null
        : new DatabaseUnavailableException(database, probeInterval, describe(o), o.last());
  }

  private void scheduleProbe() {
    try {
      prober.schedule(this::probe, probeInterval.toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // The ThingDb is closing: nobody is left to serve.
    }
  }

  private void probe() {
    Open o = open;
    if (o == null) {
      return;
    }
    try (Connection c = probeSource.getConnection()) {
      sql.query(c, "select 1", rs -> rs.getInt(1));
    } catch (SQLException | RuntimeException e) {
      log.debug(
          "database {} still unavailable ({}: {}); probing again in {} ms",
          database,
          e instanceof SQLException se ? "SQLSTATE " + se.getSQLState() : e.getClass().getName(),
          e.getMessage(),
          probeInterval.toMillis());
      scheduleProbe();
      return;
    }
    consecutive.set(0);
    synchronized (this) {
      open = null;
    }
    failedSinceSuccess = false;
    connectionEvent.run();
    long downMillis = (System.nanoTime() - o.sinceNanos()) / 1_000_000;
    log.info(
        "database {} answers again after {} ms; {} operations failed fast meanwhile",
        database,
        downMillis,
        failedFast.sumThenReset());
  }

  /**
   * Thrown by {@link #connect} while the circuit is open: an SQLException (SQLSTATE 08000) so that
   * it takes the way a refused connection takes, up to {@link Retry}, which throws {@link
   * DatabaseUnavailableException} for it at once. Carries no stack trace: it is routine during an
   * outage and says everything in its message.
   */
  static final class OpenException extends SQLTransientConnectionException {
    private static final long serialVersionUID = 1L;
    final transient Circuit circuit;

    OpenException(Circuit circuit) {
      super("database " + circuit.database + " is unavailable (its circuit is open)", "08000");
      this.circuit = circuit;
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }
}

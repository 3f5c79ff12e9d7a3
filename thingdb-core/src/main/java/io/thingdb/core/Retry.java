package io.thingdb.core;

import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Bounded retries of transient failures where an operation is safe to retry: connection loss,
 * serialization failures, deadlocks and administrator shutdowns, with jittered exponential backoff.
 * {@link OutcomeUnknownException} is never retried. Thread-safe.
 */
final class Retry {
  /** SQLSTATEs worth retrying. Class 08 is checked separately. */
  private static final Set<String> TRANSIENT =
      Set.of(
          "40001", // serialization_failure
          "40P01", // deadlock_detected
          "57P01", // admin_shutdown
          "57P02", // crash_shutdown
          "57P03", // cannot_connect_now (starting up, shutting down)
          "53300", // too_many_connections
          "55P03"); // lock_not_available

  private final int retries;

  Retry(int retries) {
    this.retries = retries;
  }

  /** A unit of work that may throw SQLException. */
  @FunctionalInterface
  interface SqlCall<T> {
    T call() throws SQLException;
  }

  static boolean isConnectionFailure(SQLException e) {
    String state = e.getSQLState();
    return state == null
        || state.startsWith("08")
        || "57P01".equals(state)
        || "57P02".equals(state);
  }

  static boolean isTransient(SQLException e) {
    String state = e.getSQLState();
    return state == null || state.startsWith("08") || TRANSIENT.contains(state);
  }

  /**
   * Runs {@code call} on {@code database}, retrying transient failures; see {@link #run(Supplier,
   * Supplier, SqlCall)}.
   */
  <T> T run(DbHandle database, String what, SqlCall<T> call) {
    return run(() -> database, () -> what, call);
  }

  /**
   * Runs {@code call}, retrying transient failures a bounded number of times. The database's {@link
   * Circuit} sees every outcome: a success, a connection-level failure (which may open it), an
   * attempt refused because it is open. {@code database} and {@code what} are asked after an
   * attempt (a transaction knows its database only once its work has run); {@code database} may
   * give null (no database was reached).
   *
   * @throws DatabaseUnavailableException if the circuit is open, opened during the retries, or the
   *     last failure was connection-level
   * @throws ThingDbException for any other failure, after the retries of a transient one
   */
  <T> T run(Supplier<DbHandle> database, Supplier<String> what, SqlCall<T> call) {
    for (int attempt = 0; ; attempt++) {
      try {
        T result = call.call();
        DbHandle db = database.get();
        if (db != null) {
          db.circuit.succeeded();
        }
        return result;
      } catch (Circuit.OpenException e) {
        throw e.circuit.unavailable(what.get(), attempt + 1, e);
      } catch (SQLException e) {
        DbHandle db = database.get();
        Circuit circuit = db == null ? null : db.circuit;
        boolean connectionLevel = Circuit.isConnectionLevel(e);
        if (circuit != null) {
          circuit.failed(e);
        }
        // An open circuit ends the retries too: the next attempt would be refused anyway.
        if (!isTransient(e) || attempt >= retries || (circuit != null && circuit.isOpen())) {
          if (circuit != null && connectionLevel) {
            throw circuit.unavailable(what.get(), attempt + 1, e);
          }
          throw new ThingDbException(
              what.get()
                  + " failed"
                  + (attempt > 0 ? " after " + (attempt + 1) + " attempts" : "")
                  + " (SQLSTATE "
                  + e.getSQLState()
                  + "): "
                  + e.getMessage(),
              e);
        }
        sleep(attempt);
      } catch (OutcomeUnknownException e) {
        DbHandle db = database.get();
        if (db != null && e.getCause() instanceof SQLException se) {
          db.circuit.failed(se); // a connection lost at COMMIT is a connection failure too
        }
        throw e;
      }
    }
  }

  private static void sleep(int attempt) {
    long base = 50L << Math.min(attempt, 6);
    try {
      Thread.sleep(base + ThreadLocalRandom.current().nextLong(base));
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
      throw new ThingDbException("interrupted while waiting to retry", ie);
    }
  }
}

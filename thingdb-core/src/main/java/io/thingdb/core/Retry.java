package io.thingdb.core;

import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

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

  <T> T run(String what, SqlCall<T> call) {
    return run(() -> what, call);
  }

  /**
   * {@link #run(String, SqlCall)} whose description is known only once the call has run (a
   * transaction's database).
   */
  <T> T run(java.util.function.Supplier<String> what, SqlCall<T> call) {
    for (int attempt = 0; ; attempt++) {
      try {
        return call.call();
      } catch (SQLException e) {
        if (!isTransient(e) || attempt >= retries) {
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

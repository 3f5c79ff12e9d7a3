package io.thingdb.core;

import java.time.Duration;
import java.util.Objects;

/**
 * A database could not be reached: its connections failed (SQLSTATE class 08, an administrator or
 * crash shutdown, a server still starting up, or the pool's acquire timeout), or its circuit is
 * open after {@link ThingDbBuilder#circuitOpensAfter} such failures in a row, and the operation
 * failed at once without waiting for a connection. Nothing was written by the operation that threw
 * it (a failure after COMMIT was sent is {@link OutcomeUnknownException} instead). {@link
 * #database()} names the database; {@link #retryAfter()} says when a retry can first hope to
 * succeed (the circuit's probe interval), for an HTTP {@code Retry-After} or a client's backoff.
 * The cause is the last connection failure. Immutable.
 */
public final class DatabaseUnavailableException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  private final String database;
  private final Duration retryAfter;

  /**
   * Creates the exception.
   *
   * @param database the database's name as configured with {@link ThingDbBuilder#database}
   * @param retryAfter when a retry can first hope to succeed; positive
   * @param message what failed and why
   * @param cause the last connection failure (may be null)
   */
  public DatabaseUnavailableException(
      String database, Duration retryAfter, String message, Throwable cause) {
    super(message, cause);
    this.database = Objects.requireNonNull(database, "database must not be null");
    this.retryAfter = Objects.requireNonNull(retryAfter, "retryAfter must not be null");
    if (retryAfter.isNegative() || retryAfter.isZero()) {
      throw new IllegalArgumentException("retryAfter must be positive: " + retryAfter);
    }
  }

  /** The name of the database that could not be reached. */
  public String database() {
    return database;
  }

  /** How long to wait before a retry can hope to succeed; positive. */
  public Duration retryAfter() {
    return retryAfter;
  }
}

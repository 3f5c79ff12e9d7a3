package io.thingdb.core;

/**
 * The connection failed after COMMIT was sent: the write may or may not have been committed.
 * ThingDB never retries such a write (a retried {@code ups = ups + 1} would count twice); the
 * caller decides, for example by reading the thing back. Any cache entry of the affected keys is
 * invalidated by the durable outbox if the write did commit.
 */
public final class OutcomeUnknownException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception. */
  public OutcomeUnknownException(String message, Throwable cause) {
    super(message, cause);
  }
}

package io.thingdb.core;

/**
 * An increment would take a value out of its range, so it was refused and nothing was written (the
 * transaction it ran in was rolled back, the cache was not touched). The ranges: {@code ups} and
 * {@code downs} from 0 to 2,147,483,647 (a vote count never goes below zero; PostgreSQL stores them
 * as {@code int}); a LONG prop within 64-bit signed integers; a DOUBLE prop finite. The message
 * names the thing, the counter or prop, the delta and, where known, the current value. Retrying the
 * same increment fails the same way. Immutable and thread-safe.
 */
public final class OutOfRangeException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception. */
  public OutOfRangeException(String message) {
    super(message);
  }

  /** Creates the exception with its cause (PostgreSQL's SQLSTATE 22003). */
  public OutOfRangeException(String message, Throwable cause) {
    super(message, cause);
  }
}

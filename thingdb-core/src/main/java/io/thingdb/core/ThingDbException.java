package io.thingdb.core;

/** The root of the unchecked exceptions ThingDB's core throws. The cause is always kept. */
public class ThingDbException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Creates an exception with a message. */
  public ThingDbException(String message) {
    super(message);
  }

  /** Creates an exception with a message and a cause. */
  public ThingDbException(String message, Throwable cause) {
    super(message, cause);
  }
}

package io.thingdb.cache;

/** The root of the exceptions thrown by ThingDB's cache module. Unchecked. */
public class CacheException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Creates an exception with a message. */
  public CacheException(String message) {
    super(message);
  }

  /** Creates an exception with a message and a cause. */
  public CacheException(String message, Throwable cause) {
    super(message, cause);
  }
}

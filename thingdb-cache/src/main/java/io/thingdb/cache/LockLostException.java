package io.thingdb.cache;

import java.util.Objects;

/**
 * Thrown by {@link Lock#close()} when the lock had been lost before it was released: its expiry
 * passed, its database session ended, or its store could not confirm that it was still held. The
 * section the lock guarded may have overlapped another holder's, so work done under it should be
 * checked or redone.
 */
public final class LockLostException extends CacheException {
  private static final long serialVersionUID = 1L;

  private final String lockName;

  LockLostException(String lockName, String message, Throwable cause) {
    super(message, cause);
    this.lockName = Objects.requireNonNull(lockName, "lockName must not be null");
  }

  /** The name of the lost lock. */
  public String lockName() {
    return lockName;
  }
}

package io.thingdb.cache;

import java.util.Objects;
import java.util.Optional;

/**
 * Thrown by {@link Locks#acquire} when a lock was not acquired within the wait timeout. The message
 * names the lock, the wait and what stood in the way: the holder when the store could tell ({@link
 * #holder()}), or an unreachable store.
 */
public final class LockTimeoutException extends CacheException {
  private static final long serialVersionUID = 1L;

  private final String lockName;
  private final String holder;

  LockTimeoutException(String lockName, String holder, String message, Throwable cause) {
    super(message, cause);
    this.lockName = Objects.requireNonNull(lockName, "lockName must not be null");
    this.holder = holder;
  }

  /** The name of the lock that was not acquired. */
  public String lockName() {
    return lockName;
  }

  /**
   * The holder as last seen while waiting, if the store could tell: for {@link MemcachedLocks} the
   * holder's owner description ({@code host:pid:thread} by default), for {@link PostgresLocks} the
   * holding backend ({@code backend pid 1234 (application_name=..., ...)}).
   */
  public Optional<String> holder() {
    return Optional.ofNullable(holder);
  }
}

package io.thingdb.cache;

import java.time.Duration;
import java.util.Optional;

/**
 * Named, exclusive, cluster-wide locks: at most one {@link Lock} per name is held at a time across
 * every client of the same backing store.
 *
 * <p>Two implementations with different failure models:
 *
 * <ul>
 *   <li>{@link MemcachedLocks}: an item added with a unique token and an expiry. Cheap, but the
 *       expiry bounds the hold (a holder paused longer than it loses the lock) and the lock is lost
 *       if its memcached node dies or restarts. No fencing tokens.
 *   <li>{@link PostgresLocks}: a PostgreSQL session-level advisory lock. Held for as long as the
 *       holder's database session lives, whatever happens to the cache, and each acquisition gets a
 *       fencing token that increases from one holder to the next. Costs one pooled connection per
 *       held lock.
 * </ul>
 *
 * <p>Locks are not reentrant: a thread that acquires a name it already holds waits like any other
 * caller (and times out). Names are case-sensitive; any non-blank string is a valid name.
 *
 * <p>Typical use:
 *
 * <pre>{@code
 * try (Lock lock = locks.acquire("rebuild:frontpage", Duration.ofSeconds(2))) {
 *   ... guarded section ...
 * } // close() throws LockLostException if the lock was lost before the release
 * }</pre>
 *
 * <p>Implementations are thread-safe.
 */
public interface Locks {

  /**
   * Acquires the lock {@code name}, waiting up to {@code waitTimeout} for the current holder to
   * release it. A wait of {@link Duration#ZERO} makes one attempt.
   *
   * @return the held lock; release it with {@link Lock#close()} (try-with-resources) or {@link
   *     Lock#release()}
   * @throws LockTimeoutException if the lock was not acquired within {@code waitTimeout}; the
   *     message names the lock, the wait and, when known, the holder
   * @throws NullPointerException if {@code name} or {@code waitTimeout} is null
   * @throws IllegalArgumentException if {@code name} is blank or {@code waitTimeout} is negative
   * @throws CacheException if the backing store fails in a way that is not a timeout, or the
   *     waiting thread is interrupted (its interrupt flag is then set again)
   */
  Lock acquire(String name, Duration waitTimeout);

  /**
   * Makes one attempt to acquire the lock {@code name} without waiting for its holder.
   *
   * @return the held lock, or empty if another holder has it or its store could not confirm the
   *     acquisition
   * @throws NullPointerException if {@code name} is null
   * @throws IllegalArgumentException if {@code name} is blank
   * @throws CacheException if the backing store fails in a way that is not contention
   */
  Optional<Lock> tryAcquire(String name);
}

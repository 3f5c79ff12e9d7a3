package io.thingdb.cache;

import java.util.OptionalLong;

/**
 * A held lock, obtained from {@link Locks}. Releasing it is the holder's job; nobody else can
 * release it, and a lock that was lost (its expiry passed or its session ended) cannot be released
 * by its former holder.
 *
 * <p>The first call of {@link #release()} or {@link #close()} releases the lock and decides the
 * outcome; later calls repeat that outcome without contacting the store: {@code release()} returns
 * the same result, {@code close()} returns normally after a successful release and throws {@link
 * LockLostException} again after a lost one.
 *
 * <p>Thread-safe: the lock may be released from a thread other than the one that acquired it, and
 * concurrent release calls release it once.
 */
public interface Lock extends AutoCloseable {

  /** The name the lock was acquired under. */
  String name();

  /**
   * A number that is larger for every later holder of the same lock, to pass along with writes so
   * that the system receiving them can refuse a write from a holder that has since lost the lock (a
   * "fencing token"). Present only for {@link PostgresLocks}; {@link MemcachedLocks} cannot give
   * one that never goes backwards.
   */
  OptionalLong fencingToken();

  /**
   * Releases the lock if this holder still has it.
   *
   * @return true if this holder held the lock without interruption up to now and released it; false
   *     if it had been lost before (expired and possibly taken by another holder, its session
   *     ended, or its store could not confirm the release), in which case the guarded section may
   *     have overlapped another holder's
   */
  boolean release();

  /**
   * Releases the lock like {@link #release()}, but reports a lost lock by throwing.
   *
   * @throws LockLostException if the lock had been lost before it was released
   */
  @Override
  void close();
}

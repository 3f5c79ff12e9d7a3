package io.thingdb.cache;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * A bytes-in, bytes-out cache on string keys: the operations of memcached, with its failure
 * semantics made explicit.
 *
 * <h2>Keys</h2>
 *
 * Any non-null string is a valid key. Each backend prefixes keys with its namespace and codec
 * version; a key that memcached cannot carry (longer than 250 bytes once prefixed, containing
 * spaces, control characters or non-ASCII characters, or starting with {@code #}) is replaced by a
 * deterministic SHA-256 digest of its UTF-8 bytes. A key is never rejected and never sent raw.
 *
 * <h2>Values</h2>
 *
 * Every stored value starts with a format byte written by the backend, so an entry written by a
 * future encoding is read as a miss rather than misread. A value (plus that byte) that would not
 * fit in one memcached item for its key is refused with {@link ValueTooLargeException} before
 * anything is sent: nothing is written and any older value stays in place. Counters created by
 * {@link #incr} and {@link #decr} are stored as memcached's decimal ASCII digits (memcached
 * requires it) and read back through {@link #get} as those digits. Arrays are not copied by every
 * backend: do not modify an array after passing it to a cache or after getting it back.
 *
 * <h2>Time to live</h2>
 *
 * A TTL of {@link Duration#ZERO} means "no expiry". Other TTLs are rounded up to whole seconds
 * (memcached's unit). TTLs longer than 30 days are sent as absolute Unix times, as memcached
 * requires. A negative TTL is an {@link IllegalArgumentException}.
 *
 * <h2>Failures</h2>
 *
 * Reads never fail because a server is down, hung or slow: an unreachable server is a miss within
 * the backend's read deadline. Writes report {@link Outcome#UNCONFIRMED} when the server could not
 * confirm them; the backend then remembers the key and deletes it from that server before using the
 * server again (see {@code MemcachedCache} for the guarantee and its window). Programming errors
 * (null arguments, negative TTLs, oversized values, a closed cache) throw.
 *
 * <p>Implementations are thread-safe. {@link #close()} is idempotent; any other call on a closed
 * cache throws {@link IllegalStateException}.
 */
public interface Cache extends AutoCloseable {

  /** The result of a write. */
  enum Outcome {
    /** The server confirmed the write (stored, added, swapped, deleted or touched). */
    APPLIED,
    /**
     * The server answered and refused: {@code add} found the key present, {@code compareAndSet}
     * found a different CAS id or no item, {@code delete} or {@code touch} found no item.
     */
    NOT_APPLIED,
    /**
     * The server could not be reached in time. The write may or may not have happened; the key is
     * scheduled for deletion on that server before the server is used again.
     */
    UNCONFIRMED
  }

  /**
   * Returns the value stored under {@code key}, or {@code null} on a miss (absent, expired, written
   * by an unknown format, or its server unreachable within the read deadline).
   *
   * @throws NullPointerException if {@code key} is null
   */
  byte[] get(String key);

  /**
   * Multi-get: returns the hits among {@code keys}; misses are absent from the map. Keys are split
   * by server, fetched with one multi-get per server, and merged. A server that cannot be reached
   * makes only its own keys miss.
   *
   * @throws NullPointerException if {@code keys} or any key is null
   */
  Map<String, byte[]> getAll(Collection<String> keys);

  /** Receives the hits of {@link #getAll(List, Hits)}, one call per key found. */
  @FunctionalInterface
  interface Hits {
    /**
     * The key at {@code index} of the requested list was found: its value is the {@code length}
     * bytes of {@code buffer} from {@code offset}. The buffer belongs to the cache and must not be
     * modified; it is not reused, so it may be read after the call.
     */
    void hit(int index, byte[] buffer, int offset, int length);
  }

  /**
   * Multi-get by position, without copying values or building a result map: the same lookup as
   * {@link #getAll(Collection)}, with each hit passed to {@code hits} with its index in {@code
   * keys} (a key listed twice is reported at each of its indexes). Misses are not reported. Hits
   * are reported on the calling thread, in no particular order. The default implementation
   * delegates to {@link #getAll(Collection)}.
   *
   * @throws NullPointerException if {@code keys}, any key or {@code hits} is null
   */
  default void getAll(List<String> keys, Hits hits) {
    java.util.Objects.requireNonNull(hits, "hits must not be null");
    Map<String, byte[]> found = getAll((Collection<String>) keys);
    for (int i = 0; i < keys.size(); i++) {
      byte[] v = found.get(keys.get(i));
      if (v != null) {
        hits.hit(i, v, 0, v.length);
      }
    }
  }

  /**
   * Stores {@code value} unconditionally.
   *
   * @return {@link Outcome#APPLIED} or {@link Outcome#UNCONFIRMED}
   * @throws ValueTooLargeException if the value cannot fit in one item (nothing is written)
   */
  Outcome set(String key, byte[] value, Duration ttl);

  /**
   * Stores {@code value} only if no live item exists under {@code key}.
   *
   * @return {@link Outcome#APPLIED} if added, {@link Outcome#NOT_APPLIED} if an item exists, {@link
   *     Outcome#UNCONFIRMED} if the server could not answer
   */
  Outcome add(String key, byte[] value, Duration ttl);

  /**
   * Best-effort {@code add} of many values without waiting for answers (memcached's noreply): like
   * {@link #add}, it never replaces a live item; unlike it, nothing is reported, and a value whose
   * server is unreachable, or whose key has an unconfirmed write pending, is skipped. Meant for
   * filling a cache after a multi-get miss, where one round trip per key would cost more than the
   * fill is worth.
   *
   * @throws ValueTooLargeException if any value cannot fit (nothing is sent)
   */
  void addAll(Map<String, byte[]> values, Duration ttl);

  /**
   * Reads a value together with its CAS id, or returns {@code null} on a miss (same rules as {@link
   * #get}).
   */
  CasValue gets(String key);

  /**
   * Replaces the item under {@code key} only if its CAS id is still {@code cas}.
   *
   * @return {@link Outcome#APPLIED} if swapped; {@link Outcome#NOT_APPLIED} if the item changed or
   *     vanished; {@link Outcome#UNCONFIRMED} if the server could not answer
   */
  Outcome compareAndSet(String key, long cas, byte[] value, Duration ttl);

  /**
   * Appends {@code suffix} to the value under {@code key}, keeping its expiry, in one atomic step
   * of the server (memcached's {@code append}); the item gets a new CAS id. Nothing is created:
   * without an item the append is refused. Meant for values whose owner can read appended records
   * (see {@code VersionedCache#append}).
   *
   * @return {@link Outcome#APPLIED} if appended; {@link Outcome#NOT_APPLIED} if there was no item,
   *     or the result would not fit in one item; {@link Outcome#UNCONFIRMED} if the server could
   *     not answer (the key is then reconciled like any unconfirmed write)
   * @param suffix at most {@value Appends#MAX_SUFFIX} bytes
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the suffix is longer; nothing is sent
   */
  Outcome append(String key, byte[] suffix);

  /**
   * {@link #append} without waiting for an answer (memcached's {@code noreply}): the command is
   * queued for the server and this returns. Whether it was applied is never known, and a write that
   * was lost or refused is not reconciled: use it only for records whose loss delays nothing but
   * what they carry, and which are right whenever they land. A server that is down or suspect gets
   * nothing. An append costs the caller a fraction of a round trip's CPU this way.
   *
   * @param suffix at most {@value Appends#MAX_SUFFIX} bytes
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the suffix is longer; nothing is sent
   */
  void appendQuietly(String key, byte[] suffix);

  /** Deletes {@code key}; {@link Outcome#NOT_APPLIED} if there was no item. */
  Outcome delete(String key);

  /**
   * Atomically adds {@code delta} (≥ 0) to the counter under {@code key}; if there is no item,
   * creates it with {@code initial} (and returns {@code initial}). Returns empty if the server
   * could not be reached.
   */
  OptionalLong incr(String key, long delta, long initial, Duration ttl);

  /**
   * Atomically subtracts {@code delta} (≥ 0) from the counter under {@code key}, stopping at 0 as
   * memcached does; if there is no item, creates it with {@code initial}. Returns empty if the
   * server could not be reached.
   */
  OptionalLong decr(String key, long delta, long initial, Duration ttl);

  /** Sets a new TTL on an existing item; {@link Outcome#NOT_APPLIED} if there is none. */
  Outcome touch(String key, Duration ttl);

  /**
   * A snapshot of this client's counters, in total and per server. Loads, lease waits and stale
   * values served are counted by {@link VersionedCache}, whose {@code stats()} adds them to these.
   */
  CacheStats stats();

  /**
   * The server (as configured, {@code host:port}) that holds {@code key}; {@code "local"} for the
   * in-process backend. Routing never depends on whether the server is up.
   */
  String serverFor(String key);

  /**
   * The largest value, in bytes, that {@link #set} accepts for {@code key} (it depends on the key's
   * encoded length, because the server's item limit covers the key and item header).
   */
  int maxValueSize(String key);

  /**
   * Waits until no write of {@code key} made through this client is still unconfirmed: a write that
   * returned {@link Outcome#UNCONFIRMED} leaves the old value readable by other clients until this
   * client's reconciler has deleted the key on its server. Returns at once when nothing is pending.
   * Gives up (returns false) after {@code timeout}, or at once when the key's server has been
   * failing for longer than {@code timeout} (an outage: waiting would only delay the caller, and
   * the durable replay of the caller's writes is what closes that window). The default
   * implementation, for backends that never leave writes unconfirmed, returns true.
   *
   * @param key the application key
   * @param timeout the longest wait
   * @return true if no write of {@code key} is unconfirmed in this client
   */
  default boolean awaitReconciled(String key, Duration timeout) {
    Objects.requireNonNull(key, "key must not be null");
    Objects.requireNonNull(timeout, "timeout must not be null");
    return true;
  }

  /** Stops this client's threads and connections. Idempotent. */
  @Override
  void close();
}

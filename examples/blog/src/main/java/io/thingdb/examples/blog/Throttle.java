package io.thingdb.examples.blog;

import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Token buckets by key (an account name, a client address): each key may spend {@code capacity}
 * attempts at once and gets one back every {@code capacity / per} of time. An attempt beyond that
 * is refused with how long to wait, before any work is done for it: a login costs a 600,000-round
 * PBKDF2 hash (about a quarter of a second of one core), so unthrottled logins would let one client
 * keep every request thread hashing.
 *
 * <p>Memory is bounded: at most {@code maxKeys} buckets are kept; beyond that, buckets that have
 * refilled completely (they hold no history worth keeping) are dropped first, then arbitrary ones.
 * Dropping a bucket only ever gives a key a full bucket again, so the bound costs precision, never
 * availability. Time comes from the injected ticker (nanoseconds). Thread-safe.
 */
final class Throttle {
  private final String what;
  private final int capacity;
  private final long nanosPerToken;
  private final int maxKeys;
  private final LongSupplier ticker;
  private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

  /**
   * A throttle named {@code what} (for messages) allowing {@code capacity} attempts per {@code
   * per}, keeping at most {@code maxKeys} keys.
   *
   * @throws IllegalArgumentException if {@code capacity} or {@code maxKeys} is below 1 or {@code
   *     per} is not positive
   */
  Throttle(String what, int capacity, Duration per, int maxKeys, LongSupplier ticker) {
    if (capacity < 1) {
      throw new IllegalArgumentException(what + ": capacity must be at least 1, was " + capacity);
    }
    if (per.isNegative() || per.isZero()) {
      throw new IllegalArgumentException(what + ": the period must be positive, was " + per);
    }
    if (maxKeys < 1) {
      throw new IllegalArgumentException(what + ": maxKeys must be at least 1, was " + maxKeys);
    }
    this.what = what;
    this.capacity = capacity;
    this.nanosPerToken = Math.max(1, per.toNanos() / capacity);
    this.maxKeys = maxKeys;
    this.ticker = ticker;
  }

  /**
   * Takes one token of {@code key}'s bucket.
   *
   * @return zero if the attempt may go ahead, else how long until the next token (at least one
   *     second: what {@code Retry-After} says in whole seconds)
   */
  Duration acquire(String key) {
    if (buckets.size() >= maxKeys && !buckets.containsKey(key)) {
      evict();
    }
    Bucket b = buckets.computeIfAbsent(key, k -> new Bucket(ticker.getAsLong(), capacity));
    synchronized (b) {
      long now = ticker.getAsLong();
      b.refill(now, capacity, nanosPerToken);
      if (b.tokens >= 1) {
        b.tokens--;
        return Duration.ZERO;
      }
      long wait = nanosPerToken - (now - b.last);
      return Duration.ofSeconds(Math.max(1, (wait + 999_999_999L) / 1_000_000_000L));
    }
  }

  private void evict() {
    long now = ticker.getAsLong();
    for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext(); ) {
      Bucket b = it.next();
      synchronized (b) {
        b.refill(now, capacity, nanosPerToken);
        if (b.tokens >= capacity) {
          it.remove();
        }
      }
    }
    Iterator<String> keys = buckets.keySet().iterator();
    while (buckets.size() >= maxKeys && keys.hasNext()) {
      keys.next();
      keys.remove();
    }
  }

  /** How many keys have a bucket now (tests). */
  int size() {
    return buckets.size();
  }

  @Override
  public String toString() {
    return what
        + " ("
        + capacity
        + " at once, one more every "
        + nanosPerToken / 1_000_000
        + " ms)";
  }

  /** Tokens left and when they were last counted. Guarded by its own monitor. */
  private static final class Bucket {
    long last;
    long tokens;

    Bucket(long now, int capacity) {
      this.last = now;
      this.tokens = capacity;
    }

    void refill(long now, int capacity, long nanosPerToken) {
      long earned = (now - last) / nanosPerToken;
      if (earned > 0) {
        tokens = Math.min(capacity, tokens + earned);
        last = tokens == capacity ? now : last + earned * nanosPerToken;
      }
    }
  }
}

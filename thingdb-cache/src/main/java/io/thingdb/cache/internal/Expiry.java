package io.thingdb.cache.internal;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * Converts TTLs to memcached's expiry field. Memcached reads an expiry up to 30 days as relative
 * seconds and anything larger as an absolute Unix time, so a 31-day TTL sent as-is would be a date
 * in 1970 and expire at once. Thread-safe (stateless).
 */
public final class Expiry {
  /** memcached's REALTIME_MAXDELTA: the largest expiry still read as relative seconds. */
  static final long MAX_RELATIVE_SECONDS = 60L * 60 * 24 * 30;

  private Expiry() {}

  /** Rejects null and negative TTLs with a message naming the key. */
  public static void check(Duration ttl, String key) {
    Objects.requireNonNull(ttl, "ttl must not be null");
    if (ttl.isNegative()) {
      throw new IllegalArgumentException(
          "ttl must not be negative: "
              + ttl
              + " (key="
              + abbreviate(key)
              + "); use Duration.ZERO for no expiry");
    }
  }

  /** Whole seconds, rounded up, so that a TTL never expires before the caller asked. */
  public static long seconds(Duration ttl) {
    long s = ttl.getSeconds();
    return ttl.getNano() > 0 ? s + 1 : s;
  }

  /**
   * The memcached expiry field for {@code ttl}: 0 for no expiry, relative seconds up to 30 days, an
   * absolute Unix time (from {@code clock}) beyond that.
   */
  public static int toMemcached(Duration ttl, Clock clock, String key) {
    check(ttl, key);
    long seconds = seconds(ttl);
    if (seconds <= MAX_RELATIVE_SECONDS) {
      return (int) seconds;
    }
    long absolute = Math.addExact(clock.millis() / 1000, seconds);
    if (absolute > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "ttl "
              + ttl
              + " reaches past what memcached can express (Unix time "
              + absolute
              + " > 2^31-1) (key="
              + abbreviate(key)
              + ")");
    }
    return (int) absolute;
  }

  static String abbreviate(String key) {
    if (key == null) {
      return "null";
    }
    return key.length() <= 200 ? key : key.substring(0, 200) + "...(" + key.length() + " chars)";
  }
}

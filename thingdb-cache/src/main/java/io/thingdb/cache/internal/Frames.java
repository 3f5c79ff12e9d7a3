package io.thingdb.cache.internal;

import java.util.Arrays;

/**
 * The framing every backend applies to stored values: one format byte, then the caller's bytes. An
 * entry whose first byte is not a known format is read as a miss, so a future encoding never has
 * its entries misread by an older client (and vice versa). Counters are the exception: memcached's
 * incr/decr need bare decimal digits, which no format byte collides with. Stateless.
 */
public final class Frames {
  /** Format of values written through {@code Cache.set/add/compareAndSet}. */
  public static final byte PLAIN = 0x01;

  private Frames() {}

  /** Prepends the plain format byte. */
  public static byte[] wrap(byte[] value) {
    byte[] out = new byte[value.length + 1];
    out[0] = PLAIN;
    System.arraycopy(value, 0, out, 1, value.length);
    return out;
  }

  /**
   * The caller's bytes of a stored entry, the digits of a counter, or {@code null} if the entry has
   * an unknown format.
   */
  public static byte[] unwrap(byte[] stored) {
    if (stored == null || stored.length == 0) {
      return null;
    }
    if (stored[0] == PLAIN) {
      return Arrays.copyOfRange(stored, 1, stored.length);
    }
    if (!isCounter(stored)) {
      return null;
    }
    int end = stored.length;
    while (stored[end - 1] == ' ') {
      end--;
    }
    return end == stored.length ? stored : Arrays.copyOf(stored, end);
  }

  /** True if {@code stored} is memcached counter text: decimal digits, possibly space-padded. */
  private static boolean isCounter(byte[] stored) {
    if (stored.length == 0 || stored[0] < '0' || stored[0] > '9') {
      return false;
    }
    // memcached pads a counter that shrinks in place (e.g. decr 100 -> 99) with trailing spaces.
    for (byte b : stored) {
      if ((b < '0' || b > '9') && b != ' ') {
        return false;
      }
    }
    return true;
  }

  /**
   * memcached 1.6's per-item overhead with CAS enabled: a 48-byte item header, 8 bytes of CAS, the
   * key's terminating byte and the value's CRLF. Measured on memcached 1.6.18 with flags 0: the
   * largest storable value is {@code itemSizeMax - 59 - keyLength} (and 4 bytes less when the
   * client flags are non-zero, which ours never are).
   */
  private static final int ITEM_OVERHEAD = 59;

  /**
   * Rejects a null value or one that cannot fit one item for a wire key of {@code wireKeyLength}
   * (the message names the caller's key and the sizes); returns the value.
   */
  public static byte[] checkValue(String key, byte[] value, int itemSizeMax, int wireKeyLength) {
    if (value == null) {
      throw new NullPointerException(
          "value must not be null (key=" + key + ")"); // built only on failure
    }
    int limit = maxValueSize(itemSizeMax, wireKeyLength);
    if (value.length > limit) {
      throw new io.thingdb.cache.ValueTooLargeException(key, value.length, limit);
    }
    return value;
  }

  /** Validates a server item size limit (memcached's {@code -I}): 1 KiB to 1 GiB. */
  public static int checkItemSizeMax(int bytes) {
    if (bytes < 1024 || bytes > 1 << 30) {
      throw new IllegalArgumentException(
          "itemSizeMax must be between 1024 and 1073741824 bytes: " + bytes);
    }
    return bytes;
  }

  /** The largest caller value (after our format byte) that fits one item for a wire key. */
  public static int maxValueSize(int itemSizeMax, int wireKeyLength) {
    return itemSizeMax - ITEM_OVERHEAD - wireKeyLength - 1;
  }
}

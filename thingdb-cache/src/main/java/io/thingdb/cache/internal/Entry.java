package io.thingdb.cache.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The encoding of {@code VersionedCache} entries inside a cache value. Layout (big-endian): kind (1
 * byte), version (8), soft expiry in epoch millis of the injected clock, 0 for none (8), last load
 * duration in millis (4), then the value bytes. Immutable.
 *
 * <p>The kind byte doubles as this layer's format byte: an unknown kind decodes to {@code null} and
 * is treated as replaceable, never misread.
 */
public final class Entry {
  /** Kind of an entry holding a value. */
  public static final byte VALUE = 0x10;

  /** Kind of a tombstone: refuses fills of older versions. */
  public static final byte TOMBSTONE = 0x11;

  /** Kind of a negative entry: the loader found no data. */
  public static final byte ABSENT = 0x12;

  /** The bytes before the value: kind, version, soft expiry, load millis. */
  public static final int HEADER = 1 + 8 + 8 + 4;

  public final byte kind;
  public final long version;
  public final long softExpiryMillis;
  public final int loadMillis;
  private final byte[] value;

  public Entry(byte kind, long version, long softExpiryMillis, int loadMillis, byte[] value) {
    this.kind = kind;
    this.version = version;
    this.softExpiryMillis = softExpiryMillis;
    this.loadMillis = loadMillis;
    this.value = value;
  }

  /** The value bytes (empty for tombstones and absent markers). Callers must not modify it. */
  public byte[] value() {
    return value;
  }

  public boolean isValue() {
    return kind == VALUE;
  }

  public boolean isTombstone() {
    return kind == TOMBSTONE;
  }

  public boolean isAbsent() {
    return kind == ABSENT;
  }

  /** True once the soft expiry has passed (never for entries without one). */
  public boolean expiredAt(long nowMillis) {
    return softExpiryMillis != 0 && nowMillis >= softExpiryMillis;
  }

  public byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(HEADER + value.length);
    b.put(kind).putLong(version).putLong(softExpiryMillis).putInt(loadMillis).put(value);
    return b.array();
  }

  /**
   * The kind of the entry stored in {@code length} bytes of {@code bytes} from {@code offset}, read
   * in place; 0 for an unknown kind or a truncated header (such an entry is never a value).
   */
  public static byte kindAt(byte[] bytes, int offset, int length) {
    if (length < HEADER) {
      return 0;
    }
    byte kind = bytes[offset];
    return kind == VALUE || kind == TOMBSTONE || kind == ABSENT ? kind : 0;
  }

  /** The version of the entry at {@code offset}, read in place; check {@link #kindAt} first. */
  public static long versionAt(byte[] bytes, int offset) {
    return bigEndian(bytes, offset + 1, 8);
  }

  /**
   * The soft expiry (0 for none) of the entry at {@code offset}, read in place; check {@link
   * #kindAt} first.
   */
  public static long softExpiryAt(byte[] bytes, int offset) {
    return bigEndian(bytes, offset + 9, 8);
  }

  /**
   * The last load duration of the entry at {@code offset}, read in place; check {@link #kindAt}
   * first.
   */
  public static int loadMillisAt(byte[] bytes, int offset) {
    return (int) bigEndian(bytes, offset + 17, 4);
  }

  private static long bigEndian(byte[] bytes, int from, int count) {
    long v = 0;
    for (int i = from; i < from + count; i++) {
      v = (v << 8) | (bytes[i] & 0xFF);
    }
    return v;
  }

  /** Decodes an entry, or returns null for bytes of an unknown kind or a truncated header. */
  public static Entry decode(byte[] bytes) {
    if (bytes == null || bytes.length < HEADER) {
      return null;
    }
    byte kind = bytes[0];
    if (kind != VALUE && kind != TOMBSTONE && kind != ABSENT) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(bytes);
    b.get();
    long version = b.getLong();
    long soft = b.getLong();
    int load = b.getInt();
    return new Entry(kind, version, soft, load, Arrays.copyOfRange(bytes, HEADER, bytes.length));
  }
}

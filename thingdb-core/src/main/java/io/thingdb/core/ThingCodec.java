package io.thingdb.core;

import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The cache encoding of a {@link Thing}: a format byte, the base columns, then each stored prop
 * as (name, kind code, text value). A prop whose kind in the cache differs from the declared one
 * (code changed under a running cache) makes the entry unreadable: it is treated as a miss.
 * Stateless.
 */
final class ThingCodec {
  private static final byte FORMAT = 1;

  private ThingCodec() {}

  static byte[] encode(Thing t) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + t.storedProps().size() * 32);
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeByte(FORMAT);
      out.writeLong(t.id());
      out.writeInt(t.ups());
      out.writeInt(t.downs());
      out.writeByte((t.deleted() ? 1 : 0) | (t.spam() ? 2 : 0));
      out.writeLong(micros(t.date()));
      out.writeLong(t.version());
      out.writeInt(t.storedProps().size());
      for (Map.Entry<String, Object> e : t.storedProps().entrySet()) {
        PropKind kind = t.type().prop(e.getKey()).kind();
        out.writeUTF(e.getKey());
        out.writeByte(kind.code());
        writeLongString(out, kind.encode(e.getValue()));
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Whether {@code encoded} fits in one cache item under {@code key}, with VersionedCache's entry
   * header in front. A thing that does not (a prop of a megabyte) is stored and read like any
   * other but served from the database: the cache refuses it with ValueTooLargeException, which
   * used to escape from writes that had already committed and from every read of the thing.
   */
  static boolean fits(VersionedCache cache, String key, byte[] encoded) {
    return encoded.length <= cache.maxValueSize(key);
  }

  /** The cache fills for {@code things}, leaving out those too large for one item. */
  static Map<String, Versioned> fills(ThingDb db, Collection<Thing> things) {
    Map<String, Versioned> fills = new LinkedHashMap<>(things.size() * 2);
    for (Thing t : things) {
      String key = db.cacheKey(t);
      byte[] bytes = encode(t);
      if (fits(db.cache, key, bytes)) {
        fills.put(key, new Versioned(bytes, t.version()));
      }
    }
    return fills;
  }

  /**
   * A writer's publish of {@code t}; a thing too large for one item is invalidated at its version
   * instead, so that no older, smaller copy stays cached.
   */
  static Result publish(VersionedCache cache, String key, Thing t, Duration ttl) {
    byte[] bytes = encode(t);
    return fits(cache, key, bytes) ? cache.publish(key, bytes, t.version(), ttl) : cache.invalidate(key, t.version());
  }

  /** Decodes, or returns null if the bytes are of another format or disagree with the type. */
  static Thing decode(ThingType type, int typeId, byte[] data) {
    return decode(new Names(type), typeId, data, 0, data.length);
  }

  /** The fixed part of the encoding: format, id, ups, downs, flags, date, version, prop count. */
  private static final int FIXED = 1 + 8 + 4 + 4 + 1 + 8 + 8 + 4;
  private static final int UPS_AT = 9;
  private static final int DOWNS_AT = 13;
  private static final int VERSION_AT = 26;

  /**
   * Decodes the {@code length} bytes of {@code b} from {@code offset} in place, or returns null if
   * they are of another format, truncated, or disagree with the type. Reads the layout {@link
   * #encode} writes without a stream: prop names are matched against the type's declared names as
   * bytes (no String per name), and each value becomes one String straight from the buffer.
   */
  static Thing decode(Names names, int typeId, byte[] b, int offset, int length) {
    try {
      int end = offset + length;
      if (length < FIXED || b[offset] != FORMAT || end > b.length) {
        return null;
      }
      long id = getLong(b, offset + 1);
      int ups = getInt(b, offset + UPS_AT);
      int downs = getInt(b, offset + DOWNS_AT);
      int flags = b[offset + 17];
      Instant date = fromMicros(getLong(b, offset + 18));
      long version = getLong(b, offset + VERSION_AT);
      int n = getInt(b, offset + 34);
      if (n < 0 || n > length) {
        return null;
      }
      int p = offset + FIXED;
      PropMap props = new PropMap(n);
      for (int i = 0; i < n; i++) {
        if (p + 2 > end) {
          return null;
        }
        int nameLength = (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
        p += 2;
        if (p + nameLength + 5 > end) {
          return null;
        }
        Prop<?> prop = names.find(b, p, nameLength);
        p += nameLength;
        char code = (char) b[p];
        int valueLength = getInt(b, p + 1);
        p += 5;
        if (valueLength < 0 || valueLength > end - p) {
          return null;
        }
        if (prop != null) { // else no longer declared: ignored, as when loading from the database
          PropKind kind = prop.kind();
          if (kind.code() != code || !props.add(prop.name(), value(kind, b, p, valueLength))) {
            return null; // another kind now, or a name twice: not an entry this codec wrote
          }
        }
        p += valueLength;
      }
      return new Thing(names.type, typeId, id, ups, downs, (flags & 1) != 0, (flags & 2) != 0, date, version, props);
    } catch (RuntimeException e) {
      return null; // a value that does not parse as its kind: unreadable, a miss
    }
  }

  /**
   * A stored value's text, parsed straight from the buffer for the kinds a thing has most (no
   * String for a number or a flag); the others through {@link PropKind#decode}. Throws for text
   * that is not of the kind (the caller makes that a miss). The encoder writes {@link
   * Long#toString} and {@link Boolean#toString}, which is all this accepts for those kinds.
   */
  private static Object value(PropKind kind, byte[] b, int p, int n) {
    switch (kind) {
      case STRING:
        return new String(b, p, n, StandardCharsets.UTF_8);
      case LONG:
        return parseLong(b, p, n);
      case BOOLEAN:
        if (n == 4 && b[p] == 't' && b[p + 1] == 'r' && b[p + 2] == 'u' && b[p + 3] == 'e') {
          return Boolean.TRUE;
        }
        if (n == 5 && b[p] == 'f' && b[p + 1] == 'a' && b[p + 2] == 'l' && b[p + 3] == 's' && b[p + 4] == 'e') {
          return Boolean.FALSE;
        }
        throw new IllegalArgumentException("not a boolean");
      default:
        return kind.decode(new String(b, p, n, StandardCharsets.UTF_8));
    }
  }

  /** {@link Long#parseLong} of ASCII digits with an optional minus, accumulated negatively as it does. */
  static long parseLong(byte[] b, int p, int n) {
    boolean negative = n > 0 && b[p] == '-';
    int i = negative ? 1 : 0;
    if (i == n) {
      throw new NumberFormatException("no digits");
    }
    long r = 0;
    for (; i < n; i++) {
      int d = b[p + i] - '0';
      if (d < 0 || d > 9) {
        throw new NumberFormatException("not a digit");
      }
      r = Math.subtractExact(Math.multiplyExact(r, 10), d);
    }
    return negative ? r : Math.negateExact(r);
  }

  /**
   * The encoding of thing {@code id} at {@code version} with new vote counts, made from the
   * cached encoding of {@code version - 1} (the {@code length} bytes of {@code b} from {@code
   * offset}) by rewriting the counters and the version in a copy; or null if those bytes are not
   * that thing at that version. An increment changes nothing else, so nothing else is decoded.
   */
  static byte[] withCounters(byte[] b, int offset, int length, long id, int ups, int downs, long version) {
    if (length < FIXED || b[offset] != FORMAT || getLong(b, offset + 1) != id
        || getLong(b, offset + VERSION_AT) != version - 1) {
      return null;
    }
    byte[] out = Arrays.copyOfRange(b, offset, offset + length);
    putInt(out, UPS_AT, ups);
    putInt(out, DOWNS_AT, downs);
    putLong(out, VERSION_AT, version);
    return out;
  }

  private static long getLong(byte[] b, int at) {
    return (long) getInt(b, at) << 32 | (getInt(b, at + 4) & 0xFFFFFFFFL);
  }

  private static int getInt(byte[] b, int at) {
    return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | (b[at + 3] & 0xFF);
  }

  private static void putInt(byte[] b, int at, int v) {
    b[at] = (byte) (v >>> 24);
    b[at + 1] = (byte) (v >>> 16);
    b[at + 2] = (byte) (v >>> 8);
    b[at + 3] = (byte) v;
  }

  private static void putLong(byte[] b, int at, long v) {
    putInt(b, at, (int) (v >>> 32));
    putInt(b, at + 4, (int) v);
  }

  /**
   * A type's declared props with their names as {@link DataOutputStream#writeUTF} encodes them
   * (modified UTF-8), so that the decoder finds a stored prop's declaration by comparing bytes.
   * Immutable.
   */
  static final class Names {
    final ThingType type;
    private final Prop<?>[] props;
    private final byte[][] encoded;

    Names(ThingType type) {
      this.type = type;
      this.props = type.props().toArray(new Prop<?>[0]);
      this.encoded = new byte[props.length][];
      for (int i = 0; i < props.length; i++) {
        try {
          ByteArrayOutputStream bytes = new ByteArrayOutputStream();
          new DataOutputStream(bytes).writeUTF(props[i].name());
          byte[] withLength = bytes.toByteArray();
          encoded[i] = Arrays.copyOfRange(withLength, 2, withLength.length);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    }

    /** The declared prop whose encoded name is those bytes, or null. */
    Prop<?> find(byte[] b, int offset, int length) {
      for (int i = 0; i < encoded.length; i++) {
        byte[] name = encoded[i];
        if (name.length == length && Arrays.equals(b, offset, offset + length, name, 0, length)) {
          return props[i];
        }
      }
      return null;
    }
  }

  private static void writeLongString(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  static long micros(Instant i) {
    return Math.addExact(Math.multiplyExact(i.getEpochSecond(), 1_000_000L), i.getNano() / 1_000);
  }

  static Instant fromMicros(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }
}

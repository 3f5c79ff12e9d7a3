package io.thingdb.core;

import static io.thingdb.core.EntityCodec.getInt;
import static io.thingdb.core.EntityCodec.getLong;
import static io.thingdb.core.EntityCodec.putInt;
import static io.thingdb.core.EntityCodec.putLong;

import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The cache encoding of a {@link Thing}: a format byte, then the thing in {@link EntityCodec}'s
 * framing (id; a thing's own fields ups, downs and a flags byte; date, version, props). A prop
 * whose kind in the cache differs from the declared one (code changed under a running cache) makes
 * the entry unreadable: it is treated as a miss. Stateless.
 */
final class ThingCodec {
  private static final byte FORMAT = 1;
  private static final int ID_AT = 1;
  private static final int UPS_AT = ID_AT + 8;
  private static final int DOWNS_AT = UPS_AT + 4;
  private static final int FLAGS_AT = DOWNS_AT + 4;

  /** Where the shared tail starts: date, version, prop count, props. */
  private static final int DATE_AT = FLAGS_AT + 1;

  private static final int VERSION_AT = DATE_AT + 8;
  private static final int COUNT_AT = VERSION_AT + 8;

  /** Everything before the props. */
  private static final int FIXED = DATE_AT + EntityCodec.TAIL;

  private ThingCodec() {}

  static byte[] encode(Thing t) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + t.storedProps().size() * 32);
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeByte(FORMAT);
      EntityCodec.write(
          out,
          t,
          own -> {
            own.writeInt(t.ups());
            own.writeInt(t.downs());
            own.writeByte((t.deleted() ? 1 : 0) | (t.spam() ? 2 : 0));
          });
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Whether {@code encoded} fits in one cache item under {@code key}, with VersionedCache's entry
   * header in front. A thing that does not (a prop of a megabyte) is stored and read like any other
   * but served from the database: the cache refuses it with ValueTooLargeException, which used to
   * escape from writes that had already committed and from every read of the thing.
   */
  static boolean fits(VersionedCache cache, String key, byte[] encoded) {
    return encoded.length <= cache.maxValueSize(key);
  }

  /**
   * The cache fills for {@code things} under {@code epoch}, leaving out those too large for one
   * item.
   */
  static Map<String, Versioned> fills(VersionedCache cache, Epoch epoch, Collection<Thing> things) {
    Map<String, Versioned> fills = new LinkedHashMap<>(things.size() * 2);
    for (Thing t : things) {
      String key = TypeHandle.cacheKey(epoch, t);
      byte[] bytes = encode(t);
      if (fits(cache, key, bytes)) {
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
    return fits(cache, key, bytes)
        ? cache.publish(key, bytes, t.version(), ttl)
        : cache.invalidate(key, t.version());
  }

  /** Decodes, or returns null if the bytes are of another format or disagree with the type. */
  static Thing decode(ThingType type, int typeId, byte[] data) {
    return decode(new Names(type), typeId, data, 0, data.length);
  }

  /**
   * Decodes the {@code length} bytes of {@code b} from {@code offset} in place, or returns null if
   * they are of another format, truncated, or disagree with the type. Reads the layout {@link
   * #encode} writes without a stream (see {@link EntityCodec#readProps}).
   */
  static Thing decode(Names names, int typeId, byte[] b, int offset, int length) {
    try {
      int end = offset + length;
      if (length < FIXED || b[offset] != FORMAT || end > b.length) {
        return null;
      }
      long id = getLong(b, offset + ID_AT);
      int ups = getInt(b, offset + UPS_AT);
      int downs = getInt(b, offset + DOWNS_AT);
      int flags = b[offset + FLAGS_AT];
      Instant date = EntityCodec.fromMicros(getLong(b, offset + DATE_AT));
      long version = getLong(b, offset + VERSION_AT);
      int n = getInt(b, offset + COUNT_AT);
      int p = offset + FIXED;
      if (n < 0 || n > end - p) {
        return null;
      }
      PropMap props = new PropMap(n);
      if (EntityCodec.readProps(names, b, p, end, n, props) < 0) {
        return null;
      }
      return new Thing(
          names.type,
          typeId,
          id,
          ups,
          downs,
          (flags & 1) != 0,
          (flags & 2) != 0,
          date,
          version,
          props);
    } catch (RuntimeException e) {
      return null; // a value that does not parse as its kind: unreadable, a miss
    }
  }

  /**
   * The encoding of thing {@code id} at {@code version} with new vote counts, made from the cached
   * encoding of {@code version - 1} (the {@code length} bytes of {@code b} from {@code offset}) by
   * rewriting the counters and the version in a copy; or null if those bytes are not that thing at
   * that version. An increment changes nothing else, so nothing else is decoded.
   */
  static byte[] withCounters(
      byte[] b, int offset, int length, long id, int ups, int downs, long version) {
    if (length < FIXED
        || b[offset] != FORMAT
        || getLong(b, offset + ID_AT) != id
        || getLong(b, offset + VERSION_AT) != version - 1) {
      return null;
    }
    byte[] out = Arrays.copyOfRange(b, offset, offset + length);
    putInt(out, UPS_AT, ups);
    putInt(out, DOWNS_AT, downs);
    putLong(out, VERSION_AT, version);
    return out;
  }

  /**
   * {@link EntityCodec.Names} of a thing type; the read path keeps one per registered type.
   * Immutable.
   */
  static final class Names extends EntityCodec.Names<ThingType> {
    Names(ThingType type) {
      super(type);
    }
  }
}

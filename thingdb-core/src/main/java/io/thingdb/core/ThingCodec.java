package io.thingdb.core;

import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.cache.VersionedCache.Versioned;
import io.thingdb.cache.internal.Entry;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
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
    return encoded.length + Entry.HEADER <= cache.cache().maxValueSize(key);
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
    try {
      DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(data));
      if (in.readByte() != FORMAT) {
        return null;
      }
      long id = in.readLong();
      int ups = in.readInt();
      int downs = in.readInt();
      int flags = in.readByte();
      Instant date = fromMicros(in.readLong());
      long version = in.readLong();
      int n = in.readInt();
      Map<String, Object> props = new LinkedHashMap<>();
      for (int i = 0; i < n; i++) {
        String name = in.readUTF();
        char code = (char) in.readByte();
        String text = readLongString(in);
        if (!type.hasProp(name)) {
          continue; // no longer declared: ignored, as when loading from the database
        }
        PropKind kind = type.prop(name).kind();
        if (kind.code() != code) {
          return null;
        }
        props.put(name, kind.decode(text));
      }
      return new Thing(type, typeId, id, ups, downs, (flags & 1) != 0, (flags & 2) != 0, date, version, props);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static void writeLongString(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  private static String readLongString(DataInputStream in) throws IOException {
    byte[] b = new byte[in.readInt()];
    in.readFully(b);
    return new String(b, java.nio.charset.StandardCharsets.UTF_8);
  }

  static long micros(Instant i) {
    return Math.addExact(Math.multiplyExact(i.getEpochSecond(), 1_000_000L), i.getNano() / 1_000);
  }

  static Instant fromMicros(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }
}

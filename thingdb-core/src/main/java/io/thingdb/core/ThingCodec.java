package io.thingdb.core;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
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

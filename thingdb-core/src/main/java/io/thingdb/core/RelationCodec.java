package io.thingdb.core;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The cache encoding of the relations of one (thing1, thing2) pair: a format byte, the pair, the
 * count, then each relation (id, name, date, version, stored props as name, kind code, text). An
 * empty list is a cached negative answer. Bytes that are of another format, name another pair or
 * hold a prop whose declared kind changed decode to null: a miss. Stateless.
 */
final class RelationCodec {
  private static final byte FORMAT = 1;

  private RelationCodec() {}

  static byte[] encode(long thing1Id, long thing2Id, List<Relation> relations) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(24 + relations.size() * 64);
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeByte(FORMAT);
      out.writeLong(thing1Id);
      out.writeLong(thing2Id);
      out.writeInt(relations.size());
      for (Relation r : relations) {
        out.writeLong(r.id());
        out.writeUTF(r.name());
        out.writeLong(ThingCodec.micros(r.date()));
        out.writeLong(r.version());
        out.writeInt(r.storedProps().size());
        for (Map.Entry<String, Object> e : r.storedProps().entrySet()) {
          PropKind kind = r.type().prop(e.getKey()).kind();
          out.writeUTF(e.getKey());
          out.writeByte(kind.code());
          byte[] text = kind.encode(e.getValue()).getBytes(StandardCharsets.UTF_8);
          out.writeInt(text.length);
          out.write(text);
        }
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The relations of the pair, or null if the bytes are unreadable or name another pair. */
  static List<Relation> decode(RelationHandle h, long thing1Id, long thing2Id, byte[] data) {
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
      if (in.readByte() != FORMAT || in.readLong() != thing1Id || in.readLong() != thing2Id) {
        return null;
      }
      int n = in.readInt();
      List<Relation> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        long id = in.readLong();
        String name = in.readUTF();
        java.time.Instant date = ThingCodec.fromMicros(in.readLong());
        long version = in.readLong();
        int propCount = in.readInt();
        Map<String, Object> props = new LinkedHashMap<>();
        for (int p = 0; p < propCount; p++) {
          String key = in.readUTF();
          char code = (char) in.readByte();
          byte[] text = new byte[in.readInt()];
          in.readFully(text);
          if (!h.type.hasProp(key)) {
            continue; // no longer declared: ignored, as when loading from the database
          }
          PropKind kind = h.type.prop(key).kind();
          if (kind.code() != code) {
            return null;
          }
          props.put(key, kind.decode(new String(text, StandardCharsets.UTF_8)));
        }
        out.add(new Relation(h.type, h.id, id, thing1Id, thing2Id, name, date, version, props));
      }
      return out;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}

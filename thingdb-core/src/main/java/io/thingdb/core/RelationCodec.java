package io.thingdb.core;

import static io.thingdb.core.EntityCodec.getInt;
import static io.thingdb.core.EntityCodec.getLong;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The cache encoding of the relations of one (thing1, thing2) pair: a format byte, the pair, the
 * count, then each relation in {@link EntityCodec}'s framing (id; a relation's own field, its name,
 * as {@link DataOutputStream#writeUTF}; date, version, props). An empty list is a cached negative
 * answer. Bytes that are of another format, name another pair, are truncated or hold a prop whose
 * declared kind changed decode to null: a miss. Stateless.
 */
final class RelationCodec {
  private static final byte FORMAT = 1;

  /** Format, thing1 id, thing2 id, relation count. */
  private static final int HEADER = 1 + 8 + 8 + 4;

  /** The fewest bytes one relation takes: id, name length, the tail; no name, no props. */
  private static final int SMALLEST = 8 + 2 + EntityCodec.TAIL;

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
        EntityCodec.write(out, r, own -> own.writeUTF(r.name()));
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The relations of the pair, or null if the bytes are unreadable or name another pair. Reads in
   * place, like {@link ThingCodec#decode(ThingCodec.Names, int, byte[], int, int)}.
   */
  static List<Relation> decode(RelationHandle h, long thing1Id, long thing2Id, byte[] data) {
    try {
      int end = data.length;
      if (end < HEADER
          || data[0] != FORMAT
          || getLong(data, 1) != thing1Id
          || getLong(data, 9) != thing2Id) {
        return null;
      }
      int n = getInt(data, 17);
      if (n < 0 || n > (end - HEADER) / SMALLEST) {
        return null;
      }
      List<Relation> out = new ArrayList<>(n);
      int p = HEADER;
      for (int i = 0; i < n; i++) {
        if (p + 10 > end) {
          return null;
        }
        long id = getLong(data, p);
        int nameLength = (data[p + 8] & 0xFF) << 8 | (data[p + 9] & 0xFF);
        p += 10;
        if (p + nameLength + EntityCodec.TAIL > end) {
          return null;
        }
        String name = name(data, p, nameLength);
        p += nameLength;
        Instant date = EntityCodec.fromMicros(getLong(data, p));
        long version = getLong(data, p + 8);
        int count = getInt(data, p + 16);
        p += EntityCodec.TAIL;
        if (count < 0 || count > end - p) {
          return null;
        }
        PropMap props = new PropMap(count);
        p = EntityCodec.readProps(h.names, data, p, end, count, props);
        if (p < 0) {
          return null;
        }
        out.add(new Relation(h.type, h.id, id, thing1Id, thing2Id, name, date, version, props));
      }
      return out;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * The name {@link DataOutputStream#writeUTF} wrote as the {@code n} bytes at {@code p} (its
   * length is in the two bytes before). A vote's name is ASCII ("1", "-1"), read straight from the
   * buffer; anything else goes through {@link DataInputStream#readUTF}, the only decoder of
   * modified UTF-8 (NUL and non-BMP characters are encoded differently from UTF-8).
   */
  private static String name(byte[] b, int p, int n) throws IOException {
    for (int i = p; i < p + n; i++) {
      if (b[i] < 0) {
        return new DataInputStream(new ByteArrayInputStream(b, p - 2, n + 2)).readUTF();
      }
    }
    return new String(b, p, n, StandardCharsets.ISO_8859_1);
  }
}

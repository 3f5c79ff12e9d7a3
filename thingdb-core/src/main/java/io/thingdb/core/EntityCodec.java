package io.thingdb.core;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;

/**
 * The framing the cache encodings of a {@link Thing} ({@link ThingCodec}) and of a pair's {@link
 * Relation}s ({@link RelationCodec}) share. Each entity is written as
 *
 * <pre>
 *   id                 long
 *   own fields         what only its class has: a thing's votes and flags, a relation's name
 *   date               long, microseconds since the epoch
 *   version            long
 *   prop count         int
 *   per stored prop:   name (DataOutputStream.writeUTF), kind code (byte), value text (int length, UTF-8)
 * </pre>
 *
 * and read in place, without a stream: prop names are matched against the type's declared names as
 * bytes ({@link Names}), and each value becomes one object straight from the buffer. A prop no
 * longer declared is skipped (as when loading from the database); a prop whose kind changed, a prop
 * named twice or a value that does not parse makes the whole entry unreadable: a miss. Stateless.
 */
final class EntityCodec {
  /** The bytes between the own fields and the props: date, version, prop count. */
  static final int TAIL = 8 + 8 + 4;

  private EntityCodec() {}

  /** Writes an entity's own fields, between its id and its date. */
  @FunctionalInterface
  interface OwnFields {
    void write(DataOutputStream out) throws IOException;
  }

  /**
   * Writes {@code e} in the layout above, with {@code own} writing the fields only its class has.
   */
  static void write(DataOutputStream out, Entity<?> e, OwnFields own) throws IOException {
    out.writeLong(e.id());
    own.write(out);
    out.writeLong(micros(e.date()));
    out.writeLong(e.version());
    Map<String, Object> props = e.storedProps();
    out.writeInt(props.size());
    for (Map.Entry<String, Object> p : props.entrySet()) {
      PropKind kind = e.type().prop(p.getKey()).kind();
      out.writeUTF(p.getKey());
      out.writeByte(kind.code());
      byte[] text = kind.encode(p.getValue()).getBytes(StandardCharsets.UTF_8);
      out.writeInt(text.length);
      out.write(text);
    }
  }

  /**
   * Reads the {@code n} props that start at {@code p} into {@code into} and returns the position
   * after them, or -1 if they run past {@code end}, name a prop twice or hold a declared prop under
   * another kind. Throws for a value that does not parse as its kind; the decoders catch that and
   * treat the entry as a miss.
   */
  static int readProps(Names<?> names, byte[] b, int p, int end, int n, PropMap into) {
    for (int i = 0; i < n; i++) {
      if (p + 2 > end) {
        return -1;
      }
      int nameLength = (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
      p += 2;
      if (p + nameLength + 5 > end) {
        return -1;
      }
      Prop<?> prop = names.find(b, p, nameLength);
      p += nameLength;
      char code = (char) b[p];
      int valueLength = getInt(b, p + 1);
      p += 5;
      if (valueLength < 0 || valueLength > end - p) {
        return -1;
      }
      if (prop != null) { // else no longer declared: ignored, as when loading from the database
        PropKind kind = prop.kind();
        if (kind.code() != code || !into.add(prop.name(), value(kind, b, p, valueLength))) {
          return -1; // another kind now, or a name twice: not an entry this codec wrote
        }
      }
      p += valueLength;
    }
    return p;
  }

  /**
   * A stored value's text, parsed straight from the buffer for the kinds an entity has most (no
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
        if (n == 5
            && b[p] == 'f'
            && b[p + 1] == 'a'
            && b[p + 2] == 'l'
            && b[p + 3] == 's'
            && b[p + 4] == 'e') {
          return Boolean.FALSE;
        }
        throw new IllegalArgumentException("not a boolean");
      default:
        return kind.decode(new String(b, p, n, StandardCharsets.UTF_8));
    }
  }

  /**
   * {@link Long#parseLong} of ASCII digits with an optional minus, accumulated negatively as it
   * does.
   */
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

  static long getLong(byte[] b, int at) {
    return (long) getInt(b, at) << 32 | (getInt(b, at + 4) & 0xFFFFFFFFL);
  }

  static int getInt(byte[] b, int at) {
    return (b[at] & 0xFF) << 24
        | (b[at + 1] & 0xFF) << 16
        | (b[at + 2] & 0xFF) << 8
        | (b[at + 3] & 0xFF);
  }

  static void putInt(byte[] b, int at, int v) {
    b[at] = (byte) (v >>> 24);
    b[at + 1] = (byte) (v >>> 16);
    b[at + 2] = (byte) (v >>> 8);
    b[at + 3] = (byte) v;
  }

  static void putLong(byte[] b, int at, long v) {
    putInt(b, at, (int) (v >>> 32));
    putInt(b, at + 4, (int) v);
  }

  static long micros(Instant i) {
    return Math.addExact(Math.multiplyExact(i.getEpochSecond(), 1_000_000L), i.getNano() / 1_000);
  }

  static Instant fromMicros(long micros) {
    return Instant.ofEpochSecond(
        Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }

  /**
   * A type's declared props with their names as {@link DataOutputStream#writeUTF} encodes them
   * (modified UTF-8), so that the decoder finds a stored prop's declaration by comparing bytes.
   * Immutable.
   *
   * @param <T> the type's class
   */
  static class Names<T extends EntityType> {
    final T type;
    private final Prop<?>[] props;
    private final byte[][] encoded;

    Names(T type) {
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
    final Prop<?> find(byte[] b, int offset, int length) {
      for (int i = 0; i < encoded.length; i++) {
        byte[] name = encoded[i];
        if (name.length == length && Arrays.equals(b, offset, offset + length, name, 0, length)) {
          return props[i];
        }
      }
      return null;
    }
  }
}

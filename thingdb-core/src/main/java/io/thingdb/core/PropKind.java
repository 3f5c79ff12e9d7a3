package io.thingdb.core;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;

/**
 * The value kinds a {@link Prop} can have, with their text encoding in the {@code data_*} tables.
 * The one-letter code is stored with every value and in the prop registry.
 */
public enum PropKind {
  /** {@link String}; must not contain NUL characters (PostgreSQL text cannot store them). */
  STRING('s', String.class),
  /** {@link Long}. */
  LONG('l', Long.class),
  /** {@link Double}; stored with {@link Double#toString}, which round-trips exactly. */
  DOUBLE('d', Double.class),
  /** {@link Boolean}. */
  BOOLEAN('b', Boolean.class),
  /** {@link Instant}, truncated to microseconds like {@code timestamptz}. */
  INSTANT('i', Instant.class),
  /** {@code byte[]}, stored as base64. */
  BYTES('x', byte[].class);

  private final char code;
  private final Class<?> javaType;

  PropKind(char code, Class<?> javaType) {
    this.code = code;
    this.javaType = javaType;
  }

  /** The code stored in the database. */
  public char code() {
    return code;
  }

  /** The Java type of values of this kind. */
  public Class<?> javaType() {
    return javaType;
  }

  /** The kind with {@code code}. */
  public static PropKind ofCode(char code) {
    for (PropKind k : values()) {
      if (k.code == code) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown prop kind code: '" + code + "'");
  }

  /** Normalises a value of this kind (instants are truncated to microseconds). */
  Object normalize(Object value) {
    if (this == INSTANT) {
      return ((Instant) value).truncatedTo(ChronoUnit.MICROS);
    }
    if (this == BYTES) {
      return ((byte[]) value).clone();
    }
    return value;
  }

  /** The stored text of a value. */
  public String encode(Object value) {
    switch (this) {
      case STRING:
        return (String) value;
      case LONG:
      case BOOLEAN:
        return value.toString();
      case DOUBLE:
        return Double.toString((Double) value);
      case INSTANT:
        Instant i = (Instant) value;
        return Long.toString(
            Math.addExact(Math.multiplyExact(i.getEpochSecond(), 1_000_000L), i.getNano() / 1_000));
      case BYTES:
        return Base64.getEncoder().encodeToString((byte[]) value);
      default:
        throw new AssertionError(this);
    }
  }

  /** Parses stored text. */
  public Object decode(String text) {
    switch (this) {
      case STRING:
        return text;
      case LONG:
        return Long.parseLong(text);
      case DOUBLE:
        return Double.parseDouble(text);
      case BOOLEAN:
        return Boolean.parseBoolean(text);
      case INSTANT:
        long micros = Long.parseLong(text);
        return Instant.ofEpochSecond(
            Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
      case BYTES:
        return Base64.getDecoder().decode(text);
      default:
        throw new AssertionError(this);
    }
  }
}

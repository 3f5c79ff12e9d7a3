package io.thingdb.core;

import java.time.Instant;
import java.util.Arrays;
import java.util.Objects;

/**
 * A typed property key of a thing or relation type, with its kind and default. A thing stores a row
 * for a prop only when its value differs from the default, so adding a prop to a type needs no DDL.
 * Prop names are data, not SQL: any non-empty string of at most 200 characters without NUL or
 * unpaired surrogates works. String values must not contain NUL or unpaired surrogates either.
 * Immutable and thread-safe.
 *
 * @param <T> the Java type of the value
 */
public final class Prop<T> {
  private final String name;
  private final PropKind kind;
  private final T defaultValue;

  private Prop(String name, PropKind kind, T defaultValue) {
    this.name = checkName(name);
    this.kind = kind;
    Objects.requireNonNull(defaultValue, () -> "default of prop '" + name + "' must not be null");
    @SuppressWarnings("unchecked")
    T normalized = (T) kind.normalize(checkValue(kind, name, defaultValue));
    this.defaultValue = normalized;
  }

  static String checkName(String name) {
    Objects.requireNonNull(name, "prop name must not be null");
    if (name.isEmpty() || name.length() > 200 || name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException(
          "prop name must be 1 to 200 characters without NUL: '" + name.replace("\0", "\\0") + "'");
    }
    int at = unpairedSurrogate(name);
    if (at >= 0) {
      throw new IllegalArgumentException(
          "prop name has an unpaired surrogate at index "
              + at
              + " (half of a character outside the Basic Multilingual Plane; UTF-8 cannot store"
              + " it): '"
              + escape(name)
              + "'");
    }
    return name;
  }

  /**
   * The index of the first char of {@code s} that is half of a surrogate pair without its other
   * half, or -1: such a string is not Unicode text, and encoding it as UTF-8 (for PostgreSQL or the
   * cache) would silently replace that char with '?'.
   */
  static int unpairedSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return i;
      }
    }
    return -1;
  }

  /** {@code s} with surrogates and NUL as Java escapes, cut to 100 chars, for messages. */
  private static String escape(String s) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < s.length() && out.length() < 100; i++) {
      char c = s.charAt(i);
      out.append(
          Character.isSurrogate(c) || c == 0
              ? String.format("\\u%04X", (int) c)
              : String.valueOf(c));
    }
    return out.length() < 100 ? out.toString() : out + "...";
  }

  static Object checkValue(PropKind kind, String name, Object value) {
    if (!kind.javaType().isInstance(value)) {
      throw new IllegalArgumentException(
          "prop '"
              + name
              + "' is "
              + kind
              + " but the value is a "
              + value.getClass().getSimpleName()
              + ": "
              + value);
    }
    if (kind == PropKind.STRING && ((String) value).indexOf('\0') >= 0) {
      throw new IllegalArgumentException(
          "prop '"
              + name
              + "': strings must not contain NUL characters (PostgreSQL text cannot store them)");
    }
    if (kind == PropKind.STRING) {
      int at = unpairedSurrogate((String) value);
      if (at >= 0) {
        throw new IllegalArgumentException(
            "prop '"
                + name
                + "': the string has an unpaired surrogate at index "
                + at
                + " (half of a character outside the Basic Multilingual Plane, e.g. from cutting"
                + " an emoji in two); UTF-8 cannot store it: '"
                + escape((String) value)
                + "'");
      }
    }
    if (kind == PropKind.DOUBLE && !Double.isFinite((Double) value)) {
      throw new IllegalArgumentException("prop '" + name + "': doubles must be finite: " + value);
    }
    return value;
  }

  /**
   * Checks that {@code prop} is the prop {@code type} (a thing or relation type) declares. When
   * only the name matches (a {@code Prop} made elsewhere with another kind or default), says so,
   * rather than calling a declared prop unknown.
   */
  static void checkDeclaredOn(EntityType type, Prop<?> prop) {
    Objects.requireNonNull(prop, "prop must not be null");
    if (type.hasProp(prop.name())) {
      Prop<?> declared = type.prop(prop.name());
      if (!declared.equals(prop)) {
        throw new IllegalArgumentException(
            "prop '"
                + prop.name()
                + "' of "
                + type.noun()
                + " "
                + type.name()
                + " is declared as "
                + declared.kind()
                + " with default '"
                + declared.kind().encode(declared.defaultValue)
                + "', but was used as "
                + prop.kind()
                + " with default '"
                + prop.kind().encode(prop.defaultValue)
                + "': use the Prop the type was declared with");
      }
    }
    type.check(prop);
  }

  /** A string prop. */
  public static Prop<String> string(String name, String defaultValue) {
    return new Prop<>(name, PropKind.STRING, defaultValue);
  }

  /** A long prop (atomically incrementable). */
  public static Prop<Long> int64(String name, long defaultValue) {
    return new Prop<>(name, PropKind.LONG, defaultValue);
  }

  /** A double prop (atomically incrementable). */
  public static Prop<Double> float64(String name, double defaultValue) {
    return new Prop<>(name, PropKind.DOUBLE, defaultValue);
  }

  /** A boolean prop. */
  public static Prop<Boolean> bool(String name, boolean defaultValue) {
    return new Prop<>(name, PropKind.BOOLEAN, defaultValue);
  }

  /** An instant prop, truncated to microseconds. */
  public static Prop<Instant> instant(String name, Instant defaultValue) {
    return new Prop<>(name, PropKind.INSTANT, defaultValue);
  }

  /** A bytes prop. */
  public static Prop<byte[]> bytes(String name, byte[] defaultValue) {
    return new Prop<>(name, PropKind.BYTES, defaultValue);
  }

  /** The name. */
  public String name() {
    return name;
  }

  /** The kind. */
  public PropKind kind() {
    return kind;
  }

  /** The default value (a copy for bytes). */
  @SuppressWarnings("unchecked")
  public T defaultValue() {
    return kind == PropKind.BYTES ? (T) ((byte[]) defaultValue).clone() : defaultValue;
  }

  /** Validates and normalises a value for this prop. */
  Object accept(Object value) {
    Objects.requireNonNull(value, () -> "value of prop '" + name + "' must not be null");
    return kind.normalize(checkValue(kind, name, value));
  }

  /** True if {@code value} equals the default (bytes by content). */
  boolean isDefault(Object value) {
    return valueEquals(kind, value, defaultValue);
  }

  static boolean valueEquals(PropKind kind, Object a, Object b) {
    if (kind == PropKind.BYTES) {
      return Arrays.equals((byte[]) a, (byte[]) b);
    }
    return Objects.equals(a, b);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Prop<?> p
        && p.name.equals(name)
        && p.kind == kind
        && valueEquals(kind, p.defaultValue, defaultValue);
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + kind.hashCode();
  }

  @Override
  public String toString() {
    return name + ":" + kind;
  }
}

package io.thingdb.core;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What a {@link ThingType} and a {@link RelationType} share: a checked name (it becomes table
 * names), the props declared in code, in order, and the prop checks every read and write makes. The
 * subclasses add what only they have (a relation type's endpoint types) and the {@link #noun} their
 * messages use ("type link", "relation type vote"). Immutable and thread-safe.
 *
 * <p>The public methods here and in {@link PropsBuilder} are public API of the subclasses and are
 * deliberately not {@code final}: javac gives a public class a public bridge for each public method
 * it inherits from a package-private class only when that method is not final, and without the
 * bridge reflection from another package (a template engine, an assertion library) cannot call it.
 */
abstract sealed class EntityType permits ThingType, RelationType {
  static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]{0,39}");

  private final String noun;
  private final String name;
  private final Map<String, Prop<?>> props;

  EntityType(String noun, String name, Map<String, Prop<?>> props) {
    this.noun = noun;
    this.name = name;
    this.props = Collections.unmodifiableMap(new LinkedHashMap<>(props));
  }

  /** Checks a name that becomes part of SQL identifiers; {@code what} names it in the message. */
  static String checkName(String what, String name) {
    Objects.requireNonNull(name, what + " name must not be null");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          what + " name must match [a-z][a-z0-9_]{0,39}: '" + name + "'");
    }
    return name;
  }

  /** "type" or "relation type": how messages name this kind of type. */
  final String noun() {
    return noun;
  }

  /** The name. */
  public String name() {
    return name;
  }

  /** The declared props, in declaration order. */
  public Collection<Prop<?>> props() {
    return props.values();
  }

  /** The prop named {@code name}, or an exception naming this type and the unknown prop. */
  public Prop<?> prop(String name) {
    Prop<?> p = props.get(name);
    if (p == null) {
      throw unknown(name);
    }
    return p;
  }

  /**
   * Checks that {@code prop} is declared on this type (same name, kind and default); a prop of the
   * same name but another kind or default is "unknown" here. Reads and writes of values use {@link
   * Prop#checkDeclaredOn}, whose message tells that case apart.
   */
  final void check(Prop<?> prop) {
    Objects.requireNonNull(prop, "prop must not be null");
    Prop<?> mine = props.get(prop.name());
    if (mine == null || !mine.equals(prop)) {
      throw unknown(prop.name());
    }
  }

  private IllegalArgumentException unknown(String prop) {
    return new IllegalArgumentException(
        "unknown prop '"
            + prop
            + "' of "
            + noun
            + " "
            + name
            + " (declared: "
            + props.keySet()
            + ")");
  }

  final boolean hasProp(String name) {
    return props.containsKey(name);
  }

  /** "link 42" or "relation vote 7": the row {@code id} of this type, for messages. */
  abstract String describe(long id);

  /**
   * The value of a data row ({@code key}, {@code value}, {@code kind} code) of row {@code id} as
   * the database returned it, or null for a prop no longer declared (its rows stay in the table,
   * unread).
   *
   * @throws ThingDbException if the row's kind is not the declared kind
   */
  final Object storedValue(long id, String key, String value, String kind) {
    Prop<?> prop = props.get(key);
    if (prop == null) {
      return null;
    }
    if (kind.charAt(0) != prop.kind().code()) {
      throw new ThingDbException(
          "stored prop '"
              + key
              + "' of "
              + describe(id)
              + " has kind "
              + kind
              + " but is declared "
              + prop.kind());
    }
    return prop.kind().decode(value);
  }

  /**
   * What the builders of both kinds of type share: the name, checked when the builder is made, and
   * the props, each checked when added. Not thread-safe.
   *
   * @param <B> the builder itself, so that chained calls keep its type
   */
  abstract static class PropsBuilder<B extends PropsBuilder<B>> {
    final String noun;
    final String name;
    final Map<String, Prop<?>> props = new LinkedHashMap<>();
    private final Set<String> reserved;

    PropsBuilder(String noun, String name, Set<String> reserved) {
      this.noun = noun;
      this.name = checkName(noun, name);
      this.reserved = reserved;
    }

    abstract B self();

    /**
     * Adds a prop; names must be unique within the type and must not name a base column: {@code
     * id}, {@code thing_id}, {@code ups}, {@code downs}, {@code deleted}, {@code spam}, {@code
     * date} and {@code version} for a thing type; {@code id}, {@code rel_id}, {@code thing1_id},
     * {@code thing2_id}, {@code name}, {@code date} and {@code version} for a relation type.
     *
     * @throws IllegalArgumentException naming the prop if its name is taken or reserved
     */
    public B prop(Prop<?> prop) {
      Objects.requireNonNull(prop, () -> noun + " " + name + ": prop must not be null");
      if (reserved.contains(prop.name())) {
        throw new IllegalArgumentException(
            noun
                + " "
                + name
                + ": prop name '"
                + prop.name()
                + "' is reserved: it names a base column of every "
                + (noun.equals("type") ? "thing" : "relation")
                + " (reserved: "
                + reserved
                + "); rename the prop");
      }
      if (props.putIfAbsent(prop.name(), prop) != null) {
        throw new IllegalArgumentException(
            noun + " " + name + " declares prop '" + prop.name() + "' twice");
      }
      return self();
    }

    /** Adds props, in order. */
    public B props(Prop<?>... props) {
      Objects.requireNonNull(props, () -> noun + " " + name + ": props must not be null");
      for (Prop<?> p : props) {
        prop(p);
      }
      return self();
    }
  }
}

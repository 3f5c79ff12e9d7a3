package io.thingdb.core;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A thing type declared in code: a name (which becomes the table names {@code thing_<name>} and
 * {@code data_<name>}) and its props. Immutable and thread-safe; build with {@link #named}.
 *
 * <pre>{@code
 * static final Prop<String> TITLE = Prop.string("title", "");
 * static final ThingType LINK = ThingType.named("link").prop(TITLE).build();
 * }</pre>
 */
public final class ThingType {
  static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]{0,39}");

  private final String name;
  private final Map<String, Prop<?>> props;

  ThingType(String name, Map<String, Prop<?>> props) {
    this.name = name;
    this.props = Collections.unmodifiableMap(new LinkedHashMap<>(props));
  }

  /** Starts declaring a type; the name must match {@code [a-z][a-z0-9_]{0,39}}. */
  public static Builder named(String name) {
    return new Builder(checkName("type", name));
  }

  static String checkName(String what, String name) {
    Objects.requireNonNull(name, what + " name must not be null");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(what + " name must match [a-z][a-z0-9_]{0,39}: '" + name + "'");
    }
    return name;
  }

  /** The name. */
  public String name() {
    return name;
  }

  /** The declared props, in declaration order. */
  public Collection<Prop<?>> props() {
    return props.values();
  }

  /** The prop named {@code name}, or an exception naming the type and the unknown prop. */
  public Prop<?> prop(String name) {
    Prop<?> p = props.get(name);
    if (p == null) {
      throw new IllegalArgumentException("unknown prop '" + name + "' of type " + this.name + " (declared: " + props.keySet() + ")");
    }
    return p;
  }

  /** Checks that {@code prop} is declared on this type (same name, kind and default). */
  void check(Prop<?> prop) {
    Objects.requireNonNull(prop, "prop must not be null");
    Prop<?> mine = props.get(prop.name());
    if (mine == null || !mine.equals(prop)) {
      throw new IllegalArgumentException("unknown prop '" + prop.name() + "' of type " + name + " (declared: " + props.keySet() + ")");
    }
  }

  boolean hasProp(String name) {
    return props.containsKey(name);
  }

  @Override
  public String toString() {
    return name;
  }

  /** Declares a {@link ThingType}. Not thread-safe. */
  public static final class Builder {
    private final String name;
    private final Map<String, Prop<?>> props = new LinkedHashMap<>();

    private Builder(String name) {
      this.name = name;
    }

    /** Adds a prop; names must be unique within the type. */
    public Builder prop(Prop<?> prop) {
      Objects.requireNonNull(prop, "prop must not be null");
      if (props.putIfAbsent(prop.name(), prop) != null) {
        throw new IllegalArgumentException("type " + name + " declares prop '" + prop.name() + "' twice");
      }
      return this;
    }

    /** Adds props. */
    public Builder props(Prop<?>... props) {
      for (Prop<?> p : props) {
        prop(p);
      }
      return this;
    }

    /** Builds the type. */
    public ThingType build() {
      return new ThingType(name, props);
    }
  }
}

package io.thingdb.core;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A relation type declared in code: a name (which becomes the table names {@code rel_<name>} and
 * {@code data_rel_<name>}), the thing types it links ({@code thing1 -> thing2}) and its props.
 * Each relation is unique on (thing1, thing2, {@link Relation#name() name}). Immutable and
 * thread-safe; build with {@link #named}.
 *
 * <pre>{@code
 * static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
 * static final RelationType VOTE = RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT).build();
 * }</pre>
 */
public final class RelationType {
  private final String name;
  private final ThingType thing1;
  private final ThingType thing2;
  private final Map<String, Prop<?>> props;

  private RelationType(String name, ThingType thing1, ThingType thing2, Map<String, Prop<?>> props) {
    this.name = name;
    this.thing1 = thing1;
    this.thing2 = thing2;
    this.props = Collections.unmodifiableMap(new LinkedHashMap<>(props));
  }

  /** Starts declaring a relation type; the name must match {@code [a-z][a-z0-9_]{0,39}}. */
  public static Builder named(String name) {
    return new Builder(ThingType.checkName("relation type", name));
  }

  /** The name. */
  public String name() {
    return name;
  }

  /** The type of the things relations start from ({@code thing1}). */
  public ThingType thing1() {
    return thing1;
  }

  /** The type of the things relations point to ({@code thing2}). */
  public ThingType thing2() {
    return thing2;
  }

  /** The declared props, in declaration order. */
  public Collection<Prop<?>> props() {
    return props.values();
  }

  /** The prop named {@code name}, or an exception naming the relation type and the unknown prop. */
  public Prop<?> prop(String name) {
    Prop<?> p = props.get(name);
    if (p == null) {
      throw new IllegalArgumentException(
          "unknown prop '" + name + "' of relation type " + this.name + " (declared: " + props.keySet() + ")");
    }
    return p;
  }

  /** Checks that {@code prop} is declared on this relation type (same name, kind and default). */
  void check(Prop<?> prop) {
    Objects.requireNonNull(prop, "prop must not be null");
    Prop<?> mine = props.get(prop.name());
    if (mine == null || !mine.equals(prop)) {
      throw new IllegalArgumentException(
          "unknown prop '" + prop.name() + "' of relation type " + name + " (declared: " + props.keySet() + ")");
    }
  }

  boolean hasProp(String name) {
    return props.containsKey(name);
  }

  @Override
  public String toString() {
    return name + "(" + thing1.name() + " -> " + thing2.name() + ")";
  }

  /** Declares a {@link RelationType}. Not thread-safe. */
  public static final class Builder {
    private final String name;
    private final Map<String, Prop<?>> props = new LinkedHashMap<>();
    private ThingType thing1;
    private ThingType thing2;

    private Builder(String name) {
      this.name = name;
    }

    /** The linked types: relations go from a {@code thing1} thing to a {@code thing2} thing. */
    public Builder between(ThingType thing1, ThingType thing2) {
      this.thing1 = Objects.requireNonNull(thing1, "relation type " + name + ": thing1 type must not be null");
      this.thing2 = Objects.requireNonNull(thing2, "relation type " + name + ": thing2 type must not be null");
      return this;
    }

    /** Adds a prop; names must be unique within the relation type. */
    public Builder prop(Prop<?> prop) {
      Objects.requireNonNull(prop, "prop must not be null");
      if (props.putIfAbsent(prop.name(), prop) != null) {
        throw new IllegalArgumentException("relation type " + name + " declares prop '" + prop.name() + "' twice");
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

    /**
     * Builds the relation type.
     *
     * @throws IllegalStateException if {@link #between} was not called
     */
    public RelationType build() {
      if (thing1 == null) {
        throw new IllegalStateException(
            "relation type " + name + ": call between(thing1Type, thing2Type) before build()");
      }
      return new RelationType(name, thing1, thing2, props);
    }
  }
}

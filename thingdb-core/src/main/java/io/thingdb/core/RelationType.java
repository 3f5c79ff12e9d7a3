package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A relation type declared in code: a name (which becomes the table names {@code rel_<name>} and
 * {@code data_rel_<name>}), the thing types it links ({@code thing1 -> thing2}) and its props. Each
 * relation is unique on (thing1, thing2, {@link Relation#name() name}). Immutable and thread-safe;
 * build with {@link #named}. {@link #name()}, {@link #props()} and {@link #prop(String)} are shared
 * with {@link ThingType}; the endpoint types are a relation type's own.
 *
 * <pre>{@code
 * static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
 * static final RelationType VOTE = RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT).build();
 * }</pre>
 */
public final class RelationType extends EntityType {
  private final ThingType thing1;
  private final ThingType thing2;

  private RelationType(
      String name, ThingType thing1, ThingType thing2, Map<String, Prop<?>> props) {
    super("relation type", name, props);
    this.thing1 = thing1;
    this.thing2 = thing2;
  }

  /**
   * Starts declaring a relation type; the name must match {@code [a-z][a-z0-9_]{0,39}}.
   *
   * @throws IllegalArgumentException if it does not (the message names it)
   */
  public static Builder named(String name) {
    return new Builder(name);
  }

  /** The type of the things relations start from ({@code thing1}). */
  public ThingType thing1() {
    return thing1;
  }

  /** The type of the things relations point to ({@code thing2}). */
  public ThingType thing2() {
    return thing2;
  }

  @Override
  String describe(long id) {
    return "relation " + name() + " " + id;
  }

  @Override
  public String toString() {
    return name() + "(" + thing1.name() + " -> " + thing2.name() + ")";
  }

  /**
   * Declares a {@link RelationType}: {@link #between} (required), {@link #prop} and {@link #props}
   * (each name once), then {@link #build}. Not thread-safe.
   */
  public static final class Builder extends EntityType.PropsBuilder<Builder> {
    private ThingType thing1;
    private ThingType thing2;

    /**
     * The prop names no relation type may declare, in a stable order: the base columns every
     * relation has ({@code rel_*} table columns, and {@code id}); see {@link
     * ThingType.Builder#RESERVED} for why.
     */
    static final Set<String> RESERVED =
        Collections.unmodifiableSet(
            new LinkedHashSet<>(
                List.of("id", "rel_id", "thing1_id", "thing2_id", "name", "date", "version")));

    private Builder(String name) {
      super("relation type", name, RESERVED);
    }

    @Override
    Builder self() {
      return this;
    }

    /** The linked types: relations go from a {@code thing1} thing to a {@code thing2} thing. */
    public Builder between(ThingType thing1, ThingType thing2) {
      this.thing1 =
          Objects.requireNonNull(
              thing1, "relation type " + name + ": thing1 type must not be null");
      this.thing2 =
          Objects.requireNonNull(
              thing2, "relation type " + name + ": thing2 type must not be null");
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

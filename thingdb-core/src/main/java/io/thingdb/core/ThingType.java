package io.thingdb.core;

import java.util.Map;

/**
 * A thing type declared in code: a name (which becomes the table names {@code thing_<name>} and
 * {@code data_<name>}) and its props. Immutable and thread-safe; build with {@link #named}. {@link
 * #name()}, {@link #props()} and {@link #prop(String)} are shared with {@link RelationType}.
 *
 * <pre>{@code
 * static final Prop<String> TITLE = Prop.string("title", "");
 * static final ThingType LINK = ThingType.named("link").prop(TITLE).build();
 * }</pre>
 */
public final class ThingType extends EntityType {
  private ThingType(String name, Map<String, Prop<?>> props) {
    super("type", name, props);
  }

  /**
   * Starts declaring a type; the name must match {@code [a-z][a-z0-9_]{0,39}}.
   *
   * @throws IllegalArgumentException if it does not (the message names it)
   */
  public static Builder named(String name) {
    return new Builder(name);
  }

  @Override
  String describe(long id) {
    return name() + " " + id;
  }

  @Override
  public String toString() {
    return name();
  }

  /**
   * Declares a {@link ThingType}: {@link #prop} and {@link #props} add props (each name once), then
   * {@link #build}. Not thread-safe.
   */
  public static final class Builder extends EntityType.PropsBuilder<Builder> {
    private Builder(String name) {
      super("type", name);
    }

    @Override
    Builder self() {
      return this;
    }

    /** Builds the type. */
    public ThingType build() {
      return new ThingType(name, props);
    }
  }
}

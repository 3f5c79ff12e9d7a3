package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
    /**
     * The prop names no thing type may declare, in a stable order: the base columns every thing has
     * ({@code thing_*} table columns, and {@code id}, which {@link Filter.Column#ID} and the
     * thing's accessors call it). A prop of the same name would be stored apart from the column
     * (props are data rows) and read back as something other than what the name says wherever
     * columns and props meet: a filter, a listing, a JSON view of a thing.
     */
    static final Set<String> RESERVED =
        Collections.unmodifiableSet(
            new LinkedHashSet<>(
                List.of("id", "thing_id", "ups", "downs", "deleted", "spam", "date", "version")));

    private Builder(String name) {
      super("type", name, RESERVED);
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

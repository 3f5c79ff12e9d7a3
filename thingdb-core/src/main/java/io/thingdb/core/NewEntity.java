package io.thingdb.core;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a {@link NewThing} and a {@link NewRelation} share before they are created: the type, the
 * props being set (each checked against the type when set; a prop set to its default is not stored)
 * and the creation date. The subclasses keep what only they have (a thing's initial votes and spam
 * flag, a relation's endpoints and name). Not thread-safe.
 *
 * <p>Public methods are not {@code final}: see {@link EntityType} for why.
 *
 * @param <T> the type's class
 * @param <N> the builder itself, so that chained calls keep its type
 */
abstract sealed class NewEntity<T extends EntityType, N extends NewEntity<T, N>>
    permits NewThing, NewRelation {
  private final T type;
  private final Map<String, Object> props = new LinkedHashMap<>();
  private Instant date;

  NewEntity(T type) {
    this.type = Objects.requireNonNull(type, "type must not be null");
  }

  abstract N self();

  /**
   * Sets a prop, validated at once against the type: a prop it does not declare, one declared with
   * another kind or default, a null or a value of the wrong kind is refused with a message naming
   * the prop. A value equal to the prop's default is not stored.
   */
  public <V> N set(Prop<V> prop, V value) {
    Prop.checkDeclaredOn(type, prop);
    Object v = prop.accept(value);
    if (prop.isDefault(v)) {
      props.remove(prop.name());
    } else {
      props.put(prop.name(), v);
    }
    return self();
  }

  /**
   * The creation date, truncated to microseconds (default: now, on the configured {@link
   * java.time.Clock}).
   */
  public N date(Instant date) {
    this.date =
        Objects.requireNonNull(date, "date must not be null").truncatedTo(ChronoUnit.MICROS);
    return self();
  }

  /** The type. */
  public T type() {
    return type;
  }

  /** The props set to other values than their defaults, read-only. */
  final Map<String, Object> props() {
    return Collections.unmodifiableMap(props);
  }

  /** The date set, or null for now. */
  final Instant date() {
    return date;
  }

  /** What only the subclass has, for {@link #toString()}: " ups=1 downs=0", " 3 -> 9 '1'". */
  abstract String details();

  @Override
  public final String toString() {
    return getClass().getSimpleName() + "{" + type.name() + details() + " " + props.keySet() + "}";
  }
}

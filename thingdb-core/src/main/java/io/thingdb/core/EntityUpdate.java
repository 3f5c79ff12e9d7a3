package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a {@link ThingUpdate} and a {@link RelationUpdate} share: the snapshot being edited, the
 * props being set (each checked against the type when set) and which of them differ from the
 * snapshot. The subclasses keep the fields only they can change (a thing's flags, a relation's
 * name). Not thread-safe.
 *
 * <p>Public methods are not {@code final}: see {@link EntityType} for why.
 *
 * @param <E> the snapshot's class
 * @param <U> the update itself, so that chained calls keep its type
 */
abstract sealed class EntityUpdate<E extends Entity<?>, U extends EntityUpdate<E, U>>
    permits ThingUpdate, RelationUpdate {
  private final E base;
  private final Map<String, Object> props = new LinkedHashMap<>();

  EntityUpdate(E base) {
    this.base = base;
  }

  abstract U self();

  /**
   * Sets a prop, validated at once against the type: a prop it does not declare, one declared with
   * another kind or default, a null or a value of the wrong kind is refused with a message naming
   * the prop. Setting a prop to its default deletes its row when the update is applied.
   */
  public <T> U set(Prop<T> prop, T value) {
    Prop.checkDeclaredOn(base.type(), prop);
    props.put(prop.name(), prop.accept(value));
    return self();
  }

  /** The snapshot this update edits. */
  public E base() {
    return base;
  }

  /** Props whose new value differs from the snapshot. */
  final Map<String, Object> changedProps() {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : props.entrySet()) {
      Prop<?> prop = base.type().prop(e.getKey());
      Object current = base.storedProps().getOrDefault(e.getKey(), prop.defaultValue());
      if (!Prop.valueEquals(prop.kind(), current, e.getValue())) {
        out.put(e.getKey(), e.getValue());
      }
    }
    return Collections.unmodifiableMap(out);
  }

  /** Whether a field of the subclass's own changes. */
  abstract boolean ownFieldsChanged();

  /**
   * Whether this update changes nothing, so that writing it writes nothing. Not final: javac adds
   * the public bridge method other packages call only for a non-final public method of a
   * package-private base.
   */
  public boolean isEmpty() {
    return changedProps().isEmpty() && !ownFieldsChanged();
  }

  /**
   * Whether {@code o} edits an equal snapshot with equal props; the subclasses add their fields.
   */
  final boolean sameEdits(EntityUpdate<?, ?> o) {
    return o.base.equals(base) && o.props.equals(props);
  }

  @Override
  public abstract boolean equals(Object o);

  @Override
  public final int hashCode() {
    return Objects.hash(base, props);
  }

  /** The subclass's own fields as set, for {@link #toString()}: " deleted=true", " name='1'". */
  abstract String details();

  @Override
  public final String toString() {
    return getClass().getSimpleName()
        + "{"
        + base.fullname()
        + " props="
        + props.keySet()
        + details()
        + "}";
  }
}

package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Changes to one relation, made from a snapshot with {@link Relation#edit()} and applied by
 * {@link ThingDb#update(Session, RelationUpdate)}: props (a prop set to its default has its row
 * deleted) and the relation's name (a vote changing direction). Only what differs from the
 * snapshot is written. Not thread-safe.
 */
public final class RelationUpdate {
  private final Relation base;
  private final Map<String, Object> props = new LinkedHashMap<>();
  private String name;

  RelationUpdate(Relation base) {
    this.base = base;
  }

  /** Sets a prop (validated against the relation type at once). */
  public <T> RelationUpdate set(Prop<T> prop, T value) {
    base.type().check(prop);
    props.put(prop.name(), prop.accept(value));
    return this;
  }

  /**
   * Renames the relation (validated at once: non-null, at most {@value Relation#MAX_NAME_LENGTH}
   * characters, no NUL). A name another relation of the same pair already has is refused by the
   * update with {@link DuplicateRelationException}.
   */
  public RelationUpdate name(String name) {
    this.name = Relation.checkName(base.type(), name);
    return this;
  }

  Relation base() {
    return base;
  }

  /** Props whose new value differs from the snapshot. */
  Map<String, Object> changedProps() {
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

  /** The new name, or null if unchanged. */
  String changedName() {
    return name != null && !name.equals(base.name()) ? name : null;
  }

  boolean isEmpty() {
    return changedProps().isEmpty() && changedName() == null;
  }

  @Override
  public String toString() {
    return "RelationUpdate{" + base.fullname() + " props=" + props.keySet() + (name != null ? " name='" + name + "'" : "")
        + "}";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof RelationUpdate u && u.base.equals(base) && u.props.equals(props) && Objects.equals(u.name, name);
  }

  @Override
  public int hashCode() {
    return Objects.hash(base, props, name);
  }
}

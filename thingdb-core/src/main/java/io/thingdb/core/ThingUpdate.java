package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Changes to one thing, made from a snapshot with {@link Thing#edit()} and applied by {@link
 * ThingDb#update}. Only props and flags that differ from the snapshot are written; a prop set to
 * its default has its row deleted. Not thread-safe.
 */
public final class ThingUpdate {
  private final Thing base;
  private final Map<String, Object> props = new LinkedHashMap<>();
  private Boolean deleted;
  private Boolean spam;

  ThingUpdate(Thing base) {
    this.base = base;
  }

  /** Sets a prop (validated against the type at once). */
  public <T> ThingUpdate set(Prop<T> prop, T value) {
    Prop.checkDeclaredOn(base.type(), prop);
    props.put(prop.name(), prop.accept(value));
    return this;
  }

  /** Sets the soft-delete flag. */
  public ThingUpdate deleted(boolean deleted) {
    this.deleted = deleted;
    return this;
  }

  /** Sets the spam flag. */
  public ThingUpdate spam(boolean spam) {
    this.spam = spam;
    return this;
  }

  /** The snapshot this update edits. */
  public Thing base() {
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

  Boolean changedDeleted() {
    return deleted != null && deleted != base.deleted() ? deleted : null;
  }

  Boolean changedSpam() {
    return spam != null && spam != base.spam() ? spam : null;
  }

  /** Whether this update changes nothing (then writing it writes nothing). */
  public boolean isEmpty() {
    return changedProps().isEmpty() && changedDeleted() == null && changedSpam() == null;
  }

  @Override
  public String toString() {
    return "ThingUpdate{" + base.fullname() + " props=" + props.keySet() + (deleted != null ? " deleted=" + deleted : "")
        + (spam != null ? " spam=" + spam : "") + "}";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ThingUpdate u && u.base.equals(base) && u.props.equals(props)
        && Objects.equals(u.deleted, deleted) && Objects.equals(u.spam, spam);
  }

  @Override
  public int hashCode() {
    return Objects.hash(base, props, deleted, spam);
  }
}

package io.thingdb.core;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A relation to create, started with {@link ThingDb#newRelation}; pass it to {@link
 * ThingDb#create(Session, NewRelation)}. Props equal to their defaults are not stored. Not
 * thread-safe.
 */
public final class NewRelation {
  private final RelationType type;
  private final long thing1Id;
  private final long thing2Id;
  private final String name;
  private final boolean endpointsKnown;
  private final Map<String, Object> props = new LinkedHashMap<>();
  private Instant date;

  NewRelation(RelationType type, long thing1Id, long thing2Id, String name, boolean endpointsKnown) {
    this.type = type;
    this.thing1Id = thing1Id;
    this.thing2Id = thing2Id;
    this.name = name;
    this.endpointsKnown = endpointsKnown;
  }

  /** Sets a prop (validated against the relation type at once). */
  public <T> NewRelation set(Prop<T> prop, T value) {
    type.check(prop);
    Object v = prop.accept(value);
    if (prop.isDefault(v)) {
      props.remove(prop.name());
    } else {
      props.put(prop.name(), v);
    }
    return this;
  }

  /** The creation date (default: now, on the configured {@link java.time.Clock}). */
  public NewRelation date(Instant date) {
    this.date = Objects.requireNonNull(date, "date must not be null").truncatedTo(ChronoUnit.MICROS);
    return this;
  }

  /** The relation type. */
  public RelationType type() {
    return type;
  }

  /** The thing1 id. */
  public long thing1Id() {
    return thing1Id;
  }

  /** The thing2 id. */
  public long thing2Id() {
    return thing2Id;
  }

  /** The relation's name. */
  public String name() {
    return name;
  }

  /** True when the endpoints came as {@link Thing} snapshots, so they are known to exist. */
  boolean endpointsKnown() {
    return endpointsKnown;
  }

  Map<String, Object> props() {
    return Collections.unmodifiableMap(props);
  }

  Instant date() {
    return date;
  }

  @Override
  public String toString() {
    return "NewRelation{" + type.name() + " " + thing1Id + " -> " + thing2Id + " '" + name + "' " + props.keySet() + "}";
  }
}

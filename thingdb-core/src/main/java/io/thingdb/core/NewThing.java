package io.thingdb.core;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A thing to create, built with {@link ThingDb#newThing}; pass it to {@link ThingDb#create} or
 * {@link ThingDb#createAll}. Props equal to their defaults are not stored. Not thread-safe.
 */
public final class NewThing {
  private final ThingType type;
  private final Map<String, Object> props = new LinkedHashMap<>();
  private Instant date;
  private int ups;
  private int downs;
  private boolean spam;

  NewThing(ThingType type) {
    this.type = Objects.requireNonNull(type, "type must not be null");
  }

  /** Sets a prop (validated against the type at once). */
  public <T> NewThing set(Prop<T> prop, T value) {
    Prop.checkDeclaredOn(type, prop);
    Object v = prop.accept(value);
    if (prop.isDefault(v)) {
      props.remove(prop.name());
    } else {
      props.put(prop.name(), v);
    }
    return this;
  }

  /** The creation date (default: now, on the configured {@link java.time.Clock}). */
  public NewThing date(Instant date) {
    this.date = Objects.requireNonNull(date, "date must not be null").truncatedTo(java.time.temporal.ChronoUnit.MICROS);
    return this;
  }

  /** Initial votes (default 0, 0); must not be negative. */
  public NewThing votes(int ups, int downs) {
    if (ups < 0 || downs < 0) {
      throw new IllegalArgumentException("votes must not be negative: ups=" + ups + ", downs=" + downs);
    }
    this.ups = ups;
    this.downs = downs;
    return this;
  }

  /** Marks the new thing as spam (a shadow-banned author's post). */
  public NewThing spam(boolean spam) {
    this.spam = spam;
    return this;
  }

  /** The type. */
  public ThingType type() {
    return type;
  }

  Map<String, Object> props() {
    return Collections.unmodifiableMap(props);
  }

  Instant date() {
    return date;
  }

  int ups() {
    return ups;
  }

  int downs() {
    return downs;
  }

  boolean spam() {
    return spam;
  }
}

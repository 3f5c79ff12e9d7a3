package io.thingdb.core;

import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;

/**
 * An immutable snapshot of one thing: its base columns and its props, at one {@link #version()}.
 * Reading a prop never touches the database. Thread-safe.
 */
public final class Thing {
  private final ThingType type;
  private final int typeId;
  private final long id;
  private final int ups;
  private final int downs;
  private final boolean deleted;
  private final boolean spam;
  private final Instant date;
  private final long version;
  private final Map<String, Object> props;

  Thing(ThingType type, int typeId, long id, int ups, int downs, boolean deleted, boolean spam,
      Instant date, long version, Map<String, Object> props) {
    this.type = type;
    this.typeId = typeId;
    this.id = id;
    this.ups = ups;
    this.downs = downs;
    this.deleted = deleted;
    this.spam = spam;
    this.date = date;
    this.version = version;
    this.props = Collections.unmodifiableMap(props);
  }

  /** The type. */
  public ThingType type() {
    return type;
  }

  /** The id, unique within the type. */
  public long id() {
    return id;
  }

  /** {@code t<base36 type id>_<base36 id>}, e.g. {@code t3_15bfi0}. */
  public String fullname() {
    return Fullnames.thing(typeId, id);
  }

  int typeId() {
    return typeId;
  }

  /** Up votes. */
  public int ups() {
    return ups;
  }

  /** Down votes. */
  public int downs() {
    return downs;
  }

  /** {@code ups - downs}. */
  public int score() {
    return ups - downs;
  }

  /** Soft-deleted. */
  public boolean deleted() {
    return deleted;
  }

  /** Marked as spam. */
  public boolean spam() {
    return spam;
  }

  /** Creation time, microsecond precision. */
  public Instant date() {
    return date;
  }

  /** Incremented by every write; the cache never replaces a higher version with a lower one. */
  public long version() {
    return version;
  }

  /** The value of {@code prop}, or its default. */
  @SuppressWarnings("unchecked")
  public <T> T get(Prop<T> prop) {
    Prop.checkDeclaredOn(type, prop);
    Object v = props.get(prop.name());
    if (v == null) {
      return prop.defaultValue();
    }
    return prop.kind() == PropKind.BYTES ? (T) ((byte[]) v).clone() : (T) v;
  }

  /** The props whose values differ from their defaults. Bytes values must not be modified. */
  public Map<String, Object> storedProps() {
    return props;
  }

  /** Starts an update of this thing; pass it to {@link ThingDb#update}. */
  public ThingUpdate edit() {
    return new ThingUpdate(this);
  }

  /** The base columns of a thing row. */
  record Row(long id, int ups, int downs, boolean deleted, boolean spam, Instant date, long version) {}

  static Thing of(ThingType type, int typeId, Row r, Map<String, Object> props) {
    return new Thing(type, typeId, r.id(), r.ups(), r.downs(), r.deleted(), r.spam(), r.date(), r.version(), props);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Thing t)) {
      return false;
    }
    if (t.typeId != typeId || t.id != id || t.ups != ups || t.downs != downs || t.deleted != deleted
        || t.spam != spam || !t.date.equals(date) || t.version != version || !t.props.keySet().equals(props.keySet())) {
      return false;
    }
    for (Map.Entry<String, Object> e : props.entrySet()) {
      if (!Prop.valueEquals(type.prop(e.getKey()).kind(), e.getValue(), t.props.get(e.getKey()))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int hashCode() {
    return Objects.hash(typeId, id, version);
  }

  @Override
  public String toString() {
    return type.name() + "[" + fullname() + " v" + version + " ups=" + ups + " downs=" + downs
        + (deleted ? " deleted" : "") + (spam ? " spam" : "") + " " + props.keySet() + "]";
  }
}

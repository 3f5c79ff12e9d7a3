package io.thingdb.core;

import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;

/**
 * What a {@link Thing} and a {@link Relation} snapshot share: the type, the id, the creation date,
 * the version and the props that differ from their defaults, and how those take part in equality
 * and {@code toString}. The subclasses keep what only they have (a thing's votes and flags, a
 * relation's endpoints and name) and say how they are written in a {@link #fullname()}. Immutable
 * and thread-safe.
 *
 * <p>Public methods are not {@code final}: see {@link EntityType} for why.
 *
 * @param <T> the type of the type ({@link ThingType} or {@link RelationType})
 */
abstract sealed class Entity<T extends EntityType> permits Thing, Relation {
  private final T type;
  private final int typeId;
  private final long id;
  private final Instant date;
  private final long version;
  private final Map<String, Object> props;

  Entity(T type, int typeId, long id, Instant date, long version, Map<String, Object> props) {
    this.type = type;
    this.typeId = typeId;
    this.id = id;
    this.date = date;
    this.version = version;
    this.props = Collections.unmodifiableMap(props);
  }

  /** The type. */
  public T type() {
    return type;
  }

  /** The id, unique within the type. */
  public long id() {
    return id;
  }

  /** The registry id of the type, part of the {@link #fullname()}. */
  final int typeId() {
    return typeId;
  }

  /** The id with its type's registry id, unique across all types: see {@link Fullnames}. */
  public abstract String fullname();

  /** Creation time, microsecond precision. */
  public Instant date() {
    return date;
  }

  /**
   * Starts at 1 and is incremented by every write; the cache never replaces a higher version with a
   * lower one.
   */
  public long version() {
    return version;
  }

  /**
   * The value of {@code prop}, or its default (a copy for bytes). Never touches the database.
   *
   * @throws IllegalArgumentException if the type does not declare {@code prop} (the same name, kind
   *     and default); the message names the prop and the type
   */
  @SuppressWarnings("unchecked")
  public <V> V get(Prop<V> prop) {
    Prop.checkDeclaredOn(type, prop);
    Object v = props.get(prop.name());
    if (v == null) {
      return prop.defaultValue();
    }
    return prop.kind() == PropKind.BYTES ? (V) ((byte[]) v).clone() : (V) v;
  }

  /**
   * The props whose values differ from their defaults, read-only. Bytes values must not be
   * modified.
   */
  public Map<String, Object> storedProps() {
    return props;
  }

  /**
   * Whether {@code o} has the same type id, id, date, version and props (bytes by content) as this;
   * the subclasses' {@code equals} add their own fields.
   */
  final boolean sameSnapshot(Entity<?> o) {
    if (o.typeId != typeId
        || o.id != id
        || !o.date.equals(date)
        || o.version != version
        || !o.props.keySet().equals(props.keySet())) {
      return false;
    }
    for (Map.Entry<String, Object> e : props.entrySet()) {
      if (!Prop.valueEquals(type.prop(e.getKey()).kind(), e.getValue(), o.props.get(e.getKey()))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public abstract boolean equals(Object o);

  @Override
  public final int hashCode() {
    return Objects.hash(typeId, id, version);
  }

  /** What only the subclass has, for {@link #toString()}: " ups=3 downs=1", " 3 -> 9 '1'". */
  abstract String details();

  /**
   * {@code link[t3_15bfi0 v2 ups=3 downs=0 [title, url]]}, {@code vote[r5_2s v1 3 -> 9 '1' []]}.
   */
  @Override
  public final String toString() {
    return type.name() + "[" + fullname() + " v" + version + details() + " " + props.keySet() + "]";
  }
}

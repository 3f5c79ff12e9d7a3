package io.thingdb.core;

import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;

/**
 * An immutable snapshot of one relation: a link from a {@code thing1} thing to a {@code thing2}
 * thing with an application-defined {@link #name()} (for a vote, the direction {@code "1"},
 * {@code "-1"} or {@code "0"}), its props, at one {@link #version()}. Reading a prop never
 * touches the database. Thread-safe.
 */
public final class Relation {
  /** The longest relation {@link #name()}, in UTF-16 chars. */
  public static final int MAX_NAME_LENGTH = 100;

  /**
   * A (thing1, thing2) pair, the key of {@link ThingDb#lookup}. Immutable and thread-safe; ids
   * are checked (at least 1) where a pair is used.
   *
   * @param thing1Id the id of the thing relations start from
   * @param thing2Id the id of the thing relations point to
   */
  public record Pair(long thing1Id, long thing2Id) {}

  private final RelationType type;
  private final int typeId;
  private final long id;
  private final long thing1Id;
  private final long thing2Id;
  private final String name;
  private final Instant date;
  private final long version;
  private final Map<String, Object> props;

  Relation(RelationType type, int typeId, long id, long thing1Id, long thing2Id, String name, Instant date,
      long version, Map<String, Object> props) {
    this.type = type;
    this.typeId = typeId;
    this.id = id;
    this.thing1Id = thing1Id;
    this.thing2Id = thing2Id;
    this.name = name;
    this.date = date;
    this.version = version;
    this.props = Collections.unmodifiableMap(props);
  }

  /** The relation type. */
  public RelationType type() {
    return type;
  }

  /** The id, unique within the relation type. */
  public long id() {
    return id;
  }

  /** {@code r<base36 type id>_<base36 id>}, e.g. {@code r5_2s}. */
  public String fullname() {
    return Fullnames.relation(typeId, id);
  }

  int typeId() {
    return typeId;
  }

  /** The id of the {@link RelationType#thing1()} thing. */
  public long thing1Id() {
    return thing1Id;
  }

  /** The id of the {@link RelationType#thing2()} thing. */
  public long thing2Id() {
    return thing2Id;
  }

  /** (thing1, thing2). */
  public Pair pair() {
    return new Pair(thing1Id, thing2Id);
  }

  /** The application's name of the relation (unique per pair); never null. */
  public String name() {
    return name;
  }

  /** Creation time, microsecond precision. */
  public Instant date() {
    return date;
  }

  /** Starts at 1; incremented by every update of the relation. */
  public long version() {
    return version;
  }

  /** The value of {@code prop}, or its default. */
  @SuppressWarnings("unchecked")
  public <T> T get(Prop<T> prop) {
    type.check(prop);
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

  /** Starts an update of this relation; pass it to {@link ThingDb#update(Session, RelationUpdate)}. */
  public RelationUpdate edit() {
    return new RelationUpdate(this);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Relation r)) {
      return false;
    }
    if (r.typeId != typeId || r.id != id || r.thing1Id != thing1Id || r.thing2Id != thing2Id || !r.name.equals(name)
        || !r.date.equals(date) || r.version != version || !r.props.keySet().equals(props.keySet())) {
      return false;
    }
    for (Map.Entry<String, Object> e : props.entrySet()) {
      if (!Prop.valueEquals(type.prop(e.getKey()).kind(), e.getValue(), r.props.get(e.getKey()))) {
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
    return type.name() + "[" + fullname() + " " + thing1Id + " -> " + thing2Id + " '" + name + "' v" + version + " "
        + props.keySet() + "]";
  }

  /** Checks a relation name: non-null, at most {@link #MAX_NAME_LENGTH} chars, no NUL. */
  static String checkName(RelationType type, String name) {
    if (name == null) {
      throw new IllegalArgumentException("relation " + type.name() + ": name must not be null (use \"\" for none)");
    }
    if (name.length() > MAX_NAME_LENGTH) {
      throw new IllegalArgumentException("relation " + type.name() + ": name must be at most " + MAX_NAME_LENGTH
          + " characters, was " + name.length() + ": '" + name.substring(0, 40) + "...'");
    }
    if (name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("relation " + type.name() + ": name must not contain NUL characters"
          + " (PostgreSQL text cannot store them): '" + name.replace("\0", "\\0") + "'");
    }
    return name;
  }
}

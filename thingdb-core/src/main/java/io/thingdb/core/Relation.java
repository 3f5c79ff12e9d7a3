package io.thingdb.core;

import java.time.Instant;
import java.util.Map;

/**
 * An immutable snapshot of one relation: a link from a {@code thing1} thing to a {@code thing2}
 * thing with an application-defined {@link #name()} (for a vote, the direction {@code "1"}, {@code
 * "-1"} or {@code "0"}), its props, at one {@link #version()}. Reading a prop never touches the
 * database. Thread-safe.
 *
 * <p>The type, id, date, version and props ({@link #get}, {@link #storedProps()}) are shared with
 * {@link Thing}; the endpoints and the name are a relation's own.
 */
public final class Relation extends Entity<RelationType> {
  /** The longest relation {@link #name()}, in UTF-16 chars. */
  public static final int MAX_NAME_LENGTH = 100;

  /**
   * A (thing1, thing2) pair, the key of {@link ThingDb#lookup}. Immutable and thread-safe; ids are
   * checked (at least 1) where a pair is used.
   *
   * @param thing1Id the id of the thing relations start from
   * @param thing2Id the id of the thing relations point to
   */
  public record Pair(long thing1Id, long thing2Id) {}

  private final long thing1Id;
  private final long thing2Id;
  private final String name;

  Relation(
      RelationType type,
      int typeId,
      long id,
      long thing1Id,
      long thing2Id,
      String name,
      Instant date,
      long version,
      Map<String, Object> props) {
    super(type, typeId, id, date, version, props);
    this.thing1Id = thing1Id;
    this.thing2Id = thing2Id;
    this.name = name;
  }

  /** {@code r<base36 type id>_<base36 id>}, e.g. {@code r5_2s}. */
  @Override
  public String fullname() {
    return Fullnames.relation(typeId(), id());
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

  /** Starts an update of this relation; pass it to {@link ThingDb#update(RelationUpdate)}. */
  public RelationUpdate edit() {
    return new RelationUpdate(this);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Relation r
        && r.thing1Id == thing1Id
        && r.thing2Id == thing2Id
        && r.name.equals(name)
        && sameSnapshot(r);
  }

  @Override
  String details() {
    return " " + thing1Id + " -> " + thing2Id + " '" + name + "'";
  }

  /** Checks a relation name: non-null, at most {@link #MAX_NAME_LENGTH} chars, no NUL. */
  static String checkName(RelationType type, String name) {
    if (name == null) {
      throw new IllegalArgumentException(
          "relation " + type.name() + ": name must not be null (use \"\" for none)");
    }
    if (name.length() > MAX_NAME_LENGTH) {
      throw new IllegalArgumentException(
          "relation "
              + type.name()
              + ": name must be at most "
              + MAX_NAME_LENGTH
              + " characters, was "
              + name.length()
              + ": '"
              + name.substring(0, 40)
              + "...'");
    }
    if (name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException(
          "relation "
              + type.name()
              + ": name must not contain NUL characters"
              + " (PostgreSQL text cannot store them): '"
              + name.replace("\0", "\\0")
              + "'");
    }
    int at = Prop.unpairedSurrogate(name);
    if (at >= 0) {
      throw new IllegalArgumentException(
          "relation "
              + type.name()
              + ": name has an unpaired surrogate at index "
              + at
              + " (half of a character outside the Basic Multilingual Plane); UTF-8 cannot store it");
    }
    return name;
  }
}

package io.thingdb.core;

import java.time.Instant;
import java.util.Map;

/**
 * An immutable snapshot of one thing: its base columns and its props, at one {@link #version()}.
 * Reading a prop never touches the database. Thread-safe.
 *
 * <p>The type, id, date, version and props ({@link #get}, {@link #storedProps()}) are shared with
 * {@link Relation}; the vote counters and the deleted and spam flags are a thing's own.
 */
public final class Thing extends Entity<ThingType> {
  private final int ups;
  private final int downs;
  private final boolean deleted;
  private final boolean spam;

  Thing(
      ThingType type,
      int typeId,
      long id,
      int ups,
      int downs,
      boolean deleted,
      boolean spam,
      Instant date,
      long version,
      Map<String, Object> props) {
    super(type, typeId, id, date, version, props);
    this.ups = ups;
    this.downs = downs;
    this.deleted = deleted;
    this.spam = spam;
  }

  /** {@code t<base36 type id>_<base36 id>}, e.g. {@code t3_15bfi0}. */
  @Override
  public String fullname() {
    return Fullnames.thing(typeId(), id());
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

  /** Starts an update of this thing; pass it to {@link ThingDb#update}. */
  public ThingUpdate edit() {
    return new ThingUpdate(this);
  }

  /** The base columns of a thing row. */
  record Row(
      long id, int ups, int downs, boolean deleted, boolean spam, Instant date, long version) {}

  static Thing of(ThingType type, int typeId, Row r, Map<String, Object> props) {
    return new Thing(
        type,
        typeId,
        r.id(),
        r.ups(),
        r.downs(),
        r.deleted(),
        r.spam(),
        r.date(),
        r.version(),
        props);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Thing t
        && t.ups == ups
        && t.downs == downs
        && t.deleted == deleted
        && t.spam == spam
        && sameSnapshot(t);
  }

  @Override
  String details() {
    return " ups=" + ups + " downs=" + downs + (deleted ? " deleted" : "") + (spam ? " spam" : "");
  }
}

package io.thingdb.core;

/**
 * A relation to create, started with {@link ThingDb#newRelation}; pass it to {@link
 * ThingDb#create(NewRelation)}. Props equal to their defaults are not stored. Not thread-safe.
 *
 * <p>Setting props ({@link #set}) and the date ({@link #date(java.time.Instant)}) are shared with
 * {@link NewThing}; the endpoints and the name, fixed when it is started, are a relation's own.
 */
public final class NewRelation extends NewEntity<RelationType, NewRelation> {
  private final long thing1Id;
  private final long thing2Id;
  private final String name;
  private final boolean endpointsKnown;

  NewRelation(
      RelationType type, long thing1Id, long thing2Id, String name, boolean endpointsKnown) {
    super(type);
    this.thing1Id = thing1Id;
    this.thing2Id = thing2Id;
    this.name = name;
    this.endpointsKnown = endpointsKnown;
  }

  @Override
  NewRelation self() {
    return this;
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

  @Override
  String details() {
    return " " + thing1Id + " -> " + thing2Id + " '" + name + "'";
  }
}

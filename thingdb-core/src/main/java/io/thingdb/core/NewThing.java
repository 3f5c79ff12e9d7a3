package io.thingdb.core;

/**
 * A thing to create, built with {@link ThingDb#newThing}; pass it to {@link ThingDb#create} or
 * {@link ThingDb#createAll}. Props equal to their defaults are not stored. Not thread-safe.
 *
 * <p>Setting props ({@link #set}) and the date ({@link #date(java.time.Instant)}) are shared with
 * {@link NewRelation}; the initial votes and the spam flag are a thing's own.
 */
public final class NewThing extends NewEntity<ThingType, NewThing> {
  private int ups;
  private int downs;
  private boolean spam;

  NewThing(ThingType type) {
    super(type);
  }

  @Override
  NewThing self() {
    return this;
  }

  /** Initial votes (default 0, 0); must not be negative. */
  public NewThing votes(int ups, int downs) {
    if (ups < 0 || downs < 0) {
      throw new IllegalArgumentException(
          "votes must not be negative: ups=" + ups + ", downs=" + downs);
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

  int ups() {
    return ups;
  }

  int downs() {
    return downs;
  }

  boolean spam() {
    return spam;
  }

  @Override
  String details() {
    return " ups=" + ups + " downs=" + downs + (spam ? " spam" : "");
  }
}

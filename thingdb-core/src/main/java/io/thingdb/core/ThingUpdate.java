package io.thingdb.core;

import java.util.Objects;

/**
 * Changes to one thing, made from a snapshot with {@link Thing#edit()} and applied by {@link
 * ThingDb#update}. Only props and flags that differ from the snapshot are written; a prop set to
 * its default has its row deleted. Not thread-safe.
 *
 * <p>Setting props ({@link #set}) and {@link #base()} are shared with {@link RelationUpdate}; the
 * deleted and spam flags are a thing's own.
 */
public final class ThingUpdate extends EntityUpdate<Thing, ThingUpdate> {
  private Boolean deleted;
  private Boolean spam;

  ThingUpdate(Thing base) {
    super(base);
  }

  @Override
  ThingUpdate self() {
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

  /** The new deleted flag, or null if unchanged. */
  Boolean changedDeleted() {
    return deleted != null && deleted != base().deleted() ? deleted : null;
  }

  /** The new spam flag, or null if unchanged. */
  Boolean changedSpam() {
    return spam != null && spam != base().spam() ? spam : null;
  }

  @Override
  boolean ownFieldsChanged() {
    return changedDeleted() != null || changedSpam() != null;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ThingUpdate u
        && sameEdits(u)
        && Objects.equals(u.deleted, deleted)
        && Objects.equals(u.spam, spam);
  }

  @Override
  String details() {
    return (deleted != null ? " deleted=" + deleted : "") + (spam != null ? " spam=" + spam : "");
  }
}

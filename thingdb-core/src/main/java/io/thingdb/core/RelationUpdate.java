package io.thingdb.core;

import java.util.Objects;

/**
 * Changes to one relation, made from a snapshot with {@link Relation#edit()} and applied by {@link
 * ThingDb#update(RelationUpdate)}: props (a prop set to its default has its row deleted) and the
 * relation's name (a vote changing direction). Only what differs from the snapshot is written. Not
 * thread-safe.
 *
 * <p>Setting props ({@link #set}) and {@link #base()} are shared with {@link ThingUpdate}; the name
 * is a relation's own.
 */
public final class RelationUpdate extends EntityUpdate<Relation, RelationUpdate> {
  private String name;

  RelationUpdate(Relation base) {
    super(base);
  }

  @Override
  RelationUpdate self() {
    return this;
  }

  /**
   * Renames the relation (validated at once: non-null, at most {@value Relation#MAX_NAME_LENGTH}
   * characters, no NUL). A name another relation of the same pair already has is refused by the
   * update with {@link DuplicateRelationException}.
   */
  public RelationUpdate name(String name) {
    this.name = Relation.checkName(base().type(), name);
    return this;
  }

  /** The new name, or null if unchanged. */
  String changedName() {
    return name != null && !name.equals(base().name()) ? name : null;
  }

  @Override
  boolean ownFieldsChanged() {
    return changedName() != null;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof RelationUpdate u && sameEdits(u) && Objects.equals(u.name, name);
  }

  @Override
  String details() {
    return name != null ? " name='" + name + "'" : "";
  }
}

package io.thingdb.core;

/**
 * A relation with the same (thing1, thing2, name) already exists, so a create (or a rename by an
 * update) was refused. Nothing was written.
 */
public final class DuplicateRelationException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception. */
  public DuplicateRelationException(String message, Throwable cause) {
    super(message, cause);
  }
}

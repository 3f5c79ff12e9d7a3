package io.thingdb.core;

/**
 * A registration disagrees with what the database already records: a property changed its kind or
 * default, or the database schema is newer than this library. Nothing was changed.
 */
public final class SchemaConflictException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception. */
  public SchemaConflictException(String message) {
    super(message);
  }
}

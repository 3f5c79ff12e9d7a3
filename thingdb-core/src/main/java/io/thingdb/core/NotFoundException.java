package io.thingdb.core;

/** A thing or relation that the caller required does not exist. */
public final class NotFoundException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception. */
  public NotFoundException(String message) {
    super(message);
  }
}

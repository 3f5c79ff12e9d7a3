package io.thingdb.listings;

import io.thingdb.core.ThingDbException;

/** A vote that was refused (the thing is deleted); nothing was written. Immutable. */
public final class VoteRejectedException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  /** With a message naming the vote and the reason. */
  public VoteRejectedException(String message) {
    super(message);
  }
}

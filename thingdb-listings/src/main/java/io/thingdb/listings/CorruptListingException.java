package io.thingdb.listings;

import io.thingdb.core.ThingDbException;

/**
 * Thrown by {@link Listing#decode} when bytes are not a valid listing encoding: a wrong format
 * byte, a checksum mismatch, a truncated or overlong input, or content that breaks a listing's
 * invariants (entries out of order, duplicate ids, NaN sort values). The message names what was
 * wrong and the length of the input. Decoding never returns a partial listing; a caller reading a
 * listing from the cache should treat this as a miss and reload the listing from the database.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class CorruptListingException extends ThingDbException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates an exception with a message that says what was wrong.
   *
   * @param message what was wrong with the bytes
   */
  public CorruptListingException(String message) {
    super(message);
  }
}

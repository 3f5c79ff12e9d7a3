package io.thingdb.cache;

import java.util.Objects;

/**
 * A value read with {@link Cache#gets} together with the CAS id to pass to {@link
 * Cache#compareAndSet}. Immutable apart from the array, which callers must not modify.
 *
 * @param value the stored bytes (never null)
 * @param cas the item's CAS id
 */
public record CasValue(byte[] value, long cas) {
  /** Creates a value; {@code value} must not be null. */
  public CasValue {
    Objects.requireNonNull(value, "value must not be null");
  }
}

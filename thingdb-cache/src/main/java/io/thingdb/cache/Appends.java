package io.thingdb.cache;

import java.util.Objects;

/** The argument rules of {@link Cache#append}, shared by the backends. Stateless. */
final class Appends {
  /** The longest suffix one append takes. */
  static final int MAX_SUFFIX = 4096;

  private Appends() {}

  static void check(String key, byte[] suffix) {
    Objects.requireNonNull(suffix, "suffix must not be null");
    if (suffix.length > MAX_SUFFIX) {
      throw new IllegalArgumentException(
          "an append takes at most "
              + MAX_SUFFIX
              + " bytes (key="
              + key
              + ", suffix="
              + suffix.length
              + " bytes); nothing was sent");
    }
  }
}

package io.thingdb.listings;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Checks listing keys: 1 to 200 characters, no whitespace or control characters, plus the
 * application's pattern. Immutable.
 */
final class ListingKeys {
  static final int MAX_LENGTH = 200;

  private final Pattern pattern;

  ListingKeys(Pattern pattern) {
    this.pattern = pattern;
  }

  Pattern pattern() {
    return pattern;
  }

  String check(String key) {
    Objects.requireNonNull(key, "listing key must not be null");
    if (key.isEmpty() || key.length() > MAX_LENGTH) {
      throw new IllegalArgumentException(
          "listing key must be 1 to "
              + MAX_LENGTH
              + " characters (length="
              + key.length()
              + ", key="
              + abbreviate(key)
              + ")");
    }
    for (int i = 0; i < key.length(); i++) {
      char ch = key.charAt(i);
      if (Character.isWhitespace(ch) || Character.isISOControl(ch) || Character.isSpaceChar(ch)) {
        throw new IllegalArgumentException(
            "listing key must not contain whitespace or control characters"
                + " (character U+"
                + String.format("%04X", (int) ch)
                + " at index "
                + i
                + ", key="
                + abbreviate(key)
                + ")");
      }
    }
    if (pattern != null && !pattern.matcher(key).matches()) {
      throw new IllegalArgumentException(
          "listing key "
              + abbreviate(key)
              + " does not match the configured listing key pattern "
              + pattern.pattern());
    }
    return key;
  }

  /**
   * Whether {@code key} is in the format {@link ListingRecompute#key} writes, {@code
   * <prefix>:top:<window>} or {@code <prefix>:controversial:<window>} with a {@link TimeWindow} key
   * ({@code hour} ... {@code all}). Those listings belong to the recompute, which replaces them
   * whole; per-write updates must not be routed to them (a processor would refill them with the
   * unwindowed query and the two writers would overwrite each other).
   */
  static boolean isRecomputed(String key) {
    int last = key.lastIndexOf(':');
    if (last < 0) {
      return false;
    }
    String window = key.substring(last + 1);
    boolean isWindow = false;
    for (TimeWindow w : TimeWindow.values()) {
      isWindow |= w.key().equals(window);
    }
    if (!isWindow) {
      return false;
    }
    String rest = key.substring(0, last);
    return rest.endsWith(":top") || rest.endsWith(":controversial");
  }

  /**
   * The sort of a key in {@link ListingRecompute}'s format ({@link ListingSort#TOP} or {@link
   * ListingSort#CONTROVERSIAL}), or null if {@link #isRecomputed} is false for it.
   */
  static ListingSort recomputedSort(String key) {
    if (!isRecomputed(key)) {
      return null;
    }
    return key.substring(0, key.lastIndexOf(':')).endsWith(":top")
        ? ListingSort.TOP
        : ListingSort.CONTROVERSIAL;
  }

  static String abbreviate(String key) {
    StringBuilder b = new StringBuilder("'");
    int n = Math.min(key.length(), 60);
    for (int i = 0; i < n; i++) {
      char ch = key.charAt(i);
      if (Character.isISOControl(ch)) {
        b.append(String.format("\\u%04x", (int) ch));
      } else {
        b.append(ch);
      }
    }
    b.append(key.length() > n ? "...'" : "'");
    return b.toString();
  }
}

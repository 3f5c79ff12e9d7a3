package io.thingdb.core;

/**
 * Fullnames: {@code t<base36 type id>_<base36 id>} for things and {@code r...} for relations.
 * Stateless.
 */
public final class Fullnames {
  private Fullnames() {}

  /** The fullname of a thing. */
  public static String thing(int typeId, long id) {
    return "t" + Integer.toString(typeId, 36) + "_" + Long.toString(id, 36);
  }

  /** The fullname of a relation. */
  public static String relation(int typeId, long id) {
    return "r" + Integer.toString(typeId, 36) + "_" + Long.toString(id, 36);
  }

  /**
   * A parsed fullname.
   *
   * @param relation whether it names a relation
   * @param typeId the type's registry id
   * @param id the thing or relation id
   */
  public record Parsed(boolean relation, int typeId, long id) {}

  /** Parses a fullname; the exception names the bad input and what was wrong. */
  public static Parsed parse(String fullname) {
    if (fullname == null) {
      throw new IllegalArgumentException("fullname must not be null");
    }
    int underscore = fullname.indexOf('_');
    if (fullname.length() < 4
        || (fullname.charAt(0) != 't' && fullname.charAt(0) != 'r')
        || underscore < 2
        || underscore == fullname.length() - 1) {
      throw new IllegalArgumentException(
          "malformed fullname '"
              + abbreviate(fullname)
              + "': expected t<base36 type>_<base36 id>, e.g. t3_15bfi0");
    }
    String type = fullname.substring(1, underscore);
    String id = fullname.substring(underscore + 1);
    if (!isBase36(type) || !isBase36(id)) {
      throw new IllegalArgumentException(
          "malformed fullname '"
              + abbreviate(fullname)
              + "': type and id must be lowercase base36");
    }
    try {
      int typeId = Integer.parseInt(type, 36);
      long value = Long.parseLong(id, 36);
      if (typeId < 1 || value < 1) {
        throw new IllegalArgumentException(
            "malformed fullname '" + abbreviate(fullname) + "': ids start at 1");
      }
      return new Parsed(fullname.charAt(0) == 'r', typeId, value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "malformed fullname '" + abbreviate(fullname) + "': id out of range", e);
    }
  }

  private static boolean isBase36(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) {
        return false;
      }
    }
    return !s.isEmpty() && !(s.length() > 1 && s.charAt(0) == '0');
  }

  private static String abbreviate(String s) {
    return s.length() <= 64 ? s : s.substring(0, 64) + "...";
  }
}

package io.thingdb.cache;

/**
 * Thrown when a value cannot fit in one cache item for its key. Nothing was written: any older
 * value under the key is left in place.
 */
public final class ValueTooLargeException extends CacheException {
  private static final long serialVersionUID = 1L;

  private final String key;
  private final int size;
  private final int limit;

  /**
   * Creates the exception for {@code key}, whose value of {@code size} bytes exceeds {@code limit}.
   */
  public ValueTooLargeException(String key, int size, int limit) {
    super(
        "value too large for the cache: key="
            + abbreviate(key)
            + ", size="
            + size
            + " bytes, limit for this key="
            + limit
            + " bytes (the server's item limit covers the key"
            + " and item header too); nothing was written");
    this.key = key;
    this.size = size;
    this.limit = limit;
  }

  /** The key as the caller gave it. */
  public String key() {
    return key;
  }

  /** The size of the refused value in bytes. */
  public int size() {
    return size;
  }

  /** The largest value size accepted for this key. */
  public int limit() {
    return limit;
  }

  static String abbreviate(String key) {
    return key.length() <= 200 ? key : key.substring(0, 200) + "...(" + key.length() + " chars)";
  }
}

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

  /**
   * Creates the exception for a value of {@code size} bytes that memcached server {@code server}
   * refused as larger than its item size limit, which is below the client's.
   */
  ValueTooLargeException(String key, int size, String server) {
    super(
        "value too large for memcached server "
            + server
            + ": key="
            + abbreviate(key)
            + ", size="
            + size
            + " bytes; the server refused it, so its item size limit (-I) is below this client's"
            + " itemSizeMax; nothing was written and the key is invalidated on that server");
    this.key = key;
    this.size = size;
    this.limit = -1;
  }

  /** The key as the caller gave it. */
  public String key() {
    return key;
  }

  /** The size of the refused value in bytes. */
  public int size() {
    return size;
  }

  /**
   * The largest value size accepted for this key, or -1 if a server refused the value and its limit
   * is not known here.
   */
  public int limit() {
    return limit;
  }

  /**
   * The key for a message: whole up to 250 characters (every key memcached could carry as it is),
   * longer ones by their start and end, which tell apart keys that share a long prefix.
   */
  static String abbreviate(String key) {
    int n = key.length();
    return n <= 250
        ? key
        : key.substring(0, 200) + "..." + key.substring(n - 30) + " (" + n + " chars)";
  }
}

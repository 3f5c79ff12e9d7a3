package io.thingdb.listings;

import io.thingdb.cache.Cache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.core.ThingDbException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import javax.sql.DataSource;

/**
 * Listings stored durably in PostgreSQL, one row per listing key in {@code thingdb_listing(key,
 * version, data, updated_at)}, and fronted by the cache: a write publishes the encoded listing at
 * the row's version ({@link VersionedCache#publish}, so an older version never overwrites a newer
 * one), and a read that misses loads the row with stampede protection ({@link VersionedCache#load}:
 * one load per key at a time across the instances sharing the cache).
 *
 * <p>Listing keys are application strings such as {@code sr:5:hot}: 1 to 200 characters without
 * whitespace or control characters, and matching the pattern given to {@link Builder#keyPattern},
 * if any. A bad key is rejected with an {@link IllegalArgumentException} naming it; nothing is read
 * or written.
 *
 * <p>The store creates its table on the database it is given when built. It does not own the
 * DataSource or the cache. Thread-safe.
 */
public final class ListingStore implements AutoCloseable {
  static final String CACHE_PREFIX = "listing:";

  private final DataSource dataSource;
  private final VersionedCache cache;
  private final Duration ttl;
  private final ListingKeys keys;

  private ListingStore(Builder b) {
    this.dataSource = b.dataSource;
    this.cache = b.cache == null ? null : VersionedCache.builder(b.cache).build();
    this.ttl = b.ttl;
    this.keys = new ListingKeys(b.keyPattern);
  }

  /**
   * Returns a builder for a store on {@code dataSource} (the primary of the database that holds the
   * listings).
   *
   * @throws NullPointerException if {@code dataSource} is null
   */
  public static Builder builder(DataSource dataSource) {
    return new Builder(Objects.requireNonNull(dataSource, "dataSource must not be null"));
  }

  /**
   * Checks a listing key.
   *
   * @return {@code key}
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if it is empty, longer than 200 characters, holds whitespace
   *     or control characters, or does not match the configured pattern
   */
  public String checkKey(String key) {
    return keys.check(key);
  }

  /**
   * Reads one page of a listing: the visible entries strictly after {@code after} (from the top if
   * null), at most {@code limit} of them. Cache first; a miss loads the row once for all concurrent
   * readers. A listing that was never written reads as empty.
   *
   * @param key the listing key
   * @param after the cursor, or null for the first page
   * @param limit 1 to {@link Listing#MAX_PAGE_LIMIT}
   * @return the entries, in listing order
   * @throws IllegalArgumentException if the key or limit is bad
   * @throws ThingDbException if the database fails or the stored bytes are corrupt
   */
  public List<Listing.Entry> page(String key, Listing.Cursor after, int limit) {
    checkKey(key);
    if (limit < 1 || limit > Listing.MAX_PAGE_LIMIT) {
      throw new IllegalArgumentException(
          "page limit must be between 1 and "
              + Listing.MAX_PAGE_LIMIT
              + " (limit="
              + limit
              + ", key="
              + key
              + ")");
    }
    Optional<Listing> listing = get(key);
    if (listing.isEmpty()) {
      return List.of();
    }
    return after == null ? listing.get().page(limit) : listing.get().page(after, limit);
  }

  /**
   * The stored listing, cache first (stampede-protected), or empty if it was never written.
   *
   * @throws IllegalArgumentException if the key is bad
   * @throws ThingDbException if the database fails or the stored bytes are corrupt
   */
  public Optional<Listing> get(String key) {
    checkKey(key);
    byte[] bytes;
    if (cache == null) {
      Stored s = readFromDatabase(key);
      bytes = s == null ? null : s.data();
    } else {
      bytes =
          cache.load(
              CACHE_PREFIX + key,
              ttl,
              k -> {
                Stored s = readFromDatabase(key);
                return s == null ? Loaded.absent(0) : Loaded.of(s.data(), s.version());
              });
    }
    return bytes == null ? Optional.empty() : Optional.of(decode(key, bytes));
  }

  /**
   * Replaces a listing whole (a recompute): writes it with the row's version plus one, then
   * publishes it to the cache.
   *
   * @return the new version
   * @throws IllegalArgumentException if the key is bad
   * @throws ThingDbException if the database fails
   */
  public long put(String key, Listing listing) {
    checkKey(key);
    Objects.requireNonNull(listing, "listing must not be null (key=" + key + ")");
    byte[] data = listing.encode();
    long version;
    try (Connection c = dataSource.getConnection()) {
      try (PreparedStatement ps =
          c.prepareStatement(
              "insert into thingdb_listing as cur (key, version, data, updated_at)"
                  + " values (?, 1, ?, now()) on conflict (key) do update set version = cur.version + 1,"
                  + " data = excluded.data, updated_at = now() returning version")) {
        ps.setString(1, key);
        ps.setBytes(2, data);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          version = rs.getLong(1);
        }
      }
    } catch (SQLException e) {
      throw new ThingDbException("writing listing " + key + " failed: " + e.getMessage(), e);
    }
    publish(key, data, version);
    return version;
  }

  /** The durable copy of a listing, read from the database, bypassing the cache. */
  Stored readFromDatabase(String key) {
    try (Connection c = dataSource.getConnection()) {
      return read(c, key, false);
    } catch (SQLException e) {
      throw new ThingDbException("reading listing " + key + " failed: " + e.getMessage(), e);
    }
  }

  /** A stored row. */
  record Stored(long version, byte[] data) {}

  static Stored read(Connection c, String key, boolean forUpdate) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "select version, data from thingdb_listing where key = ?"
                + (forUpdate ? " for update" : ""))) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? new Stored(rs.getLong(1), rs.getBytes(2)) : null;
      }
    }
  }

  /**
   * Writes a listing at {@code expected + 1} if the row is still at {@code expected} (0: absent);
   * returns false if another writer got there first.
   */
  static boolean write(Connection c, String key, long expected, byte[] data) throws SQLException {
    String sql =
        expected == 0
            ? "insert into thingdb_listing (key, version, data, updated_at) values (?, 1, ?, now()) on conflict do nothing"
            : "update thingdb_listing set version = version + 1, data = ?, updated_at = now() where key = ? and version = ?";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      if (expected == 0) {
        ps.setString(1, key);
        ps.setBytes(2, data);
      } else {
        ps.setBytes(1, data);
        ps.setString(2, key);
        ps.setLong(3, expected);
      }
      return ps.executeUpdate() == 1;
    }
  }

  /** Publishes after COMMIT; never holds a database lock. */
  Result publish(String key, byte[] data, long version) {
    if (cache == null) {
      return Result.PUBLISHED;
    }
    return cache.publish(CACHE_PREFIX + key, data, version, ttl);
  }

  DataSource dataSource() {
    return dataSource;
  }

  static Listing decode(String key, byte[] bytes) {
    try {
      return Listing.decode(bytes);
    } catch (CorruptListingException | IllegalArgumentException e) {
      throw new ThingDbException("stored listing " + key + " is corrupt: " + e.getMessage(), e);
    }
  }

  static void createTable(DataSource dataSource) {
    try (Connection c = dataSource.getConnection();
        var st = c.createStatement()) {
      st.execute(
          "create table if not exists thingdb_listing (key text primary key, version bigint not null,"
              + " data bytea not null, updated_at timestamptz)");
    } catch (SQLException e) {
      throw new ThingDbException("creating table thingdb_listing failed: " + e.getMessage(), e);
    }
  }

  /** Closes the store's view of the cache; the cache and DataSource stay open. Idempotent. */
  @Override
  public void close() {
    if (cache != null) {
      cache.close();
    }
  }

  /** Builds a {@link ListingStore}. Not thread-safe; the built store copies its settings. */
  public static final class Builder {
    private final DataSource dataSource;
    private Cache cache;
    private Duration ttl = Duration.ofHours(1);
    private Pattern keyPattern;

    private Builder(DataSource dataSource) {
      this.dataSource = dataSource;
    }

    /**
     * Fronts the listings with this cache (pass the one the application's ThingDb uses). Without
     * one, every read goes to the database.
     */
    public Builder cache(Cache cache) {
      this.cache =
          Objects.requireNonNull(cache, "cache must not be null; omit the call for no cache");
      return this;
    }

    /**
     * How long a cached listing is fresh; writes publish every change, so this only bounds memory.
     * Default one hour.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder cacheTtl(Duration ttl) {
      Objects.requireNonNull(ttl, "cache ttl must not be null");
      if (ttl.isNegative() || ttl.isZero()) {
        throw new IllegalArgumentException("cache ttl must be positive: " + ttl);
      }
      this.ttl = ttl;
      return this;
    }

    /**
     * A regular expression every listing key must match whole, e.g. {@code (sr|user):\d+:[a-z:]+},
     * checked on top of the built-in rules.
     *
     * @throws IllegalArgumentException if the expression does not compile
     */
    public Builder keyPattern(String regex) {
      Objects.requireNonNull(regex, "key pattern must not be null");
      try {
        this.keyPattern = Pattern.compile(regex);
      } catch (PatternSyntaxException e) {
        throw new IllegalArgumentException(
            "listing key pattern does not compile: " + e.getMessage(), e);
      }
      return this;
    }

    /**
     * Creates {@code thingdb_listing} if missing and returns the store.
     *
     * @throws ThingDbException if the database fails
     */
    public ListingStore build() {
      createTable(dataSource);
      return new ListingStore(this);
    }
  }
}

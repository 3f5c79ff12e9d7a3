package io.thingdb.listings;

import io.thingdb.cache.Cache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.VersionedCache.Result;
import io.thingdb.core.CacheEpoch;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listings stored durably in PostgreSQL, one row per listing key in {@code thingdb_listing(key,
 * version, data, updated_at, unpublished_since)}, and fronted by the cache: a write publishes the
 * encoded listing at the row's version ({@link VersionedCache#publish}, so an older version never
 * overwrites a newer one), and a read that misses loads the row with stampede protection ({@link
 * VersionedCache#load}: one load per key at a time across the instances sharing the cache).
 *
 * <p>Publishing is durable in the way thingdb-core's outbox makes a thing's cache update durable:
 * with a cache, every write of a row also sets its {@code unpublished_since} (in the same
 * statement, so in the writer's transaction), and only a publish the cache confirmed clears it, for
 * that version only. A row still marked after the grace period belongs to a writer that crashed
 * between COMMIT and its publish, or whose publish the cache could not confirm (a node hung or
 * down); {@link #replayUnpublished} (run by {@link ListingProcessors}' worker threads every replay
 * interval) publishes the row's current version then, with the same versioned protocol, so it never
 * replaces a newer version, and clears the mark once the cache confirms. A cached listing is
 * therefore stale after a fault for at most the grace period plus the replay interval after the
 * node answers again, never until the next write to that listing or the TTL.
 *
 * <p>The cache holds a listing as its stored bytes followed by <em>moves</em> ({@link
 * CachedListing}): records that voters append after COMMIT, without reading the listing, so that a
 * vote shows in every reader's page within a cache round trip instead of after the queue's next
 * batch. A reader applies each move to the entry the listing holds for that thing if the move's
 * thing version is newer; a publish that replaces the value carries over the moves the new version
 * does not yet reflect. The stored copy never holds moves: the queue applies the same changes to it
 * durably.
 *
 * <p>Listing keys are application strings such as {@code sr:5:hot}: 1 to 200 characters without
 * whitespace or control characters, and matching the pattern given to {@link Builder#keyPattern},
 * if any. A bad key is rejected with an {@link IllegalArgumentException} naming it; nothing is read
 * or written.
 *
 * <p>Failover: with {@link Builder#cacheEpoch} the cache keys carry the cache epoch of the ThingDb
 * database that holds the listings ({@link ThingDb#cacheEpoch}: its primary's system identifier and
 * timeline), so that after a promotion no listing written by a transaction the new primary lost is
 * read from the cache (the new timeline reuses the lost versions' numbers, so only another key can
 * tell them apart). Each write returns the timeline it committed on (the same statement, no extra
 * round trip); its publish is made only if that is the timeline of the epoch the store uses now,
 * and otherwise left to {@link #replayUnpublished}, which publishes only rows read from a server on
 * that timeline. Votes' moves are appended under the epoch current before the vote's transaction (a
 * move lost that way is applied by the queue).
 *
 * <p>The store creates its table on the database it is given when built. It does not own the
 * DataSource or the cache. Thread-safe.
 */
public final class ListingStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ListingStore.class);

  /**
   * The cache keys' prefix. Cached values are in {@link CachedListing}'s form (the stored bytes
   * followed by voters' moves); the "2" keeps them apart from the bare stored bytes that earlier
   * versions cached under {@code listing:}.
   */
  static final String CACHE_PREFIX = "listing2:";

  /** Rows one {@link #replayUnpublished} call republishes at most. */
  static final int REPLAY_BATCH = 200;

  private final DataSource dataSource;
  private final VersionedCache cache;
  private final Duration ttl;
  private final ListingKeys keys;

  /** The ThingDb and database whose cache epoch keys the cached listings, or null for none. */
  private final ThingDb epochDb;

  private final String epochDatabase;

  private ListingStore(Builder b) {
    this.dataSource = b.dataSource;
    this.epochDb = b.epochDb;
    this.epochDatabase = b.epochDatabase;
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
   * The epoch the store keys its cached listings by now, or null without {@link
   * Builder#cacheEpoch}.
   */
  CacheEpoch epochNow() {
    return epochDb == null ? null : epochDb.cacheEpoch(epochDatabase);
  }

  /** The cache key of listing {@code key} under {@code epoch} (null: no epoch configured). */
  static String cacheKey(CacheEpoch epoch, String key) {
    return epoch == null ? CACHE_PREFIX + key : CACHE_PREFIX + epoch.token() + ":" + key;
  }

  /**
   * The timeline of the server a write runs on, returned by the write's own statement when the
   * store keys by epoch (empty otherwise).
   */
  private String timelineColumn() {
    return epochDb == null
        ? ""
        : ", ('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int";
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
              cacheKey(epochNow(), key),
              ttl,
              k -> {
                Stored s = readFromDatabase(key);
                return s == null
                    ? Loaded.absent(0)
                    : Loaded.of(CachedListing.wrap(s.data()), s.version());
              });
      return bytes == null ? Optional.empty() : Optional.of(decodeCached(key, bytes));
    }
    return bytes == null ? Optional.empty() : Optional.of(decode(key, bytes));
  }

  /**
   * Moves a thing in cached listings right away, ahead of the queue: appends to each listing's
   * cached value a record of the thing's new sort value at its new version ({@link CachedListing}),
   * which readers apply to the entry the listing holds for the thing, if it is older. The appends
   * are sent without waiting for answers ({@link VersionedCache#appendQuietly}): a listing that is
   * not cached, or that does not hold the thing, or whose append is lost, is left to the queue,
   * which applies the same change durably. Called by {@link Votes} after a vote's COMMIT. Never
   * throws: the queue has the change whatever happens here.
   *
   * @param epoch the epoch current before the change's transaction ({@link #epochNow}): a move sent
   *     under it cannot reach the listings of a later timeline, where the change may be lost
   * @param keys listing keys (checked by the caller)
   * @param id the thing
   * @param version the thing's version after the change
   * @param values the thing's new sort value in each listing, in the order of {@code keys}
   */
  void move(CacheEpoch epoch, List<String> keys, long id, long version, double[] values) {
    if (cache == null) {
      return;
    }
    for (int i = 0; i < keys.size(); i++) {
      try {
        cache.appendQuietly(
            cacheKey(epoch, keys.get(i)), CachedListing.move(id, version, values[i]));
      } catch (RuntimeException e) {
        log.debug("moving {} v{} in cached listing {} failed", id, version, keys.get(i), e);
      }
    }
  }

  /**
   * Replaces a listing whole (a recompute): writes it with the row's version plus one, marked
   * unpublished, then publishes it to the cache and clears the mark once the cache confirmed (see
   * the class comment for the repair of a publish that fails).
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
    int timeline;
    try (Connection c = dataSource.getConnection()) {
      try (PreparedStatement ps =
          c.prepareStatement(
              "insert into thingdb_listing as cur (key, version, data, updated_at, unpublished_since)"
                  + " values (?, 1, ?, now(), "
                  + (cache == null ? "null" : "now()")
                  + ") on conflict (key) do update set version = cur.version + 1,"
                  + " data = excluded.data, updated_at = now(),"
                  + " unpublished_since = coalesce(cur.unpublished_since, excluded.unpublished_since)"
                  + " returning version"
                  + timelineColumn())) {
        ps.setString(1, key);
        ps.setBytes(2, data);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          version = rs.getLong(1);
          timeline = epochDb == null ? 0 : rs.getInt(2);
        }
      }
    } catch (SQLException e) {
      throw new ThingDbException("writing listing " + key + " failed: " + e.getMessage(), e);
    }
    publishDurably(key, data, version, timeline);
    return version;
  }

  /**
   * After COMMIT of {@code version} on {@code timeline} ({@link #write}; 0 without epochs):
   * publishes it and, if the cache confirmed, clears the row's unpublished mark (that version
   * only). Never throws: the write is committed, and a publish that failed is left to {@link
   * #replayUnpublished}.
   *
   * @return whether the cache confirmed the publish and the mark was cleared
   */
  boolean publishDurably(String key, byte[] data, long version, int timeline) {
    if (cache == null) {
      return true;
    }
    try {
      if (publish(key, data, version, timeline) == Result.UNCONFIRMED) {
        log.debug(
            "publish of listing {} v{} unconfirmed; the unpublished replay covers it",
            key,
            version);
        return false;
      }
      markPublished(List.of(new Published(key, version)));
      return true;
    } catch (RuntimeException e) {
      log.warn(
          "publishing listing {} v{} to the cache failed ({}); the unpublished replay will publish it",
          key,
          version,
          e.toString());
      return false;
    }
  }

  /** A listing version whose publish the cache confirmed. */
  record Published(String key, long version) {}

  /**
   * Clears the unpublished mark of each row still at the given version (a row written again since
   * keeps its mark until its own publish is confirmed). One statement.
   *
   * @throws ThingDbException if the database fails (the marks stay; the replay clears them later)
   */
  void markPublished(Collection<Published> published) {
    if (published.isEmpty()) {
      return;
    }
    String[] keys = new String[published.size()];
    long[] versions = new long[published.size()];
    int i = 0;
    for (Published p : published) {
      keys[i] = p.key();
      versions[i++] = p.version();
    }
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "update thingdb_listing l set unpublished_since = null from unnest(?::text[], ?::bigint[])"
                    + " as p(key, version) where l.key = p.key and l.version = p.version"
                    + " and l.unpublished_since is not null")) {
      ps.setArray(1, c.createArrayOf("text", keys));
      ps.setObject(2, versions);
      ps.executeUpdate();
    } catch (SQLException e) {
      throw new ThingDbException(
          "clearing the unpublished mark of "
              + published.size()
              + " listings (first "
              + keys[0]
              + ") failed: "
              + e.getMessage(),
          e);
    }
  }

  /**
   * Publishes every listing whose publish has not been confirmed for longer than {@code grace}
   * (oldest first, at most {@value #REPLAY_BATCH} per call) at the row's current version, and
   * clears the marks the cache confirmed. Safe to run from any number of instances at once: a
   * publish never replaces a newer version. Without a cache there is nothing to do.
   *
   * @param grace how long a writer has to confirm its own publish before others repeat it
   * @return how many listings were republished and confirmed
   * @throws ThingDbException if the database fails
   */
  int replayUnpublished(Duration grace) {
    if (cache == null) {
      return 0;
    }
    record Row(String key, long version, byte[] data, int timeline) {}
    List<Row> rows = new ArrayList<>();
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select key, version, data"
                    + timelineColumn()
                    + " from thingdb_listing where unpublished_since"
                    + " < now() - ? * interval '1 millisecond' order by unpublished_since limit "
                    + REPLAY_BATCH)) {
      ps.setLong(1, grace.toMillis());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(
              new Row(
                  rs.getString(1),
                  rs.getLong(2),
                  rs.getBytes(3),
                  epochDb == null ? 0 : rs.getInt(4)));
        }
      }
    } catch (SQLException e) {
      throw new ThingDbException("reading the unpublished listings failed: " + e.getMessage(), e);
    }
    List<Published> confirmed = new ArrayList<>();
    for (Row r : rows) {
      Result result;
      try {
        // The rows are this server's: published only under the epoch of its timeline.
        result = publish(r.key(), r.data(), r.version(), r.timeline());
      } catch (RuntimeException e) {
        log.debug("republishing listing {} v{} failed: {}", r.key(), r.version(), e.toString());
        continue;
      }
      if (result != Result.UNCONFIRMED) {
        confirmed.add(new Published(r.key(), r.version()));
      }
    }
    markPublished(confirmed);
    if (!confirmed.isEmpty()) {
      log.info(
          "republished {} listings whose publish after COMMIT had not been confirmed ({} still"
              + " pending)",
          confirmed.size(),
          rows.size() - confirmed.size());
    }
    return confirmed.size();
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
   * returns -1 if another writer got there first, else the timeline the write runs on (0 without
   * {@link Builder#cacheEpoch}), which its {@link #publish} needs. With a cache the row is marked
   * unpublished in the same statement (the earliest unconfirmed write's time is kept), so the mark
   * commits with the write; {@link #publishDurably} clears it.
   */
  int write(Connection c, String key, long expected, byte[] data) throws SQLException {
    String mark = cache == null ? "null" : "now()";
    String sql =
        (expected == 0
                ? "insert into thingdb_listing (key, version, data, updated_at, unpublished_since)"
                    + " values (?, 1, ?, now(), "
                    + mark
                    + ") on conflict do nothing"
                : "update thingdb_listing set version = version + 1, data = ?, updated_at = now(),"
                    + " unpublished_since = coalesce(unpublished_since, "
                    + mark
                    + ") where key = ? and version = ?")
            + " returning 1"
            + timelineColumn();
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      if (expected == 0) {
        ps.setString(1, key);
        ps.setBytes(2, data);
      } else {
        ps.setBytes(1, data);
        ps.setString(2, key);
        ps.setLong(3, expected);
      }
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return -1;
        }
        return epochDb == null ? 0 : rs.getInt(2);
      }
    }
  }

  /**
   * Publishes after COMMIT; never holds a database lock. With {@link Builder#cacheEpoch}, only if
   * {@code timeline} (the one the write committed on) is that of the epoch the store uses now:
   * otherwise the write may be one the current timeline lost, or one this instance has not learned
   * the timeline of yet, and it returns {@link Result#UNCONFIRMED} without publishing, which leaves
   * the row marked for {@link #replayUnpublished}.
   */
  Result publish(String key, byte[] data, long version, int timeline) {
    if (cache == null) {
      return Result.PUBLISHED;
    }
    CacheEpoch epoch = epochNow();
    if (epoch != null && epoch.timeline() != timeline) {
      log.debug(
          "listing {} v{} was written on timeline {}, the cache epoch is {}: left to the replay",
          key,
          version,
          timeline,
          epoch);
      return Result.UNCONFIRMED;
    }
    return cache.publish(
        cacheKey(epoch, key),
        CachedListing.wrap(data),
        version,
        ttl,
        (buf, offset, length) -> {
          if (!CachedListing.hasMoves(buf, offset, length)) {
            return NO_MOVES; // the usual case: nothing appended to the value being replaced
          }
          try {
            return CachedListing.carry(buf, offset, length, ListingCodec.decode(data));
          } catch (CorruptListingException e) {
            log.warn(
                "cached listing {} was damaged; replaced without its moves: {}",
                key,
                e.getMessage());
            return NO_MOVES;
          }
        });
  }

  private static final byte[] NO_MOVES = new byte[0];

  static Listing decodeCached(String key, byte[] bytes) {
    try {
      return CachedListing.decode(bytes, 0, bytes.length);
    } catch (CorruptListingException | IllegalArgumentException e) {
      throw new ThingDbException("cached listing " + key + " is corrupt: " + e.getMessage(), e);
    }
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
      // Added after the first release: tables created before it gain the column here.
      st.execute(
          "alter table thingdb_listing add column if not exists unpublished_since timestamptz");
      st.execute(
          "create index if not exists thingdb_listing_unpublished on thingdb_listing"
              + " (unpublished_since) where unpublished_since is not null");
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
    private ThingDb epochDb;
    private String epochDatabase;

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
     * Keys the cached listings by the cache epoch of {@code database} of {@code db} ({@link
     * ThingDb#cacheEpoch}): the ThingDb database whose primary the store's DataSource reaches, so
     * that after a promotion the listings cached before it are not read again (see the class
     * comment). Without it the keys carry no epoch (as before this option existed), which is right
     * only for a database that never fails over with asynchronous replication.
     *
     * @throws IllegalArgumentException if {@code db} has no such database
     */
    public Builder cacheEpoch(ThingDb db, String database) {
      Objects.requireNonNull(db, "db must not be null");
      Objects.requireNonNull(database, "database must not be null");
      db.cacheEpoch(database); // names the configured databases if there is no such one
      this.epochDb = db;
      this.epochDatabase = database;
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

package io.thingdb.core;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A query over the things of one type: a {@link Filter}, a {@link Sort}, a limit and a keyset
 * cursor, run with {@link ThingDb#query(ThingQuery)}.
 *
 * <pre>{@code
 * ThingQuery q = ThingQuery.of(LINK).where(Filter.eq(SUBREDDIT, "java")).sort(Sort.HOT).limit(25);
 * ThingQuery.Result page = db.query(session, q);
 * page.next().ifPresent(cursor -> db.query(session, q.after(cursor)));
 * }</pre>
 *
 * <h2>Defaults</h2>
 *
 * No filter (every thing), {@link Sort#DATE} (newest first), limit 25, deleted and spam things
 * excluded, no result caching.
 *
 * <h2>Pagination</h2>
 *
 * {@link #after(String)} continues strictly after the named thing in the sort order, at the
 * position its sort value has <em>when the next page is read</em> (computed in SQL from the thing's
 * current row): pages never repeat or skip a thing whose sort value does not change in between,
 * whatever is inserted meanwhile. Things inserted ahead of the cursor are not shown; things whose
 * sort value moves across the cursor between two pages (a vote under {@link Sort#HOT}) can be seen
 * twice or not at all, as in every keyset pagination over live data. The cursor thing itself need
 * not match the filter; it must still exist (ThingDB only soft-deletes, so it does unless removed
 * by hand), else the query fails with {@link NotFoundException}.
 *
 * <p>Immutable and thread-safe: every method returns a new query, validated at once.
 */
public final class ThingQuery {
  /** The most things one page may hold. */
  public static final int MAX_LIMIT = 1000;

  /** The page size when {@link #limit} is not called. */
  public static final int DEFAULT_LIMIT = 25;

  private final ThingType type;
  private final Filter filter;
  private final Sort sort;
  private final int limit;
  private final String cursorText;
  private final int cursorTypeId;
  private final long cursorId;
  private final boolean includeDeleted;
  private final boolean includeSpam;
  private final Duration cacheTtl;

  private ThingQuery(
      ThingType type,
      Filter filter,
      Sort sort,
      int limit,
      String cursorText,
      int cursorTypeId,
      long cursorId,
      boolean includeDeleted,
      boolean includeSpam,
      Duration cacheTtl) {
    this.type = type;
    this.filter = filter;
    this.sort = sort;
    this.limit = limit;
    this.cursorText = cursorText;
    this.cursorTypeId = cursorTypeId;
    this.cursorId = cursorId;
    this.includeDeleted = includeDeleted;
    this.includeSpam = includeSpam;
    this.cacheTtl = cacheTtl;
  }

  /** A query over every (not deleted, not spam) thing of {@code type}, newest first. */
  public static ThingQuery of(ThingType type) {
    Objects.requireNonNull(type, "type must not be null");
    return new ThingQuery(type, null, Sort.DATE, DEFAULT_LIMIT, null, 0, 0, false, false, null);
  }

  /**
   * Adds a condition; several calls combine with {@code and}.
   *
   * @throws IllegalArgumentException if the filter uses a prop the type does not declare
   */
  public ThingQuery where(Filter filter) {
    Objects.requireNonNull(filter, "filter must not be null");
    filter.checkProps(type);
    Filter combined = this.filter == null ? filter : Filter.and(this.filter, filter);
    return new ThingQuery(
        type,
        combined,
        sort,
        limit,
        cursorText,
        cursorTypeId,
        cursorId,
        includeDeleted,
        includeSpam,
        cacheTtl);
  }

  /**
   * The order (default {@link Sort#DATE}).
   *
   * @throws IllegalArgumentException if it sorts by a prop the type does not declare
   */
  public ThingQuery sort(Sort sort) {
    Objects.requireNonNull(sort, "sort must not be null");
    if (sort.prop() != null) {
      type.check(sort.prop());
    }
    return new ThingQuery(
        type,
        filter,
        sort,
        limit,
        cursorText,
        cursorTypeId,
        cursorId,
        includeDeleted,
        includeSpam,
        cacheTtl);
  }

  /**
   * The page size, 1 to {@value #MAX_LIMIT} (default {@value #DEFAULT_LIMIT}).
   *
   * @throws IllegalArgumentException if out of range
   */
  public ThingQuery limit(int limit) {
    if (limit < 1 || limit > MAX_LIMIT) {
      throw new IllegalArgumentException("limit must be between 1 and " + MAX_LIMIT + ": " + limit);
    }
    return new ThingQuery(
        type,
        filter,
        sort,
        limit,
        cursorText,
        cursorTypeId,
        cursorId,
        includeDeleted,
        includeSpam,
        cacheTtl);
  }

  /**
   * Continues strictly after the thing named by {@code fullname} (normally {@link Result#next()} of
   * the previous page). That the fullname names this query's type is checked when the query runs,
   * since type ids are assigned by the {@link ThingDb}.
   *
   * @throws IllegalArgumentException if {@code fullname} is malformed or names a relation
   */
  public ThingQuery after(String fullname) {
    Objects.requireNonNull(fullname, "cursor must not be null");
    Fullnames.Parsed p;
    try {
      p = Fullnames.parse(fullname);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("bad cursor for after(): " + e.getMessage(), e);
    }
    if (p.relation()) {
      throw new IllegalArgumentException(
          "bad cursor for after(): '" + fullname + "' names a relation, not a thing");
    }
    return new ThingQuery(
        type,
        filter,
        sort,
        limit,
        fullname,
        p.typeId(),
        p.id(),
        includeDeleted,
        includeSpam,
        cacheTtl);
  }

  /**
   * Continues strictly after the thing of this type with id {@code id}.
   *
   * @throws IllegalArgumentException if the id is below 1
   */
  public ThingQuery after(long id) {
    Engine.checkId(type, id);
    return new ThingQuery(
        type, filter, sort, limit, Long.toString(id), 0, id, includeDeleted, includeSpam, cacheTtl);
  }

  /** Includes soft-deleted things. */
  public ThingQuery includeDeleted() {
    return new ThingQuery(
        type, filter, sort, limit, cursorText, cursorTypeId, cursorId, true, includeSpam, cacheTtl);
  }

  /** Includes things marked as spam. */
  public ThingQuery includeSpam() {
    return new ThingQuery(
        type,
        filter,
        sort,
        limit,
        cursorText,
        cursorTypeId,
        cursorId,
        includeDeleted,
        true,
        cacheTtl);
  }

  /**
   * Caches the page's id list for {@code ttl} under a key derived from the query (a SHA-256 of its
   * SQL text, parameters and type) and the type's <em>generation</em>: a counter in the cache
   * ({@code gen:<type>}) that writes to the type through {@link ThingDb} bump after COMMIT, so a
   * run after the bump uses a new key and reads the database. Concurrent misses of one key load it
   * once (stampede protection of {@code VersionedCache.load}). The things themselves still come
   * from the write-through thing cache, so they are current; only the id list (which things match,
   * in which order) can be old.
   *
   * <p><b>How long a list cached before a write can be served after it returns.</b>
   *
   * <ul>
   *   <li>By the instance that wrote: never. Creates bump before they return; updates and
   *       increments leave the bump owed, and this instance's next generation read sends it.
   *   <li>By other instances: until the owed bump lands, at most {@link
   *       ThingDbBuilder#queryCacheBumpDelay} (default 10 ms) plus one cache write after the write
   *       returned (one bump per type per delay carries all its writes).
   *   <li>If the writer dies before its bump, or the cache cannot confirm the write's cache update:
   *       until the outbox replay of any instance bumps the type, at most {@link
   *       ThingDbBuilder#outboxReplayInterval} plus {@link ThingDbBuilder#outboxGrace}.
   *   <li>If a bump reaches the server but is not confirmed (a timeout): until MemcachedCache has
   *       reconciled that server, which deletes the counter; it is then re-created above every
   *       older value. Writes that bypass {@code ThingDb} are never seen before {@code ttl}.
   * </ul>
   *
   * If the generation cannot be read, the query is not cached and goes to the database. A lost
   * counter (node restart, eviction) is re-created from the clock in microseconds, above every
   * generation this instance has used, so it moves forward and never matches an older cached list.
   * With replicas, cached lists are loaded on the primary: a replica's snapshot may predate a write
   * whose bump the key already carries, and the list would then be shared by every reader until the
   * TTL. Without a cache ({@code noCache()}) this setting has no effect.
   *
   * @throws IllegalArgumentException if {@code ttl} is not positive
   */
  public ThingQuery cached(Duration ttl) {
    Objects.requireNonNull(ttl, "ttl must not be null");
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("query cache ttl must be positive: " + ttl);
    }
    return new ThingQuery(
        type,
        filter,
        sort,
        limit,
        cursorText,
        cursorTypeId,
        cursorId,
        includeDeleted,
        includeSpam,
        ttl);
  }

  /** The type queried. */
  public ThingType type() {
    return type;
  }

  Filter filter() {
    return filter;
  }

  Sort sortOrder() {
    return sort;
  }

  int pageSize() {
    return limit;
  }

  /** The cursor as given ({@code fullname} or decimal id), or null. */
  String cursorText() {
    return cursorText;
  }

  /** The type id the cursor's fullname names, or 0 for a cursor given by id (or none). */
  int cursorTypeId() {
    return cursorTypeId;
  }

  /** The cursor thing's id, or 0 for none. */
  long cursorId() {
    return cursorId;
  }

  boolean deletedIncluded() {
    return includeDeleted;
  }

  boolean spamIncluded() {
    return includeSpam;
  }

  /** The query cache TTL, or null if not cached. */
  Duration cacheTtl() {
    return cacheTtl;
  }

  @Override
  public String toString() {
    return "ThingQuery{"
        + type.name()
        + (filter == null ? "" : " where " + filter)
        + " sort "
        + sort
        + " limit "
        + limit
        + (cursorText == null ? "" : " after " + cursorText)
        + (includeDeleted ? " +deleted" : "")
        + (includeSpam ? " +spam" : "")
        + (cacheTtl == null ? "" : " cached " + cacheTtl)
        + "}";
  }

  /**
   * One page of a query: its things in sort order and the cursor of the next page. Immutable and
   * thread-safe.
   */
  public static final class Result {
    private final List<Thing> things;
    private final String next;

    Result(List<Thing> things, String next) {
      this.things = List.copyOf(things);
      this.next = next;
    }

    /**
     * The things of the page, in sort order. They are loaded after the query chose their ids (cache
     * first), so each is as it is now: a thing changed in between is returned with its new values,
     * and one deleted or marked as spam in between is left out (unless included), so a page can
     * hold fewer things than the limit while {@link #next()} is present.
     */
    public List<Thing> things() {
      return things;
    }

    /**
     * The cursor for the next page ({@link ThingQuery#after(String)}): the fullname of the last
     * thing the query matched on this page, present when more things followed it.
     */
    public Optional<String> next() {
      return Optional.ofNullable(next);
    }

    @Override
    public String toString() {
      return "Result{" + things.size() + " things" + (next == null ? "" : ", next " + next) + "}";
    }
  }
}

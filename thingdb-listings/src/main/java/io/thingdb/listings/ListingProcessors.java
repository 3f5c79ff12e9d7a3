package io.thingdb.listings;

import io.thingdb.cache.VersionedCache;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingQuery;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listing-queue processors: worker threads (in this process, or in several processes sharing the
 * database) that apply the queued listing-update jobs.
 *
 * <p>Work is claimed by listing, not by job. A worker reads which listings have jobs (one statement
 * that walks the job table's {@code (listing_key, id)} index, oldest job first), claims one with a
 * transaction-scoped advisory lock taken without waiting (a listing another worker holds, in this
 * process or another, is skipped), takes all of that key's pending jobs, and applies them to the
 * stored listing as one versioned read-modify-write in the same transaction: load the things at
 * least at their committed versions ({@link ThingDb#getLatest}), upsert live things that still
 * belong to the listing and remove the others, refill from the database with the listing's query
 * when {@link Listing#needsRefill()}, write the row at version + 1 ({@code where version = ?})
 * marked unpublished, COMMIT, and only then publish to the cache (no lock is held across a cache
 * call). A hot listing is worked on by one worker at a time, so adding workers never adds
 * contention on it; writers never wait for a worker either, since a job is only an insert.
 *
 * <p>A publish the cache confirmed clears the row's unpublished mark; one it could not confirm (a
 * node hung or down), and the publish of a processor that died after COMMIT, are repeated by any
 * instance's worker threads every {@link Builder#replayInterval} for rows marked longer than {@link
 * Builder#replayGrace} ({@link #replayUnpublished()}): a cached listing is current again within the
 * grace plus the interval once its node answers (see {@link ListingStore}).
 *
 * <p>The worker threads also pace each listing: they claim a listing only if its row was last
 * written at least {@link Builder#writeInterval} ago, so the jobs of a hot listing that arrive
 * meanwhile are applied together. Without pacing, every idle worker would claim a hot listing as
 * soon as one job arrived, and adding workers would multiply the listing writes (and the CPU they
 * take from the writers) instead of the throughput. A quiet listing is written as soon as a worker
 * looks. {@link #processOne()} and {@link #drain()} do not pace: they apply what is queued now.
 *
 * <p>Jobs are at-least-once and idempotent: a job only says "re-evaluate thing X in listing K", and
 * applying one twice changes nothing. A worker that throws or dies mid-batch loses nothing: its
 * transaction rolls back, its claim is released, and the jobs are there for the next worker. A
 * listing whose batch failed is left out of this instance's claims for {@value
 * #RETRY_FAILED_MILLIS} ms, so one that fails every time (a routing bug, a corrupt row) never
 * starves the others.
 *
 * <p>Thread-safe. {@link #close()} stops the threads it started and waits for them.
 */
public final class ListingProcessors implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ListingProcessors.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final ThingDb db;
  private final DataSource dataSource;
  private final ListingStore store;
  private final ListingRouting routing;
  private final int threads;
  private final Duration idleWait;
  private final long writeIntervalMicros;
  private final Clock clock;
  private final BatchHook hook;
  private final List<Thread> workers = new ArrayList<>();
  private final LongAdder batches = new LongAdder();
  private final LongAdder jobsApplied = new LongAdder();
  private final LongAdder jobAgeMicros = new LongAdder();
  private final LongAdder listingWrites = new LongAdder();
  private final LongAdder conflicts = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder refills = new LongAdder();
  private final LongAdder unconfirmed = new LongAdder();
  private final LongAdder republished = new LongAdder();
  private final Duration replayInterval;
  private final Duration replayGrace;
  private final ConcurrentLinkedQueue<ListingStore.Published> confirmed =
      new ConcurrentLinkedQueue<>();
  private final AtomicLong nextFlush = new AtomicLong(System.nanoTime());
  private final AtomicLong nextReplay;
  private volatile boolean running;

  /** How often the worker threads clear the unpublished marks of confirmed publishes. */
  static final long FLUSH_EVERY_MILLIS = 50;

  /** System.nanoTime() of the first failure since the workers last worked; 0 while they work. */
  private final AtomicLong failingSince = new AtomicLong();

  /** A test and instrumentation hook called inside the batch transaction before COMMIT. */
  @FunctionalInterface
  interface BatchHook {
    void beforeCommit(Connection c, String key, int jobs) throws Exception;
  }

  private ListingProcessors(Builder b) {
    this.db = b.db;
    this.dataSource = b.dataSource;
    this.store = b.store;
    this.routing = b.routing;
    this.threads = b.threads;
    this.idleWait = b.idleWait;
    this.writeIntervalMicros = b.writeInterval.toNanos() / 1000;
    this.clock = b.clock;
    this.hook = b.hook;
    this.replayInterval = b.replayInterval;
    this.replayGrace = b.replayGrace;
    this.nextReplay = new AtomicLong(System.nanoTime() + b.replayInterval.toNanos());
  }

  /**
   * Returns a builder.
   *
   * @param db the application's ThingDb (loads things and runs refill queries)
   * @param dataSource the primary of the database holding the queue (the voted types' database)
   * @param store the listing store (on the same database)
   * @param routing the routing that {@link Votes} uses
   */
  public static Builder builder(
      ThingDb db, DataSource dataSource, ListingStore store, ListingRouting routing) {
    return new Builder(db, dataSource, store, routing);
  }

  /**
   * Starts the worker threads. Each loops: claim and apply, one batch each, the listings that have
   * jobs and were not written within the write interval; when there are none, sleep the idle wait.
   * Between batches one of them clears the marks of confirmed publishes (every {@value
   * #FLUSH_EVERY_MILLIS} ms) and runs {@link #replayUnpublished()} (every replay interval).
   *
   * @throws IllegalStateException if already started
   */
  public synchronized ListingProcessors start() {
    if (running || !workers.isEmpty()) {
      throw new IllegalStateException(
          "listing processors already started (threads=" + threads + ")");
    }
    running = true;
    int instance = INSTANCES.incrementAndGet();
    for (int i = 0; i < threads; i++) {
      Thread t = new Thread(this::loop, "thingdb-listings-" + instance + "-" + i);
      t.setDaemon(true);
      workers.add(t);
      t.start();
    }
    return this;
  }

  private void loop() {
    while (running) {
      housekeeping();
      int done;
      try {
        done = pass();
        working();
      } catch (RuntimeException e) {
        failures.increment();
        failing(e);
        done = -1;
      }
      // After a pass that found nothing, the idle wait; after one that worked, with pacing on,
      // half the write interval (at most the idle wait): the listings it wrote cannot be written
      // again before that, and the jobs that arrive meanwhile are applied in one batch each.
      long sleepMillis =
          done < 0
              ? idleWait.toMillis()
              : Math.min(idleWait.toMillis(), writeIntervalMicros / 2_000);
      if (sleepMillis > 0) {
        try {
          Thread.sleep(sleepMillis);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /**
   * A worker's batch failed. A database outage fails every batch of every worker, many times a
   * second: the first failure since the workers last worked is logged at WARN in one line, the
   * others (and every stack trace) at DEBUG, and {@link #working} logs the recovery.
   */
  private void failing(RuntimeException e) {
    if (failingSince.compareAndSet(0, System.nanoTime())) {
      log.warn(
          "listing processing fails; batches roll back and their jobs stay queued, unpublished"
              + " marks stay for the replay; retrying every {} ms, logging again when a batch"
              + " works ({})",
          idleWait.toMillis(),
          e.toString());
    }
    log.debug("listing processing failed; its jobs and marks stay", e);
  }

  private void working() {
    long since = failingSince.get();
    if (since != 0 && failingSince.compareAndSet(since, 0)) {
      log.info(
          "listing batches work again after {} ms of failures",
          (System.nanoTime() - since) / 1_000_000);
    }
  }

  /**
   * Claims one listing with queued jobs (the one whose oldest job is oldest, among those no other
   * worker holds) and applies all its pending jobs in one transaction.
   *
   * @return the number of jobs applied, or -1 if no listing had jobs (or all were claimed)
   * @throws ThingDbException if the database fails or the batch fails; the batch is rolled back and
   *     stays queued
   */
  public int processOne() {
    int n = -1;
    for (String key : candidates(0)) {
      n = process(key, 0);
      if (n >= 0) {
        break;
      }
    }
    if (!confirmed.isEmpty()) {
      flushConfirmed();
    }
    return n;
  }

  /**
   * One pass of a worker: claims and applies, one transaction each, every listing that has jobs and
   * was not written within the write interval, oldest job first.
   *
   * @return the jobs applied, or -1 if there was nothing to claim
   */
  private int pass() {
    int total = -1;
    for (String key : candidates(writeIntervalMicros)) {
      if (!running) {
        break;
      }
      housekeeping();
      int n = process(key, writeIntervalMicros);
      if (n >= 0) {
        total = Math.max(total, 0) + n;
      }
    }
    return total;
  }

  /**
   * The listings with queued jobs, the one with the oldest job first, without those written within
   * {@code paceMicros} and those whose batch failed within the last {@link #RETRY_FAILED_MILLIS}
   * ms. One statement, which walks the job index by key (a loose index scan: one probe per listing,
   * whatever the number of jobs).
   */
  private List<String> candidates(long paceMicros) {
    List<String> keys = new ArrayList<>();
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(CANDIDATES)) {
      ps.setLong(1, paceMicros);
      try (ResultSet rs = ps.executeQuery()) {
        long now = System.nanoTime();
        while (rs.next()) {
          String key = rs.getString(1);
          Long failed = failedAt.get(key);
          if (failed != null) {
            if (now - failed < RETRY_FAILED_MILLIS * 1_000_000) {
              continue;
            }
            failedAt.remove(key, failed);
          }
          keys.add(key);
        }
      }
    } catch (SQLException e) {
      throw new ThingDbException(
          "finding the listings with queued jobs failed: " + e.getMessage(), e);
    }
    return keys;
  }

  /**
   * Each listing key with jobs, with its oldest job's id, by recursion over the (listing_key, id)
   * index; then those not written within the pace ({@code ?}, microseconds), oldest job first.
   */
  private static final String CANDIDATES =
      "with recursive k as ("
          + " (select listing_key, id from thingdb_listing_job order by listing_key, id limit 1)"
          + " union all"
          + " select n.listing_key, n.id from k, lateral (select j.listing_key, j.id from thingdb_listing_job j"
          + " where j.listing_key > k.listing_key order by j.listing_key, j.id limit 1) n)"
          + " select k.listing_key from k where not exists (select 1 from thingdb_listing l"
          + " where l.key = k.listing_key and l.updated_at > now() - ? * interval '1 microsecond')"
          + " order by k.id";

  /** How long a listing whose batch failed is left out of the claims, so it starves no other. */
  static final long RETRY_FAILED_MILLIS = 1_000;

  /** System.nanoTime() of each listing's last failed batch, for {@link #RETRY_FAILED_MILLIS}. */
  private final Map<String, Long> failedAt = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Claims {@code key} (a transaction-scoped advisory lock, taken without waiting: a listing held
   * by another worker, here or in another process, is skipped) and applies its jobs.
   *
   * @return the jobs applied; -1 if another worker holds the listing, or it was written within
   *     {@code paceMicros} (checked with the claim), or it has no jobs left
   */
  private int process(String key, long paceMicros) {
    Batch done;
    try (Connection c = dataSource.getConnection()) {
      c.setAutoCommit(false);
      try {
        if (!claim(c, key, paceMicros)) {
          c.rollback();
          return -1;
        }
        done = apply(c, key);
        if (done == null) {
          c.rollback();
          conflicts.increment();
          return 0;
        }
        if (done.jobs == 0) {
          c.rollback();
          return -1;
        }
        hook.beforeCommit(c, key, done.jobs);
        c.commit();
      } catch (Exception e) {
        try {
          c.rollback();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        failures.increment();
        failedAt.put(key, System.nanoTime());
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        if (e instanceof ThingDbException te) {
          throw te;
        }
        throw new ThingDbException(
            "listing batch for "
                + key
                + " failed and was rolled back; its jobs stay queued: "
                + e.getMessage(),
            e);
      }
    } catch (SQLException e) {
      failedAt.put(key, System.nanoTime());
      throw new ThingDbException(
          "listing batch for " + key + " failed: " + e.getMessage() + "; its jobs stay queued", e);
    }
    batches.increment();
    jobsApplied.add(done.jobs);
    jobAgeMicros.add(done.ageMicros);
    if (done.data != null) {
      listingWrites.increment();
      publish(key, done);
    }
    return done.jobs;
  }

  /**
   * After COMMIT: publishes the batch's listing. The row was marked unpublished in the batch's
   * transaction; a confirmed publish queues the mark's removal (sent in one statement for all the
   * batches of the last {@link #FLUSH_EVERY_MILLIS}), anything else leaves it for the replay.
   */
  private void publish(String key, Batch done) {
    VersionedCache.Result r;
    try {
      r = store.publish(key, done.data, done.version, done.timeline);
    } catch (RuntimeException e) {
      log.warn(
          "publishing listing {} v{} to the cache failed ({}); the unpublished replay will publish it",
          key,
          done.version,
          e.toString());
      return;
    }
    if (r == VersionedCache.Result.UNCONFIRMED) {
      unconfirmed.increment();
      log.debug(
          "publish of listing {} v{} unconfirmed; the unpublished replay will publish it",
          key,
          done.version);
    } else {
      confirmed.add(new ListingStore.Published(key, done.version));
    }
  }

  /** Clears the unpublished marks of the confirmed publishes queued so far. */
  private void flushConfirmed() {
    List<ListingStore.Published> batch = new ArrayList<>();
    ListingStore.Published p;
    while (batch.size() < 10_000 && (p = confirmed.poll()) != null) {
      batch.add(p);
    }
    try {
      store.markPublished(batch);
    } catch (RuntimeException e) {
      // The marks stay; the replay republishes those versions (SUPERSEDED or PUBLISHED) and
      // clears them. Logged as part of the workers' failing state: an outage fails this every
      // 50 ms.
      failing(
          new ThingDbException(
              "clearing the unpublished marks of "
                  + batch.size()
                  + " listings failed; the replay will clear them: "
                  + e.getMessage(),
              e));
    }
  }

  /**
   * Republishes the listings whose publish after COMMIT was not confirmed for longer than the
   * replay grace (a processor that crashed between COMMIT and its publish, a cache node that was
   * hung or down), at each row's current version: a publish never replaces a newer version. The
   * worker threads call it every replay interval; call it yourself if you only use {@link
   * #processOne()} or {@link #drain()}.
   *
   * @return how many listings were republished and confirmed
   * @throws ThingDbException if the database fails
   */
  public int replayUnpublished() {
    flushConfirmed();
    int n = store.replayUnpublished(replayGrace);
    republished.add(n);
    return n;
  }

  /** The worker loop's periodic duties: flushing confirmations, and the replay. */
  private void housekeeping() {
    long now = System.nanoTime();
    long flushAt = nextFlush.get();
    if (now - flushAt >= 0
        && nextFlush.compareAndSet(flushAt, now + FLUSH_EVERY_MILLIS * 1_000_000)) {
      flushConfirmed();
    }
    long replayAt = nextReplay.get();
    if (now - replayAt >= 0 && nextReplay.compareAndSet(replayAt, now + replayInterval.toNanos())) {
      try {
        replayUnpublished();
      } catch (RuntimeException e) {
        failing(
            new ThingDbException(
                "replaying unpublished listings failed; retrying in "
                    + replayInterval.toMillis()
                    + " ms: "
                    + e.getMessage(),
                e));
      }
    }
  }

  /** Processes until no listing has jobs; returns the number of jobs applied. */
  public long drain() {
    long total = 0;
    int n;
    while ((n = processOne()) >= 0) {
      total += n;
    }
    return total;
  }

  /**
   * A batch's outcome.
   *
   * @param ageMicros the sum over its jobs of the time from enqueue to this batch (database clock)
   */
  /**
   * A batch's outcome; {@code timeline}: the one its listing write committed on (see
   * ListingStore.write).
   */
  private record Batch(int jobs, byte[] data, long version, long ageMicros, int timeline) {}

  /**
   * Takes the listing's claim for this transaction, without waiting, unless the listing was written
   * within {@code paceMicros} (0: no pacing; checked again here because another worker may have
   * written it since the candidates were read). The lock lives in PostgreSQL (a transaction-scoped
   * advisory lock on a hash of the key), so it spans every process that shares the database and
   * goes with the transaction, whatever ends it: a claim refused for pacing is released by the
   * caller's rollback. One statement.
   */
  private static boolean claim(Connection c, String key, long paceMicros) throws SQLException {
    String lock = "pg_try_advisory_xact_lock(" + CLAIM_CLASS + ", hashtext(?))";
    try (PreparedStatement ps =
        c.prepareStatement(
            paceMicros == 0
                ? "select " + lock
                : "select "
                    + lock
                    + " and not exists (select 1 from thingdb_listing where key = ?"
                    + " and updated_at > now() - ? * interval '1 microsecond')")) {
      ps.setString(1, key);
      if (paceMicros != 0) {
        ps.setString(2, key);
        ps.setLong(3, paceMicros);
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getBoolean(1);
      }
    }
  }

  /**
   * The first key of the processors' advisory locks ("tl", ThingDB listings); the second is the
   * hash of the listing key. Two keys with the same hash share a claim, which only delays one.
   */
  static final int CLAIM_CLASS = 0x746c;

  /** The batch of one claimed key, inside the claim's transaction; null on a version conflict. */
  private Batch apply(Connection c, String key) throws SQLException {
    Set<Long> ids = new LinkedHashSet<>();
    int jobs = 0;
    long ageMicros = 0;
    try (PreparedStatement ps =
        c.prepareStatement(
            "delete from thingdb_listing_job where listing_key = ? returning thing_id,"
                + " (extract(epoch from clock_timestamp() - created_at) * 1000000)::bigint")) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getLong(1));
          ageMicros += Math.max(0, rs.getLong(2));
          jobs++;
        }
      }
    }
    if (jobs == 0) {
      return new Batch(
          0, null, 0, 0, 0); // another worker applied them since the candidates were read
    }
    if (ListingKeys.isRecomputed(key)) {
      throw new IllegalStateException(
          "listing "
              + key
              + " has jobs, but keys <prefix>:top|controversial:<window>"
              + " belong to ListingRecompute, which replaces them whole; Votes refuses to route writes to them,"
              + " so these jobs were inserted some other way");
    }
    ListingDefinition def = routing.definition(key);
    if (def == null) {
      throw new IllegalStateException(
          "listing routing " + routing + " returned no definition for " + key);
    }
    ListingStore.Stored stored = ListingStore.read(c, key, true);
    long expected = stored == null ? 0 : stored.version();
    Listing listing = stored == null ? null : ListingStore.decode(key, stored.data());
    if (listing == null || listing.capacity() != def.capacity()) {
      listing = Listing.create(def.capacity());
    }
    // At least their committed versions (core's getLatest): the writer updates the cache only
    // after COMMIT, so in between the cache can still serve the previous version, and taking
    // that would consume the job with a stale value.
    List<Thing> things = db.getLatest(def.type(), ids);
    Map<Long, Thing> byId = new HashMap<>();
    for (Thing t : things) {
      byId.put(t.id(), t);
    }
    for (long id : ids) {
      Thing t = byId.get(id);
      if (t == null || !belongs(t, key)) {
        listing.remove(id);
      } else {
        listing.upsert(id, t.version(), def.sort().value(t));
      }
    }
    if (listing.needsRefill()) {
      refill(listing, def);
      // The refill may have served some things from the cache at an older version; this
      // batch's things are fresh, so apply them again (an upsert never goes back a version).
      for (long id : ids) {
        Thing t = byId.get(id);
        if (t == null || !belongs(t, key)) {
          listing.remove(id);
        } else {
          listing.upsert(id, t.version(), def.sort().value(t));
        }
      }
    }
    byte[] data = listing.encode();
    int timeline = store.write(c, key, expected, data);
    if (timeline < 0) {
      return null;
    }
    return new Batch(jobs, data, expected + 1, ageMicros, timeline);
  }

  private boolean belongs(Thing t, String key) {
    return !t.deleted() && !t.spam() && routing.listingsOf(t).contains(key);
  }

  private void refill(Listing listing, ListingDefinition def) {
    refills.increment();
    int want = listing.maxSize() + 1;
    List<Listing.Entry> entries = new ArrayList<>(want);
    ThingQuery base = def.query();
    String after = null;
    while (entries.size() < want) {
      int limit = Math.min(ThingQuery.MAX_LIMIT, want - entries.size());
      ThingQuery q = base.limit(limit);
      if (after != null) {
        q = q.after(after);
      }
      ThingQuery.Result page = db.query(q);
      for (Thing t : page.things()) {
        entries.add(new Listing.Entry(t.id(), t.version(), def.sort().value(t)));
      }
      Optional<String> next = page.next();
      if (page.things().size() < limit || next.isEmpty()) {
        break;
      }
      after = next.get();
    }
    // The SQL sort and the Java one agree on order (see Sorts); sort again by the Java values so
    // replaceAll's precondition holds even for values the cache served at an older version.
    entries.sort((a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id()));
    listing.replaceAll(entries, entries.size() < want);
  }

  /** The number of queued jobs. */
  public long queueDepth() {
    return stats().depth();
  }

  /** The number of listings with queued jobs (each is one batch away from current). */
  public long pendingListings() {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "with recursive k as ("
                    + " (select listing_key from thingdb_listing_job order by listing_key limit 1)"
                    + " union all select (select j.listing_key from thingdb_listing_job j"
                    + " where j.listing_key > k.listing_key order by j.listing_key limit 1) from k"
                    + " where k.listing_key is not null)"
                    + " select count(listing_key) from k");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new ThingDbException(
          "counting the listings with queued jobs failed: " + e.getMessage(), e);
    }
  }

  /** The age of the oldest queued job, or empty if the queue is empty. */
  public Optional<Duration> oldestJobAge() {
    return Optional.ofNullable(stats().oldestAge());
  }

  private record QueueStats(long depth, Duration oldestAge) {}

  private QueueStats stats() {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement("select count(*), min(created_at) from thingdb_listing_job");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      Timestamp oldest = rs.getTimestamp(2);
      Duration age = oldest == null ? null : Duration.between(oldest.toInstant(), clock.instant());
      return new QueueStats(rs.getLong(1), age == null || !age.isNegative() ? age : Duration.ZERO);
    } catch (SQLException e) {
      throw new ThingDbException("reading the listing queue depth failed: " + e.getMessage(), e);
    }
  }

  /** Batches committed. */
  public long batches() {
    return batches.sum();
  }

  /** Jobs applied in committed batches. */
  public long jobsApplied() {
    return jobsApplied.sum();
  }

  /**
   * The sum, over the jobs applied in committed batches ({@link #jobsApplied()}), of the time each
   * waited from its enqueue (its writer's statement) to the batch that applied it, by the
   * database's clock: divided by the jobs, how far behind the stored listings run on average.
   */
  public Duration totalJobAge() {
    return Duration.ofNanos(jobAgeMicros.sum() * 1000);
  }

  /** Listing rows written. */
  public long listingWrites() {
    return listingWrites.sum();
  }

  /** Batches abandoned because the listing row's version had moved. */
  public long versionConflicts() {
    return conflicts.sum();
  }

  /** Batches that failed and were rolled back. */
  public long failures() {
    return failures.sum();
  }

  /** Refills from the database. */
  public long refills() {
    return refills.sum();
  }

  /** Publishes after COMMIT that the cache could not confirm (left to the replay). */
  public long unconfirmedPublishes() {
    return unconfirmed.sum();
  }

  /** Listings republished and confirmed by {@link #replayUnpublished()}. */
  public long republished() {
    return republished.sum();
  }

  /**
   * Stops the worker threads, waiting up to 10 seconds for their current batches, then clears the
   * marks of the publishes they confirmed. Idempotent.
   */
  @Override
  public void close() {
    List<Thread> started;
    synchronized (this) {
      running = false;
      started = new ArrayList<>(workers);
    }
    for (Thread t : started) {
      try {
        t.join(TimeUnit.SECONDS.toMillis(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      if (t.isAlive()) {
        log.warn("listing processor {} did not stop within 10 s", t.getName());
      }
    }
    if (!confirmed.isEmpty()) {
      flushConfirmed();
    }
  }

  /** Builds {@link ListingProcessors}. Not thread-safe. */
  public static final class Builder {
    private final ThingDb db;
    private final DataSource dataSource;
    private final ListingStore store;
    private final ListingRouting routing;
    private int threads = 1;
    private Duration idleWait = Duration.ofMillis(50);
    private Duration writeInterval = Duration.ofMillis(100);
    private Clock clock = Clock.systemUTC();
    private BatchHook hook = (c, key, jobs) -> {};
    private Duration replayInterval = Duration.ofSeconds(1);
    private Duration replayGrace = Duration.ofSeconds(1);

    private Builder(ThingDb db, DataSource dataSource, ListingStore store, ListingRouting routing) {
      this.db = Objects.requireNonNull(db, "db must not be null");
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource must not be null");
      this.store = Objects.requireNonNull(store, "store must not be null");
      this.routing = Objects.requireNonNull(routing, "routing must not be null");
    }

    /**
     * Worker threads {@link #start()} starts, 1 to 64. Default 1.
     *
     * @throws IllegalArgumentException if out of range
     */
    public Builder threads(int threads) {
      if (threads < 1 || threads > 64) {
        throw new IllegalArgumentException(
            "listing processor threads must be between 1 and 64 (threads=" + threads + ")");
      }
      this.threads = threads;
      return this;
    }

    /**
     * How long an idle worker sleeps before looking again, 1 ms to 1 minute. Default 50 ms.
     *
     * @throws IllegalArgumentException if out of range
     */
    public Builder idleWait(Duration wait) {
      Objects.requireNonNull(wait, "idle wait must not be null");
      if (wait.toMillis() < 1 || wait.compareTo(Duration.ofMinutes(1)) > 0) {
        throw new IllegalArgumentException("idle wait must be between 1 ms and 1 minute: " + wait);
      }
      this.idleWait = wait;
      return this;
    }

    /**
     * The shortest time between two writes of one listing by the worker threads, 0 to 1 minute;
     * jobs that arrive meanwhile wait and are applied in one batch. Bounds a hot listing to one
     * write per interval whatever the number of workers, at the cost of up to this much delay
     * before a vote on it is visible. Zero turns pacing off. Default 100 ms.
     *
     * @throws IllegalArgumentException if out of range
     */
    public Builder writeInterval(Duration interval) {
      this.writeInterval = within("write interval", interval, Duration.ZERO, "0");
      return this;
    }

    /**
     * How often the worker threads run {@link #replayUnpublished()}, 10 ms to 1 minute. Default 1
     * s, as thingdb-core's outbox replay.
     *
     * @throws IllegalArgumentException if out of range
     */
    public Builder replayInterval(Duration interval) {
      this.replayInterval = within("replay interval", interval, Duration.ofMillis(10), "10 ms");
      return this;
    }

    /**
     * How long a listing's publish may stay unconfirmed before the replay publishes it for the
     * writer, 10 ms to 1 minute (long enough for a healthy writer to publish and confirm, so the
     * replay does not repeat every publish). Default 1 s, as thingdb-core's outbox grace. A cached
     * listing left stale by a failed publish is current again within this grace plus the replay
     * interval once its cache node answers.
     *
     * @throws IllegalArgumentException if out of range
     */
    public Builder replayGrace(Duration grace) {
      this.replayGrace = within("replay grace", grace, Duration.ofMillis(10), "10 ms");
      return this;
    }

    /** {@code value} if it lies between {@code min} and 1 minute; names {@code what} otherwise. */
    private static Duration within(String what, Duration value, Duration min, String minText) {
      Objects.requireNonNull(value, what + " must not be null");
      if (value.compareTo(min) < 0 || value.compareTo(Duration.ofMinutes(1)) > 0) {
        throw new IllegalArgumentException(
            "listing " + what + " must be between " + minText + " and 1 minute: " + value);
      }
      return value;
    }

    /** The clock for {@link #oldestJobAge()}. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    Builder hook(BatchHook hook) {
      this.hook = Objects.requireNonNull(hook, "hook");
      return this;
    }

    /**
     * Creates the queue tables if missing and returns the (not yet started) processors.
     *
     * @throws IllegalArgumentException if the store is on another database than the queue (a batch
     *     writes the listing in the same transaction as it consumes the jobs)
     * @throws ThingDbException if the database fails
     */
    public ListingProcessors build() {
      if (!DatabaseIdentity.of(dataSource, "the processors' DataSource")
          .equals(DatabaseIdentity.of(store.dataSource(), "the listing store's DataSource"))) {
        throw new IllegalArgumentException(
            "the listing store is on another database than the queue the"
                + " processors consume: a batch writes the listing in the same transaction as it deletes the"
                + " jobs, so build the ListingStore and the ListingProcessors on the same database's primary");
      }
      ListingQueue.createTables(dataSource);
      return new ListingProcessors(this);
    }
  }
}

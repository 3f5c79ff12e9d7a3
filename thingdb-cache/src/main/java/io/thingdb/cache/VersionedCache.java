package io.thingdb.cache;

import io.thingdb.cache.internal.Entry;
import io.thingdb.cache.internal.ServerCounters;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Versioned write-through and stampede-protected loading on top of any {@link Cache}.
 *
 * <h2>Versions</h2>
 *
 * Every entry carries the version of the data it holds (for example a row's {@code version}
 * column). {@link #publish} and {@link #fill} never replace a cached value with an older version: a
 * fill after a miss uses {@code add}, a newer version replaces an older one by gets/cas with
 * bounded retries. {@link #invalidate} leaves a versioned <em>tombstone</em> rather than deleting,
 * so that a reader which fetched an older version before the invalidation cannot put it back
 * afterwards. Both report what happened ({@link Result}).
 *
 * <h2>Stampede protection</h2>
 *
 * {@link #load} (and {@link #loadView}, the same without copying the value) protects a loader in
 * three layers: (1) single-flight per key inside this JVM; (2) a cluster-wide lease per key taken
 * with {@code add} (a random token, TTL at least 2 s because memcached TTLs are whole seconds and a
 * 1 s item can vanish after a few milliseconds), so one loader runs across all client instances
 * while the others serve the stale copy if there is one, or wait briefly and re-read; (3)
 * probabilistic early refresh (XFetch: an entry keeps its last load duration {@code delta}; a read
 * refreshes it when {@code now - delta * beta * ln(rand) >= expiry}), done in the background by one
 * caller while everyone else keeps reading the current value. Soft expiry lives inside the entry on
 * the injected {@link Clock}; the memcached TTL is the soft TTL plus {@link Builder#staleGrace},
 * the period during which an expired value may still be served while one caller refreshes it.
 * Loader results of "absent" are cached as negative entries for {@link Builder#negativeTtl}.
 *
 * <h2>Changes of memcached servers</h2>
 *
 * Over a {@link MemcachedCache} whose servers were changed by {@link MemcachedCache#reconfigure},
 * every read of a key that moved reads, during the warm-up, both the key's new server and the one
 * that held it before, and keeps the newer entry by the rules above; if that is the previous
 * server's, it is republished to the new server with the add-or-compare-and-set of a fill, with
 * what remains of its TTL. So a newer version written to the previous server by an instance that
 * has not applied the change yet wins over an older copy, and a tombstone on either server refuses
 * older values. Keys that did not move are read as before. See {@link MemcachedCache} for what
 * remains of the window between instances.
 *
 * <p>Thread-safe. {@link #close()} stops this object's refresh threads (not the underlying cache,
 * which belongs to the caller) and is idempotent; calls afterwards throw {@link
 * IllegalStateException}.
 */
public final class VersionedCache implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(VersionedCache.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();
  private static final String LEASE_PREFIX = "thingdb-lease:";

  /**
   * What a released lease holds until it expires: a lease is released by compare-and-set to this
   * marker, never deleted, so a release after the lease expired and was taken by another client
   * fails instead of removing the new holder's lease. The next loader takes the marker by
   * compare-and-set; it only has to outlive that swap, so it may vanish early.
   */
  private static final byte[] RELEASED_LEASE = {'R'};

  private static final Duration RELEASED_LEASE_TTL = Duration.ofSeconds(1);

  /** What a {@link #publish}, {@link #fill} or {@link #invalidate} did. */
  public enum Result {
    /** The value (or tombstone) is now in the cache. */
    PUBLISHED,
    /**
     * The cache already holds this version or a newer one (value or tombstone); nothing changed.
     */
    SUPERSEDED,
    /**
     * Concurrent writers kept changing the key for every retry; a tombstone of this version was
     * written instead, so no older version can be read or filled.
     */
    CONTENDED,
    /**
     * The server could not confirm the write. The backend deletes the key from that server before
     * using it again (see {@link MemcachedCache}); callers that need durability log the key.
     */
    UNCONFIRMED
  }

  /**
   * A cached value and its version.
   *
   * @param value the bytes (callers must not modify them)
   * @param version the version the value was published with
   */
  public record Versioned(byte[] value, long version) {}

  /**
   * What a loader found.
   *
   * @param value the bytes, or null if the data does not exist
   * @param version the data's version (0 if unversioned)
   */
  public record Loaded(byte[] value, long version) {
    /** A found value. */
    public static Loaded of(byte[] value, long version) {
      return new Loaded(Objects.requireNonNull(value, "value must not be null"), version);
    }

    /** "Does not exist", cached as a negative entry. */
    public static Loaded absent(long version) {
      return new Loaded(null, version);
    }
  }

  /** Receives the values found by {@link #getAll(List, Values)}, one call per value. */
  @FunctionalInterface
  public interface Values {
    /**
     * The key at {@code index} holds a value at {@code version}: the {@code length} bytes of {@code
     * buffer} from {@code offset}, which must not be modified (see {@link Cache.Hits}).
     */
    void value(int index, long version, byte[] buffer, int offset, int length);
  }

  /**
   * Derives the value at a writer's version from the cached value of the version before it; see
   * {@link #patch}.
   */
  @FunctionalInterface
  public interface Patch {
    /**
     * Returns the new value, given the cached previous one (the {@code length} bytes of {@code
     * buffer} from {@code offset}, not to be modified), or null if it cannot be derived from it
     * (then the key is invalidated instead).
     */
    byte[] apply(byte[] buffer, int offset, int length);
  }

  /**
   * Chooses what of a replaced value a publish keeps: see {@link #publish(String, byte[], long,
   * Duration, Carry)}.
   */
  @FunctionalInterface
  public interface Carry {
    /**
     * Returns the bytes to append to the new value, given the cached value it replaces (the {@code
     * length} bytes of {@code buffer} from {@code offset}, not to be modified); an empty array for
     * none. Never returns null.
     */
    byte[] carry(byte[] buffer, int offset, int length);
  }

  /** Loads the data behind a key; called by {@link #load} at most once per key at a time. */
  @FunctionalInterface
  public interface Loader {
    /** Loads {@code key}; never returns null (use {@link Loaded#absent}). */
    Loaded load(String key) throws Exception;
  }

  /** The kinds of entry this class writes; see {@link #inspect}. */
  public enum Kind {
    /** A value, as {@link #get} returns it. */
    VALUE,
    /**
     * A tombstone, written by {@link #invalidate} or by a write that gave up ({@link
     * Result#CONTENDED}): a miss for readers that refuses fills of older versions.
     */
    TOMBSTONE,
    /** A negative entry: {@link #load}'s loader found no data ({@link Loaded#absent}). */
    NEGATIVE
  }

  /**
   * The kind and version of a cached entry, as {@link #inspect} found it.
   *
   * @param kind a value, a tombstone or a negative entry
   * @param version the version it was written with
   */
  public record Stored(Kind kind, long version) {}

  /** Where the value returned by {@link #loadView} came from. */
  public enum Origin {
    /** The cache held a fresh value (an early refresh may have started in the background). */
    HIT,
    /**
     * The cached value had expired and is served, within {@link Builder#staleGrace}, while one
     * caller refreshes it in the background.
     */
    STALE,
    /** This call ran the loader. */
    LOADED,
    /**
     * Another caller's load: this call missed, then waited for the load in flight in this JVM, or
     * for the instance holding the lease, and returns the value that load produced.
     */
    SHARED
  }

  /**
   * A value returned by {@link #loadView}, not copied: the {@code length} bytes of {@code buffer}
   * from {@code offset}. The buffer may be the cache's own (the in-process backend keeps values
   * without copying) or shared by every caller of one load: never modify it.
   *
   * @param buffer the bytes holding the value
   * @param offset where the value starts in {@code buffer}
   * @param length the value's length
   * @param version the version the value was loaded or published with
   * @param origin where the value came from
   */
  public record View(byte[] buffer, int offset, int length, long version, Origin origin) {}

  /**
   * A test seam at the points of {@link #load} where the timing of one caller against another
   * decides whether a load runs once: package-private, set through {@link Builder#probe}, a no-op
   * by default. Called on the caller's thread; an implementation may block it to force an
   * interleaving.
   */
  interface Probe {
    /** Does nothing. */
    Probe NONE = new Probe() {};

    /** A caller missed {@code key} and is about to join the load in flight or start one. */
    default void missed(String key) {}

    /** A caller found a load of {@code key} in flight and is about to wait for it. */
    default void joined(String key) {}
  }

  private final Cache cache;
  private final Clock clock;
  private final RandomGenerator random;
  private final Duration tombstoneTtl;
  private final Duration negativeTtl;
  private final Duration staleGrace;
  private final Duration leaseTtl;
  private final Duration leaseWait;
  private final long pollMillis;
  private final double beta;
  private final boolean singleFlight;
  private final boolean leases;
  private final int maxCasRetries;
  private final Probe probe;
  private final ConcurrentHashMap<String, CompletableFuture<View>> flights =
      new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Boolean> refreshing = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, ServerCounters> counters = new ConcurrentHashMap<>();
  private final ThreadPoolExecutor refresher;
  private final MemcachedCache memcached;
  private final MemcachedCache.Moved moved = new NewerOfBoth();
  private volatile boolean closed;

  private VersionedCache(Builder b) {
    this.cache = b.cache;
    this.memcached = b.cache instanceof MemcachedCache m ? m : null;
    this.clock = b.clock;
    this.random = b.random;
    this.tombstoneTtl = b.tombstoneTtl;
    this.negativeTtl = b.negativeTtl;
    this.staleGrace = b.staleGrace;
    this.leaseTtl = b.leaseTtl;
    this.leaseWait = b.leaseWait;
    this.pollMillis = b.leasePoll.toMillis();
    this.beta = b.beta;
    this.singleFlight = b.singleFlight;
    this.leases = b.leases;
    this.maxCasRetries = b.maxCasRetries;
    this.probe = b.probe;
    String name = "thingdb-refresh-" + INSTANCES.incrementAndGet();
    AtomicInteger threads = new AtomicInteger();
    this.refresher =
        new ThreadPoolExecutor(
            b.refreshThreads,
            b.refreshThreads,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(1024),
            r -> {
              Thread t = new Thread(r, name + "-" + threads.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    refresher.allowCoreThreadTimeOut(true);
  }

  /** A builder over {@code cache}. */
  public static Builder builder(Cache cache) {
    return new Builder(cache);
  }

  /** The underlying cache. */
  public Cache cache() {
    return cache;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("VersionedCache is closed");
    }
  }

  private Entry read(String key) {
    return Entry.decode(rawGet(key));
  }

  /**
   * One read of the backend. Over a {@link MemcachedCache} during a warm-up, a key that moved in
   * the last change of servers is read from its server and from the one that held it before, and
   * the newer version wins ({@link NewerOfBoth}); any other read is the backend's plain get.
   */
  private byte[] rawGet(String key) {
    return memcached != null ? memcached.get(key, moved) : cache.get(key);
  }

  // ---------------------------------------------------------------- versioned reads and writes

  /**
   * The largest value, in bytes, that {@link #publish}, {@link #fill}, {@link #fillAll}, {@link
   * #patch} and a load can cache under {@code key}: the underlying cache's {@link
   * Cache#maxValueSize} less the header this class stores with every entry (kind, version, soft
   * expiry, load time). They throw {@link ValueTooLargeException} for a larger value and write
   * nothing; a caller that would rather serve such data uncached checks this first.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public int maxValueSize(String key) {
    checkOpen();
    return cache.maxValueSize(Objects.requireNonNull(key, "key must not be null")) - Entry.HEADER;
  }

  /**
   * What the cache holds under {@code key}, read once with no loading, lease, retry or counting: a
   * value, a tombstone or a negative entry, and the version it was written with, whether or not its
   * soft expiry has passed. Returns null on a miss (no item, its server unreachable, or an item
   * this class did not write). For tests and diagnostics that must tell a tombstone from a miss, or
   * see which version is cached; readers use {@link #get} or {@link #load}.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public Stored inspect(String key) {
    checkOpen();
    Entry e = read(Objects.requireNonNull(key, "key must not be null"));
    if (e == null) {
      return null;
    }
    Kind kind = e.isValue() ? Kind.VALUE : e.isTombstone() ? Kind.TOMBSTONE : Kind.NEGATIVE;
    return new Stored(kind, e.version);
  }

  /** The cached value of {@code key}, or null on a miss, a tombstone or a negative entry. */
  public Versioned get(String key) {
    checkOpen();
    Entry e = read(key);
    return e != null && e.isValue() ? new Versioned(e.value(), e.version) : null;
  }

  /** Multi-get: the cached values among {@code keys} (misses, tombstones, negatives absent). */
  public Map<String, Versioned> getAll(Collection<String> keys) {
    checkOpen();
    Map<String, byte[]> raw =
        memcached != null ? memcached.getAll(keys, moved) : cache.getAll(keys);
    Map<String, Versioned> out = new LinkedHashMap<>(raw.size() * 2);
    for (Map.Entry<String, byte[]> r : raw.entrySet()) {
      Entry e = Entry.decode(r.getValue());
      if (e != null && e.isValue()) {
        out.put(r.getKey(), new Versioned(e.value(), e.version));
      }
    }
    return out;
  }

  /**
   * Multi-get by position without copies: each value among {@code keys} (not misses, tombstones or
   * negative entries) is handed to {@code values} with its index in {@code keys}, on the calling
   * thread. The same lookup as {@link #getAll(Collection)} without its map.
   */
  public void getAll(List<String> keys, Values values) {
    checkOpen();
    Objects.requireNonNull(values, "values must not be null");
    Cache.Hits hits =
        (i, buffer, offset, length) -> {
          if (Entry.kindAt(buffer, offset, length) == Entry.VALUE) {
            values.value(
                i,
                Entry.versionAt(buffer, offset),
                buffer,
                offset + Entry.HEADER,
                length - Entry.HEADER);
          }
        };
    if (memcached != null) {
      memcached.getAll(keys, hits, moved);
    } else {
      cache.getAll(keys, hits);
    }
  }

  /**
   * A writer's update of {@code key} to {@code version} when the writer knows how the value changed
   * but not all of it (an increment returns the new counters, not the other fields): one {@code
   * gets}, then one {@code cas}. If the cache holds the value of {@code version - 1}, {@code patch}
   * derives the new value from it and that is published; if it holds {@code version} or newer
   * (value or tombstone), nothing changes; otherwise (a miss, an older version, or a patch that
   * returns null) the key is invalidated at {@code version}, as {@link #invalidate} would. Never
   * replaces a newer version, and, like {@link #publish}, gives up after {@link
   * Builder#maxCasRetries} lost races with a tombstone of {@code version}.
   *
   * @return {@link Result#PUBLISHED} if the patched value or the tombstone is now cached, {@link
   *     Result#SUPERSEDED}, {@link Result#CONTENDED} or {@link Result#UNCONFIRMED} as for publish
   */
  public Result patch(String key, long version, Patch patch, Duration ttl) {
    checkOpen();
    Objects.requireNonNull(key, "key must not be null");
    Objects.requireNonNull(patch, "patch must not be null");
    Objects.requireNonNull(ttl, "ttl must not be null");
    Entry tomb = new Entry(Entry.TOMBSTONE, version, 0, 0, new byte[0]);
    for (int attempt = 0; attempt < maxCasRetries; attempt++) {
      CasValue current = cache.gets(key);
      if (current == null) {
        // Nothing cached: a tombstone, so that a reader holding an older version cannot fill it.
        Cache.Outcome o = cache.add(key, tomb.encode(), tombstoneTtl);
        if (o == Cache.Outcome.APPLIED) {
          return Result.PUBLISHED;
        }
        if (o == Cache.Outcome.UNCONFIRMED) {
          return Result.UNCONFIRMED;
        }
        continue; // someone filled or published it meanwhile: read it again
      }
      byte[] stored = current.value();
      byte kind = Entry.kindAt(stored, 0, stored.length);
      long cached = kind == 0 ? 0 : Entry.versionAt(stored, 0);
      if (kind != 0 && cached >= version) {
        return Result.SUPERSEDED;
      }
      byte[] next = null;
      if (kind == Entry.VALUE && cached == version - 1) {
        byte[] value = patch.apply(stored, Entry.HEADER, stored.length - Entry.HEADER);
        if (value != null) {
          next = entryFor(Entry.VALUE, version, value, ttl, 0).encode();
        }
      }
      Cache.Outcome o =
          next != null
              ? cache.compareAndSet(
                  key, current.cas(), next, ttl.isZero() ? ttl : ttl.plus(staleGrace))
              : cache.compareAndSet(key, current.cas(), tomb.encode(), tombstoneTtl);
      if (o == Cache.Outcome.APPLIED) {
        return Result.PUBLISHED;
      }
      if (o == Cache.Outcome.UNCONFIRMED) {
        return Result.UNCONFIRMED;
      }
    }
    Cache.Outcome o = cache.set(key, tomb.encode(), tombstoneTtl);
    log.debug(
        "patch of {} v{} gave up after {} cas conflicts; tombstone written",
        key,
        version,
        maxCasRetries);
    return o == Cache.Outcome.UNCONFIRMED ? Result.UNCONFIRMED : Result.CONTENDED;
  }

  /**
   * A writer's publish: makes {@code value} at {@code version} the cached value unless the cache
   * holds the same or a newer version, or a tombstone newer than {@code version}. Starts with gets,
   * since after a write the key is usually present.
   */
  public Result publish(String key, byte[] value, long version, Duration ttl) {
    checkOpen();
    if (value == null) {
      throw new NullPointerException(
          "value must not be null (key=" + key + ")"); // message built only on failure
    }
    return put(key, entryFor(Entry.VALUE, version, value, ttl, 0), ttl, false);
  }

  /**
   * {@link #publish(String, byte[], long, Duration)} for values that carry appended records ({@link
   * #append}): when the publish replaces a cached value of an older version, {@code carry} is given
   * that value and what it returns is appended to {@code value} in the same compare-and-set, so
   * records appended after the writer read its data are not lost with the value they were appended
   * to.
   */
  public Result publish(String key, byte[] value, long version, Duration ttl, Carry carry) {
    checkOpen();
    if (value == null) {
      throw new NullPointerException(
          "value must not be null (key=" + key + ")"); // message built only on failure
    }
    Objects.requireNonNull(carry, "carry must not be null");
    return put(key, entryFor(Entry.VALUE, version, value, ttl, 0), ttl, false, carry);
  }

  /**
   * Appends {@code suffix} to whatever entry is cached under {@code key}, at its version and
   * expiry, in one round trip without reading it ({@link Cache#append}); nothing is written if
   * nothing is cached. The cached value then reads as the value followed by the appended records,
   * so this is only for values whose owner decodes such records, and which apply them so that a
   * record never undoes newer data (a record that holds its own version, say). Appending to a
   * tombstone or a negative entry changes nothing for readers: they stay misses.
   *
   * @return {@link Result#PUBLISHED} if appended; {@link Result#SUPERSEDED} if nothing was cached
   *     (or the value would outgrow one item); {@link Result#UNCONFIRMED} if the server could not
   *     answer (the key is then reconciled, as for any unconfirmed write)
   */
  public Result append(String key, byte[] suffix) {
    checkOpen();
    Cache.Outcome o = cache.append(key, suffix);
    return switch (o) {
      case APPLIED -> Result.PUBLISHED;
      case NOT_APPLIED -> Result.SUPERSEDED;
      case UNCONFIRMED -> Result.UNCONFIRMED;
    };
  }

  /**
   * {@link #append} without waiting for an answer ({@link Cache#appendQuietly}): for records whose
   * loss only delays them.
   */
  public void appendQuietly(String key, byte[] suffix) {
    checkOpen();
    cache.appendQuietly(key, suffix);
  }

  /**
   * A reader's fill after a miss: like {@link #publish} but starts with {@code add}, since the key
   * is usually absent. Never overwrites a newer version and never resurrects a value older than a
   * tombstone.
   */
  public Result fill(String key, byte[] value, long version, Duration ttl) {
    checkOpen();
    if (value == null) {
      throw new NullPointerException(
          "value must not be null (key=" + key + ")"); // message built only on failure
    }
    return put(key, entryFor(Entry.VALUE, version, value, ttl, 0), ttl, true);
  }

  /**
   * Fills many keys after a multi-get miss in one pipelined burst, without waiting for answers:
   * each fill is an {@code add}, so it never replaces anything (a newer value, a tombstone, or a
   * concurrent fill); a fill that loses is simply dropped. Best-effort: nothing is reported.
   */
  public void fillAll(Map<String, Versioned> values, Duration ttl) {
    checkOpen();
    Objects.requireNonNull(values, "values must not be null");
    Map<String, byte[]> encoded = new LinkedHashMap<>(values.size() * 2);
    for (Map.Entry<String, Versioned> e : values.entrySet()) {
      Versioned v = e.getValue();
      encoded.put(e.getKey(), entryFor(Entry.VALUE, v.version(), v.value(), ttl, 0).encode());
    }
    cache.addAll(encoded, ttl.isZero() ? ttl : ttl.plus(staleGrace));
  }

  /**
   * Waits until no write of {@code key} through this cache's client is unconfirmed; see {@link
   * Cache#awaitReconciled}. A writer whose publish, patch or invalidate returned {@link
   * Result#UNCONFIRMED} calls this before it returns, so that a stall on a healthy server does not
   * leave the replaced version readable by other clients after the write has returned.
   *
   * @return true if nothing is pending for {@code key}
   */
  public boolean awaitReconciled(String key, Duration timeout) {
    checkOpen();
    return cache.awaitReconciled(key, timeout);
  }

  /**
   * Invalidates {@code key} up to {@code version}: any cached value older than {@code version} is
   * replaced by a tombstone that refuses fills of versions older than {@code version} for {@link
   * Builder#tombstoneTtl}. A value at {@code version} or newer is left in place ({@link
   * Result#SUPERSEDED}).
   */
  public Result invalidate(String key, long version) {
    checkOpen();
    Entry tomb = new Entry(Entry.TOMBSTONE, version, 0, 0, new byte[0]);
    return put(key, tomb, tombstoneTtl, true);
  }

  private Entry entryFor(byte kind, long version, byte[] value, Duration ttl, int loadMillis) {
    long soft = ttl.isZero() ? 0 : clock.millis() + ttl.toMillis();
    return new Entry(kind, version, soft, loadMillis, value);
  }

  private Duration hardTtl(Entry e, Duration ttl) {
    if (e.isTombstone() || ttl.isZero()) {
      return ttl;
    }
    return ttl.plus(staleGrace);
  }

  /** True if {@code incoming} may replace {@code current}. */
  private static boolean replaces(Entry incoming, Entry current) {
    if (current == null) {
      return true; // unknown format: replaceable
    }
    if (incoming.isTombstone()) {
      // A tombstone at v removes anything older than v, and an older tombstone.
      return current.version < incoming.version;
    }
    if (current.isTombstone()) {
      return incoming.version >= current.version;
    }
    return incoming.version > current.version;
  }

  private Result put(String key, Entry entry, Duration ttl, boolean addFirst) {
    return put(key, entry, ttl, addFirst, null);
  }

  private Result put(String key, Entry entry, Duration ttl, boolean addFirst, Carry carry) {
    Objects.requireNonNull(key, "key must not be null");
    Duration hard = hardTtl(entry, ttl);
    byte[] bytes = entry.encode();
    boolean tryAdd = addFirst;
    for (int attempt = 0; attempt < maxCasRetries; attempt++) {
      if (tryAdd) {
        Cache.Outcome o = cache.add(key, bytes, hard);
        if (o == Cache.Outcome.APPLIED) {
          return Result.PUBLISHED;
        }
        if (o == Cache.Outcome.UNCONFIRMED) {
          return Result.UNCONFIRMED;
        }
      }
      CasValue current = cache.gets(key);
      if (current == null) {
        tryAdd = true;
        continue;
      }
      Entry existing = Entry.decode(current.value());
      if (!replaces(entry, existing)) {
        return existing != null && existing.version == entry.version && existing.kind == entry.kind
            ? Result.PUBLISHED
            : Result.SUPERSEDED;
      }
      byte[] swapped = bytes;
      if (carry != null && existing != null && existing.isValue()) {
        byte[] old = current.value();
        byte[] kept = carry.carry(old, Entry.HEADER, old.length - Entry.HEADER);
        if (kept.length > 0) {
          swapped = Arrays.copyOf(bytes, bytes.length + kept.length);
          System.arraycopy(kept, 0, swapped, bytes.length, kept.length);
        }
      }
      Cache.Outcome o = cache.compareAndSet(key, current.cas(), swapped, hard);
      if (o == Cache.Outcome.APPLIED) {
        return Result.PUBLISHED;
      }
      if (o == Cache.Outcome.UNCONFIRMED) {
        return Result.UNCONFIRMED;
      }
      tryAdd = false;
    }
    // Every retry lost a race. A tombstone of this version written unconditionally can only turn
    // a newer value into a miss, never let an older one be read.
    long version = entry.version;
    Cache.Outcome o =
        cache.set(
            key, new Entry(Entry.TOMBSTONE, version, 0, 0, new byte[0]).encode(), tombstoneTtl);
    log.debug(
        "publish of {} v{} gave up after {} cas conflicts; tombstone written",
        key,
        version,
        maxCasRetries);
    return o == Cache.Outcome.UNCONFIRMED ? Result.UNCONFIRMED : Result.CONTENDED;
  }

  /**
   * The warm-up read of a key that moved in the last change of a {@link MemcachedCache}'s servers:
   * both servers are read and the newer entry wins by the rules of {@link #publish} (a tombstone
   * refuses older values). If the previous server's entry is newer, or the key's server has none,
   * it is republished to the key's server with the same add-or-compare-and-set as a fill, which
   * never replaces a newer version or a tombstone that refuses it, and with what remains of its TTL
   * (soft expiry plus stale grace; a tombstone gets a full {@link Builder#tombstoneTtl}). If that
   * publish finds something newer, the read is a miss: the caller loads, rather than be handed
   * either of two versions that are both superseded.
   */
  private final class NewerOfBoth implements MemcachedCache.Moved {
    @Override
    public boolean readsPreviousOnHit() {
      return true;
    }

    @Override
    public byte[] resolve(String key, byte[] atOwner, byte[] atPrevious) {
      Entry before = Entry.decode(atPrevious);
      if (before == null) {
        return atOwner;
      }
      Entry now = Entry.decode(atOwner);
      if (now != null && !replaces(before, now)) {
        return atOwner;
      }
      Duration ttl;
      if (before.isTombstone()) {
        ttl = tombstoneTtl;
      } else if (before.softExpiryMillis == 0) {
        ttl = Duration.ZERO;
      } else {
        long left = before.softExpiryMillis - clock.millis();
        if (left + staleGrace.toMillis() <= 0) {
          return atOwner; // past its stale grace: memcached drops it within a second anyway
        }
        ttl = Duration.ofMillis(Math.max(1, left));
      }
      Result r = put(key, before, ttl, true);
      if (r != Result.PUBLISHED) {
        return null;
      }
      memcached.countWarmUpCopy();
      return atPrevious;
    }
  }

  // ---------------------------------------------------------------- stampede-protected load

  /**
   * Returns the value of {@code key} from the cache, loading it with {@code loader} when missing or
   * expired, with the stampede protection described on this class. Returns null if the loader said
   * the data is absent (that answer is cached for the negative TTL).
   *
   * <p>The loader runs at most once at a time per key in this JVM, and with leases on, normally
   * once across all instances sharing the cache. A caller that missed while a load of the key was
   * in flight gets that load's value or failure; if the load finished before the caller could join
   * it, the caller reads the value that load cached rather than loading again (it loads only if
   * nothing was cached: the load failed, or a newer write's tombstone refused its value). A
   * loader's unchecked exception is rethrown to every caller waiting on that load, and nothing is
   * cached; a checked one is wrapped in {@link CacheException}. A loaded value larger than {@link
   * #maxValueSize} is not cached: the load throws {@link ValueTooLargeException}.
   *
   * @param ttl how long a loaded value is fresh ({@link Duration#ZERO}: until invalidated)
   */
  public byte[] load(String key, Duration ttl, Loader loader) {
    View v = loadView(key, ttl, loader);
    if (v == null) {
      return null;
    }
    byte[] b = v.buffer();
    return v.offset() == 0 && v.length() == b.length
        ? b
        : Arrays.copyOfRange(b, v.offset(), v.offset() + v.length());
  }

  /**
   * {@link #load} without copying the value, saying where it came from: the same lookup, stampede
   * protection and loader contract, for callers that pass cached bytes on as they are (a web page
   * written straight to a socket). A hit costs one {@link Cache#get} and no copy beyond the one the
   * backend's get makes (none in process). The per-call {@code ttl} lets each caller choose how
   * long its values stay fresh.
   *
   * @param ttl how long a loaded value is fresh ({@link Duration#ZERO}: until invalidated)
   * @return the value, or null if the loader said the data is absent
   */
  public View loadView(String key, Duration ttl, Loader loader) {
    checkOpen();
    Objects.requireNonNull(key, "key must not be null");
    Objects.requireNonNull(ttl, () -> "ttl must not be null (key=" + key + ")");
    Objects.requireNonNull(loader, () -> "loader must not be null (key=" + key + ")");
    if (ttl.isNegative()) {
      throw new IllegalArgumentException("ttl must not be negative: " + ttl + " (key=" + key + ")");
    }
    byte[] raw = rawGet(key);
    byte kind = raw == null ? 0 : Entry.kindAt(raw, 0, raw.length);
    if (kind == Entry.VALUE || kind == Entry.ABSENT) {
      long now = clock.millis();
      long softExpiry = Entry.softExpiryAt(raw, 0);
      if (softExpiry != 0 && now >= softExpiry) {
        if (leases || singleFlight) {
          // Stale-while-revalidate: one caller refreshes in the background, everyone reads on.
          countersFor(key).staleServed.increment();
          refreshInBackground(key, ttl, loader);
          return view(raw, Origin.STALE);
        }
      } else {
        if (beta > 0 && softExpiry != 0 && xfetchDue(Entry.loadMillisAt(raw, 0), softExpiry, now)) {
          refreshInBackground(key, ttl, loader);
        }
        return view(raw, Origin.HIT);
      }
    }
    return loadMissing(key, ttl, loader);
  }

  /** The value of a value or absent entry's bytes, in place; null for an absent entry. */
  private static View view(byte[] entry, Origin origin) {
    if (Entry.kindAt(entry, 0, entry.length) != Entry.VALUE) {
      return null;
    }
    return new View(
        entry, Entry.HEADER, entry.length - Entry.HEADER, Entry.versionAt(entry, 0), origin);
  }

  private static View view(Loaded loaded, Origin origin) {
    byte[] value = loaded.value();
    return value == null ? null : new View(value, 0, value.length, loaded.version(), origin);
  }

  /** The entry bytes of {@code key} if they hold an unexpired value or absent answer, else null. */
  private byte[] freshEntry(String key) {
    byte[] raw = rawGet(key);
    byte kind = raw == null ? 0 : Entry.kindAt(raw, 0, raw.length);
    if (kind != Entry.VALUE && kind != Entry.ABSENT) {
      return null;
    }
    long softExpiry = Entry.softExpiryAt(raw, 0);
    return softExpiry != 0 && clock.millis() >= softExpiry ? null : raw;
  }

  private boolean xfetchDue(int loadMillis, long softExpiry, long now) {
    double u = 1.0 - random.nextDouble(); // (0, 1]: ln(0) would be -infinity
    double early = loadMillis * beta * -Math.log(u);
    return now + early >= softExpiry;
  }

  private void refreshInBackground(String key, Duration ttl, Loader loader) {
    if (refreshing.putIfAbsent(key, Boolean.TRUE) != null) {
      return;
    }
    try {
      refresher.execute(
          () -> {
            try {
              String token = leases ? acquireLease(key) : "";
              if (token != null) {
                loadAndFill(key, ttl, loader, true, token);
              }
            } catch (Exception ex) {
              // One line: a loader's failure is the application's (a database outage fails every
              // refresh); its stack trace is at DEBUG.
              log.warn(
                  "background refresh of {} failed; the current value stays until its TTL: {}",
                  key,
                  ex.toString());
              log.debug("background refresh of {} failed", key, ex);
            } finally {
              refreshing.remove(key);
            }
          });
    } catch (RejectedExecutionException ex) {
      refreshing.remove(key);
    }
  }

  private View loadMissing(String key, Duration ttl, Loader loader) {
    if (!singleFlight) {
      return loadWithLease(key, ttl, loader);
    }
    probe.missed(key);
    CompletableFuture<View> mine = new CompletableFuture<>();
    CompletableFuture<View> flight = flights.putIfAbsent(key, mine);
    if (flight != null) {
      probe.joined(key);
      View v = await(key, flight);
      return v == null || v.origin() == Origin.SHARED
          ? v
          : new View(v.buffer(), v.offset(), v.length(), v.version(), Origin.SHARED);
    }
    try {
      View loaded = leases ? loadWithLease(key, ttl, loader) : loadUnlessFilled(key, ttl, loader);
      mine.complete(loaded);
      return loaded;
    } catch (RuntimeException | Error ex) {
      mine.completeExceptionally(ex);
      throw ex;
    } finally {
      flights.remove(key, mine);
    }
  }

  /**
   * The single-flight owner's load without leases. A caller whose miss came just before the
   * previous flight of this key filled the cache and left the map finds no flight to join and
   * becomes the owner of a new one; without this re-read it would load a second time. The previous
   * owner fills before it leaves the map, so once this caller holds the map entry, that fill is
   * visible here. (With leases the re-read after taking the lease does the same.) If the earlier
   * fill is not in the cache, because a newer tombstone refused it or its server did not confirm
   * it, this caller loads again: the earlier result is not handed over, since it may be older than
   * a write that returned before this call began.
   */
  private View loadUnlessFilled(String key, Duration ttl, Loader loader) {
    byte[] filled = freshEntry(key);
    if (filled != null) {
      return view(filled, Origin.SHARED);
    }
    return loadWithLease(key, ttl, loader);
  }

  private static View await(String key, CompletableFuture<View> flight) {
    try {
      return flight.get();
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      throw new CacheException("interrupted while waiting for the load of " + key, ex);
    } catch (ExecutionException ex) {
      Throwable cause = ex.getCause();
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new CacheException("load of " + key + " failed", cause);
    } catch (CancellationException ex) {
      throw new CacheException("load of " + key + " was cancelled", ex);
    }
  }

  private View loadWithLease(String key, Duration ttl, Loader loader) {
    if (!leases) {
      return view(loadAndFill(key, ttl, loader, false), Origin.LOADED);
    }
    long giveUp = System.nanoTime() + leaseWait.toNanos();
    boolean counted = false;
    while (true) {
      String token = acquireLease(key);
      if (token != null) {
        // The previous holder may have filled the key and released the lease between our miss
        // and our add: re-read before loading, or the load would run twice.
        byte[] filled = freshEntry(key);
        if (filled != null) {
          releaseLease(key, token);
          return view(filled, Origin.SHARED);
        }
        return view(loadAndFill(key, ttl, loader, false, token), Origin.LOADED);
      }
      if (!counted) {
        countersFor(key).leaseWaits.increment();
        counted = true;
      }
      // Another instance is loading: wait for its value rather than load again.
      sleep(pollMillis);
      byte[] filled = freshEntry(key);
      if (filled != null) {
        return view(filled, Origin.SHARED);
      }
      if (System.nanoTime() >= giveUp) {
        log.warn(
            "waited {} ms for another instance's load of {}; loading it here",
            leaseWait.toMillis(),
            key);
        return view(loadAndFill(key, ttl, loader, false), Origin.LOADED);
      }
    }
  }

  /** Takes the cluster-wide lease; returns its token, "" if the cache could not answer, or null. */
  private String acquireLease(String key) {
    String token = Long.toHexString(random.nextLong()) + Long.toHexString(random.nextLong());
    byte[] value = token.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    Cache.Outcome o = cache.add(LEASE_PREFIX + key, value, leaseTtl);
    if (o == Cache.Outcome.NOT_APPLIED) {
      // Held, or released and not yet expired: a released lease is free to take by cas.
      CasValue held = cache.gets(LEASE_PREFIX + key);
      if (held == null || !Arrays.equals(held.value(), RELEASED_LEASE)) {
        return null;
      }
      o = cache.compareAndSet(LEASE_PREFIX + key, held.cas(), value, leaseTtl);
    }
    if (o == Cache.Outcome.APPLIED) {
      return token;
    }
    // No coordination is possible with the lease's server unreachable: load rather than stall.
    return o == Cache.Outcome.UNCONFIRMED ? "" : null;
  }

  /**
   * Releases this caller's lease, and only it: by compare-and-set against the lease read here, so
   * if the lease expired (a load longer than the lease TTL) and another client took it, the swap
   * fails and the new holder keeps its lease. A delete could not tell the two apart.
   */
  private void releaseLease(String key, String token) {
    if (token == null || token.isEmpty()) {
      return;
    }
    CasValue held = cache.gets(LEASE_PREFIX + key);
    if (held != null
        && token.equals(new String(held.value(), java.nio.charset.StandardCharsets.US_ASCII))) {
      cache.compareAndSet(LEASE_PREFIX + key, held.cas(), RELEASED_LEASE, RELEASED_LEASE_TTL);
    }
  }

  private Loaded loadAndFill(String key, Duration ttl, Loader loader, boolean refresh) {
    return loadAndFill(key, ttl, loader, refresh, null);
  }

  private Loaded loadAndFill(
      String key, Duration ttl, Loader loader, boolean refresh, String token) {
    long started = System.nanoTime();
    try {
      countersFor(key).loads.increment();
      Loaded loaded;
      try {
        loaded = loader.load(key);
      } catch (RuntimeException | Error ex) {
        throw ex;
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
        throw new CacheException("loader for " + key + " was interrupted", ex);
      } catch (Exception ex) {
        throw new CacheException("loader for " + key + " failed: " + ex.getMessage(), ex);
      }
      if (loaded == null) {
        throw new CacheException(
            "loader for " + key + " returned null; return Loaded.absent(version) instead");
      }
      int loadMillis =
          (int)
              Math.min(
                  Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
      Duration entryTtl = loaded.value() == null ? negativeTtl : ttl;
      Entry entry =
          loaded.value() == null
              ? entryFor(Entry.ABSENT, loaded.version(), new byte[0], entryTtl, loadMillis)
              : entryFor(Entry.VALUE, loaded.version(), loaded.value(), entryTtl, loadMillis);
      // A refresh replaces the same version too (it carries a new expiry): publish by cas.
      Result r = refresh ? putRefresh(key, entry, entryTtl) : put(key, entry, entryTtl, true);
      if (log.isDebugEnabled()) {
        log.debug("loaded {} v{} in {} ms: {}", key, loaded.version(), loadMillis, r);
      }
      return loaded;
    } finally {
      releaseLease(key, token);
    }
  }

  private Result putRefresh(String key, Entry entry, Duration ttl) {
    Duration hard = hardTtl(entry, ttl);
    for (int attempt = 0; attempt < maxCasRetries; attempt++) {
      CasValue current = cache.gets(key);
      if (current == null) {
        return put(key, entry, ttl, true);
      }
      Entry existing = Entry.decode(current.value());
      if (existing != null && existing.version > entry.version) {
        return Result.SUPERSEDED;
      }
      Cache.Outcome o = cache.compareAndSet(key, current.cas(), entry.encode(), hard);
      if (o != Cache.Outcome.NOT_APPLIED) {
        return o == Cache.Outcome.APPLIED ? Result.PUBLISHED : Result.UNCONFIRMED;
      }
    }
    return Result.SUPERSEDED;
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CacheException("interrupted while waiting for a cache lease", e);
    }
  }

  /** How many background refreshes are queued or running; for tests that wait for them. */
  int refreshesInFlight() {
    return refreshing.size();
  }

  private ServerCounters countersFor(String key) {
    return counters.computeIfAbsent(cache.serverFor(key), s -> new ServerCounters());
  }

  /** The underlying cache's counters plus this object's loads, lease waits and stale serves. */
  public CacheStats stats() {
    Map<String, CacheStats.ServerStats> per = new LinkedHashMap<>();
    for (Map.Entry<String, CacheStats.ServerStats> e : cache.stats().perServer().entrySet()) {
      ServerCounters mine = counters.get(e.getKey());
      per.put(e.getKey(), mine == null ? e.getValue() : e.getValue().plus(mine.snapshot()));
    }
    return new CacheStats(per);
  }

  /** Stops the background refresh threads. Idempotent. Does not close the underlying cache. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      refresher.shutdownNow();
    }
  }

  /** Builds a {@link VersionedCache}. Each setter validates at once. Not thread-safe. */
  public static final class Builder {
    private final Cache cache;
    private Clock clock = Clock.systemUTC();
    private RandomGenerator random =
        () -> java.util.concurrent.ThreadLocalRandom.current().nextLong();
    private Duration tombstoneTtl = Duration.ofMinutes(1);
    private Duration negativeTtl = Duration.ofSeconds(30);
    private Duration staleGrace = Duration.ofSeconds(10);
    private Duration leaseTtl = Duration.ofSeconds(5);
    private Duration leaseWait = Duration.ofSeconds(2);
    private Duration leasePoll = Duration.ofMillis(10);
    private double beta = 1.0;
    private boolean singleFlight = true;
    private boolean leases = true;
    private int maxCasRetries = 8;
    private int refreshThreads = 2;
    private Probe probe = Probe.NONE;

    private Builder(Cache cache) {
      this.cache = Objects.requireNonNull(cache, "cache must not be null");
    }

    /** The clock for soft expiry and XFetch (default the system UTC clock). */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    /**
     * The random source for XFetch and lease tokens (default {@code ThreadLocalRandom}). It is
     * called from many threads at once, so it must be thread-safe.
     */
    public Builder random(RandomGenerator random) {
      this.random = Objects.requireNonNull(random, "random must not be null");
      return this;
    }

    /**
     * How long a tombstone refuses older fills (default 1 minute). It must outlast the longest time
     * between a reader's database read and its fill.
     */
    public Builder tombstoneTtl(Duration ttl) {
      this.tombstoneTtl = positive("tombstoneTtl", ttl, Duration.ofSeconds(2));
      return this;
    }

    /** How long "absent" answers are cached (default 30 s). */
    public Builder negativeTtl(Duration ttl) {
      this.negativeTtl = positive("negativeTtl", ttl, Duration.ofSeconds(1));
      return this;
    }

    /**
     * How long after its soft expiry a value may still be served while one caller refreshes it
     * (default 10 s; zero: expired values are never served).
     */
    public Builder staleGrace(Duration grace) {
      Objects.requireNonNull(grace, "staleGrace must not be null");
      if (grace.isNegative()) {
        throw new IllegalArgumentException("staleGrace must not be negative: " + grace);
      }
      this.staleGrace = grace;
      return this;
    }

    /**
     * The lease TTL (default 5 s, at least 2 s: memcached TTLs are whole seconds and an item with
     * TTL 1 can expire after a few milliseconds). A load longer than this may run twice.
     */
    public Builder leaseTtl(Duration ttl) {
      this.leaseTtl = positive("leaseTtl", ttl, Duration.ofSeconds(2));
      return this;
    }

    /** How long a reader waits for another instance's load before loading itself (default 2 s). */
    public Builder leaseWait(Duration wait) {
      this.leaseWait = positive("leaseWait", wait, Duration.ofMillis(1));
      return this;
    }

    /** How often a waiting reader re-reads the key (default 10 ms). */
    public Builder leasePoll(Duration poll) {
      this.leasePoll = positive("leasePoll", poll, Duration.ofMillis(1));
      return this;
    }

    /** XFetch's beta (default 1.0; 0 turns early refresh off; above 1 refreshes earlier). */
    public Builder earlyRefreshBeta(double beta) {
      if (!(beta >= 0) || Double.isInfinite(beta)) {
        throw new IllegalArgumentException(
            "earlyRefreshBeta must be a finite number >= 0: " + beta);
      }
      this.beta = beta;
      return this;
    }

    /** Single-flight per key in this JVM (default on). */
    public Builder singleFlight(boolean on) {
      this.singleFlight = on;
      return this;
    }

    /** Cluster-wide leases (default on). */
    public Builder leases(boolean on) {
      this.leases = on;
      return this;
    }

    /** Turns off all three protection layers (for measuring the unprotected baseline). */
    public Builder unprotected() {
      this.singleFlight = false;
      this.leases = false;
      this.beta = 0;
      return this;
    }

    /** Bounded gets/cas retries of a publish (default 8). */
    public Builder maxCasRetries(int retries) {
      if (retries < 1) {
        throw new IllegalArgumentException("maxCasRetries must be at least 1: " + retries);
      }
      this.maxCasRetries = retries;
      return this;
    }

    /** Threads for background refreshes (default 2). */
    public Builder refreshThreads(int threads) {
      if (threads < 1) {
        throw new IllegalArgumentException("refreshThreads must be at least 1: " + threads);
      }
      this.refreshThreads = threads;
      return this;
    }

    /** The test seam; see {@link Probe}. */
    Builder probe(Probe probe) {
      this.probe = Objects.requireNonNull(probe, "probe must not be null");
      return this;
    }

    private static Duration positive(String name, Duration d, Duration min) {
      Objects.requireNonNull(d, name + " must not be null");
      if (d.compareTo(min) < 0) {
        throw new IllegalArgumentException(
            name + " must be at least " + min.toMillis() + " ms: " + d.toMillis() + " ms");
      }
      return d;
    }

    /** Builds it. */
    public VersionedCache build() {
      if (leaseWait.compareTo(leasePoll) < 0) {
        throw new IllegalArgumentException(
            "leaseWait ("
                + leaseWait.toMillis()
                + " ms) must not be shorter than leasePoll ("
                + leasePoll.toMillis()
                + " ms)");
      }
      return new VersionedCache(this);
    }
  }
}

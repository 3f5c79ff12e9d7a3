package io.thingdb.core;

import io.thingdb.cache.Cache;
import io.thingdb.cache.VersionedCache.Result;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The query cache's per-type generations and key and value formats.
 *
 * <p>A type's generation is a memcached counter, {@code gen:<type>}; cached id lists are keyed by
 * it, so a bump retires every list of the type at once. A counter can vanish (node restart,
 * eviction, flush). Re-created at 1 it could climb back to a value some old list was cached under
 * and serve that list as current, so it is re-created at the clock's time in microseconds instead,
 * which is above every value it had unless writes to the type averaged more than one per
 * microsecond since it was first created, and above the highest generation this instance has seen
 * (a safeguard for clocks that stand still or step back). A counter found below that highest value
 * was lost and re-created by an instance whose clock is behind; it is pushed forward the same way.
 *
 * <h2>When writes bump it</h2>
 *
 * Creates bump it before they return ({@link #bump}). Updates and increments do not wait for a
 * bump: they mark the type as owing one ({@link #bumpLater}), and a background thread sends one
 * bump per owing type at most {@code delay} after the first write that marked it, for all the
 * writes since. A busy type then costs one cache round trip per delay instead of one per write (an
 * increment's generation bump was one of its four round trips). This instance's own queries never
 * miss its writes: reading the generation while the type owes a bump, or while the background
 * thread is sending one, bumps it instead ({@code incr} by 1 rather than 0), one round trip either
 * way. Other instances may serve a result cached before a write until the bump lands: at most
 * {@code delay} plus one cache write after the write returned. A write's outbox row is confirmed
 * only once its bump has landed, so a writer that dies owing a bump leaves the row behind, and the
 * outbox replay of any instance bumps the type ({@link #bumpForReplay}) within the replay interval
 * plus grace. A bump the cache could not confirm stays owed and is retried; meanwhile
 * MemcachedCache treats the counter as dirty and deletes it once the server answers, after which it
 * is re-created above every older value.
 *
 * <p>Thread-safe; owns one daemon thread when a cache is configured, stopped by {@link #close}.
 */
final class QueryCache {
  private static final Logger log = LoggerFactory.getLogger(QueryCache.class);
  private static final byte FORMAT = 1;
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  /** Per type: the highest generation this instance has read or written. */
  private final ConcurrentHashMap<String, AtomicLong> seen = new ConcurrentHashMap<>();

  /** Per type: the bump owed by writes that have returned, and the outbox rows waiting for it. */
  private final ConcurrentHashMap<TypeHandle, Owed> owed = new ConcurrentHashMap<>();

  private final AtomicBoolean scheduled = new AtomicBoolean();
  private final long delayNanos;
  private final ScheduledExecutorService bumper;

  QueryCache(boolean cached, Duration delay) {
    this.delayNanos = delay.toNanos();
    if (!cached) {
      this.bumper = null;
      return;
    }
    String name = "thingdb-querycache-" + INSTANCES.incrementAndGet();
    this.bumper = Daemons.scheduler(name);
  }

  /**
   * One type's owed bump, the outbox rows (on the type's database) waiting for it, and how many
   * bumps are on their way to the cache. Guarded by itself.
   */
  private static final class Owed {
    private boolean due;
    private long[] rows = new long[8];
    private int count;
    private int sending;

    synchronized void add(long outboxId) {
      due = true;
      if (outboxId != 0) {
        if (count == rows.length) {
          rows = Arrays.copyOf(rows, count * 2);
        }
        rows[count++] = outboxId;
      }
    }

    /** Takes the owed bump (null if none) for sending: the rows to confirm once it has landed. */
    synchronized long[] take() {
      if (!due) {
        return null;
      }
      long[] taken = Arrays.copyOf(rows, count);
      due = false;
      count = 0;
      sending++;
      return taken;
    }

    /** Whether a bump taken by {@link #take} has not landed (or failed) yet. */
    synchronized boolean sending() {
      return sending > 0;
    }

    /** A taken bump landed, or failed and is owed again. */
    synchronized void finished(long[] taken, boolean ok) {
      sending--;
      if (!ok) {
        due = true;
        for (long id : taken) {
          add(id);
        }
      }
    }
  }

  /**
   * The type's current generation under {@code epoch} (the epoch the caller keys its list by), or
   * empty if the cache could not be reached.
   */
  OptionalLong generation(Engine db, TypeHandle h, Epoch epoch) {
    Owed o = owed.get(h);
    if (o == null) {
      return advance(db, h, 0, epoch);
    }
    long[] rows = o.take();
    if (rows != null) {
      OptionalLong g = OptionalLong.empty();
      try {
        g = advance(db, h, 1, epoch);
        return g;
      } finally {
        landed(db, h, o, rows, g.isPresent()); // owed again if the bump failed or threw
      }
    }
    // The bumper thread may have taken this instance's last writes and not sent them yet: a
    // plain read could still return the generation from before them. Bump instead (harmless).
    return advance(db, h, o.sending() ? 1 : 0, epoch);
  }

  /**
   * Retires the type's cached query results now; called after a create's COMMIT. A bump that fails
   * (node unreachable) is covered by MemcachedCache's reconciliation of the counter.
   */
  void bump(Engine db, TypeHandle h) {
    if (db.cache != null) {
      advance(db, h, 1);
    }
  }

  /**
   * Called after an update's or increment's cache update: the type owes a bump, sent within the
   * delay; the outbox row (0: none) is confirmed once the bump has landed, or left to the replayer
   * if the cache update itself was unconfirmed.
   */
  void bumpLater(Engine db, TypeHandle h, long outboxId, Result cacheUpdate) {
    if (bumper == null) {
      return;
    }
    long row = cacheUpdate == Result.UNCONFIRMED ? 0 : outboxId;
    owed.computeIfAbsent(h, k -> new Owed()).add(row);
    if (scheduled.compareAndSet(false, true)) {
      try {
        bumper.schedule(() -> sendOwed(db), delayNanos, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        scheduled.set(false); // closing: close() sends what is owed
      }
    }
  }

  /** Runs on the bumper thread: one bump per owing type. */
  private void sendOwed(Engine db) {
    scheduled.set(false); // writes from now on schedule the next run
    boolean failed = false;
    for (Map.Entry<TypeHandle, Owed> e : owed.entrySet()) {
      long[] rows = e.getValue().take();
      if (rows != null) {
        boolean ok;
        try {
          ok = advance(db, e.getKey(), 1).isPresent();
        } catch (RuntimeException ex) {
          ok = false;
          log.warn(
              "bumping the query-cache generation of {} failed; will retry",
              e.getKey().type.name(),
              ex);
        }
        landed(db, e.getKey(), e.getValue(), rows, ok);
        failed |= !ok;
      }
    }
    if (failed && scheduled.compareAndSet(false, true)) {
      try {
        bumper.schedule(
            () -> sendOwed(db),
            Math.max(delayNanos, TimeUnit.MILLISECONDS.toNanos(100)),
            TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException ex) {
        scheduled.set(false);
      }
    }
  }

  private static void landed(Engine db, TypeHandle h, Owed o, long[] rows, boolean ok) {
    if (ok) {
      for (long id : rows) {
        db.outbox.confirmed(h.db, id);
      }
    }
    o.finished(rows, ok);
  }

  /**
   * The outbox replay found rows of writers that never confirmed them (crashed, or cut off from the
   * cache): bumps each type named by a thing key among {@code keys}, so that results cached before
   * those writes retire too. Returns false if a bump could not be confirmed (the rows then stay for
   * the next replay).
   */
  boolean bumpForReplay(Engine db, Collection<String> keys) {
    Set<TypeHandle> types = new LinkedHashSet<>();
    for (String key : keys) {
      TypeHandle h = typeOfThingKey(db, key);
      if (h != null) {
        types.add(h);
      }
    }
    boolean ok = true;
    for (TypeHandle h : types) {
      ok &= advance(db, h, 1).isPresent();
    }
    return ok;
  }

  /** The registered type of a thing cache key ({@code thing:t<type>_<id>}), or null. */
  static TypeHandle typeOfThingKey(Engine db, String key) {
    if (!key.startsWith("thing:t")) {
      return null;
    }
    int underscore = key.indexOf('_', 7);
    if (underscore < 8) {
      return null;
    }
    try {
      return db.typesById.get(Integer.parseInt(key, 7, underscore, 36));
    } catch (NumberFormatException e) {
      return null; // not a key this library wrote
    }
  }

  /** Sends every owed bump and stops the thread. */
  void close(Engine db) {
    if (bumper == null) {
      return;
    }
    bumper.shutdown();
    try {
      if (!bumper.awaitTermination(2, TimeUnit.SECONDS)) {
        bumper.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      bumper.shutdownNow();
    }
    if (db.cache != null) {
      for (Map.Entry<TypeHandle, Owed> e : owed.entrySet()) {
        long[] rows = e.getValue().take();
        if (rows != null) {
          landed(db, e.getKey(), e.getValue(), rows, advance(db, e.getKey(), 1).isPresent());
        }
      }
    }
  }

  /**
   * Bumps ({@code delta} 1) or reads ({@code delta} 0) the generation under the database's current
   * epoch. Bumps always use the current epoch, whatever epoch the write that owes them committed
   * on: a bump is harmless where it is not needed, and a write on a later timeline than this
   * instance knew has taught it that timeline before it owes the bump ({@link Io#connectionEpoch}).
   */
  private OptionalLong advance(Engine db, TypeHandle h, long delta) {
    return advance(db, h, delta, h.db.epoch());
  }

  private OptionalLong advance(Engine db, TypeHandle h, long delta, Epoch epoch) {
    Cache cache = db.cache.cache();
    String key = key(epoch, h);
    AtomicLong highest = seen.computeIfAbsent(h.type.name(), k -> new AtomicLong());
    long floor = highest.get();
    long fresh = Math.max(nowMicros(db), floor + 1);
    OptionalLong r = cache.incr(key, delta, fresh, Duration.ZERO);
    if (r.isEmpty()) {
      return r;
    }
    long g = r.getAsLong();
    // After a read the counter may equal what we saw; after a bump it must be above it.
    if (g < floor || (delta > 0 && g == floor)) {
      r = cache.incr(key, fresh - g, fresh, Duration.ZERO);
      if (r.isEmpty()) {
        return r;
      }
      g = r.getAsLong();
    }
    highest.accumulateAndGet(g, Math::max);
    return OptionalLong.of(g);
  }

  private static long nowMicros(Engine db) {
    Instant now = db.clock.instant();
    return Math.max(1, now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000);
  }

  /** The cache key of a type's generation counter under {@code epoch}. */
  static String key(Epoch epoch, TypeHandle h) {
    return epoch.prefix() + "gen:" + h.type.name();
  }

  /** The key of one compiled query's id list at one generation under {@code epoch}. */
  static String key(Epoch epoch, TypeHandle h, ThingQueries.Statement st, long generation) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
    update(sha, h.type.name() + "#" + h.id);
    update(sha, st.sql());
    for (Object p : st.params()) {
      update(sha, canonical(p));
    }
    return epoch.prefix()
        + "query:"
        + h.type.name()
        + ":"
        + HexFormat.of().formatHex(sha.digest())
        + ":"
        + generation;
  }

  /** Length-prefixed, so no two different parameter lists hash the same bytes. */
  private static void update(MessageDigest sha, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    sha.update(ByteBuffer.allocate(4).putInt(b.length).array());
    sha.update(b);
  }

  private static String canonical(Object p) {
    if (p instanceof long[] a) {
      return "long[]" + Arrays.toString(a);
    }
    if (p instanceof boolean[] a) {
      return "boolean[]" + Arrays.toString(a);
    }
    if (p instanceof Object[] a) {
      StringBuilder sb = new StringBuilder(a.getClass().getSimpleName()).append(a.length);
      for (Object o : a) {
        String s = String.valueOf(o);
        sb.append(':').append(s.length()).append(':').append(s);
      }
      return sb.toString();
    }
    return p.getClass().getSimpleName() + ":" + p;
  }

  static byte[] encode(long[] ids) {
    ByteBuffer b = ByteBuffer.allocate(1 + 4 + ids.length * 8);
    b.put(FORMAT).putInt(ids.length);
    for (long id : ids) {
      b.putLong(id);
    }
    return b.array();
  }

  /** The ids, or null if the bytes are not in this format (then the database is asked). */
  static long[] decode(byte[] bytes) {
    if (bytes.length < 5 || bytes[0] != FORMAT) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(bytes, 1, bytes.length - 1);
    int n = b.getInt();
    if (n < 0 || b.remaining() != n * 8L) {
      return null;
    }
    long[] ids = new long[n];
    for (int i = 0; i < n; i++) {
      ids[i] = b.getLong();
    }
    return ids;
  }
}

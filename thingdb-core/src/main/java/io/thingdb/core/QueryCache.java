package io.thingdb.core;

import io.thingdb.cache.Cache;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The query cache's per-type generations and key and value formats.
 *
 * <p>A type's generation is a memcached counter, {@code gen:<type>}, that every write to the type
 * bumps after COMMIT; cached id lists are keyed by it, so a bump retires every list of the type at
 * once. A counter can vanish (node restart, eviction, flush). Re-created at 1 it could climb back
 * to a value some old list was cached under and serve that list as current, so it is re-created
 * at the clock's time in microseconds instead, which is above every value it had unless writes to
 * the type averaged more than one per microsecond since it was first created, and above the
 * highest generation this instance has seen (a safeguard for clocks that stand still or step
 * back). A counter found below that highest value was lost and re-created by an instance whose
 * clock is behind; it is pushed forward the same way. Thread-safe.
 */
final class QueryCache {
  private static final byte FORMAT = 1;

  /** Per type: the highest generation this instance has read or written. */
  private final ConcurrentHashMap<String, AtomicLong> seen = new ConcurrentHashMap<>();

  /** The type's current generation, or empty if the cache could not be reached. */
  OptionalLong generation(ThingDb db, ThingDb.TypeHandle h) {
    return advance(db, h, 0);
  }

  /**
   * Retires the type's cached query results; called after each COMMIT of a write to the type. A
   * bump that fails (node unreachable) leaves old results until their TTL.
   */
  void bump(ThingDb db, ThingDb.TypeHandle h) {
    if (db.cache != null) {
      advance(db, h, 1);
    }
  }

  private OptionalLong advance(ThingDb db, ThingDb.TypeHandle h, long delta) {
    Cache cache = db.cache.cache();
    String key = key(h);
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

  private static long nowMicros(ThingDb db) {
    Instant now = db.clock.instant();
    return Math.max(1, now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000);
  }

  /** The cache key of a type's generation counter. */
  static String key(ThingDb.TypeHandle h) {
    return "gen:" + h.type.name();
  }

  /** The key of one compiled query's id list at one generation. */
  static String key(ThingDb.TypeHandle h, ThingQueries.Statement st, long generation) {
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
    return "query:" + h.type.name() + ":" + HexFormat.of().formatHex(sha.digest()) + ":" + generation;
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

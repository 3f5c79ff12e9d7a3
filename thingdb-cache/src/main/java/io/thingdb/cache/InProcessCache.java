package io.thingdb.cache;

import com.google.common.base.Ticker;
import com.google.common.cache.CacheBuilder;
import io.thingdb.cache.internal.Expiry;
import io.thingdb.cache.internal.Frames;
import io.thingdb.cache.internal.KeyCodec;
import io.thingdb.cache.internal.ServerCounters;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentMap;

/**
 * The in-process {@link Cache} backend for single-machine use and the embedded default: a bounded
 * Guava cache (evicting least-recently-used entries by total bytes) with memcached's semantics.
 *
 * <p>It deliberately behaves like {@link MemcachedCache}: keys are namespaced and hashed the same
 * way, values carry the same format byte, the same item-size limit applies (by default memcached's
 * 1 MiB, so code tested in-process does not start failing against memcached), TTLs are rounded up
 * to whole seconds, counters are decimal digits. Both pass the same contract test suite. It never
 * reports {@link Outcome#UNCONFIRMED}.
 *
 * <p>Values are stored and returned without copying (as a Guava or Caffeine cache would): do not
 * modify an array after passing it to the cache or after getting it back.
 *
 * <p>Thread-safe; every operation is atomic with respect to the others on the same key. {@link
 * #close()} drops all entries and is idempotent; other calls after it throw {@link
 * IllegalStateException}.
 */
public final class InProcessCache implements Cache {
  private static final String SERVER = "local";

  private final KeyCodec keys;
  private final int itemSizeMax;
  private final Ticker ticker;
  private final ConcurrentMap<String, Item> map;
  private final com.google.common.cache.Cache<String, Item> guava;
  private final ServerCounters counters = new ServerCounters();
  private volatile boolean closed;

  private InProcessCache(Builder b) {
    this.keys = KeyCodec.of(b.namespace, KeyCodec.CURRENT_VERSION);
    this.itemSizeMax = b.itemSizeMax;
    this.ticker = b.ticker;
    this.guava =
        CacheBuilder.newBuilder()
            .maximumWeight(b.maximumBytes)
            .<String, Item>weigher((k, v) -> k.length() + v.value.length + 48)
            .concurrencyLevel(Math.max(4, Runtime.getRuntime().availableProcessors() * 2))
            .build();
    this.map = guava.asMap();
  }

  /** A builder with the defaults: namespace {@code thingdb}, 64 MiB, 1 MiB items. */
  public static Builder builder() {
    return new Builder();
  }

  /** An in-process cache with the default settings. */
  public static InProcessCache create() {
    return builder().build();
  }

  /**
   * A stored value. Unlike memcached entries, values carry no format byte: nothing written by
   * another process or version ever reads them. {@code counter} marks values written by incr/decr,
   * which memcached tells apart by our format byte.
   */
  private record Item(byte[] value, long cas, long expiresAtNanos, boolean counter) {
    boolean live(Ticker ticker) {
      return expiresAtNanos == Long.MAX_VALUE || ticker.read() < expiresAtNanos;
    }

    boolean liveAt(long now) {
      return now < expiresAtNanos;
    }
  }

  private long now() {
    return ticker.read();
  }

  /** A CAS id: random, so no shared counter is contended; a collision has odds of 2^-64. */
  private static long newCas() {
    long id;
    do {
      id = java.util.concurrent.ThreadLocalRandom.current().nextLong();
    } while (id == 0);
    return id;
  }

  private long expiresAt(Duration ttl) {
    long seconds = Expiry.seconds(ttl);
    if (seconds == 0) {
      return Long.MAX_VALUE;
    }
    long nanos =
        seconds >= Long.MAX_VALUE / 1_000_000_000L ? Long.MAX_VALUE : seconds * 1_000_000_000L;
    long at = now() + nanos;
    return at < 0 ? Long.MAX_VALUE : at;
  }

  private Item live(String key) {
    Item item = map.get(key);
    if (item == null) {
      return null;
    }
    if (!item.live(ticker)) {
      map.remove(key, item);
      return null;
    }
    return item;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("InProcessCache is closed");
    }
  }

  /**
   * Checks the key. The map is keyed by the application key itself: the wire encoding is one-to-one
   * and only its length matters here (for the item limit), so no string is built.
   */
  private String wire(String key) {
    Objects.requireNonNull(key, "key must not be null");
    checkOpen();
    return key;
  }

  private byte[] frame(String key, String wire, byte[] value) {
    return Frames.checkValue(key, value, itemSizeMax, keys.wireLength(key));
  }

  @Override
  public byte[] get(String key) {
    String wire = wire(key);
    Item item = live(wire);
    byte[] value = item == null ? null : item.value;
    (value == null ? counters.misses : counters.hits).increment();
    return value;
  }

  @Override
  public Map<String, byte[]> getAll(Collection<String> keyList) {
    Objects.requireNonNull(keyList, "keys must not be null");
    Map<String, byte[]> out = new LinkedHashMap<>();
    for (String key : keyList) {
      byte[] v = get(key);
      if (v != null) {
        out.put(key, v);
      }
    }
    return out;
  }

  @Override
  public Outcome set(String key, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    Expiry.check(ttl, key);
    map.put(wire, new Item(stored, newCas(), expiresAt(ttl), false));
    return Outcome.APPLIED;
  }

  @Override
  public Outcome add(String key, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    Expiry.check(ttl, key);
    Item fresh = new Item(stored, newCas(), expiresAt(ttl), false);
    boolean[] added = {false};
    map.compute(
        wire,
        (k, old) -> {
          if (old != null && old.liveAt(now())) {
            return old;
          }
          added[0] = true;
          return fresh;
        });
    return added[0] ? Outcome.APPLIED : Outcome.NOT_APPLIED;
  }

  @Override
  public void addAll(Map<String, byte[]> values, Duration ttl) {
    Objects.requireNonNull(values, "values must not be null");
    for (Map.Entry<String, byte[]> e : values.entrySet()) {
      frame(e.getKey(), wire(e.getKey()), e.getValue());
    }
    for (Map.Entry<String, byte[]> e : values.entrySet()) {
      add(e.getKey(), e.getValue(), ttl);
    }
  }

  @Override
  public CasValue gets(String key) {
    String wire = wire(key);
    Item item = live(wire);
    byte[] value = item == null ? null : item.value;
    if (value == null) {
      counters.misses.increment();
      return null;
    }
    counters.hits.increment();
    return new CasValue(value, item.cas);
  }

  @Override
  public Outcome compareAndSet(String key, long cas, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    Expiry.check(ttl, key);
    Item fresh = new Item(stored, newCas(), expiresAt(ttl), false);
    boolean[] swapped = {false};
    map.computeIfPresent(
        wire,
        (k, old) -> {
          if (old.liveAt(now()) && old.cas == cas) {
            swapped[0] = true;
            return fresh;
          }
          return old;
        });
    return swapped[0] ? Outcome.APPLIED : Outcome.NOT_APPLIED;
  }

  @Override
  public Outcome append(String key, byte[] suffix) {
    String wire = wire(key);
    Appends.check(key, suffix);
    boolean[] appended = {false};
    map.computeIfPresent(
        wire,
        (k, old) -> {
          if (!old.liveAt(now()) || old.counter) {
            return old;
          }
          byte[] joined = Arrays.copyOf(old.value, old.value.length + suffix.length);
          System.arraycopy(suffix, 0, joined, old.value.length, suffix.length);
          if (joined.length > Frames.maxValueSize(itemSizeMax, keys.wireLength(key))) {
            return old;
          }
          appended[0] = true;
          return new Item(joined, newCas(), old.expiresAtNanos, false);
        });
    return appended[0] ? Outcome.APPLIED : Outcome.NOT_APPLIED;
  }

  @Override
  public void appendQuietly(String key, byte[] suffix) {
    append(key, suffix);
  }

  @Override
  public Outcome delete(String key) {
    String wire = wire(key);
    Item old = map.remove(wire);
    return old != null && old.liveAt(now()) ? Outcome.APPLIED : Outcome.NOT_APPLIED;
  }

  @Override
  public OptionalLong incr(String key, long delta, long initial, Duration ttl) {
    return counter(key, delta, initial, ttl, true);
  }

  @Override
  public OptionalLong decr(String key, long delta, long initial, Duration ttl) {
    return counter(key, delta, initial, ttl, false);
  }

  private OptionalLong counter(String key, long delta, long initial, Duration ttl, boolean up) {
    String wire = wire(key);
    Expiry.check(ttl, key);
    if (delta < 0) {
      throw new IllegalArgumentException(
          "delta must not be negative: " + delta + " (key=" + key + ")");
    }
    if (initial < 0) {
      throw new IllegalArgumentException(
          "initial must not be negative: " + initial + " (key=" + key + ")");
    }
    long[] result = new long[1];
    map.compute(
        wire,
        (k, old) -> {
          long now = now();
          if (old == null || !old.liveAt(now)) {
            result[0] = initial;
            return new Item(digits(initial), newCas(), expiresAt(ttl), true);
          }
          if (!old.counter) {
            throw new CacheException(
                "cannot "
                    + (up ? "increment" : "decrement")
                    + " a non-numeric value (key="
                    + key
                    + ")");
          }
          long current = Long.parseUnsignedLong(new String(old.value, StandardCharsets.US_ASCII));
          // memcached: incr wraps at 2^64, decr stops at 0.
          long next =
              up
                  ? current + delta
                  : (Long.compareUnsigned(current, delta) <= 0 ? 0 : current - delta);
          result[0] = next;
          // incr/decr do not change an item's expiry in memcached.
          return new Item(digits(next), newCas(), old.expiresAtNanos, true);
        });
    return OptionalLong.of(result[0]);
  }

  private static byte[] digits(long value) {
    return Long.toUnsignedString(value).getBytes(StandardCharsets.US_ASCII);
  }

  @Override
  public Outcome touch(String key, Duration ttl) {
    String wire = wire(key);
    Expiry.check(ttl, key);
    boolean[] touched = {false};
    map.computeIfPresent(
        wire,
        (k, old) -> {
          if (!old.liveAt(now())) {
            return null;
          }
          touched[0] = true;
          return new Item(old.value, old.cas, expiresAt(ttl), old.counter);
        });
    return touched[0] ? Outcome.APPLIED : Outcome.NOT_APPLIED;
  }

  @Override
  public CacheStats stats() {
    return new CacheStats(Map.of(SERVER, counters.snapshot()));
  }

  @Override
  public String serverFor(String key) {
    Objects.requireNonNull(key, "key must not be null");
    return SERVER;
  }

  @Override
  public int maxValueSize(String key) {
    return Frames.maxValueSize(itemSizeMax, keys.wireLength(wire(key)));
  }

  /** Number of entries currently held (expired ones may still be counted until touched). */
  public long size() {
    return guava.size();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      guava.invalidateAll();
    }
  }

  @Override
  public String toString() {
    return "InProcessCache{namespace=" + keys.namespace() + ", entries=" + guava.size() + "}";
  }

  /** Builds an {@link InProcessCache}. Not thread-safe; each setter validates at once. */
  public static final class Builder {
    private String namespace = "thingdb";
    private long maximumBytes = 64L * 1024 * 1024;
    private int itemSizeMax = 1024 * 1024;
    private Ticker ticker = Ticker.systemTicker();

    private Builder() {}

    /** The key namespace (default {@code thingdb}); see {@link Cache} for key rules. */
    public Builder namespace(String namespace) {
      this.namespace = KeyCodec.checkNamespace(namespace);
      return this;
    }

    /** The memory bound in bytes of keys and values (default 64 MiB). */
    public Builder maximumBytes(long maximumBytes) {
      if (maximumBytes < 1024) {
        throw new IllegalArgumentException("maximumBytes must be at least 1024: " + maximumBytes);
      }
      this.maximumBytes = maximumBytes;
      return this;
    }

    /**
     * The item size limit, like memcached's {@code -I} (default 1 MiB = 1048576 bytes, memcached's
     * default); between 1 KiB and 1 GiB.
     */
    public Builder itemSizeMax(int bytes) {
      this.itemSizeMax = Frames.checkItemSizeMax(bytes);
      return this;
    }

    /** The time source for expiry (default the system ticker); tests pass a fake. */
    public Builder ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker must not be null");
      return this;
    }

    /** Builds the cache. */
    public InProcessCache build() {
      if (itemSizeMax > maximumBytes) {
        throw new IllegalArgumentException(
            "itemSizeMax ("
                + itemSizeMax
                + ") must not exceed maximumBytes ("
                + maximumBytes
                + ")");
      }
      return new InProcessCache(this);
    }
  }
}

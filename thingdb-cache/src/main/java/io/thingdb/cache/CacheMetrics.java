package io.thingdb.cache;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * Micrometer meters for a cache: per server, counters of hits, misses, timeouts and unconfirmed
 * writes (from {@link Cache#stats()}), and for a {@link VersionedCache} also of loads, lease waits
 * and stale values served ({@link VersionedCache#stats()}). Each meter reads the live counters when
 * the registry asks; nothing is counted twice or held.
 *
 * <p>Meter names ({@code server} tag: the server as configured, {@code local} for the in-process
 * backend): {@code thingdb.cache.hits}, {@code thingdb.cache.misses}, {@code
 * thingdb.cache.timeouts}, {@code thingdb.cache.unconfirmed.writes}, {@code thingdb.cache.loads},
 * {@code thingdb.cache.lease.waits}, {@code thingdb.cache.stale.served}; for a {@link
 * MemcachedCache} also the gauges of its reconcile window per server, {@code thingdb.cache.state}
 * (0 healthy, 1 reconciling, 2 suspect: the ordinal of {@link MemcachedCache.State}) and {@code
 * thingdb.cache.reconcile.pending} (keys to delete before it is trusted again). The servers are
 * those of the cache when {@link #bindTo} runs; for a {@link MemcachedCache} they follow {@link
 * MemcachedCache#reconfigure}: an added server's meters are registered when it is added, and a
 * removed server's are removed from the registry once the client no longer reads it (when the
 * warm-up ends).
 *
 * <p>micrometer-core is an optional dependency of this module: add it to use this class. Immutable
 * and thread-safe.
 */
public final class CacheMetrics implements MeterBinder {
  private final Supplier<CacheStats> stats;
  private final Tags tags;
  private final MemcachedCache memcached;

  private CacheMetrics(Supplier<CacheStats> stats, Iterable<Tag> tags, Cache backend) {
    this.stats = stats;
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags must not be null"));
    this.memcached = backend instanceof MemcachedCache m ? m : null;
  }

  /**
   * The meters of a cache backend.
   *
   * @param tags added to every meter (e.g. the application's name for this cache)
   */
  public static CacheMetrics of(Cache cache, Iterable<Tag> tags) {
    Objects.requireNonNull(cache, "cache must not be null");
    return new CacheMetrics(cache::stats, tags, cache);
  }

  /**
   * The meters of a versioned cache: its backend's counters plus its own loads, lease waits and
   * stale values served.
   *
   * @param tags added to every meter
   */
  public static CacheMetrics of(VersionedCache cache, Iterable<Tag> tags) {
    Objects.requireNonNull(cache, "cache must not be null");
    return new CacheMetrics(cache::stats, tags, cache.cache());
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry must not be null");
    Map<String, List<Meter>> bound = new HashMap<>();
    sync(registry, bound);
    if (memcached != null) {
      memcached.onServersChanged(() -> sync(registry, bound));
    }
  }

  /** Registers the meters of servers the cache has and {@code bound} lacks; removes the others'. */
  private void sync(MeterRegistry registry, Map<String, List<Meter>> bound) {
    synchronized (bound) {
      Set<String> now = stats.get().perServer().keySet();
      for (String server : now) {
        if (!bound.containsKey(server)) {
          bound.put(server, bindServer(registry, server));
        }
      }
      for (Iterator<Map.Entry<String, List<Meter>>> it = bound.entrySet().iterator();
          it.hasNext(); ) {
        Map.Entry<String, List<Meter>> e = it.next();
        if (!now.contains(e.getKey())) {
          e.getValue().forEach(registry::remove);
          it.remove();
        }
      }
    }
  }

  private List<Meter> bindServer(MeterRegistry registry, String server) {
    Tags serverTags = tags.and("server", server);
    List<Meter> m = new ArrayList<>();
    m.add(counter(registry, "thingdb.cache.hits", "keys found", server, serverTags, s -> s.hits()));
    m.add(
        counter(
            registry,
            "thingdb.cache.misses",
            "keys not found, including reads of an unreachable or slow server",
            server,
            serverTags,
            s -> s.misses()));
    m.add(
        counter(
            registry,
            "thingdb.cache.timeouts",
            "operations that ran out of time",
            server,
            serverTags,
            s -> s.timeouts()));
    m.add(
        counter(
            registry,
            "thingdb.cache.unconfirmed.writes",
            "writes the server could not confirm (reconciled before it is used again)",
            server,
            serverTags,
            s -> s.unconfirmedWrites()));
    m.add(
        counter(
            registry,
            "thingdb.cache.loads",
            "loader runs after a miss or an expiry",
            server,
            serverTags,
            s -> s.loads()));
    m.add(
        counter(
            registry,
            "thingdb.cache.lease.waits",
            "readers that waited for another client's load instead of loading",
            server,
            serverTags,
            s -> s.leaseWaits()));
    m.add(
        counter(
            registry,
            "thingdb.cache.stale.served",
            "expired values served while one caller refreshed them",
            server,
            serverTags,
            s -> s.staleServed()));
    if (memcached != null) {
      m.add(
          Gauge.builder("thingdb.cache.state", memcached, c -> state(c, server))
              .description(
                  "0 healthy (trusted), 1 reconciling (answering; unconfirmed writes still being"
                      + " deleted), 2 suspect (all its keys are misses)")
              .tags(serverTags)
              .register(registry));
      m.add(
          Gauge.builder("thingdb.cache.reconcile.pending", memcached, c -> pending(c, server))
              .description(
                  "keys whose write the server did not confirm, to delete before it is trusted"
                      + " again (reads of them are misses until then)")
              .tags(serverTags)
              .register(registry));
    }
    return m;
  }

  /** The server's state as a number; NaN once the client no longer has it. */
  private static double state(MemcachedCache cache, String server) {
    MemcachedCache.ServerStatus s = status(cache, server);
    return s == null ? Double.NaN : s.state().ordinal();
  }

  private static double pending(MemcachedCache cache, String server) {
    MemcachedCache.ServerStatus s = status(cache, server);
    return s == null ? Double.NaN : s.pendingInvalidations();
  }

  private static MemcachedCache.ServerStatus status(MemcachedCache cache, String server) {
    try {
      return cache.status(server);
    } catch (IllegalArgumentException e) {
      return null; // removed by a reconfigure; its meters go when sync() runs
    }
  }

  private Meter counter(
      MeterRegistry registry,
      String name,
      String description,
      String server,
      Tags serverTags,
      ToLongFunction<CacheStats.ServerStats> field) {
    return FunctionCounter.builder(
            name,
            stats,
            st -> {
              CacheStats.ServerStats s = st.get().perServer().get(server);
              return s == null ? 0 : field.applyAsLong(s);
            })
        .description(description)
        .tags(serverTags)
        .register(registry);
  }
}

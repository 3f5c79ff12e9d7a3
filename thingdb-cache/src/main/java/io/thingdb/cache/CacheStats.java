package io.thingdb.cache;

import java.util.Map;

/**
 * An immutable snapshot of a cache client's counters, per server and in total. Servers are named as
 * configured ({@code host:port}); the in-process backend reports one server, {@code local}.
 *
 * @param perServer counters per server, in configuration order
 */
public record CacheStats(Map<String, ServerStats> perServer) {

  /** Copies the map. */
  public CacheStats {
    perServer = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(perServer));
  }

  /** The sum over all servers. */
  public ServerStats total() {
    ServerStats sum = ServerStats.ZERO;
    for (ServerStats s : perServer.values()) {
      sum = sum.plus(s);
    }
    return sum;
  }

  /**
   * Counters for one server.
   *
   * @param hits keys found
   * @param misses keys not found, including those answered as misses because the server was
   *     unreachable or timed out
   * @param timeouts operations that ran out of time (each attempt counts)
   * @param unconfirmedWrites writes reported {@link Cache.Outcome#UNCONFIRMED}
   * @param loads loader invocations by {@link VersionedCache#load}
   * @param leaseWaits times a reader waited for another client's load instead of loading
   * @param staleServed times an expired value was served while another caller refreshed it
   */
  public record ServerStats(
      long hits,
      long misses,
      long timeouts,
      long unconfirmedWrites,
      long loads,
      long leaseWaits,
      long staleServed) {

    /** All zero. */
    public static final ServerStats ZERO = new ServerStats(0, 0, 0, 0, 0, 0, 0);

    /** Component-wise sum. */
    public ServerStats plus(ServerStats o) {
      return new ServerStats(
          hits + o.hits,
          misses + o.misses,
          timeouts + o.timeouts,
          unconfirmedWrites + o.unconfirmedWrites,
          loads + o.loads,
          leaseWaits + o.leaseWaits,
          staleServed + o.staleServed);
    }
  }
}

package io.thingdb.cache.internal;

import io.thingdb.cache.CacheStats.ServerStats;
import java.util.concurrent.atomic.LongAdder;

/** Per-server counters of a backend. Thread-safe (LongAdders). */
public final class ServerCounters {
  public final LongAdder hits = new LongAdder();
  public final LongAdder misses = new LongAdder();
  public final LongAdder timeouts = new LongAdder();
  public final LongAdder unconfirmedWrites = new LongAdder();
  public final LongAdder loads = new LongAdder();
  public final LongAdder leaseWaits = new LongAdder();
  public final LongAdder staleServed = new LongAdder();

  /** A consistent-enough snapshot (each counter read once). */
  public ServerStats snapshot() {
    return new ServerStats(
        hits.sum(),
        misses.sum(),
        timeouts.sum(),
        unconfirmedWrites.sum(),
        loads.sum(),
        leaseWaits.sum(),
        staleServed.sum());
  }
}

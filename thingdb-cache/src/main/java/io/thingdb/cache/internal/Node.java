package io.thingdb.cache.internal;

import com.google.code.yanf4j.core.Session;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One memcached server as the client sees it: its connection, whether it is trusted, and the keys
 * whose last write it may not have received. Thread-safe: fields are volatile or concurrent.
 *
 * <p>A node is <em>suspect</em> after repeated failures or a disconnect. A suspect node gets no
 * traffic except the reconciler's probe: reads of its keys are misses, writes to it are recorded as
 * dirty keys. A key is <em>dirty</em> when a write to it may not have reached the server (a
 * timeout, a lost connection, or a write skipped because the node was suspect). Reads of dirty keys
 * are misses until the reconciler has deleted them from the server; if too many keys become dirty
 * the reconciler flushes the whole server instead.
 */
public final class Node {
  public final int index;
  public final String name;
  public final InetSocketAddress address;
  public final ServerCounters counters = new ServerCounters();
  public final Set<String> dirty = ConcurrentHashMap.newKeySet();
  public final AtomicInteger consecutiveFailures = new AtomicInteger();

  public volatile Session session;
  public volatile boolean suspect;

  /**
   * True while dirty is non-empty or a flush is pending: lets the read path skip the set lookup.
   */
  public volatile boolean hasDirty;

  public volatile boolean flushNeeded;
  public volatile long suspectSinceMillis;
  public volatile long firstFailureNanos;
  public volatile long reconciledAtMillis;
  public volatile int lastReconcileDeleted;

  /** A wire key that the ring places on this node, used to probe it. */
  public volatile String probeKey;

  public Node(int index, String name, InetSocketAddress address) {
    this.index = index;
    this.name = name;
    this.address = address;
  }

  /** True if a read of {@code wireKey} may be sent to this node. */
  public boolean readable(String wireKey) {
    if (suspect) {
      return false;
    }
    return !hasDirty || (!flushNeeded && !dirty.contains(wireKey));
  }

  /** True if writes may be sent to this node (dirty keys may still be written: see reconcile). */
  public boolean writable() {
    return !suspect && !flushNeeded;
  }

  @Override
  public String toString() {
    return name;
  }
}

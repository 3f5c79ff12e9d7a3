package io.thingdb.cache.internal;

import com.google.code.yanf4j.core.Session;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One memcached server as the client sees it: its connection, whether it is trusted, and the keys
 * whose last write it may not have received. Thread-safe: fields are volatile or concurrent, and
 * the dirty-key hand-off, the flush state and the logged state are changed under the node's
 * monitor.
 *
 * <p>A node is <em>suspect</em> after repeated failures or a disconnect. A suspect node gets no
 * traffic except the reconciler's probe: reads of its keys are misses, writes to it are recorded as
 * dirty keys. A key is <em>dirty</em> when a write to it may not have reached the server (a
 * timeout, a lost connection, or a write skipped because the node was suspect). Reads of dirty keys
 * are misses until the reconciler has deleted them from the server; if too many keys become dirty
 * the reconciler flushes the whole server instead.
 *
 * <p>The hand-off between writers marking keys and the reconciler clearing them is atomic: each
 * mark carries a sequence number and the reconciler removes a key only if its mark is still the one
 * it deleted ({@link #confirmDeleted}); a flush clears the marks made before it was sent ({@link
 * #beginFlush}) and records those made after, and it ends the pending flush only if no new one was
 * requested in the meantime ({@link #flushDone}). A mark made while the reconciler works therefore
 * always survives until a later delete or flush covers it.
 */
public final class Node {
  public final String name;
  public final InetSocketAddress address;
  public final ServerCounters counters = new ServerCounters();

  /** Dirty wire keys and the sequence number of their latest mark. */
  private final ConcurrentHashMap<String, Long> dirty = new ConcurrentHashMap<>();

  private long marks; // guarded by this
  private boolean flushSent; // guarded by this: the pending flush has been sent
  public final AtomicInteger consecutiveFailures = new AtomicInteger();

  public volatile Session session;
  public volatile boolean suspect;

  /** Removed from the ring and disconnected: no longer probed, reconnected or reported. */
  public volatile boolean retired;

  /**
   * True while dirty is non-empty or a flush is pending: lets the read path skip the set lookup.
   */
  private volatile boolean hasDirty;

  private volatile boolean flushNeeded;
  public volatile long suspectSinceMillis;
  public volatile long firstFailureNanos;
  public volatile long reconciledAtMillis;
  public volatile long lastReconnectNanos;

  /** A reconnect attempt is in flight. */
  public final AtomicBoolean reconnecting = new AtomicBoolean();

  public volatile int lastReconcileDeleted;

  /** The state last written to the log; see {@link #report}. */
  public enum Reported {
    /** Trusted (the initial state, and after a reconcile). */
    TRUSTED,
    /** Failing operations: not trusted, connection still up. */
    SUSPECT,
    /** Connection lost. */
    DOWN,
    /** Answering again, not yet reconciled. */
    BACK
  }

  private Reported reported = Reported.TRUSTED; // guarded by this

  /**
   * Records {@code next} as the state last logged; returns true if the caller should log it (the
   * state changed, and the change is one worth a line: a down node that also times out stays down,
   * and only a suspect or down node can come back).
   */
  public synchronized boolean report(Reported next) {
    boolean changes =
        switch (next) {
          case SUSPECT -> reported == Reported.TRUSTED || reported == Reported.BACK;
          case DOWN -> reported != Reported.DOWN;
          case BACK -> reported == Reported.SUSPECT || reported == Reported.DOWN;
          case TRUSTED -> reported != Reported.TRUSTED;
        };
    if (changes) {
      reported = next;
    }
    return changes;
  }

  /** A wire key read to probe this node (sent to this node whatever the ring says). */
  public volatile String probeKey;

  public Node(String name, InetSocketAddress address) {
    this.name = name;
    this.address = address;
  }

  /** True if a read of {@code wireKey} may be sent to this node. */
  public boolean readable(String wireKey) {
    if (suspect) {
      return false;
    }
    return !hasDirty || (!flushNeeded && !dirty.containsKey(wireKey));
  }

  /** What {@link #markDirty} did. */
  public enum Mark {
    /** The key is recorded; the reconciler deletes it before the node is trusted again. */
    RECORDED,
    /** A flush that has not been sent yet is pending: it covers this key. */
    COVERED,
    /** Too many keys were dirty: they are dropped and the node will be flushed instead. */
    OVERFLOWED
  }

  /**
   * Records that a write of {@code wireKey} may not have reached the node. Beyond {@code
   * maxPending} recorded keys the node needs a flush instead.
   */
  public synchronized Mark markDirty(String wireKey, int maxPending) {
    hasDirty = true;
    if (flushNeeded && !flushSent) {
      return Mark.COVERED;
    }
    if (dirty.size() >= maxPending && !dirty.containsKey(wireKey)) {
      flushNeeded = true;
      flushSent = false;
      dirty.clear();
      return Mark.OVERFLOWED;
    }
    dirty.put(wireKey, ++marks);
    return Mark.RECORDED;
  }

  /** True if {@code wireKey} awaits reconciliation (marked dirty, or a flush is pending). */
  public boolean isDirty(String wireKey) {
    return flushNeeded || dirty.containsKey(wireKey);
  }

  /** Whether the node is to be flushed before it is trusted again. */
  public boolean flushNeeded() {
    return flushNeeded;
  }

  /** The number of keys awaiting their delete. */
  public int pendingInvalidations() {
    return dirty.size();
  }

  /** Whether any key awaits reconciliation, or a flush. */
  public boolean hasDirty() {
    return hasDirty;
  }

  /**
   * Called just before the reconciler sends a flush: returns false if none is pending. Every mark
   * made before this call is covered by the flush and dropped; marks made from now on are recorded,
   * since their writes may reach the server after the flush has run.
   */
  public synchronized boolean beginFlush() {
    if (!flushNeeded) {
      return false;
    }
    flushSent = true;
    dirty.clear();
    return true;
  }

  /**
   * The flush begun by {@link #beginFlush} has run on the server. Ends the pending flush unless
   * another was requested meanwhile (then it stays pending, to be sent again).
   */
  public synchronized void flushDone() {
    if (flushSent) {
      flushSent = false;
      flushNeeded = false;
    }
  }

  /** The dirty keys with their marks, to delete and then hand to {@link #confirmDeleted}. */
  public Map<String, Long> dirtyKeys() {
    return new HashMap<>(dirty);
  }

  /**
   * The server has run the deletes of {@code deleted}: forgets each key whose mark is still the one
   * deleted. A key marked again since (a write that failed after its delete was sent) stays dirty.
   */
  public void confirmDeleted(Map<String, Long> deleted) {
    deleted.forEach(dirty::remove);
  }

  /**
   * Ends reconciliation if nothing is left to delete or flush; returns false (and leaves the node
   * dirty) if a write marked a key since.
   */
  public synchronized boolean finishReconcile() {
    if (!dirty.isEmpty() || flushNeeded) {
      return false;
    }
    hasDirty = false;
    return true;
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

package io.thingdb.core;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A configured database, the circuit in front of its primary and the health of its replicas.
 * Thread-safe.
 */
final class DbHandle {
  private static final Logger log = LoggerFactory.getLogger(ThingDb.class);

  final String name;
  final Database database;
  final List<Replica> replicas;

  /** Every connection to the primary on an operation's path is taken through it. */
  final Circuit circuit;

  /** The database's cache epoch as this instance knows it; null only while the engine builds. */
  private final AtomicReference<Epoch> epoch = new AtomicReference<>();

  /**
   * The timeline of the server each physical primary connection reaches ({@link
   * Io#connectionEpoch}), weakly keyed: an entry goes with its connection. Guarded by itself.
   */
  final java.util.Map<Connection, Integer> connectionTimelines = new java.util.WeakHashMap<>();

  /** Times {@link #learn} replaced the epoch (the first one, at build, is not counted). */
  final LongAdder epochChanges = new LongAdder();

  /** One replica's rotation state. */
  static final class Replica {
    /** {@link #downUntil} of a replica in rotation. */
    static final long IN_ROTATION = Long.MIN_VALUE;

    final int index;
    final DataSource dataSource;

    /**
     * Clock millis until which the replica is out of rotation, or {@link #IN_ROTATION}. Changed by
     * compare-and-set so that exactly one reader probes a replica whose time is up.
     */
    final AtomicLong downUntil = new AtomicLong(IN_ROTATION);

    /**
     * The highest replay position seen on this replica; positions only move forward. This assumes
     * the DataSource always reaches the same standby: a pool over several hosts would need one
     * Replica per host.
     */
    volatile long knownReplay;

    Replica(int index, DataSource dataSource) {
      this.index = index;
      this.dataSource = dataSource;
    }

    boolean inRotation() {
      return downUntil.get() == IN_ROTATION;
    }

    @Override
    public String toString() {
      return "replica " + index + " (" + dataSource + ")";
    }
  }

  DbHandle(String name, Database database, Circuit circuit) {
    this.name = name;
    this.database = database;
    this.circuit = circuit;
    List<Replica> list = new ArrayList<>();
    for (int i = 0; i < database.replicas().size(); i++) {
      list.add(new Replica(i, database.replicas().get(i)));
    }
    this.replicas = List.copyOf(list);
  }

  /** What {@link #requestEpochCheck} runs; set by the engine. */
  private volatile Runnable epochCheck = () -> {};

  void onEpochCheckWanted(Runnable check) {
    this.epochCheck = check;
  }

  /**
   * Asks for a check of the epoch soon, on the engine's epoch thread: when the database answers
   * again after connection failures, or when a session shows a later timeline than this instance
   * knows. Does not block.
   */
  void requestEpochCheck() {
    epochCheck.run();
  }

  /** The current epoch: the one every read's cache keys use. Never null once built. */
  Epoch epoch() {
    return epoch.get();
  }

  /**
   * Adopts {@code seen} if it supersedes the current epoch ({@link Epoch#supersededBy}): another
   * system identifier or a later timeline. Returns the epoch that was replaced, or null if nothing
   * changed (or if this was the first epoch). A change is logged at WARN naming {@code how} it was
   * learned. Thread-safe; epochs only move forward.
   */
  Epoch learn(Epoch seen, String how) {
    while (true) {
      Epoch now = epoch.get();
      if (now != null && !now.supersededBy(seen)) {
        return null;
      }
      if (epoch.compareAndSet(now, seen)) {
        if (now != null) {
          epochChanges.increment();
          log.warn(
              "database {}: the primary is now {} (was {}), learned from {}; values cached under"
                  + " the old cache epoch are no longer read (a promotion may have lost the last"
                  + " writes of the old timeline)",
              name,
              seen,
              now,
              how);
        }
        return now;
      }
    }
  }

  @Override
  public String toString() {
    return name;
  }
}

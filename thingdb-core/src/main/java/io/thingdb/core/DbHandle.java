package io.thingdb.core;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

  /**
   * How long after a check on a reader's thread ({@link #epochFor}) that did not show a session's
   * timeline another such check may run; meanwhile such sessions' reads bypass the cache.
   */
  static final long CHECK_NOW_SPACING_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

  /** What {@link #requestEpochCheck} runs; set by the engine. */
  private volatile Runnable epochCheck = () -> {};

  /** What {@link #epochFor} runs: one check on the caller's thread; set by the engine. */
  private volatile Runnable epochCheckNow = () -> {};

  /** Serialises the checks of {@link #epochFor}; guards {@link #lastCheckNow}. */
  private final Object checkNowLock = new Object();

  /** System nanos when the last check of {@link #epochFor} finished; 0 before the first. */
  private long lastCheckNow;

  /** Whether {@link #epochFor} has warned of a timeline it could not confirm since one it could. */
  private boolean warnedAhead;

  /**
   * Sets what {@link #requestEpochCheck} runs ({@code soon}, not blocking) and what {@link
   * #epochFor} runs ({@code now}, one check on the caller's thread that never throws).
   */
  void onEpochCheck(Runnable soon, Runnable now) {
    this.epochCheck = soon;
    this.epochCheckNow = now;
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
   * The epoch whose cache keys a read for {@code session} uses, or null if the read must not use
   * the cache at all.
   *
   * <p>A session that wrote on a later timeline than this instance knows (its token comes from an
   * instance that met a promotion first) would otherwise be served what this instance cached under
   * the old epoch: query lists and things that the writer's write-through and query-cache bumps,
   * made under the new epoch, never touched. So the epoch is checked at once, on the caller's
   * thread (one statement on the primary, bounded by its pool's connection timeout; concurrent
   * readers wait for one check and share its answer). If the check does not show the session's
   * timeline either (the primary does not answer, or the token names a timeline of another
   * cluster), the read bypasses the cache and {@link Routing} sends it to the primary; another
   * check on a reader's thread runs at most every {@link #CHECK_NOW_SPACING_NANOS}, and a WARN
   * names the database and both timelines once until a check confirms a session's timeline again.
   */
  Epoch epochFor(Session session) {
    Epoch current = epoch.get();
    if (!isAhead(session, current)) {
      return current;
    }
    synchronized (checkNowLock) {
      if (isAhead(session, epoch.get())
          && (lastCheckNow == 0 || System.nanoTime() - lastCheckNow >= CHECK_NOW_SPACING_NANOS)) {
        try {
          epochCheckNow.run();
        } finally {
          lastCheckNow = System.nanoTime();
        }
        current = epoch.get();
        if (!isAhead(session, current)) {
          warnedAhead = false;
        } else if (!warnedAhead) {
          warnedAhead = true;
          log.warn(
              "database {}: a session wrote on timeline {}, but the primary shows {}; its reads skip"
                  + " the cache and go to the primary until this instance learns that timeline (a"
                  + " primary that does not answer, or a session token of another cluster?)",
              name,
              session.position(name).timeline(),
              current);
        }
      }
    }
    current = epoch.get();
    return isAhead(session, current) ? null : current;
  }

  /** Whether {@code session} wrote on this database on a later timeline than {@code current}. */
  private boolean isAhead(Session session, Epoch current) {
    if (session == null || current == null) {
      return false;
    }
    Session.Position p = session.position(name);
    return p != null
        && p.timeline() != 0
        && Integer.compareUnsigned(p.timeline(), current.timeline()) > 0;
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

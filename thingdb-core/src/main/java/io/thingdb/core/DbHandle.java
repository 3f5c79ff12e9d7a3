package io.thingdb.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * A configured database, the circuit in front of its primary and the health of its replicas.
 * Thread-safe.
 */
final class DbHandle {
  final String name;
  final Database database;
  final List<Replica> replicas;

  /** Every connection to the primary on an operation's path is taken through it. */
  final Circuit circuit;

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

  @Override
  public String toString() {
    return name;
  }
}

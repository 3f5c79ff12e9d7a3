package io.thingdb.core;

import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/** A configured database and the health of its replicas. Thread-safe. */
final class DbHandle {
  final String name;
  final Database database;
  final List<Replica> replicas;

  /** One replica's rotation state. */
  static final class Replica {
    final int index;
    final DataSource dataSource;
    /** System.nanoTime until which the replica is out of rotation; 0 when in rotation. */
    volatile long downUntil;
    /** The highest replay position seen on this replica; positions only move forward. */
    volatile long knownReplay;

    Replica(int index, DataSource dataSource) {
      this.index = index;
      this.dataSource = dataSource;
    }
  }

  DbHandle(String name, Database database) {
    this.name = name;
    this.database = database;
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

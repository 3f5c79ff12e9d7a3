package io.thingdb.core;

import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * One database as ThingDB sees it: a primary {@link DataSource} that takes every write, and zero or
 * more replica {@link DataSource}s (streaming replicas of that primary) that serve reads when the
 * reader's {@link Session} allows. The DataSources (normally HikariCP pools) belong to the
 * application: ThingDB never closes them. Immutable and thread-safe.
 */
public final class Database {
  private final DataSource primary;
  private final List<DataSource> replicas;

  private Database(DataSource primary, List<DataSource> replicas) {
    this.primary = Objects.requireNonNull(primary, "primary DataSource must not be null");
    for (DataSource r : replicas) {
      Objects.requireNonNull(r, "replica DataSource must not be null");
      if (r == primary) {
        throw new IllegalArgumentException("a replica must not be the primary DataSource itself");
      }
    }
    this.replicas = List.copyOf(replicas);
  }

  /** A database with only a primary. */
  public static Database of(DataSource primary) {
    return new Database(primary, List.of());
  }

  /** A copy with these replicas. */
  public Database withReplicas(DataSource... replicas) {
    return new Database(primary, List.of(replicas));
  }

  /** The primary. */
  public DataSource primary() {
    return primary;
  }

  /** The replicas, possibly empty. */
  public List<DataSource> replicas() {
    return replicas;
  }
}

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
  private final DataSource probe;

  private Database(DataSource primary, List<DataSource> replicas) {
    this(primary, replicas, null);
  }

  private Database(DataSource primary, List<DataSource> replicas, DataSource probe) {
    this.primary = Objects.requireNonNull(primary, "primary DataSource must not be null");
    for (DataSource r : replicas) {
      Objects.requireNonNull(r, "replica DataSource must not be null");
      if (r == primary) {
        throw new IllegalArgumentException("a replica must not be the primary DataSource itself");
      }
    }
    this.replicas = List.copyOf(replicas);
    if (probe == primary) {
      throw new IllegalArgumentException(
          "the probe DataSource must not be the primary itself: it is meant to bypass its pool");
    }
    this.probe = probe;
  }

  /** A database with only a primary. */
  public static Database of(DataSource primary) {
    return new Database(primary, List.of());
  }

  /** A copy with these replicas. */
  public Database withReplicas(DataSource... replicas) {
    return new Database(primary, List.of(replicas), probe);
  }

  /**
   * A copy whose outage probe uses {@code probe}: an unpooled DataSource to the primary's server
   * (for PostgreSQL, pgjdbc's {@code PGSimpleDataSource} with a short connect timeout). While the
   * database's circuit is open (see {@link ThingDbBuilder#circuitOpensAfter}) the probe opens a
   * connection of its own there instead of waiting on the primary's pool. A pool such as HikariCP
   * refills a dead server's connections only while a caller waits and backs off between attempts
   * (doubling, up to 5 s) for as long as callers keep waiting; a probe that waits on the pool every
   * interval can keep that backoff growing, and then the pool, not the server, decides when the
   * first connection after the outage comes. With its own connection the probe sees the server back
   * at once and leaves the pool idle through the outage, so the pool's next refill starts without
   * backoff.
   */
  public Database withProbe(DataSource probe) {
    return new Database(primary, replicas, Objects.requireNonNull(probe, "probe must not be null"));
  }

  /** The primary. */
  public DataSource primary() {
    return primary;
  }

  /** The outage probe's own DataSource, or the primary if none was given. */
  public DataSource probe() {
    return probe == null ? primary : probe;
  }

  /** The replicas, possibly empty. */
  public List<DataSource> replicas() {
    return replicas;
  }
}

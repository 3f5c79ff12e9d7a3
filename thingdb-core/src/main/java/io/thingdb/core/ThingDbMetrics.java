package io.thingdb.core;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.thingdb.cache.CacheMetrics;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;

/**
 * Micrometer meters for a {@link ThingDb}: SQL statements sent; reads served by replicas and by
 * primaries, reads sent to the primary because a replica had not replayed the reader's writes
 * (replica lag seen), replicas taken out of rotation and replica read errors; per database, whether
 * its circuit is open and how often it opened, and the depth of its outbox (rows whose cache update
 * is not confirmed yet); outbox rows replayed; and, with a cache, {@link CacheMetrics} of ThingDb's
 * versioned cache.
 *
 * <p>Meter names: {@code thingdb.core.statements}; {@code thingdb.core.reads} (tag {@code
 * served_by}: {@code replica} or {@code primary}); {@code thingdb.core.replica.lagging}, {@code
 * thingdb.core.replica.failures}, {@code thingdb.core.replica.errors}; {@code
 * thingdb.core.circuit.open} and {@code thingdb.core.circuit.opened} (tag {@code database}); {@code
 * thingdb.core.outbox.depth} (tag {@code database}; one count query on the primary when the
 * registry asks, NaN if the database does not answer or its circuit is open); {@code
 * thingdb.core.outbox.replayed}; {@code thingdb.db.epoch.changes} (tag {@code database}: times this
 * instance learned a new cache epoch of the database, a promotion or another cluster behind its
 * primary DataSource; see {@link ThingDb#cacheEpoch}).
 *
 * <p>The cache's meters are those of {@link CacheMetrics}: do not bind a {@code CacheMetrics} of
 * the same cache into the same registry as well (Micrometer would keep whichever came first).
 *
 * <p>micrometer-core is an optional dependency of this module: add it to use this class. Immutable
 * and thread-safe.
 */
public final class ThingDbMetrics implements MeterBinder {
  private final Engine engine;
  private final Tags tags;

  private ThingDbMetrics(Engine engine, Iterable<Tag> tags) {
    this.engine = engine;
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags must not be null"));
  }

  /**
   * The meters of {@code db}.
   *
   * @param tags added to every meter
   */
  public static ThingDbMetrics of(ThingDb db, Iterable<Tag> tags) {
    Objects.requireNonNull(db, "db must not be null");
    return new ThingDbMetrics(db.engine, tags);
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry must not be null");
    counter(
        registry, "thingdb.core.statements", "SQL statements sent", tags, engine.sql.statements);
    Routing routing = engine.routing;
    counter(
        registry,
        "thingdb.core.reads",
        "reads served by a replica",
        tags.and("served_by", "replica"),
        routing.replicaReads);
    counter(
        registry,
        "thingdb.core.reads",
        "reads served by a primary",
        tags.and("served_by", "primary"),
        routing.primaryReads);
    counter(
        registry,
        "thingdb.core.replica.lagging",
        "reads sent to the primary because the replica had not replayed the session's writes",
        tags,
        routing.laggingReplicaSkips);
    counter(
        registry,
        "thingdb.core.replica.failures",
        "times a replica was taken out of rotation",
        tags,
        routing.replicaFailures);
    counter(
        registry,
        "thingdb.core.replica.errors",
        "replica reads that failed for a reason of the read and went to the primary",
        tags,
        routing.replicaErrors);
    counter(
        registry,
        "thingdb.core.outbox.replayed",
        "outbox rows whose cache update the replay made",
        tags,
        engine.outbox.replayed);
    for (DbHandle db : engine.databases.values()) {
      Tags dbTags = tags.and("database", db.name);
      counter(
          registry,
          "thingdb.core.circuit.opened",
          "times the database's circuit opened",
          dbTags,
          db.circuit.opened);
      counter(
          registry,
          "thingdb.db.epoch.changes",
          "times the database's cache epoch changed (a new timeline or system identifier)",
          dbTags,
          db.epochChanges);
      Gauge.builder("thingdb.core.circuit.open", db, d -> d.circuit.isOpen() ? 1 : 0)
          .description("1 while the database's circuit is open (operations fail fast)")
          .tags(dbTags)
          .register(registry);
      Gauge.builder("thingdb.core.outbox.depth", db, ThingDbMetrics::outboxDepth)
          .description("outbox rows whose cache update is not confirmed yet")
          .tags(dbTags)
          .register(registry);
    }
    if (engine.cache != null) {
      CacheMetrics.of(engine.cache, tags).bindTo(registry);
    }
  }

  private static double outboxDepth(DbHandle db) {
    if (db.circuit.isOpen()) {
      return Double.NaN;
    }
    try (Connection c = db.database.primary().getConnection();
        PreparedStatement ps = c.prepareStatement("select count(*) from thingdb_outbox");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException | RuntimeException e) {
      return Double.NaN;
    }
  }

  private static void counter(
      MeterRegistry registry, String name, String description, Tags tags, LongAdder adder) {
    FunctionCounter.builder(name, adder, LongAdder::sum)
        .description(description)
        .tags(tags)
        .register(registry);
  }
}

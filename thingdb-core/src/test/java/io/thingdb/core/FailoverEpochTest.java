package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.ReplicatedPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Failover of a database's primary to its streaming standby ({@code pg_ctl promote}) with a real
 * memcached in front (issue 12, DESIGN.md 8): the cache epoch and the timeline in read-your-writes
 * positions.
 *
 * <p>What asynchronous replication loses is WAL the standby never received (a promotion replays
 * everything received, paused replay or not), so the lost write is made after {@link
 * ReplicatedPostgres#stopStreaming()}. The JDBC URL of the primary lists both servers with {@code
 * targetServerType=primary}, so every ThingDb finds the promoted standby by itself.
 *
 * <p>Windows asserted: an instance learns the new epoch within {@link #WINDOW}: twice the default
 * {@link ThingDbBuilder#epochCheckInterval} (2 s: periodic checks pause for one interval after a
 * connection failure) plus a margin of 13 s for the check itself on this loaded 2-core machine (a
 * pool replacing the connections the crash broke, pgjdbc trying both hosts; the pools' connection
 * timeout is 2 s). The test then reads repeatedly and asserts that no read returns the lost value.
 * No timing is asserted beyond that bound.
 */
class FailoverEpochTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
  static final Duration WINDOW = Duration.ofSeconds(15);

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static String bothServers(ReplicatedPostgres pg) {
    return "jdbc:postgresql://localhost:"
        + pg.primaryPort()
        + ",localhost:"
        + pg.standbyPort()
        + "/postgres?user=postgres&targetServerType=primary&hostRecheckSeconds=1";
  }

  static HikariDataSource pool(String name, String url) {
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName(name);
    cfg.setJdbcUrl(url);
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(4);
    cfg.setConnectionTimeout(2_000);
    return new HikariDataSource(cfg);
  }

  MemcachedCache memcachedCache() {
    return MemcachedCache.builder().servers(memcached.cluster().servers()).build();
  }

  static ThingDb cached(DataSource primary, MemcachedCache cache, DataSource... replicas) {
    return ThingDb.builder()
        .database("main", Database.of(primary).withReplicas(replicas))
        .type(LINK, "main")
        .cache(cache)
        .build();
  }

  /**
   * An instance that checks nothing by itself for minutes (epoch check every minute, outbox replay
   * every ten): only its own operations can teach it a promotion.
   */
  static ThingDb unwatched(DataSource primary, MemcachedCache cache, DataSource... replicas) {
    return ThingDb.builder()
        .database("main", Database.of(primary).withReplicas(replicas))
        .type(LINK, "main")
        .cache(cache)
        .epochCheckInterval(Duration.ofMinutes(1))
        .outboxReplayInterval(Duration.ofMinutes(10))
        .build();
  }

  /** What the database behind {@code url} holds for the thing, read without any cache. */
  static Thing truth(String url, long id) {
    try (HikariDataSource ds = pool("truth", url);
        ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(ds))
                .type(LINK, "main")
                .noCache()
                .build()) {
      return db.get(LINK, id).orElseThrow();
    }
  }

  /**
   * Polls until {@code db} uses another cache epoch than {@code before}; returns how long that
   * took.
   */
  static Duration awaitNewEpoch(ThingDb db, String before, String who) {
    long start = System.nanoTime();
    long deadline = start + WINDOW.toNanos();
    while (db.cacheEpoch("main").token().equals(before)) {
      assertThat(System.nanoTime() - deadline)
          .as("%s still uses cache epoch %s %s after the promotion", who, before, WINDOW)
          .isNegative();
      ThingStoreSupport.sleep(10);
    }
    return Duration.ofNanos(System.nanoTime() - start);
  }

  /** Reads the thing {@code reads} times and asserts every read is {@code expected}. */
  static void everyReadIs(ThingDb db, Thing expected, String who, int reads) {
    for (int i = 0; i < reads; i++) {
      assertThat(db.get(LINK, expected.id()).orElseThrow())
          .as("read %d by %s", i, who)
          .isEqualTo(expected);
    }
  }

  static double epochChanges(ThingDb db) {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    ThingDbMetrics.of(db, List.of()).bindTo(registry);
    return registry
        .get("thingdb.db.epoch.changes")
        .tag("database", "main")
        .functionCounter()
        .count();
  }

  /**
   * An acknowledged write that the promotion loses was written through to memcached; after the
   * window neither the instance that wrote it nor one that only reads returns it again, and the
   * writer's session position from the lost timeline neither blocks nor misroutes its reads on a
   * replica of the new timeline.
   */
  @Test
  void aWriteLostInAPromotionIsNotReadFromTheCacheAndItsPositionDoesNotBlockReads() {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ZERO);
        MemcachedCache writerCache = memcachedCache();
        MemcachedCache readerCache = memcachedCache();
        HikariDataSource writerPool = pool("writer", bothServers(pg));
        HikariDataSource writerReplica = pool("writer-replica", pg.standbyUrl());
        HikariDataSource readerPool = pool("reader", bothServers(pg));
        ThingDb writer = cached(writerPool, writerCache, writerReplica);
        ThingDb reader = cached(readerPool, readerCache);
        MemcachedCache lateCache = memcachedCache();
        HikariDataSource latePool = pool("late-writer", bothServers(pg));
        // An instance that does nothing during the failover: its first write after the promotion
        // is where it meets the new timeline.
        ThingDb late = unwatched(latePool, lateCache)) {
      String before = reader.cacheEpoch("main").token();
      assertThat(writer.cacheEpoch("main").token()).isEqualTo(before).endsWith(".1");
      Thing kept = writer.create(writer.newThing(LINK).set(TITLE, "kept"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));

      pg.stopStreaming(); // from here the standby receives nothing: what follows will be lost
      // A tail the new timeline will not reach by itself for a while: the lost position lies far
      // beyond the switch point.
      ReplicatedPostgres.execute(
          pg.primaryUrl(),
          "create table filler as select g, repeat('x', 1000) as pad"
              + " from generate_series(1, 10000) g");
      Session session = writer.session();
      Thing lost = writer.withSession(session).update(kept.edit().set(TITLE, "lost"));
      String token = session.token();
      assertThat(token).startsWith("main=1.");
      // Acknowledged and written through: both instances read it from memcached.
      try (Scope s = reader.scope()) {
        assertThat(reader.get(LINK, kept.id()).orElseThrow()).isEqualTo(lost);
        assertThat(s.statements()).as("served by the cache").isZero();
      }
      assertThat(writer.get(LINK, kept.id()).orElseThrow()).isEqualTo(lost);

      pg.stopPrimaryImmediately();
      pg.promoteStandby();
      Thing truth = truth(pg.standbyUrl(), kept.id());
      assertThat(truth).as("the new primary lost the write").isEqualTo(kept);

      Duration readerLearned = awaitNewEpoch(reader, before, "the reader");
      Duration writerLearned = awaitNewEpoch(writer, before, "the writer");
      System.out.printf(
          "new cache epoch %s learned %d ms (reader) and %d ms (writer) after the promotion%n",
          reader.cacheEpoch("main").token(), readerLearned.toMillis(), writerLearned.toMillis());
      assertThat(reader.cacheEpoch("main").token())
          .endsWith(".2")
          .isEqualTo(writer.cacheEpoch("main").token());
      everyReadIs(reader, truth, "the reader", 50);
      everyReadIs(writer, truth, "the writer", 50);
      assertThat(epochChanges(reader)).isEqualTo(1.0);
      assertThat(epochChanges(writer)).isEqualTo(1.0);
      // The lost value is still in memcached, under the old epoch's key, where nobody reads.

      // The late instance still uses the old epoch; its write commits on the new timeline and is
      // published under the new epoch, over the value the reader filled there: never under the
      // old epoch's key, which would leave the reader's copy stale.
      assertThat(late.cacheEpoch("main").token()).isEqualTo(before);
      Thing fromLate = late.update(truth.edit().set(TITLE, "from the late writer"));
      try (Scope s = reader.scope()) {
        assertThat(reader.get(LINK, kept.id()).orElseThrow()).isEqualTo(fromLate);
        assertThat(s.statements()).as("served by the cache").isZero();
      }
      assertThat(late.cacheEpoch("main").token()).isEqualTo(reader.cacheEpoch("main").token());
      truth = fromLate;

      // The writer's position from the lost timeline, on a replica that replays the new one.
      pg.rebuildOldPrimaryAsStandby();
      try (HikariDataSource primary = pool("routed", bothServers(pg));
          HikariDataSource replica = pool("routed-replica", pg.standbyUrl());
          ThingDb routed =
              ThingDb.builder()
                  .database("main", Database.of(primary).withReplicas(replica))
                  .type(LINK, "main")
                  .noCache()
                  .build()) {
        pg.awaitCaughtUp(Duration.ofSeconds(30)); // past where `routed` learned the timeline
        Session old = routed.session(token);
        ReplicaRoutingTest.Routed start = ReplicaRoutingTest.Routed.of(routed);
        assertThat(routed.withSession(old).get(LINK, kept.id()).orElseThrow()).isEqualTo(truth);
        assertThat(ReplicaRoutingTest.Routed.of(routed).since(start))
            .as("served by the replica of the new timeline, without waiting for the lost position")
            .isEqualTo(new ReplicaRoutingTest.Routed(1, 0, 0, 0));
        // A write through that session moves it onto the new timeline.
        Thing next = routed.withSession(old).update(truth.edit().set(TITLE, "after"));
        assertThat(old.token()).startsWith("main=2.");
        assertThat(routed.withSession(old).get(LINK, kept.id()).orElseThrow()).isEqualTo(next);
      }
    }
  }

  /**
   * Read-your-writes across instances right after a promotion: a writer that already uses the new
   * timeline creates and updates things; an instance that has not learned the promotion yet (its
   * periodic check is minutes away, and everything it reads is in memcached, so nothing it does
   * touches the database) reads them with the writer's session token. The token names the new
   * timeline, so the reader learns the new epoch before it consults the cache: it must not serve
   * the query list and the thing it cached under the old epoch, which the writer's bump and
   * write-through (under the new epoch) did not touch.
   */
  @Test
  void aSessionOnALaterTimelineIsNotServedWhatTheOldEpochCached() {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ZERO);
        MemcachedCache writerCache = memcachedCache();
        MemcachedCache readerCache = memcachedCache();
        HikariDataSource writerPool = pool("ryw-writer", bothServers(pg));
        HikariDataSource writerReplica = pool("ryw-writer-replica", pg.standbyUrl());
        HikariDataSource readerPool = pool("ryw-reader", bothServers(pg));
        HikariDataSource readerReplica = pool("ryw-reader-replica", pg.standbyUrl());
        // Sessions record positions only where replicas serve reads, as on the web instances.
        ThingDb writer = cached(writerPool, writerCache, writerReplica);
        ThingDb reader = unwatched(readerPool, readerCache, readerReplica)) {
      String before = reader.cacheEpoch("main").token();
      ThingQuery newest = ThingQuery.of(LINK).cached(Duration.ofMinutes(5));
      Thing first = writer.create(writer.newThing(LINK).set(TITLE, "first"));
      assertThat(reader.query(newest).things()).containsExactly(first);
      assertThat(reader.get(LINK, first.id()).orElseThrow()).isEqualTo(first);
      try (Scope s = reader.scope()) {
        assertThat(reader.query(newest).things()).containsExactly(first);
        assertThat(s.statements()).as("the reader's query is served by the cache").isZero();
      }
      pg.awaitCaughtUp(Duration.ofSeconds(30));

      pg.stopPrimaryImmediately();
      pg.promoteStandby();
      awaitNewEpoch(writer, before, "the writer");
      Session session = writer.session();
      Thing second = writer.withSession(session).create(writer.newThing(LINK).set(TITLE, "second"));
      Thing edited = writer.withSession(session).update(first.edit().set(TITLE, "edited"));
      assertThat(session.token()).startsWith("main=2.");
      assertThat(reader.cacheEpoch("main").token())
          .as("the reader has not learned the promotion by itself")
          .isEqualTo(before);

      ThingDb view = reader.withSession(reader.session(session.token()));
      assertThat(view.query(newest).things())
          .as("the writer's session reads its new thing through the reader's query cache")
          .containsExactly(second, edited);
      assertThat(view.get(LINK, first.id()).orElseThrow())
          .as("the writer's session reads its edit through the reader")
          .isEqualTo(edited);
      assertThat(reader.cacheEpoch("main").token())
          .as("the session's timeline taught the reader the new epoch")
          .isEqualTo(writer.cacheEpoch("main").token());
      // And from then on without a session too, from the new epoch's keys.
      assertThat(reader.query(newest).things()).containsExactly(second, edited);
    }
  }

  /**
   * With {@code synchronous_standby_names} naming the standby and {@code synchronous_commit} on, a
   * write that returned is on the standby's disk even with its replay paused, and the promotion
   * keeps it: nothing acknowledged is lost, and every instance reads it after the promotion.
   */
  @Test
  void withASynchronousStandbyNoAcknowledgedWriteIsLost() {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ZERO)) {
      pg.requireSynchronousStandby();
      try (MemcachedCache writerCache = memcachedCache();
          MemcachedCache readerCache = memcachedCache();
          HikariDataSource writerPool = pool("sync-writer", bothServers(pg));
          HikariDataSource readerPool = pool("sync-reader", bothServers(pg));
          ThingDb writer = cached(writerPool, writerCache);
          ThingDb reader = cached(readerPool, readerCache)) {
        assertThat(ReplicatedPostgres.query(pg.primaryUrl(), "show synchronous_commit"))
            .isEqualTo("on");
        String before = reader.cacheEpoch("main").token();
        Thing first = writer.create(writer.newThing(LINK).set(TITLE, "first"));
        pg.awaitCaughtUp(Duration.ofSeconds(30));
        pg.pauseReplay(); // received and flushed, not applied
        Thing acknowledged = writer.update(first.edit().set(TITLE, "acknowledged"));
        assertThat(reader.get(LINK, first.id()).orElseThrow()).isEqualTo(acknowledged);

        pg.stopPrimaryImmediately();
        pg.promoteStandby();
        assertThat(truth(pg.standbyUrl(), first.id()))
            .as("the promoted standby has the acknowledged write")
            .isEqualTo(acknowledged);
        awaitNewEpoch(reader, before, "the reader");
        awaitNewEpoch(writer, before, "the writer");
        everyReadIs(reader, acknowledged, "the reader", 20);
        everyReadIs(writer, acknowledged, "the writer", 20);
      }
    }
  }

  /**
   * The system identifier is read with {@code pg_control_system()}, which a role without any
   * privilege may call on PostgreSQL 15; on a standby the check refuses (a primary DataSource that
   * reaches a standby), and the per-connection timeline read answers "unknown" instead of failing.
   */
  @Test
  void aRoleWithoutPrivilegesReadsTheEpochAndAStandbyIsRecognised() throws SQLException {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ZERO)) {
      ReplicatedPostgres.execute(pg.primaryUrl(), "create role plain login");
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Sql sql = new Sql(false);
      Epoch asSuperuser;
      try (Connection c = DriverManager.getConnection(pg.primaryUrl())) {
        asSuperuser = Epoch.read(sql, c);
      }
      String plainPrimary = pg.primaryUrl().replace("user=postgres", "user=plain");
      try (Connection c = DriverManager.getConnection(plainPrimary)) {
        assertThat(
                ReplicatedPostgres.query(
                    plainPrimary,
                    "select rolsuper::text from pg_roles" + " where rolname = current_user"))
            .isEqualTo("false");
        Epoch asPlain = Epoch.read(sql, c);
        assertThat(asPlain.systemId()).isEqualTo(asSuperuser.systemId()).isNotZero();
        assertThat(asPlain.timeline()).isEqualTo(1);
        assertThat(asPlain.prefix()).isEqualTo(asSuperuser.prefix());
      }
      String plainStandby = pg.standbyUrl().replace("user=postgres", "user=plain");
      try (Connection c = DriverManager.getConnection(plainStandby)) {
        assertThatThrownBy(() -> Epoch.read(sql, c))
            .isInstanceOf(SQLException.class)
            .hasMessageContaining("recovery is in progress");
      }
      try (Connection c = DriverManager.getConnection(plainStandby)) {
        Supplier<List<String>> row =
            () -> {
              try {
                return sql.setupQuery(
                    c, Epoch.CONNECTION_SQL, rs -> rs.getString(1) + "/" + rs.getString(2));
              } catch (SQLException e) {
                throw new AssertionError(e);
              }
            };
        assertThat(row.get()).containsExactly("null/null");
      }
      assertThat(
              ReplicatedPostgres.query(
                  plainStandby, "select system_identifier::text from pg_control_system()"))
          .as("a standby shares its primary's system identifier")
          .isEqualTo(Long.toString(asSuperuser.systemId()));
    }
  }
}

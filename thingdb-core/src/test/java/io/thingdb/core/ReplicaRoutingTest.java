package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.ForwardingDataSource;
import io.thingdb.testing.MutableClock;
import io.thingdb.testing.ReplicatedPostgres;
import io.thingdb.testing.StderrLog;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Read routing through one real streaming standby that applies each commit 500 ms late (P2
 * read-your-writes, DESIGN.md 4 and 6). The standby is made once for the class; every test builds
 * its own ThingDb, so the routing counters start at zero. Timing is never asserted: the tests count
 * which server served each read, and where "the replica has not replayed this" must hold for
 * certain they pause replay instead of relying on the delay.
 */
class ReplicaRoutingTest {
  static final Duration APPLY_DELAY = Duration.ofMillis(500);
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();

  static ReplicatedPostgres pg;
  static HikariDataSource primary;
  static HikariDataSource replica;

  @BeforeAll
  static void startServers() {
    long start = System.nanoTime();
    pg = ReplicatedPostgres.start(APPLY_DELAY);
    primary = pool("primary", pg.primaryUrl(), 8);
    replica = pool("replica", pg.standbyUrl(), 8);
    System.out.printf(
        "primary + streaming standby ready in %d ms (%s)%n",
        (System.nanoTime() - start) / 1_000_000, pg);
  }

  @AfterAll
  static void stopServers() {
    if (replica != null) {
      replica.close();
    }
    if (primary != null) {
      primary.close();
    }
    if (pg != null) {
      pg.close();
    }
  }

  static HikariDataSource pool(String name, String url, int size) {
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName(name);
    cfg.setJdbcUrl(url);
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(size);
    // A stopped replica must fail a read in about a second, not HikariCP's default 30 s.
    cfg.setConnectionTimeout(1_000);
    return new HikariDataSource(cfg);
  }

  static ThingDbBuilder replicated(DataSource... replicas) {
    return ThingDb.builder()
        .database("main", Database.of(primary).withReplicas(replicas))
        .type(LINK, "main");
  }

  /** The routing counters of one ThingDb at one moment. */
  record Routed(long replica, long primary, long lagging, long failures) {
    static Routed of(ThingDb db) {
      return new Routed(
          db.engine.routing.replicaReads.sum(),
          db.engine.routing.primaryReads.sum(),
          db.engine.routing.laggingReplicaSkips.sum(),
          db.engine.routing.replicaFailures.sum());
    }

    Routed since(Routed before) {
      return new Routed(
          replica - before.replica,
          primary - before.primary,
          lagging - before.lagging,
          failures - before.failures);
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Test
  void standbyStreamsFromThePrimaryAndAppliesCommitsLate() {
    assertThat(ReplicatedPostgres.query(pg.standbyUrl(), "select pg_is_in_recovery()::text"))
        .isEqualTo("true");
    assertThat(ReplicatedPostgres.query(pg.primaryUrl(), "select pg_is_in_recovery()::text"))
        .isEqualTo("false");
    assertThat(ReplicatedPostgres.query(pg.standbyUrl(), "show recovery_min_apply_delay"))
        .isEqualTo("500ms");
    assertThat(
            ReplicatedPostgres.query(
                pg.primaryUrl(),
                "select state from pg_stat_replication where application_name = 'thingdb_standby'"))
        .isEqualTo("streaming");

    ReplicatedPostgres.execute(pg.primaryUrl(), "create table if not exists streamed (v text)");
    ReplicatedPostgres.execute(
        pg.primaryUrl(), "insert into streamed values ('written on the primary')");
    pg.awaitCaughtUp(Duration.ofSeconds(30));
    assertThat(ReplicatedPostgres.column(pg.standbyUrl(), "select v from streamed"))
        .contains("written on the primary");
  }

  /**
   * P2 through a lagging replica with no cache, so every read really is routed: 1,000 trials of
   * write-then-read through one session, one in ten a create and the rest updates. A fresh
   * session's read of the same thing after each trial shows that the replica did lag.
   */
  @Test
  void readYourWritesThroughALaggingReplicaWithoutCache() {
    try (ThingDb db = replicated(replica).noCache().build()) {
      Session session = db.session();
      Thing current = db.withSession(session).create(db.newThing(LINK).set(TITLE, "v0"));
      int trials = 1_000;
      int oldReads = 0;
      int staleFreshReads = 0;
      long sessionReadsOnPrimary = 0;
      long sessionReadsOnReplica = 0;
      long start = System.nanoTime();
      for (int i = 1; i <= trials; i++) {
        Thing written;
        if (i % 10 == 0) {
          written = db.withSession(session).create(db.newThing(LINK).set(TITLE, "new " + i));
        } else {
          written = current = db.withSession(session).update(current.edit().set(TITLE, "v" + i));
        }
        Routed before = Routed.of(db);
        Optional<Thing> read = db.withSession(session).get(LINK, written.id());
        Routed routed = Routed.of(db).since(before);
        sessionReadsOnPrimary += routed.primary();
        sessionReadsOnReplica += routed.replica();
        if (read.isEmpty()
            || read.get().version() < written.version()
            || !read.get().equals(written)) {
          oldReads++;
        }
        Optional<Thing> fresh = db.withSession(db.session()).get(LINK, written.id());
        if (fresh.isEmpty() || fresh.get().version() < written.version()) {
          staleFreshReads++;
        }
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      System.out.printf(
          "read-your-writes, no cache: %d trials in %d ms; session reads on the primary %d, on the"
              + " replica %d; lagging-replica skips %d; fresh-session reads that saw an older version %d%n",
          trials,
          ms,
          sessionReadsOnPrimary,
          sessionReadsOnReplica,
          db.engine.routing.laggingReplicaSkips.sum(),
          staleFreshReads);
      assertThat(oldReads).as("session reads older than the session's own write").isZero();
      assertThat(sessionReadsOnPrimary + sessionReadsOnReplica).isEqualTo(trials);
      assertThat(staleFreshReads)
          .as("evidence that the replica lagged: fresh sessions read old versions")
          .isPositive();
    }
  }

  /**
   * With replay paused the replica certainly has not replayed any of the session's writes: every
   * session read must skip it, while fresh sessions keep reading it and see the old version.
   */
  @Test
  void sessionReadsNeverUseAReplicaThatHasNotReplayedTheirWrite() {
    try (ThingDb db = replicated(replica).noCache().build()) {
      Thing thing = db.create(db.newThing(LINK).set(TITLE, "before the pause"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Session session = db.session();
      int trials = 200;
      int oldSessionReads = 0;
      int oldFreshReads = 0;
      pg.pauseReplay();
      Routed before = Routed.of(db);
      try {
        Thing current = thing;
        for (int i = 1; i <= trials; i++) {
          current =
              db.withSession(session).update(current.edit().set(TITLE, "during the pause " + i));
          if (!db.withSession(session).get(LINK, thing.id()).orElseThrow().equals(current)) {
            oldSessionReads++;
          }
          if (db.withSession(db.session()).get(LINK, thing.id()).orElseThrow().version()
              == thing.version()) {
            oldFreshReads++;
          }
        }
      } finally {
        pg.resumeReplay();
      }
      Routed routed = Routed.of(db).since(before);
      assertThat(oldSessionReads).isZero();
      assertThat(oldFreshReads)
          .as("the paused replica served the fresh sessions")
          .isEqualTo(trials);
      assertThat(routed).isEqualTo(new Routed(trials, trials, trials, 0));

      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Routed resumed = Routed.of(db);
      assertThat(db.withSession(session).get(LINK, thing.id()).orElseThrow().get(TITLE))
          .isEqualTo("during the pause " + trials);
      assertThat(Routed.of(db).since(resumed)).isEqualTo(new Routed(1, 0, 0, 0));
    }
  }

  /** Once the replica has replayed a session's write, the replica serves that session again. */
  @Test
  void caughtUpReplicaServesTheSessionAndShowsItsWrite() {
    try (ThingDb db = replicated(replica).noCache().build()) {
      Session session = db.session();
      Thing current = db.withSession(session).create(db.newThing(LINK).set(TITLE, "v0"));
      int trials = 8;
      for (int i = 1; i <= trials; i++) {
        current = db.withSession(session).update(current.edit().set(TITLE, "v" + i));
        pg.awaitCaughtUp(Duration.ofSeconds(30));
        assertThat(pg.standbyReplayLsn()).isGreaterThanOrEqualTo(session.position("main").lsn());
        Routed before = Routed.of(db);
        assertThat(db.withSession(session).get(LINK, current.id()).orElseThrow())
            .isEqualTo(current);
        assertThat(Routed.of(db).since(before)).isEqualTo(new Routed(1, 0, 0, 0));
      }
    }
  }

  @Test
  void readsWithoutARecentWriteGoToTheReplica() {
    try (ThingDb db = replicated(replica).noCache().build()) {
      Session writer = db.session();
      List<Thing> things =
          db.withSession(writer)
              .createAll(
                  List.of(
                      db.newThing(LINK).set(TITLE, "a"),
                      db.newThing(LINK),
                      db.newThing(LINK).set(TITLE, "c")));
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Routed before = Routed.of(db);
      for (int i = 0; i < 50; i++) {
        Thing t = things.get(i % things.size());
        assertThat(db.withSession(db.session()).get(LINK, t.id()).orElseThrow()).isEqualTo(t);
        assertThat(db.get(LINK, t.id()).orElseThrow()).isEqualTo(t);
      }
      assertThat(
              db.withSession(writer)
                  .getMany(LINK, things.stream().map(Thing::id).toList(), ThingDb.Missing.FAIL))
          .isEqualTo(things);
      assertThat(Routed.of(db).since(before)).isEqualTo(new Routed(101, 0, 0, 0));
    }
  }

  /**
   * Right after a type is registered a lagging replica has no tables for it yet. A read there fails
   * with 42P01 (undefined table); the primary serves it instead and the replica stays in rotation.
   */
  @Test
  void typeTheReplicaHasNotReplayedYetIsReadFromThePrimary() {
    ThingType fresh = ThingType.named("registered_during_pause").props(TITLE).build();
    pg.pauseReplay();
    try (ThingDb db =
        ThingDb.builder()
            .database("main", Database.of(primary).withReplicas(replica))
            .type(fresh, "main")
            .noCache()
            .build()) {
      Thing thing = db.create(db.newThing(fresh).set(TITLE, "new type"));
      Routed before = Routed.of(db);
      assertThat(db.get(fresh, thing.id())).contains(thing);
      assertThat(Routed.of(db).since(before)).isEqualTo(new Routed(0, 1, 0, 0));
      assertThat(db.engine.routing.replicaErrors.sum()).isEqualTo(1);
      assertThat(db.engine.databases().get("main").replicas.get(0).inRotation()).isTrue();
    } finally {
      pg.resumeReplay();
    }
  }

  @Test
  void sessionTokenRoundTripKeepsReadYourWrites() {
    try (ThingDb db = replicated(replica).noCache().build()) {
      Session session = db.session();
      assertThat(session.token()).isEmpty();
      Thing current = db.withSession(session).create(db.newThing(LINK).set(TITLE, "v0"));
      int trials = 100;
      int oldReads = 0;
      for (int i = 1; i <= trials; i++) {
        current = db.withSession(session).update(current.edit().set(TITLE, "v" + i));
        String token = session.token();
        Session restored = db.session(token); // e.g. the next HTTP request, carrying a cookie
        assertThat(restored.token()).isEqualTo(token);
        if (!db.withSession(restored).get(LINK, current.id()).orElseThrow().equals(current)) {
          oldReads++;
        }
      }
      assertThat(oldReads).isZero();
      // timeline.position, both hexadecimal; a fresh cluster is on timeline 1
      assertThat(session.token()).matches("main=1\\.[0-9a-f]+");
      // the form without a timeline, from before positions carried one, still reads
      String old = session.token().replace("main=1.", "main=");
      assertThat(db.session(old).token()).isEqualTo(old);
      assertThat(db.withSession(db.session(old)).get(LINK, current.id())).contains(current);
      assertThatThrownBy(() -> db.session("main"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("malformed session token 'main': expected db=timeline.hexlsn;...");
      assertThatThrownBy(() -> db.session("main=xyz"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("malformed session token 'main=xyz': bad position in 'main=xyz'");
    }
  }

  /**
   * A session token naming a later timeline than this instance's primary shows (its writer met a
   * promotion this instance has not seen, or the token comes from another cluster): the instance
   * checks its epoch, finds no such timeline, and serves the session without the cache, from the
   * primary. Reads without the session still use the cache.
   */
  @Test
  void aSessionOnATimelineThePrimaryDoesNotShowIsServedFromThePrimaryWithoutTheCache() {
    try (InProcessCache cache = InProcessCache.create();
        ThingDb db = replicated(replica).cache(cache).build()) {
      Thing thing = db.create(db.newThing(LINK).set(TITLE, "cached"));
      ThingQuery query = ThingQuery.of(LINK).cached(Duration.ofMinutes(5));
      List<Thing> listed = db.query(query).things();
      assertThat(listed).contains(thing);
      try (Scope s = db.scope()) {
        assertThat(db.get(LINK, thing.id())).contains(thing);
        assertThat(db.query(query).things()).isEqualTo(listed);
        assertThat(s.statements()).as("without a session: the cache").isZero();
      }
      ThingDb ahead = db.withSession(db.session("main=9.0"));
      Routed start = Routed.of(db);
      try (StderrLog log = StderrLog.capture();
          Scope s = ahead.scope()) {
        assertThat(ahead.get(LINK, thing.id())).contains(thing);
        assertThat(s.statements()).as("a read for the session ahead: not the cache").isPositive();
        assertThat(log.records(r -> r.level().equals("WARN")))
            .as("one warning naming the database and the timelines")
            .singleElement()
            .satisfies(r -> assertThat(r.message()).contains("database main", "timeline 9"));
      }
      try (Scope s = ahead.scope()) {
        assertThat(ahead.query(query).things()).isEqualTo(listed);
        assertThat(s.statements()).as("a query for the session ahead: not the cache").isPositive();
      }
      assertThat(Routed.of(db).since(start))
          .as("both served by the primary")
          .isEqualTo(new Routed(0, 3, 0, 0));
      assertThat(db.cacheEpoch("main").token()).endsWith(".1");
    }
  }

  /**
   * With a cache the session's reads are mostly cache hits: the writer published the new version.
   * Misses (none expected here) would be routed like any other read.
   */
  @Test
  void readYourWritesThroughALaggingReplicaWithCache() {
    try (InProcessCache cache = InProcessCache.create();
        ThingDb db = replicated(replica).cache(cache).build()) {
      Session session = db.session();
      Thing current = db.withSession(session).create(db.newThing(LINK).set(TITLE, "v0"));
      int trials = 200;
      int oldReads = 0;
      for (int i = 1; i <= trials; i++) {
        Thing written;
        if (i % 10 == 0) {
          written = db.withSession(session).create(db.newThing(LINK).set(TITLE, "new " + i));
        } else {
          written = current = db.withSession(session).update(current.edit().set(TITLE, "v" + i));
        }
        Optional<Thing> read = db.withSession(session).get(LINK, written.id());
        if (read.isEmpty() || !read.get().equals(written)) {
          oldReads++;
        }
      }
      Routed routed = Routed.of(db);
      System.out.printf(
          "read-your-writes, in-process cache: %d trials; database reads on the primary %d, on the"
              + " replica %d%n",
          trials, routed.primary(), routed.replica());
      assertThat(oldReads).isZero();
    }
  }

  /**
   * A cache entry that disappears (memcached evicts it, a node restarts) while the replica lags
   * must not let a reader without the writer's session fill the cache with the version the replica
   * still has: versioned fills cannot stop that (once the entry is gone there is no newer version
   * or tombstone left to refuse the add), so reads served by a replica never fill.
   */
  @Test
  void evictedEntryIsNotRefilledFromALaggingReplica() {
    try (InProcessCache cache = InProcessCache.create();
        ThingDb db = replicated(replica).cache(cache).build()) {
      Session writer = db.session();
      Thing v1 = db.withSession(writer).create(db.newThing(LINK).set(TITLE, "v1"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      pg.pauseReplay();
      try {
        Thing v2 = db.withSession(writer).update(v1.edit().set(TITLE, "v2"));
        cache.delete(db.cacheKeyOf(LINK, v2.id())); // evicted
        assertThat(db.get(LINK, v1.id()).orElseThrow().version())
            .as("another reader, served by the replica")
            .isEqualTo(1);
        assertThat(db.withSession(writer).get(LINK, v1.id()).orElseThrow())
            .as("the writer reads its own write")
            .isEqualTo(v2);
      } finally {
        pg.resumeReplay();
      }
    }
  }

  /**
   * The replica stops: reads carry on from the primary, the replica leaves the rotation with one
   * warning, a probe after replicaDownFor (on the injected clock) finds it still down, and once it
   * is back the next probe returns it to the rotation.
   */
  @Test
  void stoppedReplicaLeavesTheRotationAndReturnsAfterReplicaDownFor() {
    MutableClock clock = new MutableClock();
    Duration downFor = Duration.ofSeconds(5);
    try (HikariDataSource ownReplica = pool("replica-stopped", pg.standbyUrl(), 4);
        ThingDb db = replicated(ownReplica).noCache().clock(clock).replicaDownFor(downFor).build();
        LogCapture log = LogCapture.start()) {
      DbHandle.Replica state = db.engine.databases().get("main").replicas.get(0);
      Thing thing = db.create(db.newThing(LINK).set(TITLE, "survives"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Routed start = Routed.of(db);
      assertThat(db.get(LINK, thing.id())).contains(thing);
      assertThat(Routed.of(db).since(start)).isEqualTo(new Routed(1, 0, 0, 0));

      pg.stopStandby();
      try {
        Routed down = Routed.of(db);
        for (int i = 0; i < 10; i++) {
          assertThat(db.get(LINK, thing.id())).contains(thing);
        }
        assertThat(Routed.of(db).since(down)).isEqualTo(new Routed(0, 10, 0, 1));
        assertThat(state.inRotation()).isFalse();
        assertThat(
                log.lines("replica 0 (HikariDataSource (replica-stopped)) of database main failed"))
            .hasSize(1)
            .allMatch(l -> l.contains("out of rotation for 5000 ms, reading from the primary"));

        clock.advance(downFor);
        Routed probed = Routed.of(db);
        assertThat(db.get(LINK, thing.id())).contains(thing);
        // The read went to the primary; the probe it started fails in the background.
        awaitFailures(db, probed.failures() + 1);
        assertThat(Routed.of(db).since(probed)).isEqualTo(new Routed(0, 1, 0, 1));
        // The probe counts the failure, then logs it, on its own thread.
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (log.lines("failed when probed").isEmpty() && System.nanoTime() < deadline) {
          LockSupport.parkNanos(10_000_000);
        }
        assertThat(log.lines("failed when probed")).hasSize(1);
      } finally {
        pg.startStandbyAgain();
      }
      // HikariCP retries a dead server with a backoff of up to 5 s; wait until the pool itself can
      // connect again, so that what follows is ThingDb's rotation and not the pool's warm-up.
      awaitConnection(ownReplica, Duration.ofSeconds(30));
      Routed back = Routed.of(db);
      for (int i = 0; i < 5; i++) {
        assertThat(db.get(LINK, thing.id())).contains(thing);
      }
      assertThat(Routed.of(db).since(back))
          .as("still out of rotation until replicaDownFor has passed")
          .isEqualTo(new Routed(0, 5, 0, 0));

      clock.advance(downFor);
      Routed again = Routed.of(db);
      assertThat(db.get(LINK, thing.id())).contains(thing);
      assertThat(Routed.of(db).since(again))
          .as("the read that starts the probe does not wait for it")
          .isEqualTo(new Routed(0, 1, 0, 0));
      awaitInRotation(state);
      Routed back2 = Routed.of(db);
      for (int i = 0; i < 5; i++) {
        assertThat(db.get(LINK, thing.id())).contains(thing);
      }
      assertThat(Routed.of(db).since(back2)).isEqualTo(new Routed(5, 0, 0, 0));
      assertThat(log.lines("answers again; back in rotation")).hasSize(1);
    } finally {
      replica
          .getHikariPoolMXBean()
          .softEvictConnections(); // the shared pool's connections died with the standby
    }
  }

  /**
   * A replica whose server stops answering (connections hang) costs no read a connection timeout
   * after it first failed: when its time out of rotation is up, the probe runs on a background
   * thread while reads go to the primary. The hanging server is a gate in front of the real
   * standby's pool: while it is closed, a connection attempt waits until the test opens it, so a
   * reader that probed the replica itself would never return (the preemptive timeout below is a
   * deadlock guard, not a measurement).
   */
  @Test
  void aReadNeverWaitsForTheProbeOfAReplicaThatHangs() throws Exception {
    MutableClock clock = new MutableClock();
    Duration downFor = Duration.ofSeconds(5);
    GatedDataSource gated = new GatedDataSource(replica);
    try (ThingDb db = replicated(gated).noCache().clock(clock).replicaDownFor(downFor).build()) {
      DbHandle.Replica state = db.engine.databases().get("main").replicas.get(0);
      Thing thing = db.create(db.newThing(LINK).set(TITLE, "hang"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));

      gated.mode = GatedDataSource.Mode.REFUSE; // the first failure takes it out of rotation
      assertThat(db.get(LINK, thing.id())).contains(thing);
      assertThat(state.inRotation()).isFalse();

      gated.mode = GatedDataSource.Mode.HANG;
      clock.advance(downFor);
      Routed due = Routed.of(db);
      assertTimeoutPreemptively(
          Duration.ofSeconds(20),
          () -> {
            for (int i = 0; i < 3; i++) {
              assertThat(db.get(LINK, thing.id())).contains(thing);
            }
          },
          "a read waited for the probe of a hanging replica");
      assertThat(gated.entered.await(20, TimeUnit.SECONDS)).as("the probe ran").isTrue();
      assertThat(Routed.of(db).since(due)).isEqualTo(new Routed(0, 3, 0, 0));

      gated.mode = GatedDataSource.Mode.PASS;
      gated.release.countDown(); // the hung attempt now fails; the replica stays out
      awaitFailures(db, due.failures() + 1);
      clock.advance(downFor);
      assertThat(db.get(LINK, thing.id())).contains(thing);
      awaitInRotation(state);
      Routed back = Routed.of(db);
      assertThat(db.get(LINK, thing.id())).contains(thing);
      assertThat(Routed.of(db).since(back)).isEqualTo(new Routed(1, 0, 0, 0));
    }
  }

  /**
   * A DataSource in front of a real pool that can refuse connection attempts (as a stopped server
   * does, SQLSTATE 08001) or hang them until {@link #release} opens (as a server that accepts TCP
   * connections and never answers does, until the pool's connection timeout).
   */
  static final class GatedDataSource extends ForwardingDataSource {
    enum Mode {
      PASS,
      REFUSE,
      HANG
    }

    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    volatile Mode mode = Mode.PASS;

    GatedDataSource(DataSource real) {
      super(real);
    }

    @Override
    public Connection getConnection() throws SQLException {
      switch (mode) {
        case REFUSE -> throw new SQLException("connection refused (test gate)", "08001");
        case HANG -> {
          entered.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          throw new SQLException("connection timed out (test gate)", "08001");
        }
        default -> {
          return delegate().getConnection();
        }
      }
    }

    @Override
    public Connection getConnection(String user, String password) throws SQLException {
      throw new SQLFeatureNotSupportedException("not used");
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
      throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
      return false;
    }
  }

  static void awaitFailures(ThingDb db, long atLeast) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (Routed.of(db).failures() < atLeast) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("replica failures stayed at " + Routed.of(db).failures());
      }
      LockSupport.parkNanos(10_000_000);
    }
  }

  static void awaitInRotation(DbHandle.Replica state) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!state.inRotation()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the replica did not come back into rotation within 30 s");
      }
      LockSupport.parkNanos(10_000_000);
    }
  }

  static void awaitConnection(DataSource ds, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try (Connection c = ds.getConnection()) {
        return;
      } catch (SQLException e) {
        if (System.nanoTime() - deadline > 0) {
          throw new IllegalStateException(
              ds + " gave no connection within " + timeout.toMillis() + " ms", e);
        }
      }
    }
  }

  /** A replica pool pointing at a port where nothing listens: one failure, then it is skipped. */
  @Test
  void deadReplicaIsSkippedAfterItsFirstFailure() throws IOException {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0)) {
      deadPort = s.getLocalPort();
    }
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName("replica-dead");
    cfg.setJdbcUrl(
        "jdbc:postgresql://localhost:" + deadPort + "/postgres?user=postgres&connectTimeout=1");
    cfg.setMaximumPoolSize(2);
    cfg.setConnectionTimeout(250);
    cfg.setInitializationFailTimeout(-1); // build the pool although its server is down
    try (HikariDataSource dead = new HikariDataSource(cfg);
        ThingDb db = replicated(replica, dead).noCache().clock(new MutableClock()).build()) {
      Thing thing = db.create(db.newThing(LINK).set(TITLE, "x"));
      pg.awaitCaughtUp(Duration.ofSeconds(30));
      Routed before = Routed.of(db);
      for (int i = 0; i < 20; i++) {
        assertThat(db.get(LINK, thing.id())).contains(thing);
      }
      assertThat(Routed.of(db).since(before)).isEqualTo(new Routed(19, 1, 0, 1));
      assertThat(db.engine.databases().get("main").replicas.get(1).inRotation()).isFalse();
    }
  }

  /**
   * The session's position is read after COMMIT. If that read fails, the write has committed and
   * must not run again (a retried create makes two things, a retried increment counts twice), and
   * the session must still not read from the lagging replica.
   */
  @Test
  void failureReadingThePositionAfterCommitDoesNotRunTheWriteAgain() {
    ThingType probe = ThingType.named("after_commit_probe").props(TITLE).build();
    AtomicBoolean armed = new AtomicBoolean();
    DataSource failing = failPositionReadOnce(primary, armed);
    try (ThingDb db =
        ThingDb.builder()
            .database("main", Database.of(failing).withReplicas(replica))
            .type(probe, "main")
            .noCache()
            .build()) {
      Session session = db.session();
      String count = "select count(*) from thing_after_commit_probe";
      long before = Long.parseLong(ReplicatedPostgres.query(pg.primaryUrl(), count));
      armed.set(true);
      Thing made = db.withSession(session).create(db.newThing(probe).set(TITLE, "once"));
      long after = Long.parseLong(ReplicatedPostgres.query(pg.primaryUrl(), count));
      assertThat(after - before).as("things created by one create").isEqualTo(1);
      assertThat(db.withSession(session).get(probe, made.id()))
          .as("read-your-writes after a lost position")
          .contains(made);

      armed.set(true);
      Counts counts = db.withSession(session).incr(probe, made.id(), ThingDb.Counter.UPS, 1);
      assertThat(
              ReplicatedPostgres.query(
                  pg.primaryUrl(),
                  "select ups from thing_after_commit_probe where thing_id = " + made.id()))
          .isEqualTo("1");
      assertThat(counts.ups()).isEqualTo(1);
    }
  }

  /**
   * The primary, except that the first {@code pg_current_wal_insert_lsn()} query after {@code
   * armed} is set fails as a dropped connection would (SQLSTATE 08006): the fault lands right after
   * a COMMIT that succeeded.
   */
  static DataSource failPositionReadOnce(DataSource primary, AtomicBoolean armed) {
    InvocationHandler dataSource =
        (proxy, method, args) -> {
          Object result = invoke(method, primary, args);
          if (result instanceof Connection c) {
            InvocationHandler connection =
                (p, m, a) -> {
                  if (m.getName().equals("prepareStatement")
                      && a != null
                      && a[0] instanceof String sql
                      && sql.contains("pg_current_wal_insert_lsn")
                      && armed.compareAndSet(true, false)) {
                    throw new SQLException(
                        "An I/O error occurred while sending to the backend (injected after COMMIT)",
                        "08006");
                  }
                  return invoke(m, c, a);
                };
            return Proxy.newProxyInstance(
                ReplicaRoutingTest.class.getClassLoader(),
                new Class<?>[] {Connection.class},
                connection);
          }
          return result;
        };
    return (DataSource)
        Proxy.newProxyInstance(
            ReplicaRoutingTest.class.getClassLoader(),
            new Class<?>[] {DataSource.class},
            dataSource);
  }

  private static Object invoke(java.lang.reflect.Method m, Object target, Object[] args)
      throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  /**
   * Captures what slf4j-simple writes to System.err (it looks System.err up on every write) while
   * still passing it through.
   */
  static final class LogCapture implements AutoCloseable {
    private final PrintStream original = System.err;
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

    static LogCapture start() {
      LogCapture c = new LogCapture();
      OutputStream tee =
          new OutputStream() {
            @Override
            public void write(int b) {
              synchronized (c.captured) {
                c.captured.write(b);
              }
              c.original.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
              synchronized (c.captured) {
                c.captured.write(b, off, len);
              }
              c.original.write(b, off, len);
            }
          };
      System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
      return c;
    }

    /** Lines from io.thingdb.core.Routing containing {@code text}. */
    List<String> lines(String text) {
      String all;
      synchronized (captured) {
        all = captured.toString(StandardCharsets.UTF_8);
      }
      List<String> out = new ArrayList<>();
      for (String line : all.split("\n")) {
        if (line.contains("io.thingdb.core.Routing") && line.contains(text)) {
          out.add(line);
        }
      }
      return out;
    }

    @Override
    public void close() {
      System.setErr(original);
    }
  }
}

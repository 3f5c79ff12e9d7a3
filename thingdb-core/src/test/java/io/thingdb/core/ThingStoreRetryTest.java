package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.cachedThing;
import static io.thingdb.core.ThingStoreSupport.count;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingStoreFaultyDataSource.Moment;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Retries of lost connections: before COMMIT a write is retried (nothing was committed), once
 * COMMIT was sent it never is (the outcome is unknown, and a retried {@code ups = ups + 1} counts
 * twice), and a failure after COMMIT returned must not run the write again either. Connections are
 * lost for real: their PostgreSQL backend is terminated at the chosen moment.
 */
class ThingStoreRetryTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> COMMENTS = Prop.int64("comments", 0);
  static final ThingType POST = ThingType.named("post").props(TITLE, COMMENTS).build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static PostgresFixture pg;
  static HikariDataSource pool;
  static HikariDataSource admin;
  static HikariDataSource replica;

  /** Reads for assertions: never handed a connection that a fault killed. */
  static HikariDataSource check;

  static ThingStoreFaultyDataSource faulty;
  static MemcachedCache mc;
  static ThingDb db;

  /**
   * The same primary plus a "replica" (another pool on the primary): writes record WAL positions.
   */
  static ThingDb withReplica;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    pool = ThingStoreSupport.pool(pg.jdbcUrl());
    admin = ThingStoreSupport.pool(pg.jdbcUrl(), 2, Duration.ofSeconds(30));
    replica = ThingStoreSupport.pool(pg.jdbcUrl(), 2, Duration.ofSeconds(30));
    check = ThingStoreSupport.pool(pg.jdbcUrl(), 2, Duration.ofSeconds(30));
    faulty = new ThingStoreFaultyDataSource(pool, admin);
    mc = ThingStoreSupport.memcached(memcached.cluster());
    db =
        ThingDb.builder()
            .database("main", Database.of(faulty))
            .type(POST, "main")
            .cache(mc)
            .build();
    withReplica =
        ThingDb.builder()
            .database("main", Database.of(faulty).withReplicas(replica))
            .type(POST, "main")
            .cache(mc)
            .build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c :
        new AutoCloseable[] {withReplica, db, mc, check, replica, admin, pool, pg}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  @BeforeEach
  void reset() {
    faulty.arm(null, null);
    faulty.refuseConnections.set(0);
    faulty.connections.set(0);
    faulty.killed.set(0);
    faulty.terminated.clear();
  }

  private Thing post(String title) {
    Thing t = db.create(db.newThing(POST).set(TITLE, title));
    faulty.connections.set(0);
    faulty.killed.set(0);
    faulty.terminated.clear();
    return t;
  }

  /**
   * Proof that the armed fault fired: exactly one backend was terminated (the fixture checked that
   * pg_terminate_backend succeeded and the backend left pg_stat_activity) and no fault is left
   * armed.
   */
  private static void assertOneConnectionWasKilled() {
    assertThat(faulty.fired()).as("the fault is no longer armed").isTrue();
    assertThat(faulty.killed.get()).as("connections killed").isEqualTo(1);
    assertThat(faulty.terminated).hasSize(1);
    assertThat(
            count(
                check,
                "select count(*) from pg_stat_activity where pid = ?",
                faulty.terminated.get(0)))
        .as("the killed backend is gone")
        .isZero();
  }

  // ------------------------------------------------------------------ before COMMIT: retried

  @Test
  void aConnectionLostBeforeCommitIsRetriedAndTheWriteAppliedOnce() {
    Thing t = post("retry me");
    faulty.arm(Moment.BEFORE_STATEMENT, "update thing_post");
    Thing u = db.update(t.edit().set(TITLE, "retried"));
    assertOneConnectionWasKilled();
    assertThat(faulty.connections.get()).as("attempts").isEqualTo(2);
    assertThat(u.version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).values()).containsEntry("title", "retried");
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
  }

  @Test
  void aCreateWhoseConnectionIsLostMidTransactionIsRetriedAndNotHalfWritten() {
    faulty.connections.set(0);
    faulty.arm(Moment.BEFORE_STATEMENT, "insert into data_post");
    Thing t = db.create(db.newThing(POST).set(TITLE, "created after a retry").set(COMMENTS, 3L));
    assertOneConnectionWasKilled();
    assertThat(faulty.connections.get()).isEqualTo(2);
    assertThat(
            count(
                check,
                "select count(*) from thing_post t join data_post d using (thing_id)"
                    + " where d.key = 'title' and d.value = 'created after a retry'"))
        .isEqualTo(1);
    assertThat(
            count(
                check,
                "select count(*) from thing_post t where not exists"
                    + " (select 1 from data_post d where d.thing_id = t.thing_id) and t.thing_id > 0"
                    + " and t.thing_id not in (select thing_id from data_post)"))
        .isZero();
    assertThat(storedOrFail(check, t).values())
        .containsEntry("comments", "3")
        .containsEntry("title", "created after a retry");
  }

  @Test
  void refusedConnectionsAreRetriedABoundedNumberOfTimesThenReportedWithTheSqlState() {
    Thing t = post("refused");
    faulty.refuseConnections.set(2);
    Thing u = db.update(t.edit().set(TITLE, "after two refusals"));
    assertThat(faulty.refuseConnections.get()).as("both refusals happened").isZero();
    assertThat(faulty.connections.get()).as("attempts: two refused, one served").isEqualTo(3);
    assertThat(u.version()).isEqualTo(2);
    assertThat(u.get(TITLE)).isEqualTo("after two refusals");
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);

    faulty.connections.set(0);
    faulty.refuseConnections.set(100);
    assertThatThrownBy(() -> db.update(u.edit().set(TITLE, "never")))
        .isInstanceOf(ThingDbException.class)
        .isNotInstanceOf(OutcomeUnknownException.class)
        .hasMessageContaining("write on main failed after 4 attempts")
        .hasMessageContaining("08001")
        .hasMessageContaining("refused");
    assertThat(faulty.connections.get()).isEqualTo(4);
    assertThat(faulty.refuseConnections.get()).as("four attempts were refused").isEqualTo(96);
    faulty.refuseConnections.set(0);
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).values()).containsEntry("title", "after two refusals");
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
  }

  // ------------------------------------------------------------------ COMMIT sent: never retried

  @Test
  void aConnectionLostAtCommitIsOutcomeUnknownAndNeverRetried() {
    Thing t = post("commit lost");
    faulty.arm(Moment.BEFORE_COMMIT, null);
    assertThatThrownBy(() -> db.update(t.edit().set(TITLE, "maybe")))
        .isInstanceOf(OutcomeUnknownException.class)
        .hasMessageContaining("database main")
        .hasMessageContaining("may or may not have been committed");
    assertOneConnectionWasKilled();
    assertThat(faulty.connections.get()).as("attempts").isEqualTo(1);
    // the backend died before COMMIT reached it: nothing was committed, the cache is unchanged
    assertThat(storedOrFail(check, t).version()).isEqualTo(1);
    assertThat(storedOrFail(check, t).values()).containsEntry("title", "commit lost");
    assertThat(cachedThing(mc, db, t)).isEqualTo(t);
  }

  @Test
  void anIncrementWhoseConnectionIsLostIsOutcomeUnknownAndNeverRetried() {
    Thing t = post("vote lost");
    faulty.arm(Moment.BEFORE_STATEMENT, "ups = ups +");
    assertThatThrownBy(() -> db.incr(POST, t.id(), Counter.UPS, 1))
        .isInstanceOf(OutcomeUnknownException.class)
        .hasMessageContaining("incrementing ups of post " + t.id())
        .hasMessageContaining("may or may not have been applied");
    assertOneConnectionWasKilled();
    assertThat(faulty.connections.get()).as("attempts").isEqualTo(1);
    assertThat(storedOrFail(check, t).ups()).isZero();
    assertThat(storedOrFail(check, t).version()).isEqualTo(1);
  }

  // ------------------------------------------------------------------ after COMMIT: never run
  // again

  @Test
  void anUpdateWhoseConnectionIsLostAfterCommitIsNotRunAgain() {
    Thing t = post("once");
    Session session = withReplica.session();
    faulty.arm(Moment.AFTER_COMMIT, null);
    Thing u = withReplica.withSession(session).update(t.edit().set(TITLE, "exactly once"));
    assertOneConnectionWasKilled();
    assertThat(u.version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).version()).as("the committed update ran again").isEqualTo(2);
    assertThat(session.token()).startsWith("main=");
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
  }

  @Test
  void anUpdateWithoutSessionWhoseConnectionIsLostAfterCommitSucceedsOnce() {
    Thing t = post("once, no session");
    faulty.arm(Moment.AFTER_COMMIT, null);
    Thing u = db.update(t.edit().set(TITLE, "exactly once"));
    assertOneConnectionWasKilled();
    assertThat(u.version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
  }

  @Test
  void anIncrementWhoseConnectionIsLostAfterItCommittedIsNotCountedTwice() {
    Thing t = post("one vote");
    Session session = withReplica.session();
    faulty.arm(Moment.AFTER_STATEMENT, "ups = ups +");
    Counts c = withReplica.withSession(session).incr(POST, t.id(), Counter.UPS, 1);
    assertOneConnectionWasKilled();
    assertThat(c.ups()).isEqualTo(1);
    assertThat(storedOrFail(check, t).ups()).as("the committed increment ran again").isEqualTo(1);
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);
    assertThat(session.token()).startsWith("main=");
    // The cache was patched to v2, or invalidated at v2: either way a read returns v2.
    Thing read = withReplica.withSession(session).get(POST, t.id()).orElseThrow();
    assertThat(read.ups()).isEqualTo(1);
    assertThat(read.version()).isEqualTo(2);
    Thing cached = cachedThing(mc, db, t);
    if (cached != null) {
      assertThat(cached.ups()).isEqualTo(1);
      assertThat(cached.version()).isEqualTo(2);
    }
  }

  @Test
  void aPropIncrementWhoseConnectionIsLostAfterCommitIsNotCountedTwice() {
    Thing t = post("comments");
    Session session = withReplica.session();
    faulty.arm(Moment.AFTER_COMMIT, null);
    Thing u = withReplica.withSession(session).incr(POST, t.id(), COMMENTS, 1L);
    assertOneConnectionWasKilled();
    assertThat(u.get(COMMENTS)).isEqualTo(1L);
    assertThat(u.version()).isEqualTo(2);
    assertThat(storedOrFail(check, t).values()).containsEntry("comments", "1");
    assertThat(storedOrFail(check, t).version()).isEqualTo(2);
    assertThat(cachedThing(mc, db, t)).isEqualTo(u);
  }

  @Test
  void aCreateWhoseConnectionIsLostAfterCommitIsNotCreatedTwice() {
    Session session = withReplica.session();
    faulty.arm(Moment.AFTER_COMMIT, null);
    Thing t =
        withReplica
            .withSession(session)
            .create(withReplica.newThing(POST).set(TITLE, "created once"));
    assertOneConnectionWasKilled();
    assertThat(t.get(TITLE)).isEqualTo("created once");
    assertThat(
            count(
                check,
                "select count(*) from data_post where key = 'title' and value = 'created once'"))
        .isEqualTo(1);
    assertThat(storedOrFail(check, t).version()).isEqualTo(1);
  }
}

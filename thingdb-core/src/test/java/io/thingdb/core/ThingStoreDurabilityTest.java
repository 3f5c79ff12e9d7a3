package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.column;
import static io.thingdb.core.ThingStoreSupport.count;
import static io.thingdb.core.ThingStoreSupport.storedOrFail;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.ThingDb.Counter;
import io.thingdb.core.ThingDb.Missing;
import io.thingdb.core.ThingStoreSupport.Stored;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * P6 across a crash of the primary: PostgreSQL with fsync and synchronous_commit on is stopped with
 * {@code pg_ctl stop -m immediate} in the middle of creates and increments and started again. Every
 * operation that returned success is in the database afterwards; the others failed with the
 * outcome-unknown exception or a clear error; nothing is half-written.
 */
class ThingStoreDurabilityTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<String> BODY = Prop.string("body", "");
  static final Prop<Long> N = Prop.int64("n", 0);
  static final ThingType ENTRY = ThingType.named("entry").props(TITLE, BODY, N).build();
  static final ThingType COUNTER = ThingType.named("counter").build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static PostgresFixture pg;
  static HikariDataSource pool;
  static MemcachedCache mc;
  static ThingDb db;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.durable();
    assertThat(column(pg.dataSource(), "show synchronous_commit")).containsExactly("on");
    assertThat(column(pg.dataSource(), "show fsync")).containsExactly("on");
    // A short pool timeout: with the server down for 3 s, some writes exhaust their retries and
    // must fail with a clear error rather than all waiting the outage out in the pool.
    pool = ThingStoreSupport.pool(pg.jdbcUrl(), 10, Duration.ofMillis(500));
    mc = ThingStoreSupport.memcached(memcached.cluster());
    db =
        ThingDb.builder()
            .database("main", Database.of(pool))
            .type(ENTRY, "main")
            .type(COUNTER, "main")
            .cache(mc)
            .outboxReplayInterval(Duration.ofMillis(200))
            .outboxGrace(Duration.ofMillis(200))
            .build();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {db, mc, pool, pg}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  /** What happened to every operation. */
  static final class Outcomes {
    final Map<String, Long> created = new ConcurrentHashMap<>(); // label -> id
    final Set<String> createUnknown = ConcurrentHashMap.newKeySet();
    final Set<String> createFailed = ConcurrentHashMap.newKeySet();
    final AtomicLong incrOk = new AtomicLong();
    final AtomicLong incrUnknown = new AtomicLong();
    final AtomicLong incrFailed = new AtomicLong();
    final AtomicLong okAfterRestart = new AtomicLong();
    final ConcurrentLinkedQueue<ThingDbException> failures = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
  }

  /** Polls (every 10 ms, deadline 30 s) until {@code done} holds; fails naming {@code what}. */
  static void awaitUntil(String what, java.util.function.BooleanSupplier done)
      throws InterruptedException {
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!done.getAsBoolean()) {
      assertThat(System.nanoTime()).as("within 30 s: " + what).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  @Test
  void anImmediateStopOfThePrimaryLosesNoSuccessfulWriteAndLeavesNothingHalfWritten()
      throws Exception {
    Thing counter = db.create(db.newThing(COUNTER));
    Outcomes o = new Outcomes();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicBoolean restarted = new AtomicBoolean();
    ExecutorService threads = Executors.newFixedThreadPool(6);
    List<Future<?>> work = new ArrayList<>();
    AtomicInteger labels = new AtomicInteger();
    for (int w = 0; w < 3; w++) {
      work.add(
          threads.submit(
              () -> {
                while (!stop.get()) {
                  int i = labels.incrementAndGet();
                  String label = "entry-" + i;
                  try {
                    Thing t =
                        db.create(
                            db.newThing(ENTRY)
                                .set(TITLE, label)
                                .set(BODY, "body of " + label)
                                .set(N, (long) i));
                    o.created.put(label, t.id());
                    if (restarted.get()) {
                      o.okAfterRestart.incrementAndGet();
                    }
                  } catch (OutcomeUnknownException e) {
                    o.createUnknown.add(label);
                    o.failures.add(e);
                  } catch (ThingDbException e) {
                    o.createFailed.add(label);
                    o.failures.add(e);
                  } catch (RuntimeException | Error e) {
                    o.unexpected.add(e);
                  }
                }
              }));
      work.add(
          threads.submit(
              () -> {
                while (!stop.get()) {
                  try {
                    db.incr(COUNTER, counter.id(), Counter.UPS, 1);
                    o.incrOk.incrementAndGet();
                    if (restarted.get()) {
                      o.okAfterRestart.incrementAndGet();
                    }
                  } catch (OutcomeUnknownException e) {
                    o.incrUnknown.incrementAndGet();
                    o.failures.add(e);
                  } catch (ThingDbException e) {
                    o.incrFailed.incrementAndGet();
                    o.failures.add(e);
                  } catch (RuntimeException | Error e) {
                    o.unexpected.add(e);
                  }
                }
              }));
    }
    long beforeCrash;
    try {
      awaitUntil(
          "50 successful writes before the crash", () -> o.created.size() + o.incrOk.get() >= 50);
      beforeCrash = o.created.size() + o.incrOk.get();
      long t0 = System.nanoTime();
      pg.stopImmediate();
      long t1 = System.nanoTime();
      // Down for 3 s at least, and until a write has given up (exhausted its retries).
      long downSince = System.nanoTime();
      awaitUntil(
          "a write that gave up while the server was down",
          () ->
              System.nanoTime() - downSince >= 3_000_000_000L
                  && o.createFailed.size() + o.incrFailed.get() > 0);
      pg.startAgain();
      long t2 = System.nanoTime();
      restarted.set(true);
      System.out.printf(
          "durability: %d successful operations before the crash; stop -m immediate took %d ms,"
              + " down %d ms in all%n",
          beforeCrash, (t1 - t0) / 1_000_000, (t2 - t0) / 1_000_000);
      awaitUntil("20 successful writes after the restart", () -> o.okAfterRestart.get() >= 20);
    } finally {
      stop.set(true);
      for (Future<?> f : work) {
        f.get();
      }
      threads.shutdownNow();
    }

    Map<String, Integer> kinds = new TreeMap<>();
    for (ThingDbException e : o.failures) {
      String kind = e.getClass().getSimpleName() + ": " + e.getMessage().replaceAll("\\d+", "N");
      kinds.merge(kind.length() > 160 ? kind.substring(0, 160) : kind, 1, Integer::sum);
    }
    System.out.printf(
        "durability: creates ok=%d unknown=%d failed=%d; increments ok=%d unknown=%d failed=%d;"
            + " %d ok after the restart%n",
        o.created.size(),
        o.createUnknown.size(),
        o.createFailed.size(),
        o.incrOk.get(),
        o.incrUnknown.get(),
        o.incrFailed.get(),
        o.okAfterRestart.get());
    kinds.forEach((k, n) -> System.out.printf("  %4d x %s%n", n, k));

    assertThat(o.unexpected).as("exceptions other than ThingDbException").isEmpty();
    assertThat(beforeCrash).isPositive();
    assertThat(o.okAfterRestart.get()).as("writes succeed again after the restart").isPositive();
    assertThat(o.createFailed.size() + o.incrFailed.get())
        .as("writes that gave up while the server was down")
        .isPositive();
    for (ThingDbException e : o.failures) {
      assertThat(e.getMessage()).as("a clear error").isNotBlank();
      if (!(e instanceof OutcomeUnknownException)) {
        assertThat(e.getMessage())
            .as("names the operation and the SQLSTATE")
            .containsAnyOf("write on main failed", "increment ups of counter")
            .contains("SQLSTATE");
      } else {
        assertThat(e.getMessage()).contains("may or may not");
      }
      assertThat(e.getCause()).as("the cause is kept").isNotNull();
    }

    // every increment that returned is counted; unknown ones may or may not be
    Stored c = storedOrFail(pool, counter);
    assertThat((long) c.ups()).isBetween(o.incrOk.get(), o.incrOk.get() + o.incrUnknown.get());
    assertThat(c.version()).isEqualTo(1L + c.ups());

    // every create that returned is there with all its data rows; failed ones are not; any other
    // row belongs to a create whose outcome was reported unknown
    Map<String, Long> inDb = new HashMap<>();
    for (String row :
        column(pool, "select value || '=' || thing_id from data_entry where key = 'title'")) {
      inDb.put(
          row.substring(0, row.indexOf('=')), Long.parseLong(row.substring(row.indexOf('=') + 1)));
    }
    for (Map.Entry<String, Long> e : o.created.entrySet()) {
      assertThat(inDb)
          .as("a created thing is missing after the restart")
          .containsEntry(e.getKey(), e.getValue());
      Stored s = storedOrFail(pool, db.get(ENTRY, e.getValue()).orElseThrow());
      int n = Integer.parseInt(e.getKey().substring("entry-".length()));
      assertThat(s.values()).containsOnlyKeys("body", "n", "title");
      assertThat(s.values())
          .containsEntry("body", "body of " + e.getKey())
          .containsEntry("n", Integer.toString(n));
      assertThat(s.version()).isEqualTo(1);
    }
    Set<String> unexplained = new HashSet<>(inDb.keySet());
    unexplained.removeAll(o.created.keySet());
    unexplained.removeAll(o.createUnknown);
    assertThat(unexplained)
        .as("things in the database whose create did not return and was not unknown")
        .isEmpty();
    Set<String> failedButThere = new HashSet<>(o.createFailed);
    failedButThere.retainAll(inDb.keySet());
    assertThat(failedButThere).as("creates that failed but were committed").isEmpty();
    assertThat(
            count(
                pool,
                "select count(*) from thing_entry t where (select count(*) from data_entry d"
                    + " where d.thing_id = t.thing_id) <> 3"))
        .as("things without all their data rows")
        .isZero();

    // the cache agrees once the outbox has replayed what the crash left unconfirmed
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (count(pool, "select count(*) from thingdb_outbox") > 0 && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(count(pool, "select count(*) from thingdb_outbox"))
        .as("outbox rows left 10 s after the restart")
        .isZero();
    Thing cachedCounter = db.get(COUNTER, counter.id()).orElseThrow();
    assertThat(cachedCounter.ups()).isEqualTo(c.ups());
    assertThat(cachedCounter.version()).isEqualTo(c.version());
    List<Thing> all = db.getMany(ENTRY, new ArrayList<>(o.created.values()), Missing.FAIL);
    assertThat(all).hasSize(o.created.size()).allSatisfy(t -> assertThat(t.version()).isEqualTo(1));
  }
}

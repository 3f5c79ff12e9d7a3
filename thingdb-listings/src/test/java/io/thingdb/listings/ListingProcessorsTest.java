package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Processor faults and queue behaviour on a small world: a processor that throws or loses its
 * connection mid-batch loses nothing, a listing that always fails does not starve the others, the
 * queue's depth and age are readable, and jobs applied twice change nothing. P5 at full size is
 * {@link ListingTruthTest}; hot-spot contention is {@link ListingHotSpotTest}.
 */
class ListingProcessorsTest {
  static final int CAPACITY = 20;
  static final int THINGS = 100;
  static final int SUBREDDITS = 2;
  static final int AUTHORS = 4;
  static final int ACCOUNTS = 40;
  static final AtomicInteger DATABASES = new AtomicInteger();

  static PostgresFixture pg;
  static final List<HikariDataSource> POOLS = new ArrayList<>();

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stopPostgres() {
    POOLS.forEach(HikariDataSource::close);
    pg.close();
  }

  static DataSource freshDatabase() {
    HikariDataSource pool = Pools.create(pg, "listings_" + DATABASES.incrementAndGet(), 12);
    POOLS.add(pool);
    return pool;
  }

  record Setup(List<Thing> links, List<Thing> accounts) {}

  static Setup populate(VoteWorld w, long seed) {
    Random r = new Random(seed);
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<io.thingdb.core.NewThing> links = new ArrayList<>();
    for (int i = 0; i < THINGS; i++) {
      links.add(
          w.db
              .newThing(VoteWorld.LINK)
              .set(VoteWorld.SR, 1L + r.nextInt(SUBREDDITS))
              .set(VoteWorld.AUTHOR, 1L + r.nextInt(AUTHORS))
              .date(now.minus(r.nextInt(3 * 24 * 3600 * 1000), ChronoUnit.MILLIS)));
    }
    List<Thing> created = w.votes.submitAll(null, links);
    List<io.thingdb.core.NewThing> accounts = new ArrayList<>();
    for (int i = 0; i < ACCOUNTS; i++) {
      accounts.add(w.db.newThing(VoteWorld.ACCOUNT));
    }
    return new Setup(created, w.db.createAll(accounts));
  }

  /** {@code votes} votes from {@code threads} threads, with a delete or spam mark now and then. */
  static void vote(VoteWorld w, Setup s, int threads, int votes, long seed)
      throws InterruptedException {
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    List<Thread> started = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long threadSeed = seed * 31 + t;
      Thread th =
          new Thread(
              () -> {
                Random r = new Random(threadSeed);
                for (int i = 0; i < votes / threads; i++) {
                  Thing link = s.links().get(r.nextInt(s.links().size()));
                  Thing account = s.accounts().get(r.nextInt(s.accounts().size()));
                  try {
                    if (r.nextInt(40) == 0) {
                      Thing current = w.db.get(VoteWorld.LINK, link.id()).orElseThrow();
                      if (r.nextBoolean()) {
                        w.votes.markSpam(null, current, !current.spam());
                      } else {
                        w.votes.setDeleted(null, current, true);
                      }
                    } else {
                      w.votes.cast(account.id(), link.id(), r.nextInt(3) - 1);
                    }
                  } catch (VoteRejectedException e) {
                    // voted on a thing another thread deleted: expected
                  } catch (Throwable e) {
                    failures.add(e);
                  }
                }
              },
              "voter-" + t);
      started.add(th);
      th.start();
    }
    for (Thread th : started) {
      th.join();
    }
    assertThat(failures).isEmpty();
  }

  static void awaitDrained(VoteWorld w, ListingProcessors p) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (p.queueDepth() > 0
        || w.count("select count(distinct listing_key) from thingdb_listing_job") > 0) {
      assertThat(System.nanoTime()).as("queue drained within 120 s").isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  static void assertEveryListingEqualsARecompute(VoteWorld w) throws Exception {
    Map<Long, VoteWorld.Row> rows = w.rows();
    List<String> keys = new ArrayList<>();
    for (int sr = 1; sr <= SUBREDDITS; sr++) {
      for (String sort : VoteWorld.SR_SORTS) {
        keys.add("sr:" + sr + ":" + sort);
      }
    }
    for (int a = 1; a <= AUTHORS; a++) {
      keys.add("user:" + a + ":submitted:new");
    }
    int nonEmpty = 0;
    for (String key : keys) {
      List<Listing.Entry> expected = w.recompute(key, rows);
      ListingStore.Stored stored = w.store.readFromDatabase(key);
      List<Listing.Entry> actual =
          stored == null ? List.of() : Listing.decode(stored.data()).visible();
      assertThat(actual)
          .as(key)
          .extracting(Listing.Entry::id)
          .containsExactlyElementsOf(expected.stream().map(Listing.Entry::id).toList());
      assertThat(actual)
          .as(key)
          .extracting(Listing.Entry::value)
          .containsExactlyElementsOf(expected.stream().map(Listing.Entry::value).toList());
      // The cache serves the same.
      assertThat(w.store.page(key, null, Listing.MAX_PAGE_LIMIT))
          .as(key + " via the cache")
          .extracting(Listing.Entry::id)
          .containsExactlyElementsOf(expected.stream().map(Listing.Entry::id).toList());
      nonEmpty += expected.isEmpty() ? 0 : 1;
    }
    assertThat(nonEmpty).isGreaterThan(SUBREDDITS * 4);
    for (VoteWorld.Row row : rows.values()) {
      assertThat((long) row.ups())
          .as("ups of " + row.id())
          .isEqualTo(
              w.count(
                  "select count(*) from rel_vote where name = '1' and thing2_id = " + row.id()));
      assertThat((long) row.downs())
          .as("downs of " + row.id())
          .isEqualTo(
              w.count(
                  "select count(*) from rel_vote where name = '-1' and thing2_id = " + row.id()));
    }
  }

  @Test
  void durationsOutsideTheirRangesAreRefusedNamingTheSetting() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> w.processors().writeInterval(Duration.ofMillis(-1)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing write interval must be between 0 and 1 minute: PT-0.001S");
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> w.processors().replayInterval(Duration.ofMillis(9)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing replay interval must be between 10 ms and 1 minute: PT0.009S");
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> w.processors().replayGrace(Duration.ofSeconds(61)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing replay grace must be between 10 ms and 1 minute: PT1M1S");
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> w.processors().replayGrace(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("replay grace must not be null");
      w.processors()
          .writeInterval(Duration.ZERO)
          .replayInterval(Duration.ofMillis(10))
          .replayGrace(Duration.ofMinutes(1));
    }
  }

  @Test
  void aProcessorThatThrowsMidBatchLosesNothing() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      Setup s = populate(w, 99);
      vote(w, s, 4, 600, 99);
      AtomicInteger calls = new AtomicInteger();
      try (ListingProcessors p =
          w.processors()
              .threads(2)
              .idleWait(Duration.ofMillis(5))
              .hook(
                  (c, key, jobs) -> {
                    if (calls.incrementAndGet() % 3 == 0) {
                      throw new IllegalStateException("processor crashed in the middle of " + key);
                    }
                  })
              .build()
              .start()) {
        awaitDrained(w, p);
        assertThat(p.failures()).isPositive();
      }
      assertEveryListingEqualsARecompute(w);
    }
  }

  @Test
  void aProcessorWhoseConnectionIsTerminatedMidBatchLosesNothing() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      Setup s = populate(w, 123);
      vote(w, s, 4, 600, 123);
      AtomicInteger calls = new AtomicInteger();
      try (ListingProcessors p =
          w.processors()
              .threads(2)
              .idleWait(Duration.ofMillis(5))
              .hook(
                  (c, key, jobs) -> {
                    if (calls.incrementAndGet() % 4 == 0) {
                      int pid;
                      try (var st = c.createStatement();
                          var rs = st.executeQuery("select pg_backend_pid()")) {
                        rs.next();
                        pid = rs.getInt(1);
                      }
                      try (var other = w.ds.getConnection();
                          var ps = other.prepareStatement("select pg_terminate_backend(?)")) {
                        ps.setInt(1, pid);
                        ps.executeQuery().close();
                      }
                    }
                  })
              .build()
              .start()) {
        awaitDrained(w, p);
        assertThat(p.failures()).isPositive();
      }
      assertEveryListingEqualsARecompute(w);
    }
  }

  @Test
  void aListingThatFailsEveryTimeKeepsItsJobsAndDoesNotStarveTheOthers() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      populate(w, 3);
      ListingRouting broken =
          new ListingRouting() {
            @Override
            public java.util.Collection<String> listingsOf(Thing thing) {
              return w.routing.listingsOf(thing);
            }

            @Override
            public ListingDefinition definition(String key) {
              if (key.equals("sr:1:top")) {
                throw new IllegalArgumentException("no definition for " + key);
              }
              return w.routing.definition(key);
            }
          };
      long jobs =
          w.count("select count(*) from thingdb_listing_job where listing_key = 'sr:1:top'");
      try (ListingProcessors p = ListingProcessors.builder(w.db, w.ds, w.store, broken).build()) {
        int failed = 0;
        for (int i = 0;
            i < 40 && w.count("select count(distinct listing_key) from thingdb_listing_job") > 1;
            i++) {
          try {
            p.processOne();
          } catch (io.thingdb.core.ThingDbException e) {
            assertThat(e)
                .hasMessageStartingWith(
                    "listing batch for sr:1:top failed and was rolled back;"
                        + " its jobs stay queued: no definition for sr:1:top");
            failed++;
          }
        }
        assertThat(failed).isPositive();
        assertThat(w.count("select count(distinct listing_key) from thingdb_listing_job"))
            .isEqualTo(1);
        assertThat(
                w.count("select count(*) from thingdb_listing_job where listing_key = 'sr:1:top'"))
            .isEqualTo(jobs);
        assertThat(p.queueDepth()).isEqualTo(jobs);
      }
    }
  }

  @Test
  void queueDepthAndOldestJobAgeAreReadable() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      Setup s = populate(w, 5);
      try (ListingProcessors p = w.processors().build()) {
        assertThat(p.queueDepth()).isEqualTo(THINGS * 5L);
        assertThat(p.pendingListings())
            .isEqualTo(w.count("select count(distinct listing_key) from thingdb_listing_job"))
            .isPositive();
        assertThat(p.oldestJobAge()).isPresent();
        assertThat(p.drain()).isEqualTo(THINGS * 5L);
        assertThat(p.queueDepth()).isZero();
        assertThat(p.pendingListings()).isZero();
        assertThat(p.oldestJobAge()).isEmpty();
        assertThat(p.processOne()).isEqualTo(-1);
        w.votes.cast(s.accounts().get(0).id(), s.links().get(0).id(), 1);
        assertThat(p.queueDepth())
            .as("hot, top and controversial; not the new listings")
            .isEqualTo(3);
      }
    }
  }

  @Test
  void applyingTheSameJobsTwiceChangesNothing() throws Exception {
    try (VoteWorld w = new VoteWorld(freshDatabase(), CAPACITY)) {
      Setup s = populate(w, 11);
      vote(w, s, 2, 300, 11);
      try (ListingProcessors p = w.processors().build()) {
        p.drain();
        byte[] before = w.store.readFromDatabase("sr:1:hot").data();
        for (Thing t : s.links()) {
          w.votes.touched(w.db.get(VoteWorld.LINK, t.id()).orElseThrow());
        }
        p.drain();
        assertThat(w.store.readFromDatabase("sr:1:hot").data()).isEqualTo(before);
        assertEveryListingEqualsARecompute(w);
      }
    }
  }
}

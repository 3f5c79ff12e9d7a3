package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Thing;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Hot-spot contention, asserted on counts: every vote goes to one subreddit (the P5 world of {@link
 * ListingTruthTest}, 500 things in 5 subreddits, capacity 50), with 1, 2, 4 and 8 processors.
 *
 * <p>A backlog of votes drained by N processors is written once per dirty listing whatever N is (a
 * listing is claimed whole by one worker, never split across workers), so listing writes per job
 * and version conflicts with 8 processors are no higher than with 2. While votes arrive, the
 * workers' pacing bounds each listing to one write per write interval, so adding processors cannot
 * multiply the writes either. Throughput is measured in the benchmarks, not here.
 */
class ListingHotSpotTest {
  static final int HOT_SR = 1;
  static final int VOTES = 3_000;
  static final Duration WRITE_INTERVAL = Duration.ofMillis(100);

  static PostgresFixture pg;

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  record Counts(
      long dirty, long writes, long jobs, long conflicts, long pacedWrites, long pacedBound) {
    double writesPerJob() {
      return (double) writes / jobs;
    }
  }

  Counts hotSpot(int processors) throws Exception {
    memcached
        .cluster()
        .flushAll(); // each world is a fresh database whose cache keys repeat the last one's
    try (HikariDataSource ds =
            Pools.create(pg, "hot_" + processors, ListingTruthTest.VOTER_THREADS + processors + 6);
        VoteWorld w =
            new VoteWorld(
                ds,
                ListingTruthTest.CAPACITY,
                ds,
                MemcachedCache.builder().servers(memcached.cluster().servers()).build())) {
      ListingTruthTest.Setup all = ListingTruthTest.populate(w, 17);
      try (ListingProcessors submits = w.processors().build()) {
        submits.drain();
      }
      List<Thing> hot = all.links().stream().filter(t -> t.get(VoteWorld.SR) == HOT_SR).toList();
      ListingTruthTest.Setup hotSetup = new ListingTruthTest.Setup(hot, all.accounts());
      long hotKeys =
          VoteWorld.SR_SORTS.size()
              + hot.stream().map(t -> t.get(VoteWorld.AUTHOR)).distinct().count();

      // A backlog: queued with no processor running, then drained by N.
      ListingTruthTest.write(w, hotSetup, 23, VOTES, false);
      long dirty = w.count("select count(distinct listing_key) from thingdb_listing_job");
      assertThat(dirty)
          .isEqualTo(w.count("select count(distinct listing_key) from thingdb_listing_job"))
          .isLessThanOrEqualTo(hotKeys);
      try (ListingProcessors p =
          w.processors()
              .threads(processors)
              .idleWait(Duration.ofMillis(5))
              .writeInterval(WRITE_INTERVAL)
              .build()
              .start()) {
        ListingTruthTest.awaitDrained(w, p);
        assertThat(p.failures()).isZero();
        assertThat(p.listingWrites()).as("one write per dirty listing").isEqualTo(dirty);
        long writes = p.listingWrites();
        long jobs = p.jobsApplied();
        long conflicts = p.versionConflicts();
        ListingTruthTest.assertTruth(w);

        // Votes arriving while the N workers run.
        long start = System.nanoTime();
        ListingTruthTest.write(w, hotSetup, 29, VOTES, false);
        ListingTruthTest.awaitDrained(w, p);
        long elapsed = System.nanoTime() - start;
        assertThat(p.failures()).isZero();
        assertThat(p.versionConflicts()).isZero();
        long paced = p.listingWrites() - writes;
        // Consecutive writes of one listing by the workers are at least the interval apart.
        long bound = hotKeys * (elapsed / WRITE_INTERVAL.toNanos() + 2);
        assertThat(paced).as("listing writes while votes arrive").isLessThanOrEqualTo(bound);
        ListingTruthTest.assertTruth(w);
        return new Counts(dirty, writes, jobs, conflicts, paced, bound);
      }
    }
  }

  @Test
  void listingWritesPerJobAndConflictsWithEightProcessorsAreNoHigherThanWithTwo() throws Exception {
    Map<Integer, Counts> counts = new LinkedHashMap<>();
    for (int processors : new int[] {1, 2, 4, 8}) {
      counts.put(processors, hotSpot(processors));
      System.out.printf(
          "hot spot, %d processors: %s, writes per job %.4f%n",
          processors, counts.get(processors), counts.get(processors).writesPerJob());
    }
    // Without deletes, and with each account voting from one thread, the backlog's jobs are the
    // same whatever N is: the comparison is of the processors alone.
    assertThat(counts.values()).extracting(Counts::jobs).containsOnly(counts.get(1).jobs());
    Counts two = counts.get(2);
    Counts eight = counts.get(8);
    assertThat(eight.writesPerJob()).isLessThanOrEqualTo(two.writesPerJob());
    assertThat(eight.conflicts()).isLessThanOrEqualTo(two.conflicts());
    for (Counts c : counts.values()) {
      assertThat(c.conflicts()).isZero();
    }
  }
}

package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Thing;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A voter's process killed between its vote's COMMIT and the vote's listing moves (issue 11): the
 * vote is committed with its queue jobs, the cached listings never got the moves, and the listings
 * are right once the queue has run: within the processors' write interval plus their idle wait and
 * a stated margin, every listing in the cache equals a recompute from the database, the voted link
 * at its committed version.
 *
 * <p>The voter is a real second JVM ({@link VoterProcess}) that halts itself at the seam, so
 * nothing of it survives: no thread, no cache client, no pending work.
 */
class VoterCrashTest {
  static final int CAPACITY = 20;
  static final Duration WRITE_INTERVAL = Duration.ofMillis(100);
  static final Duration IDLE_WAIT = Duration.ofMillis(50);

  /**
   * On top of write interval + idle wait: a batch's own work (claim, a few statements, a publish)
   * on two cores shared with other test JVMs.
   */
  static final Duration MARGIN = Duration.ofSeconds(3);

  static final List<String> MOVED = List.of("sr:1:hot", "sr:1:top", "sr:1:controversial");

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

  @Test
  void aVoterKilledAfterCommitLeavesEveryListingRightOnceTheQueueHasRun() throws Exception {
    List<String> servers = memcached.cluster().servers();
    try (HikariDataSource ds = Pools.create(pg, "voter_crash", 8);
        VoteWorld w =
            new VoteWorld(ds, CAPACITY, ds, MemcachedCache.builder().servers(servers).build())) {
      List<Thing> links = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        links.add(
            w.votes.submit(
                w.db
                    .newThing(VoteWorld.LINK)
                    .set(VoteWorld.SR, 1L)
                    .set(VoteWorld.AUTHOR, 1L + i % 3)));
      }
      w.processors().build().drain();
      for (String key : MOVED) {
        assertThat(w.store.get(key)).as(key + " cached before the votes").isPresent();
      }

      List<Thing> voted = new ArrayList<>();
      for (int crash = 0; crash < 3; crash++) {
        Thing voter = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
        Thing link = links.get(crash * 3);
        Process p = voterProcess(servers, voter.id(), link.id());
        assertThat(p.exitValue()).as("the voter halted at the seam").isEqualTo(VoterProcess.HALTED);
        long committed =
            w.count(
                "select version from thing_link where thing_id = " + link.id() + " and ups = 1");
        assertThat(committed).as("the vote on " + link.id() + " committed").isPositive();
        assertThat(
                w.count("select count(*) from thingdb_listing_job where thing_id = " + link.id()))
            .as("with its jobs")
            .isEqualTo(MOVED.size());
        for (String key : MOVED) {
          assertThat(w.store.get(key).orElseThrow().entry(link.id()).orElseThrow().version())
              .as(
                  key
                      + " in the cache still holds "
                      + link.id()
                      + " at its version before the vote")
              .isLessThan(committed);
        }
        voted.add(link);
      }

      long started = System.nanoTime();
      Duration window = WRITE_INTERVAL.plus(IDLE_WAIT).plus(MARGIN);
      try (ListingProcessors p =
          w.processors().writeInterval(WRITE_INTERVAL).idleWait(IDLE_WAIT).build().start()) {
        String wrong;
        while ((wrong = firstWrongListing(w, voted)) != null
            && System.nanoTime() - started < window.toNanos()) {
          Thread.sleep(20);
        }
        assertThat(wrong)
            .as(
                "a listing the cache serves still differs from the database "
                    + Duration.ofNanos(System.nanoTime() - started).toMillis()
                    + " ms after the processors started (window "
                    + window.toMillis()
                    + " ms)")
            .isNull();
        assertThat(p.failures()).as("failed batches").isZero();
      }
    }
  }

  /** Starts a {@link VoterProcess} on this test's classpath and waits for it to end. */
  private static Process voterProcess(List<String> servers, long account, long link)
      throws Exception {
    Path log = Files.createTempFile("voter-process", ".log");
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                VoterProcess.class.getName(),
                pg.jdbcUrl("voter_crash"),
                String.join(",", servers),
                Integer.toString(CAPACITY),
                Long.toString(account),
                Long.toString(link),
                "1")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    boolean ended = p.waitFor(60, TimeUnit.SECONDS);
    if (!ended) {
      p.destroyForcibly();
    }
    String output = Files.readString(log);
    Files.delete(log);
    assertThat(ended).as("the voter process ended; its output:%n%s", output).isTrue();
    if (p.exitValue() != VoterProcess.HALTED) {
      throw new AssertionError(
          "the voter process exited with "
              + p.exitValue()
              + "; its output:"
              + File.separator
              + output);
    }
    return p;
  }

  /**
   * The first listing whose cached form (as readers get it, moves applied) differs from a recompute
   * in ids or sort values, or holds a voted link at another version than the database's; null if
   * none does.
   */
  private static String firstWrongListing(VoteWorld w, List<Thing> voted) throws Exception {
    Map<Long, VoteWorld.Row> rows = w.rows();
    for (String key : MOVED) {
      List<Listing.Entry> expected = w.recompute(key, rows);
      List<Listing.Entry> cached = w.store.get(key).orElseThrow().visible();
      if (!ids(cached).equals(ids(expected)) || !values(cached).equals(values(expected))) {
        return key + " is " + cached + ", the recompute " + expected;
      }
      for (Thing link : voted) {
        long version = w.count("select version from thing_link where thing_id = " + link.id());
        long held = w.store.get(key).orElseThrow().entry(link.id()).orElseThrow().version();
        if (held != version) {
          return key + " holds " + link.id() + " at version " + held + ", the database " + version;
        }
      }
    }
    return null;
  }

  private static List<Long> ids(List<Listing.Entry> entries) {
    return entries.stream().map(Listing.Entry::id).toList();
  }

  private static List<Double> values(List<Listing.Entry> entries) {
    return entries.stream().map(Listing.Entry::value).toList();
  }
}

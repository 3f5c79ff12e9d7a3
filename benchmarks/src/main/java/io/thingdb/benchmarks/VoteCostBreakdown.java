package io.thingdb.benchmarks;

import io.thingdb.core.Database;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.listings.ListingDefinition;
import io.thingdb.listings.ListingRouting;
import io.thingdb.listings.ListingStore;
import io.thingdb.listings.Votes;
import io.thingdb.testing.MemcachedCluster;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileLock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Where the CPU of a vote goes: the vote call alone (no processors running), with each of the
 * library's guarantees taken away in turn, next to the raw JDBC vote of {@link
 * VotePipelineBenchmark} in the same run. A workload harness (a {@code main}).
 *
 * <ul>
 *   <li>{@code full}: {@link Votes#cast} as the example configures it: the vote, the counts, the
 *       listing jobs, core's outbox rows; after COMMIT the cache write-through (thing patched, pair
 *       list published) and the listing moves.
 *   <li>{@code no listings}: the same with a routing that puts links in no listing: no jobs, no
 *       moves.
 *   <li>{@code no cache}: also without a cache: no outbox rows, no cache work after COMMIT.
 *   <li>{@code raw}: {@link VotePipelineBenchmark}'s plain JDBC vote on tables of its own (with its
 *       5 job rows), which no library code touches.
 * </ul>
 *
 * Each round runs every variant in turn, {@code threads} threads casting {@code votes} votes in all
 * on one embedded PostgreSQL and one memcached, each variant with seeds of its own (so no variant
 * repeats another's votes); the first round warms the JVM up and is not reported. Reported per
 * vote: the CPU of this JVM, of PostgreSQL and of memcached ({@link ProcessCpuProfiler}), and the
 * wall time per vote of one client thread; the median and range of the rounds.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.thingdb.benchmarks.VoteCostBreakdown [rounds=3]
 * [votes=8000] [threads=4] [sync=off]}. Takes /tmp/jmh.lock like the other harnesses.
 */
public final class VoteCostBreakdown {
  private VoteCostBreakdown() {}

  /** A routing that puts every link in no listing. */
  private static final class NoListings implements ListingRouting {
    @Override
    public Collection<String> listingsOf(Thing thing) {
      return List.of();
    }

    @Override
    public ListingDefinition definition(String key) {
      throw new IllegalArgumentException("no listings: " + key);
    }
  }

  /** One way of casting a vote; returns whether it changed anything. */
  @FunctionalInterface
  private interface Voter {
    boolean vote(long account, long link, int direction) throws Exception;
  }

  /** Per variant and round: JVM, PostgreSQL, memcached CPU per vote and wall per vote, in us. */
  private record Sample(double jvm, double postgres, double cache, double wall) {}

  public static void main(String[] args) throws Exception {
    Map<String, String> defaults = new LinkedHashMap<>();
    defaults.put("rounds", "3");
    defaults.put("votes", "8000");
    defaults.put("threads", "4");
    defaults.put("sync", "off");
    Map<String, String> options = Harness.options(args, defaults);
    int rounds = Integer.parseInt(options.get("rounds"));
    int votes = Integer.parseInt(options.get("votes"));
    int threads = Integer.parseInt(options.get("threads"));
    try (RandomAccessFile lockFile = new RandomAccessFile("/tmp/jmh.lock", "rw");
        FileLock lock = Boolean.getBoolean("jmh.ignoreLock") ? null : lockFile.getChannel().lock();
        BenchPostgres pg = BenchPostgres.start(options.get("sync"));
        MemcachedCluster memcached = MemcachedCluster.start(1)) {
      System.out.println("PostgreSQL: " + pg.settings());
      VotePipelineBenchmark pipeline = new VotePipelineBenchmark(options, pg, memcached);
      try (VotePipelineBenchmark.World w = pipeline.new World("cost", threads + 4, true);
          VotePipelineBenchmark.World raw = pipeline.new World("cost_raw", threads + 4, false);
          ThingDb bare =
              ThingDb.builder()
                  .database("main", Database.of(w.pool))
                  .type(VotePipelineBenchmark.ACCOUNT, "main")
                  .type(VotePipelineBenchmark.LINK, "main")
                  .relation(VotePipelineBenchmark.VOTE, "main")
                  .noCache()
                  .build();
          ListingStore bareStore = ListingStore.builder(w.pool).build();
          Votes noListings =
              Votes.builder(w.db, w.pool, VotePipelineBenchmark.VOTE, new NoListings(), w.store)
                  .build();
          Votes noCache =
              Votes.builder(bare, w.pool, VotePipelineBenchmark.VOTE, new NoListings(), bareStore)
                  .build()) {
        Map<String, Voter> variants = new LinkedHashMap<>();
        variants.put("full", (a, l, d) -> w.votes.cast(a, l, d).changed());
        variants.put("no listings", (a, l, d) -> noListings.cast(a, l, d).changed());
        variants.put("no cache", (a, l, d) -> noCache.cast(a, l, d).changed());
        variants.put("raw", raw::rawVote);
        Map<String, List<Sample>> samples = new LinkedHashMap<>();
        for (int round = 0; round <= rounds; round++) {
          int v = 0;
          for (Map.Entry<String, Voter> e : variants.entrySet()) {
            VotePipelineBenchmark.World world = e.getKey().equals("raw") ? raw : w;
            Sample s = run(world, e.getValue(), votes, threads, 1000L * round + 100L * v++);
            System.out.printf(
                Locale.ROOT,
                "round %d %-12s CPU per vote: jvm %5.0f us, postgres %5.0f us, memcached %4.0f us;"
                    + " wall %5.0f us per vote and thread%n",
                round,
                e.getKey(),
                s.jvm(),
                s.postgres(),
                s.cache(),
                s.wall());
            if (round > 0) {
              samples.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(s);
            }
          }
        }
        System.out.println("\nmedian [range] of rounds 1.." + rounds + ", per vote:");
        for (Map.Entry<String, List<Sample>> e : samples.entrySet()) {
          List<Sample> list = e.getValue();
          System.out.printf(
              Locale.ROOT,
              "%-12s jvm %s  postgres %s  memcached %s  total %s  wall %s%n",
              e.getKey(),
              summary(list.stream().mapToDouble(Sample::jvm).toArray()),
              summary(list.stream().mapToDouble(Sample::postgres).toArray()),
              summary(list.stream().mapToDouble(Sample::cache).toArray()),
              summary(list.stream().mapToDouble(s -> s.jvm() + s.postgres() + s.cache()).toArray()),
              summary(list.stream().mapToDouble(Sample::wall).toArray()));
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot take /tmp/jmh.lock: " + e.getMessage(), e);
    }
  }

  private static Sample run(
      VotePipelineBenchmark.World w, Voter voter, int votes, int threads, long seed)
      throws Exception {
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    List<Thread> running = new ArrayList<>();
    long[] before = ProcessCpuProfiler.sampleNow();
    long start = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      long threadSeed = seed + t;
      Thread th =
          new Thread(
              () -> {
                SplittableRandom r = new SplittableRandom(threadSeed);
                try {
                  for (int i = 0; i < votes / threads; i++) {
                    long account = w.accounts.get(r.nextInt(w.accounts.size()));
                    long link = w.links.get(r.nextInt(w.links.size()));
                    voter.vote(account, link, r.nextInt(3) - 1);
                  }
                } catch (Throwable e) {
                  failures.add(e);
                }
              },
              "cost-voter-" + t);
      running.add(th);
      th.start();
    }
    for (Thread th : running) {
      th.join();
    }
    long wall = System.nanoTime() - start;
    long[] after = ProcessCpuProfiler.sampleNow();
    if (!failures.isEmpty()) {
      throw new IllegalStateException("a voter failed", failures.peek());
    }
    double n = (double) (votes / threads) * threads;
    return new Sample(
        (after[0] - before[0]) / 1e3 / n,
        (after[1] - before[1]) / 1e3 / n,
        (after[2] - before[2]) / 1e3 / n,
        wall / 1e3 / (n / threads));
  }

  private static String summary(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return String.format(
        Locale.ROOT,
        "%4.0f [%.0f-%.0f]",
        sorted[sorted.length / 2],
        sorted[0],
        sorted[sorted.length - 1]);
  }
}

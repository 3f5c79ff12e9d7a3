package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingProcessors;
import io.thingdb.listings.ListingReader;
import io.thingdb.listings.Sorts;
import io.thingdb.listings.TimeWindow;
import io.thingdb.listings.Votes;
import io.thingdb.testing.MemcachedCluster;
import java.awt.Color;
import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisPoolConfig;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;

/**
 * ThingDB's vote pipeline next to the design most teams would build instead (issue 11), in one run
 * on one PostgreSQL build and settings: a workload harness ({@code main}), not JMH.
 *
 * <h2>The peer: PostgreSQL + Redis sorted sets</h2>
 *
 * The vote is written in PostgreSQL in one transaction on the peer's own plain tables ({@code
 * peer_vote}: one row per (account, link) with its direction; {@code peer_link}: ups, downs, date,
 * subreddit, author and a row version): insert the vote row if missing, read it {@code FOR UPDATE},
 * stop if the direction is unchanged (an idempotent re-vote, as {@link Votes#cast}), update it,
 * {@code update peer_link set ups = ups + ?, downs = downs + ?, version = version + 1 returning
 * ...}, COMMIT. After COMMIT the voter computes the link's hot, top and controversial values from
 * the counts that UPDATE returned ({@link Sorts}, the functions ThingDB's listings use) and sends,
 * in one pipelined round trip (Jedis), {@code ZADD} of the link into its subreddit's {@code hot},
 * {@code top} and {@code controversial} sorted sets and its author's {@code submitted} set (by
 * date), each followed by {@code ZREMRANGEBYRANK key 0 -1001} to keep the 1,000 highest.
 *
 * <p>A page of 25 is {@code ZREVRANGE key 0 24} and one {@code select ... where thing_id = any(?)}
 * of those links' rows from PostgreSQL (the peer keeps no copy of the rows in Redis: a hash per
 * link would cost every vote an {@code HSET} more), filtered on {@code deleted}/{@code spam}, in
 * listing order.
 *
 * <h2>Counting the peer's stale overwrites</h2>
 *
 * Two vote transactions on one link commit in one order, but their pipelines can reach Redis in the
 * other: the second {@code ZADD} then puts back the older score. Counted two ways:
 *
 * <ul>
 *   <li>during the run: the first command of each pipeline is {@code SET peer:ver:<link> <version>
 *       GET}, the row version the transaction's UPDATE returned. Redis runs the commands of one
 *       client's query buffer back to back (a pipeline of 9 short commands is one write of a few
 *       hundred bytes), so the version that {@code GET} returns is the one whose ZADDs are in the
 *       sets; when it is higher than the writer's own, this pipeline's ZADDs replace newer scores:
 *       a stale overwrite. The extra command is one of nine in a pipeline already sent, no extra
 *       round trip, and its reply is only counted, never acted on, so the peer behaves as without
 *       it.
 *   <li>after the run: each link's score in its subreddit's three sets against the score computed
 *       from its final PostgreSQL counts; a difference is a wrong score a reader would see.
 * </ul>
 *
 * <h2>What one round measures, per system, in rotated order</h2>
 *
 * <ul>
 *   <li>throughput: the workload of {@link VotePipelineBenchmark}'s {@code pipeline} mode (its
 *       links, accounts, seeds and directions): {@code threads} threads cast {@code votes} votes;
 *       the clock stops when every vote has returned and the listings show every vote (ThingDB: the
 *       queue has drained; the peer: at once, its ZADDs run in the vote call). Also the vote call's
 *       p50/p99 and CPU per vote: this JVM, PostgreSQL's processes, the cache servers ({@link
 *       ProcessCpuProfiler#sampleNow}), over the same interval, divided by the votes;
 *   <li>reads: {@code threads} threads read the first page of 25 of a random subreddit's {@code
 *       hot} listing for {@code readSeconds} after the throughput trial (ThingDB: {@link
 *       ListingReader#page} as the example blog calls it);
 *   <li>vote-to-visible: votes sent open-loop at {@code rate}/s for {@code seconds} on a fresh
 *       database (the seeds of {@link VotePipelineBenchmark}'s latency mode); for each vote that
 *       changed something, the time from the start of the vote call until a watcher, polling every
 *       2 ms, sees it: ThingDB, the link at (at least) the vote's version in the subreddit's cached
 *       {@code hot} listing ({@code ListingStore.get}); the peer, {@code peer:ver:<link>} at (at
 *       least) the vote's version, which is written in the same contiguous pipeline as the {@code
 *       hot} ZADD.
 * </ul>
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.thingdb.benchmarks.VotePeerComparison [rounds=3]
 * [votes=10000] [threads=4] [processors=2] [rate=500] [seconds=20] [readSeconds=5] [warmup=1]
 * [systems=thingdb,peer] [links=0] [sync=off] [out=FILE.json] [plot=FILE.png]}: {@code warmup}
 * rounds of both systems first, left out of the summary; {@code links=N} sends every vote to the
 * first N links (a diagnostic of the peer's race, not the comparison's workload). Takes {@code
 * /tmp/jmh.lock} as {@link VotePipelineBenchmark} does. Not thread-safe; one instance per process.
 */
public final class VotePeerComparison {
  private static final List<String> PEER_SORTS = List.of("hot", "top", "controversial");
  private static final int CAPACITY = Listing.DEFAULT_CAPACITY;
  private static final int PAGE = 25;

  private final Map<String, String> options;
  private final BenchPostgres pg;
  private final RedisServer redis;
  private final VotePipelineBenchmark thingdb;
  private int worlds;

  private VotePeerComparison(
      Map<String, String> options,
      BenchPostgres pg,
      MemcachedCluster memcached,
      RedisServer redis) {
    this.options = options;
    this.pg = pg;
    this.redis = redis;
    this.thingdb = new VotePipelineBenchmark(options, pg, memcached);
  }

  /** One system under test on a fresh database: ThingDB's or the peer's. */
  private interface Side extends AutoCloseable {
    /** The link's version after the vote, or -1 if the vote changed nothing. */
    long vote(long account, long link, int direction) throws Exception;

    /** Returns when the listings show every vote returned so far. */
    void settle();

    /** Wrong listing scores after the run, as readers get them. */
    long wrongScores();

    /** The version of {@code link} that a reader sees in subreddit {@code sr}'s hot listing. */
    long[] visibleVersions(long sr, List<Long> links);

    /** Reads the first page of 25 of subreddit {@code sr}'s hot listing; returns its size. */
    int readPage(long sr) throws Exception;

    /** Stale overwrites counted during the run (the peer's; ThingDB's are 0 by design). */
    long staleOverwrites();

    List<Long> links();

    List<Long> accounts();

    Map<Long, Long> srOf();

    @Override
    void close();
  }

  private final class ThingDbSide implements Side {
    final VotePipelineBenchmark.World w;
    ListingProcessors processors;
    final ListingReader reader;

    ThingDbSide(String name, int poolSize) {
      w = thingdb.new World(name, poolSize, true);
      processors = w.processors(intOption("processors")).start();
      reader =
          ListingReader.create(
              w.db,
              w.store,
              VotePipelineBenchmark.LINK,
              VotePipelineBenchmark.AUTHOR,
              Clock.systemUTC());
    }

    @Override
    public long vote(long account, long link, int direction) {
      Votes.Vote v = w.votes.cast(account, link, direction);
      return v.changed() ? v.version() : -1;
    }

    @Override
    public void settle() {
      while (w.count("select count(*) from thingdb_listing_job") > 0) {
        LockSupport.parkNanos(2_000_000);
      }
    }

    /** After {@link #settle}: stops the processors, as the pipeline benchmark does. */
    void stopProcessors() {
      if (processors != null) {
        processors.close();
        processors = null;
      }
    }

    @Override
    public long wrongScores() {
      return w.wrongEntries();
    }

    @Override
    public long[] visibleVersions(long sr, List<Long> links) {
      Optional<Listing> l = w.store.get("sr:" + sr + ":hot");
      long[] out = new long[links.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] =
            l.isEmpty() ? -1 : l.get().entry(links.get(i)).map(Listing.Entry::version).orElse(-1L);
      }
      return out;
    }

    @Override
    public int readPage(long sr) {
      return reader.page("sr:" + sr + ":hot", null, PAGE, TimeWindow.ALL).items().size();
    }

    @Override
    public long staleOverwrites() {
      return 0;
    }

    @Override
    public List<Long> links() {
      return w.links;
    }

    @Override
    public List<Long> accounts() {
      return w.accounts;
    }

    @Override
    public Map<Long, Long> srOf() {
      return w.srOf;
    }

    @Override
    public void close() {
      Harness.closeInOrder(processors, w);
    }
  }

  private final class PeerSide implements Side {
    final HikariDataSource pool;
    final JedisPool jedis;
    final List<Long> links = new ArrayList<>();
    final List<Long> accounts = new ArrayList<>();
    final Map<Long, Long> srOf = new HashMap<>();
    final AtomicLong stale = new AtomicLong();

    PeerSide(String name, int poolSize) {
      pg.execute("create database " + name);
      HikariConfig config = new HikariConfig();
      config.setJdbcUrl(pg.jdbcUrl("").replaceFirst("/postgres\\?", "/" + name + "?"));
      config.setUsername("postgres");
      config.setMaximumPoolSize(poolSize);
      config.setMinimumIdle(poolSize);
      config.setPoolName(name);
      pool = new HikariDataSource(config);
      JedisPoolConfig jc = new JedisPoolConfig();
      jc.setMaxTotal(poolSize);
      jc.setMaxIdle(poolSize);
      jc.setMinIdle(poolSize);
      jedis = new JedisPool(jc, "127.0.0.1", redis.port());
      try (Jedis j = jedis.getResource()) {
        j.flushAll();
      }
      populate();
    }

    /**
     * The links, dates and authors of {@link VotePipelineBenchmark.World}: same seed, same draws.
     */
    private void populate() {
      SplittableRandom r = new SplittableRandom(7);
      Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
      try (Connection c = pool.getConnection();
          Statement st = c.createStatement();
          Jedis j = jedis.getResource()) {
        st.execute(
            "create table peer_link (thing_id bigint primary key, ups int not null default 0,"
                + " downs int not null default 0, sr bigint not null, author bigint not null,"
                + " date_micros bigint not null, deleted bool not null default false,"
                + " spam bool not null default false, version bigint not null default 1)");
        st.execute(
            "create table peer_vote (account_id bigint not null, thing_id bigint not null,"
                + " dir smallint not null, primary key (account_id, thing_id))");
        Pipeline p = j.pipelined();
        try (PreparedStatement ps =
            c.prepareStatement(
                "insert into peer_link (thing_id, sr, author, date_micros) values (?, ?, ?, ?)")) {
          for (int i = 1; i <= VotePipelineBenchmark.LINKS; i++) {
            long sr = 1L + (i - 1) % VotePipelineBenchmark.SUBREDDITS;
            long author = 1L + r.nextInt(VotePipelineBenchmark.AUTHORS);
            Instant date = now.minusSeconds(r.nextInt(2 * 86_400));
            long micros = ChronoUnit.MICROS.between(Instant.EPOCH, date);
            ps.setLong(1, i);
            ps.setLong(2, sr);
            ps.setLong(3, author);
            ps.setLong(4, micros);
            ps.addBatch();
            links.add((long) i);
            srOf.put((long) i, sr);
            String member = Long.toString(i);
            p.set("peer:ver:" + i, "1");
            p.zadd("sr:" + sr + ":hot", Sorts.hot(0, 0, micros), member);
            p.zadd("sr:" + sr + ":top", Sorts.score(0, 0), member);
            p.zadd("sr:" + sr + ":controversial", Sorts.controversy(0, 0), member);
            p.zadd("user:" + author + ":submitted", Sorts.newSort(micros), member);
          }
          ps.executeBatch();
        }
        p.sync();
      } catch (SQLException e) {
        throw new IllegalStateException("creating the peer's tables failed: " + e.getMessage(), e);
      }
      for (long i = 1; i <= VotePipelineBenchmark.ACCOUNTS; i++) {
        accounts.add(i);
      }
    }

    @Override
    public long vote(long account, long link, int direction) throws SQLException {
      long sr;
      long author;
      long ups;
      long downs;
      long micros;
      long version;
      try (Connection c = pool.getConnection()) {
        c.setAutoCommit(false);
        try {
          int previous = VotePipelineBenchmark.setVoteRow(c, "peer_vote", account, link, direction);
          if (previous == direction) {
            c.rollback();
            return -1;
          }
          try (PreparedStatement ps =
              c.prepareStatement(
                  "update peer_link set ups = ups + ?, downs = downs + ?, version = version + 1"
                      + " where thing_id = ? returning sr, author, ups, downs, date_micros,"
                      + " version")) {
            ps.setInt(1, (direction == 1 ? 1 : 0) - (previous == 1 ? 1 : 0));
            ps.setInt(2, (direction == -1 ? 1 : 0) - (previous == -1 ? 1 : 0));
            ps.setLong(3, link);
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              sr = rs.getLong(1);
              author = rs.getLong(2);
              ups = rs.getLong(3);
              downs = rs.getLong(4);
              micros = rs.getLong(5);
              version = rs.getLong(6);
            }
          }
          c.commit();
        } catch (SQLException | RuntimeException e) {
          c.rollback();
          throw e;
        }
      }
      String member = Long.toString(link);
      try (Jedis j = jedis.getResource()) {
        Pipeline p = j.pipelined();
        Response<String> before = p.setGet("peer:ver:" + link, Long.toString(version));
        String prefix = "sr:" + sr + ":";
        p.zadd(prefix + "hot", Sorts.hot(ups, downs, micros), member);
        p.zremrangeByRank(prefix + "hot", 0, -CAPACITY - 1);
        p.zadd(prefix + "top", Sorts.score(ups, downs), member);
        p.zremrangeByRank(prefix + "top", 0, -CAPACITY - 1);
        p.zadd(prefix + "controversial", Sorts.controversy(ups, downs), member);
        p.zremrangeByRank(prefix + "controversial", 0, -CAPACITY - 1);
        p.zadd("user:" + author + ":submitted", Sorts.newSort(micros), member);
        p.zremrangeByRank("user:" + author + ":submitted", 0, -CAPACITY - 1);
        p.sync();
        String was = before.get();
        if (was != null && Long.parseLong(was) > version) {
          stale.incrementAndGet();
        }
      }
      return version;
    }

    @Override
    public void settle() {}

    @Override
    public long wrongScores() {
      long wrong = 0;
      try (Connection c = pool.getConnection();
          Statement st = c.createStatement();
          ResultSet rs =
              st.executeQuery("select thing_id, sr, ups, downs, date_micros from peer_link");
          Jedis j = jedis.getResource()) {
        Pipeline p = j.pipelined();
        List<double[]> expected = new ArrayList<>();
        List<Response<Double>> actual = new ArrayList<>();
        while (rs.next()) {
          String member = Long.toString(rs.getLong(1));
          String prefix = "sr:" + rs.getLong(2) + ":";
          long ups = rs.getLong(3);
          long downs = rs.getLong(4);
          expected.add(
              new double[] {
                Sorts.hot(ups, downs, rs.getLong(5)),
                Sorts.score(ups, downs),
                Sorts.controversy(ups, downs)
              });
          for (String s : PEER_SORTS) {
            actual.add(p.zscore(prefix + s, member));
          }
        }
        p.sync();
        for (int i = 0; i < expected.size(); i++) {
          for (int k = 0; k < PEER_SORTS.size(); k++) {
            Double got = actual.get(i * PEER_SORTS.size() + k).get();
            if (got == null || Double.compare(got, expected.get(i)[k]) != 0) {
              wrong++;
            }
          }
        }
      } catch (SQLException e) {
        throw new IllegalStateException("checking the peer's scores failed: " + e, e);
      }
      return wrong;
    }

    @Override
    public long[] visibleVersions(long sr, List<Long> ids) {
      try (Jedis j = jedis.getResource()) {
        List<String> got = j.mget(ids.stream().map(id -> "peer:ver:" + id).toArray(String[]::new));
        long[] out = new long[ids.size()];
        for (int i = 0; i < out.length; i++) {
          out[i] = got.get(i) == null ? -1 : Long.parseLong(got.get(i));
        }
        return out;
      }
    }

    @Override
    public int readPage(long sr) throws SQLException {
      List<String> ids;
      try (Jedis j = jedis.getResource()) {
        ids = j.zrevrange("sr:" + sr + ":hot", 0, PAGE - 1);
      }
      Map<Long, long[]> rows = new HashMap<>();
      try (Connection c = pool.getConnection();
          PreparedStatement ps =
              c.prepareStatement(
                  "select thing_id, ups, downs, sr, author, date_micros, version from peer_link"
                      + " where thing_id = any(?) and not deleted and not spam")) {
        Array array = c.createArrayOf("bigint", ids.stream().map(Long::valueOf).toArray());
        ps.setArray(1, array);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            rows.put(
                rs.getLong(1),
                new long[] {
                  rs.getLong(2),
                  rs.getLong(3),
                  rs.getLong(4),
                  rs.getLong(5),
                  rs.getLong(6),
                  rs.getLong(7)
                });
          }
        }
      }
      List<long[]> page = new ArrayList<>(ids.size());
      for (String id : ids) {
        long[] row = rows.get(Long.valueOf(id));
        if (row != null) {
          page.add(row);
        }
      }
      return page.size();
    }

    @Override
    public long staleOverwrites() {
      return stale.get();
    }

    @Override
    public List<Long> links() {
      return links;
    }

    @Override
    public List<Long> accounts() {
      return accounts;
    }

    @Override
    public Map<Long, Long> srOf() {
      return srOf;
    }

    @Override
    public void close() {
      Harness.closeInOrder(jedis, pool);
    }
  }

  /** One system's measurements in one round. */
  record Result(
      String system,
      int round,
      int order,
      int votes,
      long changed,
      double votesPerSecond,
      double voteP50Millis,
      double voteP99Millis,
      double cpuMicrosPerVote,
      double cpuJvmMicros,
      double cpuPostgresMicros,
      double cpuCacheMicros,
      long wrongScores,
      long staleOverwrites,
      double pagesPerSecond,
      double visibleP50Millis,
      double visibleP99Millis,
      double visibleMaxMillis,
      double achievedRate,
      long visibleMeasured,
      long latencyStaleOverwrites,
      long latencyWrongScores) {}

  private Side side(String system, int poolSize) {
    String name = "c" + (++worlds) + "_" + system;
    return system.equals("thingdb")
        ? new ThingDbSide(name, poolSize + intOption("processors"))
        : new PeerSide(name, poolSize);
  }

  private Result measure(String system, int round, int order) throws Exception {
    int votes = intOption("votes");
    int threads = intOption("threads");
    long changedCount;
    double votesPerSecond;
    double[] cpu = new double[4];
    long wrong;
    long stale;
    double pages;
    long[] callNanos = new long[votes / threads * threads];
    try (Side s = side(system, threads + 4)) {
      List<Long> targets = targets(s);
      AtomicLong changed = new AtomicLong();
      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      List<Thread> voters = new ArrayList<>();
      int share = votes / threads;
      long[] cpuStart = ProcessCpuProfiler.sampleNow();
      long start = System.nanoTime();
      for (int t = 0; t < threads; t++) {
        long seed = 1000L * round + t;
        int base = t * share;
        Thread th =
            new Thread(
                () -> {
                  SplittableRandom r = new SplittableRandom(seed);
                  try {
                    for (int i = 0; i < share; i++) {
                      long account = s.accounts().get(r.nextInt(s.accounts().size()));
                      long link = targets.get(r.nextInt(targets.size()));
                      int direction = r.nextInt(3) - 1;
                      long t0 = System.nanoTime();
                      long v = s.vote(account, link, direction);
                      callNanos[base + i] = System.nanoTime() - t0;
                      if (v >= 0) {
                        changed.incrementAndGet();
                      }
                    }
                  } catch (Throwable e) {
                    failures.add(e);
                  }
                },
                "voter-" + t);
        voters.add(th);
        th.start();
      }
      for (Thread th : voters) {
        th.join();
      }
      if (!failures.isEmpty()) {
        throw new IllegalStateException(system + ": a voter failed", failures.peek());
      }
      s.settle();
      long end = System.nanoTime();
      long[] cpuEnd = ProcessCpuProfiler.sampleNow();
      if (s instanceof ThingDbSide tdb) {
        tdb.stopProcessors();
      }
      changedCount = changed.get();
      votesPerSecond = votes / ((end - start) / 1e9);
      for (int i = 0; i < 4; i++) {
        cpu[i] = (cpuEnd[i] - cpuStart[i]) / 1e3 / votes;
      }
      wrong = s.wrongScores();
      stale = s.staleOverwrites();
      pages = reads(s);
    }
    Arrays.sort(callNanos);
    Visibility vis = visibility(system);
    Result res =
        new Result(
            system,
            round,
            order,
            votes,
            changedCount,
            votesPerSecond,
            VotePipelineBenchmark.pct(callNanos, 0.50),
            VotePipelineBenchmark.pct(callNanos, 0.99),
            cpu[3],
            cpu[0],
            cpu[1],
            cpu[2],
            wrong,
            stale,
            pages,
            vis.p50,
            vis.p99,
            vis.max,
            vis.achieved,
            vis.measured,
            vis.stale,
            vis.wrong);
    System.out.printf(
        Locale.ROOT,
        "round %d #%d %-7s: %,.0f votes/s (%,d changed), vote call p50 %.2f ms p99 %.2f ms,"
            + " CPU %.0f us/vote (jvm %.0f, postgres %.0f, cache %.0f), wrong scores %d,"
            + " stale overwrites %d, pages %,.0f/s; visible at %.0f/s: p50 %.2f ms p99 %.2f ms"
            + " max %.2f ms (%d measured; stale %d, wrong %d)%n",
        round,
        order,
        system,
        res.votesPerSecond(),
        res.changed(),
        res.voteP50Millis(),
        res.voteP99Millis(),
        res.cpuMicrosPerVote(),
        res.cpuJvmMicros(),
        res.cpuPostgresMicros(),
        res.cpuCacheMicros(),
        res.wrongScores(),
        res.staleOverwrites(),
        res.pagesPerSecond(),
        res.achievedRate(),
        res.visibleP50Millis(),
        res.visibleP99Millis(),
        res.visibleMaxMillis(),
        res.visibleMeasured(),
        res.latencyStaleOverwrites(),
        res.latencyWrongScores());
    return res;
  }

  private double reads(Side s) throws InterruptedException {
    int threads = intOption("threads");
    long duration = (long) (Double.parseDouble(options.get("readSeconds")) * 1e9);
    AtomicLong pages = new AtomicLong();
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    // Warm-up: every subreddit's page once, so neither side's first reads pay for a cold cache.
    for (long sr = 1; sr <= VotePipelineBenchmark.SUBREDDITS; sr++) {
      try {
        s.readPage(sr);
      } catch (Exception e) {
        throw new IllegalStateException("reading a page failed", e);
      }
    }
    List<Thread> readers = new ArrayList<>();
    long start = System.nanoTime();
    long end = start + duration;
    for (int t = 0; t < threads; t++) {
      long seed = 500L + t;
      Thread th =
          new Thread(
              () -> {
                SplittableRandom r = new SplittableRandom(seed);
                try {
                  while (System.nanoTime() < end) {
                    int n = s.readPage(1L + r.nextInt(VotePipelineBenchmark.SUBREDDITS));
                    if (n != PAGE) {
                      throw new IllegalStateException("a page of " + n + " things, not " + PAGE);
                    }
                    pages.incrementAndGet();
                  }
                } catch (Throwable e) {
                  failures.add(e);
                }
              },
              "reader-" + t);
      readers.add(th);
      th.start();
    }
    for (Thread th : readers) {
      th.join();
    }
    if (!failures.isEmpty()) {
      throw new IllegalStateException("a reader failed", failures.peek());
    }
    return pages.get() / ((System.nanoTime() - start) / 1e9);
  }

  private record Visibility(
      double p50, double p99, double max, double achieved, long measured, long stale, long wrong) {}

  private Visibility visibility(String system) throws Exception {
    int threads = intOption("threads");
    try (Side s = side(system, threads + 6)) {
      OpenLoopVisibility.Outcome o;
      try {
        o =
            OpenLoopVisibility.run(
                Double.parseDouble(options.get("rate")),
                intOption("seconds"),
                threads,
                s.accounts(),
                targets(s),
                s.srOf(),
                true,
                s::vote,
                s::visibleVersions);
      } catch (IllegalStateException e) {
        throw new IllegalStateException(system + ": " + e.getMessage(), e);
      }
      s.settle();
      long wrong = s.wrongScores();
      return new Visibility(
          o.percentileMillis(0.50),
          o.percentileMillis(0.99),
          o.maxMillis(),
          o.achievedRate(),
          o.nanos().length,
          s.staleOverwrites(),
          wrong);
    }
  }

  private int intOption(String name) {
    return Integer.parseInt(options.get(name));
  }

  /**
   * The links votes go to: all 500, or with {@code links=N} the first N (a few hot links, to make
   * the peer's race visible; a diagnostic, not the comparison's workload).
   */
  private List<Long> targets(Side s) {
    int n = intOption("links");
    return n <= 0 ? s.links() : s.links().subList(0, Math.min(n, s.links().size()));
  }

  /**
   * {@code warmup} rounds (numbered from {@code 1 - warmup} to 0, left out of the summary) warm
   * both JVM paths; then {@code rounds} rounds, each system once per round, the first system
   * alternating so that neither always runs on the warmer machine.
   */
  private List<Result> run() throws Exception {
    int rounds = intOption("rounds");
    List<String> systems = List.of(options.get("systems").split(","));
    for (String system : systems) {
      if (!system.equals("thingdb") && !system.equals("peer")) {
        throw new IllegalArgumentException(
            "systems must name thingdb and/or peer (was \"" + options.get("systems") + "\")");
      }
    }
    List<Result> all = new ArrayList<>();
    for (int round = 1 - intOption("warmup"); round <= rounds; round++) {
      List<String> order = new ArrayList<>(systems);
      java.util.Collections.rotate(order, Math.floorMod(round - 1, order.size()));
      for (int i = 0; i < order.size(); i++) {
        all.add(measure(order.get(i), round, i + 1));
      }
    }
    return all;
  }

  /** The metrics of the comparison: JSON name, label, accessor. */
  private record Metric(String name, String label, java.util.function.ToDoubleFunction<Result> f) {}

  private static final List<Metric> METRICS =
      List.of(
          new Metric("votesPerSecond", "votes/s, listings current", Result::votesPerSecond),
          new Metric("voteP50Millis", "vote call p50 ms", Result::voteP50Millis),
          new Metric("voteP99Millis", "vote call p99 ms", Result::voteP99Millis),
          new Metric("visibleP50Millis", "vote-to-visible p50 ms", Result::visibleP50Millis),
          new Metric("visibleP99Millis", "vote-to-visible p99 ms", Result::visibleP99Millis),
          new Metric("cpuMicrosPerVote", "CPU us/vote", Result::cpuMicrosPerVote),
          new Metric("pagesPerSecond", "page-of-25 reads/s", Result::pagesPerSecond));

  /** The measured (not warm-up) rounds' values of {@code system}. */
  private static double[] values(List<Result> all, String system, Metric m) {
    return all.stream()
        .filter(r -> r.system().equals(system) && r.round() >= 1)
        .mapToDouble(m.f())
        .toArray();
  }

  private static boolean bothMeasured(List<Result> all) {
    return all.stream().anyMatch(r -> r.system().equals("thingdb") && r.round() >= 1)
        && all.stream().anyMatch(r -> r.system().equals("peer") && r.round() >= 1);
  }

  private String json(List<Result> all) {
    StringBuilder b =
        VotePipelineBenchmark.jsonHead(VotePeerComparison.class, options, pg)
            .append(",\n  \"summary\": [\n");
    List<String> rows = new ArrayList<>();
    for (Metric m : bothMeasured(all) ? METRICS : List.<Metric>of()) {
      double[] t = values(all, "thingdb", m);
      double[] p = values(all, "peer", m);
      double tm = VotePipelineBenchmark.median(t);
      double pm = VotePipelineBenchmark.median(p);
      rows.add(
          String.format(
              Locale.ROOT,
              "    {\"metric\": \"%s\", \"thingdbMedian\": %.3f, \"thingdbMin\": %.3f,"
                  + " \"thingdbMax\": %.3f, \"peerMedian\": %.3f, \"peerMin\": %.3f,"
                  + " \"peerMax\": %.3f, \"thingdbOverPeer\": %.4f}",
              m.name(),
              tm,
              Arrays.stream(t).min().orElse(Double.NaN),
              Arrays.stream(t).max().orElse(Double.NaN),
              pm,
              Arrays.stream(p).min().orElse(Double.NaN),
              Arrays.stream(p).max().orElse(Double.NaN),
              tm / pm));
      System.out.println(rows.get(rows.size() - 1).trim());
    }
    b.append(String.join(",\n", rows)).append("\n  ],\n  \"trials\": [\n");
    rows.clear();
    for (Result r : all) {
      rows.add(
          String.format(
              Locale.ROOT,
              "    {\"system\": \"%s\", \"warmup\": %b, \"round\": %d, \"order\": %d, \"votes\": %d,"
                  + " \"changed\": %d, \"votesPerSecond\": %.1f, \"voteP50Millis\": %.3f,"
                  + " \"voteP99Millis\": %.3f, \"cpuMicrosPerVote\": %.1f, \"cpuJvmMicros\": %.1f,"
                  + " \"cpuPostgresMicros\": %.1f, \"cpuCacheServerMicros\": %.1f,"
                  + " \"wrongScores\": %d, \"staleOverwrites\": %d, \"pagesPerSecond\": %.1f,"
                  + " \"visibleP50Millis\": %.3f, \"visibleP99Millis\": %.3f,"
                  + " \"visibleMaxMillis\": %.3f, \"latencyAchievedRate\": %.1f,"
                  + " \"visibleMeasured\": %d, \"latencyStaleOverwrites\": %d,"
                  + " \"latencyWrongScores\": %d}",
              r.system(),
              r.round() < 1,
              r.round(),
              r.order(),
              r.votes(),
              r.changed(),
              r.votesPerSecond(),
              r.voteP50Millis(),
              r.voteP99Millis(),
              r.cpuMicrosPerVote(),
              r.cpuJvmMicros(),
              r.cpuPostgresMicros(),
              r.cpuCacheMicros(),
              r.wrongScores(),
              r.staleOverwrites(),
              r.pagesPerSecond(),
              r.visibleP50Millis(),
              r.visibleP99Millis(),
              r.visibleMaxMillis(),
              r.achievedRate(),
              r.visibleMeasured(),
              r.latencyStaleOverwrites(),
              r.latencyWrongScores()));
    }
    b.append(String.join(",\n", rows)).append("\n  ]\n}\n");
    return b.toString();
  }

  /** ThingDB's median over the peer's, per metric (1.0 = parity), as a bar chart. */
  private static void plot(List<Result> all, Path file) throws IOException {
    if (!bothMeasured(all)) {
      return;
    }
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    for (Metric m : METRICS) {
      double tm = VotePipelineBenchmark.median(values(all, "thingdb", m));
      double pm = VotePipelineBenchmark.median(values(all, "peer", m));
      data.addValue(1.0, "PostgreSQL + Redis (= 1)", m.label());
      data.addValue(tm / pm, "ThingDB / peer (median)", m.label());
    }
    JFreeChart chart =
        ChartFactory.createBarChart(
            "ThingDB vs PostgreSQL + Redis sorted sets (median of rounds, log scale)",
            null,
            "ratio",
            data,
            PlotOrientation.HORIZONTAL,
            true,
            false,
            false);
    org.jfree.chart.plot.CategoryPlot plot = chart.getCategoryPlot();
    org.jfree.chart.axis.LogarithmicAxis axis =
        new org.jfree.chart.axis.LogarithmicAxis(
            "ThingDB's median / the peer's (votes/s and reads/s: higher is better; ms and CPU:"
                + " lower is better)");
    axis.setRange(0.01, 100);
    plot.setRangeAxis(axis);
    plot.getRenderer().setSeriesPaint(0, new Color(200, 60, 50));
    plot.getRenderer().setSeriesPaint(1, new Color(40, 90, 170));
    plot.setBackgroundPaint(Color.WHITE);
    ChartUtils.saveChartAsPNG(new File(file.toString()), chart, 900, 500);
  }

  /**
   * Parses {@code key=value} arguments over the defaults, takes the JMH lock, starts PostgreSQL,
   * memcached and Redis, runs the rounds, writes the JSON (and the plot).
   */
  public static void main(String[] args) throws Exception {
    Map<String, String> defaults = new LinkedHashMap<>();
    defaults.put("rounds", "3");
    defaults.put("votes", "10000");
    defaults.put("threads", "4");
    defaults.put("processors", "2");
    defaults.put("rate", "500");
    defaults.put("seconds", "20");
    defaults.put("readSeconds", "5");
    defaults.put("warmup", "1");
    defaults.put("systems", "thingdb,peer");
    defaults.put("links", "0");
    defaults.put("sync", "off");
    defaults.put("out", "");
    defaults.put("plot", "");
    Map<String, String> options = Harness.options(args, defaults);
    try (RandomAccessFile lockFile = new RandomAccessFile("/tmp/jmh.lock", "rw");
        FileLock lock =
            Boolean.getBoolean("jmh.ignoreLock") ? null : lockFile.getChannel().lock()) {
      String json;
      List<Result> all;
      try (BenchPostgres pg = BenchPostgres.start(options.get("sync"));
          MemcachedCluster memcached = MemcachedCluster.start(1);
          RedisServer redis = RedisServer.start()) {
        System.out.println("PostgreSQL: " + pg.settings() + "; redis-server pid " + redis.pid());
        VotePeerComparison c = new VotePeerComparison(options, pg, memcached, redis);
        all = c.run();
        json = c.json(all);
      }
      if (!options.get("out").isEmpty()) {
        Files.writeString(Path.of(options.get("out")), json, StandardCharsets.UTF_8);
        System.out.println("wrote " + options.get("out"));
      } else {
        System.out.print(json);
      }
      if (!options.get("plot").isEmpty()) {
        plot(all, Path.of(options.get("plot")));
        System.out.println("wrote " + options.get("plot"));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot take /tmp/jmh.lock: " + e.getMessage(), e);
    }
  }
}

package io.thingdb.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Database;
import io.thingdb.core.Filter;
import io.thingdb.core.NewThing;
import io.thingdb.core.Prop;
import io.thingdb.core.RelationType;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingType;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingDefinition;
import io.thingdb.listings.ListingProcessors;
import io.thingdb.listings.ListingRouting;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.ListingStore;
import io.thingdb.listings.Votes;
import io.thingdb.testing.MemcachedCluster;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
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

/**
 * The vote pipeline end to end, a workload harness (a {@code main}, not JMH: the figure of merit
 * includes draining the queue, which a JMH iteration cannot wait for), with the raw baseline in the
 * same run.
 *
 * <h2>Throughput ({@code pipeline}, {@code hotspot})</h2>
 *
 * {@code threads} client threads cast {@code votes} votes as fast as they can, each a random
 * account (of 1,000) on a random link: of all 500 links in 5 subreddits ({@code pipeline}), or of
 * the 100 links of subreddit 1 only ({@code hotspot}); directions uniformly -1, 0, +1. The clock
 * stops when every vote has returned and the queue has drained (no dirty listing, no job), i.e. the
 * listings in the cache show every vote. Votes per second = votes / that time.
 *
 * <ul>
 *   <li>{@code thingdb}: {@link Votes#cast} (the vote relation, ups/downs, 5 listing jobs and the
 *       outbox rows in one transaction, the cache invalidations after COMMIT) while {@code
 *       processors} {@link ListingProcessors} threads (default settings) apply the jobs to the
 *       listings (capacity 1,000, so every link is in every listing of its subreddit) and publish
 *       them to memcached.
 *   <li>{@code raw}: the same vote transaction in plain JDBC on tables of its own, without
 *       listings: insert the (account, link) vote row if missing, read it {@code FOR UPDATE}, stop
 *       if the direction is unchanged, update it, {@code update ... set ups = ups + ?, downs =
 *       downs + ?} returning the link's subreddit and author, insert the 5 job rows, COMMIT. Nobody
 *       consumes the jobs.
 * </ul>
 *
 * <h2>Latency ({@code latency})</h2>
 *
 * Votes are sent open-loop at {@code rate} per second (spread over the client threads, each on a
 * fixed schedule) for {@code seconds}. For every vote that changed something, vote-to-visible is
 * the time from {@code cast} returning to a watcher thread seeing the link at (at least) the vote's
 * version in the subreddit's {@code hot} listing as the cache serves it ({@link ListingStore#get}),
 * polled every 2 ms.
 *
 * <p>Each trial runs in a database of its own on one embedded PostgreSQL 15 (zonky: fsync and
 * synchronous_commit off unless {@code sync=on}) and a memcached namespace of its own on one
 * memcached process. The harness takes JMH's machine-wide lock {@code /tmp/jmh.lock} (as JMH does,
 * with {@link FileChannel#lock}) so that no JMH run overlaps it, unless {@code
 * -Djmh.ignoreLock=true}.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.thingdb.benchmarks.VotePipelineBenchmark [runs=3]
 * [votes=10000] [threads=4] [processors=1,2,4] [hotspot=1,2,4,8] [rate=500] [seconds=20] [sync=off]
 * [out=FILE.json]}. Not thread-safe; one instance per process.
 */
public final class VotePipelineBenchmark {
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final Prop<Long> SR = Prop.int64("sr", 0);
  static final Prop<Long> AUTHOR = Prop.int64("author", 0);
  static final ThingType LINK = ThingType.named("link").props(SR, AUTHOR).build();
  static final RelationType VOTE = RelationType.named("vote").between(ACCOUNT, LINK).build();
  static final int LINKS = 500;
  static final int SUBREDDITS = 5;
  static final int AUTHORS = 50;
  static final int ACCOUNTS = 1000;
  static final List<String> SORTS = List.of("hot", "top", "new", "controversial");

  private final Map<String, String> options;
  private final BenchPostgres pg;
  private final MemcachedCluster memcached;
  private int trials;

  VotePipelineBenchmark(Map<String, String> options, BenchPostgres pg, MemcachedCluster memcached) {
    this.options = options;
    this.pg = pg;
    this.memcached = memcached;
  }

  /** The application routing: a link belongs to its subreddit's four listings and its author's. */
  static final class Routing implements ListingRouting {
    @Override
    public Collection<String> listingsOf(Thing thing) {
      List<String> keys = new ArrayList<>(5);
      for (String s : SORTS) {
        keys.add("sr:" + thing.get(SR) + ":" + s);
      }
      keys.add("user:" + thing.get(AUTHOR) + ":submitted:new");
      return keys;
    }

    @Override
    public ListingDefinition definition(String key) {
      String[] parts = key.split(":");
      long id = Long.parseLong(parts[1]);
      if (parts[0].equals("user")) {
        return new ListingDefinition(
            LINK, Filter.eq(AUTHOR, id), ListingSort.NEW, Listing.DEFAULT_CAPACITY);
      }
      ListingSort sort =
          switch (parts[2]) {
            case "hot" -> ListingSort.HOT;
            case "top" -> ListingSort.TOP;
            case "new" -> ListingSort.NEW;
            case "controversial" -> ListingSort.CONTROVERSIAL;
            default -> throw new IllegalArgumentException("unknown listing " + key);
          };
      return new ListingDefinition(LINK, Filter.eq(SR, id), sort, Listing.DEFAULT_CAPACITY);
    }
  }

  /** One trial's database, pool, cache and services. */
  final class World implements AutoCloseable {
    final HikariDataSource pool;
    final MemcachedCache cache;
    final ThingDb db;
    final ListingStore store;
    final Votes votes;
    final List<Long> links = new ArrayList<>();
    final Map<Long, Long> srOf = new HashMap<>();
    final List<Long> accounts = new ArrayList<>();

    World(String name, int poolSize, boolean thingdb) {
      pg.execute("create database " + name);
      HikariConfig config = new HikariConfig();
      config.setJdbcUrl(pg.jdbcUrl("").replaceFirst("/postgres\\?", "/" + name + "?"));
      config.setUsername("postgres");
      config.setMaximumPoolSize(poolSize);
      config.setMinimumIdle(poolSize);
      config.setPoolName(name);
      pool = new HikariDataSource(config);
      if (!thingdb) {
        cache = null;
        db = null;
        store = null;
        votes = null;
        createRaw();
        return;
      }
      cache = MemcachedCache.builder().servers(memcached.server(0)).namespace(name).build();
      db =
          ThingDb.builder()
              .database("main", Database.of(pool))
              .type(ACCOUNT, "main")
              .type(LINK, "main")
              .relation(VOTE, "main")
              .cache(cache)
              .build();
      store = ListingStore.builder(pool).cache(cache).build();
      votes = Votes.builder(db, pool, VOTE, new Routing(), store).build();
      SplittableRandom r = new SplittableRandom(7);
      Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
      List<NewThing> batch = new ArrayList<>();
      for (int i = 0; i < LINKS; i++) {
        batch.add(
            db.newThing(LINK)
                .set(SR, 1L + i % SUBREDDITS)
                .set(AUTHOR, 1L + r.nextInt(AUTHORS))
                .date(now.minusSeconds(r.nextInt(2 * 86_400))));
      }
      for (Thing t : votes.submitAll(null, batch)) {
        links.add(t.id());
        srOf.put(t.id(), t.get(SR));
      }
      List<NewThing> people = new ArrayList<>();
      for (int i = 0; i < ACCOUNTS; i++) {
        people.add(db.newThing(ACCOUNT));
      }
      for (Thing t : db.createAll(people)) {
        accounts.add(t.id());
      }
      try (ListingProcessors p = processors(1)) {
        p.drain();
      }
    }

    private void createRaw() {
      try (Connection c = pool.getConnection();
          Statement st = c.createStatement()) {
        st.execute(
            "create table raw_link (thing_id bigint primary key, ups int not null default 0,"
                + " downs int not null default 0, sr bigint not null, author bigint not null)");
        st.execute(
            "create table raw_vote (account_id bigint not null, thing_id bigint not null,"
                + " dir smallint not null, primary key (account_id, thing_id))");
        st.execute(
            "create table raw_job (id bigserial primary key, listing_key text not null,"
                + " thing_id bigint not null, created_at timestamptz not null default now())");
        SplittableRandom r = new SplittableRandom(7);
        try (PreparedStatement ps =
            c.prepareStatement("insert into raw_link (thing_id, sr, author) values (?, ?, ?)")) {
          for (int i = 1; i <= LINKS; i++) {
            ps.setLong(1, i);
            ps.setLong(2, 1L + (i - 1) % SUBREDDITS);
            ps.setLong(3, 1L + r.nextInt(AUTHORS));
            ps.addBatch();
            links.add((long) i);
            srOf.put((long) i, 1L + (i - 1) % SUBREDDITS);
          }
          ps.executeBatch();
        }
      } catch (SQLException e) {
        throw new IllegalStateException("creating the raw tables failed: " + e.getMessage(), e);
      }
      for (long i = 1; i <= ACCOUNTS; i++) {
        accounts.add(i);
      }
    }

    ListingProcessors processors(int n) {
      return ListingProcessors.builder(db, pool, store, new Routing()).threads(n).build();
    }

    /** The raw vote transaction; returns whether anything changed. */
    boolean rawVote(long account, long thing, int direction) throws SQLException {
      try (Connection c = pool.getConnection()) {
        c.setAutoCommit(false);
        try {
          int previous = setVoteRow(c, "raw_vote", account, thing, direction);
          if (previous == direction) {
            c.rollback();
            return false;
          }
          long sr;
          long author;
          try (PreparedStatement ps =
              c.prepareStatement(
                  "update raw_link set ups = ups + ?, downs = downs + ?"
                      + " where thing_id = ? returning sr, author")) {
            ps.setInt(1, (direction == 1 ? 1 : 0) - (previous == 1 ? 1 : 0));
            ps.setInt(2, (direction == -1 ? 1 : 0) - (previous == -1 ? 1 : 0));
            ps.setLong(3, thing);
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              sr = rs.getLong(1);
              author = rs.getLong(2);
            }
          }
          String[] keys = new String[5];
          for (int i = 0; i < 4; i++) {
            keys[i] = "sr:" + sr + ":" + SORTS.get(i);
          }
          keys[4] = "user:" + author + ":submitted:new";
          try (PreparedStatement ps =
              c.prepareStatement(
                  "insert into raw_job (listing_key, thing_id)"
                      + " select k, ? from unnest(?::text[]) k")) {
            ps.setLong(1, thing);
            ps.setArray(2, c.createArrayOf("text", keys));
            ps.executeUpdate();
          }
          c.commit();
          return true;
        } catch (SQLException | RuntimeException e) {
          c.rollback();
          throw e;
        }
      }
    }

    long count(String sql) {
      try (Connection c = pool.getConnection();
          Statement st = c.createStatement();
          ResultSet rs = st.executeQuery(sql)) {
        rs.next();
        return rs.getLong(1);
      } catch (SQLException e) {
        throw new IllegalStateException(sql + ": " + e.getMessage(), e);
      }
    }

    /**
     * Every subreddit listing, as the cache serves it, holds every link at its database version.
     */
    void checkListingsCurrent() {
      long wrong = wrongEntries();
      if (wrong > 0) {
        throw new IllegalStateException(
            wrong + " subreddit listing entries differ from the database (see stderr)");
      }
    }

    /**
     * Entries of the subreddit listings, as readers get them from the cache, that differ from the
     * database: a link missing, a sort value other than the one its committed counts give, or, in
     * the listings a vote moves (hot, top, controversial), a version other than its committed one.
     * The {@code new} listings keep the version of the link's last change that moved it, since a
     * vote does not change a link's date.
     */
    long wrongEntries() {
      Map<Long, Thing> fresh = new HashMap<>();
      for (Thing t : db.getLatest(LINK, links)) {
        fresh.put(t.id(), t);
      }
      Routing routing = new Routing();
      long wrong = 0;
      for (int sr = 1; sr <= SUBREDDITS; sr++) {
        for (String s : SORTS) {
          String key = "sr:" + sr + ":" + s;
          ListingDefinition def = routing.definition(key);
          Listing l =
              store.get(key).orElseThrow(() -> new IllegalStateException("no listing " + key));
          if (l.size() != LINKS / SUBREDDITS) {
            System.err.println(
                key + " holds " + l.size() + " links, expected " + LINKS / SUBREDDITS);
            wrong += Math.abs(LINKS / SUBREDDITS - l.size());
          }
          for (Listing.Entry e : l.entries()) {
            Thing t = fresh.get(e.id());
            double expected = def.sort().value(t);
            boolean versionWrong = def.movesWithVotes() && e.version() != t.version();
            if (Double.compare(e.value(), expected) != 0 || versionWrong) {
              wrong++;
              System.err.printf(
                  Locale.ROOT,
                  "%s holds link %d at version %d value %s; the database: version %d value %s%n",
                  key,
                  e.id(),
                  e.version(),
                  e.value(),
                  t.version(),
                  expected);
            }
          }
        }
      }
      return wrong;
    }

    @Override
    public void close() {
      if (votes != null) {
        votes.close();
        store.close();
        db.close();
        cache.close();
      }
      pool.close();
    }
  }

  /** One throughput trial. */
  record Trial(
      String mode,
      String backend,
      int processors,
      int run,
      int votes,
      long changed,
      double seconds,
      double votesPerSecond,
      long drainMillis,
      long listingWrites,
      long jobs) {}

  /** One latency trial. */
  record Latency(
      int processors,
      double rate,
      int sent,
      long measured,
      double achievedRate,
      double p50Millis,
      double p90Millis,
      double p99Millis,
      double maxMillis,
      long listingWrites) {}

  private Trial throughput(String mode, String backend, int processors, int run) throws Exception {
    int votes = intOption("votes");
    int threads = intOption("threads");
    boolean hot = mode.equals("hotspot");
    String name = "t" + (++trials) + "_" + mode + "_" + backend + "_" + processors;
    try (World w = new World(name, threads + processors + 4, backend.equals("thingdb"))) {
      List<Long> targets =
          hot ? w.links.stream().filter(id -> w.srOf.get(id) == 1L).toList() : w.links;
      ListingProcessors p = backend.equals("thingdb") ? w.processors(processors).start() : null;
      AtomicLong changed = new AtomicLong();
      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      List<Thread> voters = new ArrayList<>();
      long start = System.nanoTime();
      for (int t = 0; t < threads; t++) {
        long seed = 1000L * run + t;
        int share = votes / threads;
        Thread th =
            new Thread(
                () -> {
                  SplittableRandom r = new SplittableRandom(seed);
                  try {
                    for (int i = 0; i < share; i++) {
                      long account = w.accounts.get(r.nextInt(w.accounts.size()));
                      long link = targets.get(r.nextInt(targets.size()));
                      int direction = r.nextInt(3) - 1;
                      boolean did =
                          p == null
                              ? w.rawVote(account, link, direction)
                              : w.votes.cast(account, link, direction).changed();
                      if (did) {
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
      long voted = System.nanoTime();
      if (!failures.isEmpty()) {
        throw new IllegalStateException("a voter failed", failures.peek());
      }
      long writes = 0;
      long jobs = 0;
      if (p != null) {
        try {
          while (w.count("select count(*) from thingdb_listing_job") > 0) {
            LockSupport.parkNanos(2_000_000);
          }
        } finally {
          p.close();
        }
        writes = p.listingWrites();
        jobs = p.jobsApplied();
      }
      long end = System.nanoTime();
      if (p != null) {
        w.checkListingsCurrent();
      }
      double seconds = (end - start) / 1e9;
      Trial trial =
          new Trial(
              mode,
              backend,
              processors,
              run,
              votes,
              changed.get(),
              seconds,
              votes / seconds,
              (end - voted) / 1_000_000,
              writes,
              jobs);
      System.out.printf(
          Locale.ROOT,
          "%-8s %-7s processors=%d run=%d: %,d votes (%,d changed) in %.2f s = %,.0f"
              + " votes/s; drained %d ms after the last vote; %,d listing writes for %,d jobs%n",
          mode,
          backend,
          processors,
          run,
          votes,
          changed.get(),
          seconds,
          votes / seconds,
          trial.drainMillis(),
          writes,
          jobs);
      return trial;
    }
  }

  private Latency latency(int processors) throws Exception {
    String name = "t" + (++trials) + "_latency_" + processors;
    int threads = intOption("threads");
    try (World w = new World(name, threads + processors + 6, true);
        ListingProcessors p = w.processors(processors).start()) {
      OpenLoopVisibility.Outcome o =
          OpenLoopVisibility.run(
              Double.parseDouble(options.get("rate")),
              intOption("seconds"),
              threads,
              w.accounts,
              w.links,
              w.srOf,
              false,
              (account, link, direction) -> {
                Votes.Vote v = w.votes.cast(account, link, direction);
                return v.changed() ? v.version() : -1;
              },
              (sr, links) -> {
                Optional<Listing> l = w.store.get("sr:" + sr + ":hot");
                long[] out = new long[links.size()];
                for (int i = 0; i < out.length; i++) {
                  out[i] =
                      l.isEmpty()
                          ? -1
                          : l.get().entry(links.get(i)).map(Listing.Entry::version).orElse(-1L);
                }
                return out;
              });
      Latency out =
          new Latency(
              processors,
              Double.parseDouble(options.get("rate")),
              (int) o.sent(),
              o.nanos().length,
              o.achievedRate(),
              o.percentileMillis(0.50),
              o.percentileMillis(0.90),
              o.percentileMillis(0.99),
              o.maxMillis(),
              p.listingWrites());
      System.out.printf(
          Locale.ROOT,
          "latency processors=%d: %,d votes sent at %.0f/s (target %.0f), %,d measured:"
              + " p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; %,d listing writes%n",
          processors,
          out.sent(),
          out.achievedRate(),
          out.rate(),
          out.measured(),
          out.p50Millis(),
          out.p90Millis(),
          out.p99Millis(),
          out.maxMillis(),
          out.listingWrites());
      return out;
    }
  }

  /**
   * The start of a vote harness's result file, up to the machine line without its comma: the
   * harness, when it finished, its options, the PostgreSQL settings and the machine.
   */
  static StringBuilder jsonHead(Class<?> harness, Map<String, String> options, BenchPostgres pg) {
    StringBuilder b = new StringBuilder("{\n");
    b.append("  \"benchmark\": \"").append(harness.getName()).append("\",\n");
    b.append("  \"finished\": \"").append(Instant.now()).append("\",\n");
    b.append("  \"options\": {");
    int i = 0;
    for (Map.Entry<String, String> e : options.entrySet()) {
      b.append(i++ == 0 ? "" : ", ")
          .append('"')
          .append(e.getKey())
          .append("\": \"")
          .append(e.getValue())
          .append('"');
    }
    b.append("},\n  \"postgres\": \"").append(pg.settings()).append("\",\n");
    return b.append("  \"machine\": \"")
        .append(Runtime.getRuntime().availableProcessors())
        .append(" cpus, java ")
        .append(System.getProperty("java.version"))
        .append('"');
  }

  /**
   * The plain-JDBC vote row both baselines write ({@code raw_vote} here, {@code peer_vote} in
   * {@link VotePeerComparison}), in the caller's transaction: inserts the (account, thing) row of
   * {@code table} if missing, locks it {@code FOR UPDATE}, and sets its direction unless it already
   * is {@code direction}.
   *
   * @return the direction before; equal to {@code direction} if nothing was changed
   */
  static int setVoteRow(Connection c, String table, long account, long thing, int direction)
      throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "insert into "
                + table
                + " (account_id, thing_id, dir) values (?, ?, 0)"
                + " on conflict do nothing")) {
      ps.setLong(1, account);
      ps.setLong(2, thing);
      ps.executeUpdate();
    }
    int previous;
    try (PreparedStatement ps =
        c.prepareStatement(
            "select dir from " + table + " where account_id = ? and thing_id = ? for update")) {
      ps.setLong(1, account);
      ps.setLong(2, thing);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        previous = rs.getInt(1);
      }
    }
    if (previous != direction) {
      try (PreparedStatement ps =
          c.prepareStatement(
              "update " + table + " set dir = ? where account_id = ? and thing_id = ?")) {
        ps.setInt(1, direction);
        ps.setLong(2, account);
        ps.setLong(3, thing);
        ps.executeUpdate();
      }
    }
    return previous;
  }

  static double pct(long[] sorted, double q) {
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
  }

  static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private int intOption(String name) {
    return Integer.parseInt(options.get(name));
  }

  private static int[] ints(String csv) {
    return csv.isBlank()
        ? new int[0]
        : Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private String run() throws Exception {
    int runs = intOption("runs");
    List<Trial> all = new ArrayList<>();
    for (int run = 1; run <= runs; run++) {
      for (String mode : List.of("pipeline", "hotspot")) {
        int[] ps = ints(options.get(mode.equals("pipeline") ? "processors" : "hotspot"));
        if (ps.length == 0) {
          continue;
        }
        all.add(throughput(mode, "raw", 0, run));
        for (int p : ps) {
          all.add(throughput(mode, "thingdb", p, run));
        }
      }
    }
    List<Latency> latencies = new ArrayList<>();
    for (int p : ints(options.get("latency"))) {
      latencies.add(latency(p));
    }
    return json(all, latencies);
  }

  private String json(List<Trial> all, List<Latency> latencies) {
    StringBuilder b = jsonHead(VotePipelineBenchmark.class, options, pg).append(",\n");
    b.append("  \"summary\": [\n");
    List<String> rows = new ArrayList<>();
    Map<String, List<Trial>> groups = new LinkedHashMap<>();
    for (Trial t : all) {
      if (t.backend().equals("thingdb")) {
        groups.computeIfAbsent(t.mode() + "/" + t.processors(), k -> new ArrayList<>()).add(t);
      }
    }
    for (List<Trial> g : groups.values()) {
      Trial first = g.get(0);
      double[] ours = g.stream().mapToDouble(Trial::votesPerSecond).toArray();
      double[] ratios =
          g.stream()
              .mapToDouble(
                  t ->
                      t.votesPerSecond()
                          / all.stream()
                              .filter(
                                  r ->
                                      r.backend().equals("raw")
                                          && r.mode().equals(t.mode())
                                          && r.run() == t.run())
                              .findFirst()
                              .orElseThrow()
                              .votesPerSecond())
              .toArray();
      double[] raw =
          all.stream()
              .filter(r -> r.backend().equals("raw") && r.mode().equals(first.mode()))
              .mapToDouble(Trial::votesPerSecond)
              .toArray();
      rows.add(
          String.format(
              Locale.ROOT,
              "    {\"mode\": \"%s\", \"processors\": %d, \"runs\": %d,"
                  + " \"thingdbVotesPerSecondMedian\": %.1f, \"thingdbMin\": %.1f, \"thingdbMax\": %.1f,"
                  + " \"rawVotesPerSecondMedian\": %.1f, \"ratioMedian\": %.4f, \"ratioMin\": %.4f, \"ratioMax\": %.4f}",
              first.mode(),
              first.processors(),
              g.size(),
              median(ours),
              Arrays.stream(ours).min().orElseThrow(),
              Arrays.stream(ours).max().orElseThrow(),
              median(raw),
              median(ratios),
              Arrays.stream(ratios).min().orElseThrow(),
              Arrays.stream(ratios).max().orElseThrow()));
      System.out.println(rows.get(rows.size() - 1).trim());
    }
    b.append(String.join(",\n", rows)).append("\n  ],\n  \"trials\": [\n");
    rows.clear();
    for (Trial t : all) {
      rows.add(
          String.format(
              Locale.ROOT,
              "    {\"mode\": \"%s\", \"backend\": \"%s\", \"processors\": %d, \"run\": %d,"
                  + " \"votes\": %d, \"changed\": %d, \"seconds\": %.3f, \"votesPerSecond\": %.1f, \"drainMillis\": %d,"
                  + " \"listingWrites\": %d, \"jobs\": %d}",
              t.mode(),
              t.backend(),
              t.processors(),
              t.run(),
              t.votes(),
              t.changed(),
              t.seconds(),
              t.votesPerSecond(),
              t.drainMillis(),
              t.listingWrites(),
              t.jobs()));
    }
    b.append(String.join(",\n", rows)).append("\n  ],\n  \"latency\": [\n");
    rows.clear();
    for (Latency l : latencies) {
      rows.add(
          String.format(
              Locale.ROOT,
              "    {\"processors\": %d, \"targetRate\": %.0f, \"achievedRate\": %.1f,"
                  + " \"sent\": %d, \"measured\": %d, \"p50Millis\": %.2f, \"p90Millis\": %.2f, \"p99Millis\": %.2f,"
                  + " \"maxMillis\": %.2f, \"listingWrites\": %d}",
              l.processors(),
              l.rate(),
              l.achievedRate(),
              l.sent(),
              l.measured(),
              l.p50Millis(),
              l.p90Millis(),
              l.p99Millis(),
              l.maxMillis(),
              l.listingWrites()));
    }
    b.append(String.join(",\n", rows)).append("\n  ]\n}\n");
    return b.toString();
  }

  /**
   * Parses {@code key=value} arguments over the defaults, takes the JMH lock, runs, writes the
   * JSON.
   */
  public static void main(String[] args) throws Exception {
    Map<String, String> defaults = new LinkedHashMap<>();
    defaults.put("runs", "3");
    defaults.put("votes", "10000");
    defaults.put("threads", "4");
    defaults.put("processors", "1,2,4");
    defaults.put("hotspot", "1,2,4,8");
    defaults.put("latency", "1,2,4");
    defaults.put("rate", "500");
    defaults.put("seconds", "20");
    defaults.put("sync", "off");
    defaults.put("out", "");
    Map<String, String> options = Harness.options(args, defaults);
    try (RandomAccessFile lockFile = new RandomAccessFile("/tmp/jmh.lock", "rw");
        FileLock lock =
            Boolean.getBoolean("jmh.ignoreLock") ? null : lockFile.getChannel().lock()) {
      String json;
      try (BenchPostgres pg = BenchPostgres.start(options.get("sync"));
          MemcachedCluster memcached = MemcachedCluster.start(1)) {
        System.out.println("PostgreSQL: " + pg.settings());
        json = new VotePipelineBenchmark(options, pg, memcached).run();
      }
      if (!options.get("out").isEmpty()) {
        Files.writeString(Path.of(options.get("out")), json, StandardCharsets.UTF_8);
        System.out.println("wrote " + options.get("out"));
      } else {
        System.out.print(json);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot take /tmp/jmh.lock: " + e.getMessage(), e);
    }
  }
}

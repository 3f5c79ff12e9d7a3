package io.thingdb.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The cluster workload (issue 12): drives the example blog's cluster through its load balancer with
 * open-loop arrivals (Poisson at {@code --rate} per second: a request starts when it is due,
 * whether or not earlier ones have answered, and its latency counts from when it was due), Zipf
 * popularity over the posts, a reddit-like mix of anonymous and logged-in page views, votes on
 * posts and comments, comments and submissions; runs a fault schedule ({@link ClusterFaults})
 * meanwhile; samples every instance's {@code /metrics} and every PostgreSQL server ({@link
 * ClusterMetrics}); then checks the invariants and writes JSON and plots.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.thingdb.benchmarks.ClusterWorkload \
 *   --base http://127.0.0.1:18080/ --rate 20 --duration 600 --schedule default \
 *   --cluster-home examples/cluster/run --out-dir benchmarks/results/2026-12-05-cluster --name full
 * </pre>
 *
 * <p>Flags (all optional but {@code --base}): {@code --rate} arrivals per second (20), {@code
 * --duration} seconds (600), {@code --schedule} {@code default}, {@code short}, {@code none} or
 * {@code "OFFSET:NAME ARGS;..."}, {@code --fault-command} (examples/cluster/fault), {@code --users}
 * logged-in accounts (40), {@code --logged-in-share} of arrivals (0.3), {@code --min-posts} posts
 * to have before the run (200), {@code --concurrency} request threads (96), {@code --seed} (42),
 * {@code --page-cache-ttl} the blog's anonymous page TTL in seconds (5), {@code --edge-header} the
 * header HAProxy sets on its cache hits and misses (X-Edge-Cache), {@code --metrics name=URL,...}
 * (default: the contract's ports), {@code --pg name=JDBC_URL,...}, {@code --links-db} and {@code
 * --comments-db} JDBC URLs of the primaries (multi-host, targetServerType=primary), {@code
 * --memcached-file} (the cluster's server list, for P3 and P5 via the cache), {@code
 * --cluster-home} (reads {@code cluster.json} there for what is not given), {@code --out-dir} and
 * {@code --name}.
 *
 * <p>Thread-safety: {@link #run} is called once per instance; the request threads share the tallies
 * through concurrent collections.
 */
public final class ClusterWorkload {
  /** What one request was. */
  enum Kind {
    FRONT,
    COMMUNITY,
    PERMALINK,
    PERMALINK_JSON,
    NEW_JSON,
    VOTE_LINK,
    VOTE_COMMENT,
    COMMENT,
    SUBMIT,
    READBACK
  }

  /**
   * One finished request.
   *
   * @param dueMillis epoch milliseconds when it was due (open loop)
   * @param latencyMicros from due to the last byte of the answer
   * @param status HTTP status, 0 when the connection failed
   * @param kind what it was
   * @param loggedIn whether it carried a session
   * @param edge the edge cache's verdict: 1 hit, 0 miss, -1 no header
   * @param pageCache the blog's X-Page-Cache header, or null
   */
  record Rec(
      long dueMillis,
      long latencyMicros,
      int status,
      Kind kind,
      boolean loggedIn,
      int edge,
      String pageCache) {}

  /** A logged-in user: the session cookie and CSRF token, and the last read-your-writes cookie. */
  static final class User {
    final String name;
    final String session;
    final String csrf;
    volatile String rw;

    User(BlogWorkload.User u) {
      this.name = u.name();
      this.session = u.cookie();
      this.csrf = u.csrf();
    }

    String cookies(String rwCookie) {
      return rwCookie == null ? session : session + "; " + rwCookie;
    }
  }

  /**
   * The run's settings. Immutable.
   *
   * @param base the load balancer's base URL
   * @param rate arrivals per second
   * @param durationSeconds length of the measured run
   * @param faults the fault schedule
   * @param faultCommand the cluster's fault command
   * @param users logged-in accounts
   * @param loggedInShare share of arrivals from logged-in users
   * @param minPosts posts to have before the run (submitted if fewer)
   * @param concurrency request threads
   * @param seed of everything random
   * @param pageCacheTtlSeconds the blog's anonymous page-cache TTL
   * @param edgeHeader the header the edge cache sets (hit/miss)
   * @param metrics instance name to its /metrics URL
   * @param pg PostgreSQL server name to JDBC URL (sampled each second)
   * @param linksDb JDBC URL of the links primary (checks), or null to skip them
   * @param commentsDb JDBC URL of the comments primary (checks), or null
   * @param memcachedFile the memcached servers file, or null
   * @param outDir where JSON and plots go, or null for none
   * @param name the files' base name
   */
  public record Settings(
      URI base,
      double rate,
      int durationSeconds,
      List<ClusterFaults.Fault> faults,
      Path faultCommand,
      int users,
      double loggedInShare,
      int minPosts,
      int concurrency,
      long seed,
      int pageCacheTtlSeconds,
      String edgeHeader,
      Map<String, URI> metrics,
      Map<String, String> pg,
      String linksDb,
      String commentsDb,
      Path memcachedFile,
      Path outDir,
      String name,
      Path clusterHome) {
    /** Validates. */
    public Settings {
      Objects.requireNonNull(base, "base URL");
      if (!(rate > 0) || rate > 10_000) {
        throw new IllegalArgumentException("rate must be in (0, 10000] per second: " + rate);
      }
      if (durationSeconds < 5) {
        throw new IllegalArgumentException("duration must be at least 5 s: " + durationSeconds);
      }
      if (users < 1 || loggedInShare < 0 || loggedInShare > 1 || concurrency < 1) {
        throw new IllegalArgumentException(
            "users >= 1, logged-in share in [0, 1], concurrency >= 1: "
                + users
                + ", "
                + loggedInShare
                + ", "
                + concurrency);
      }
      faults = List.copyOf(faults);
      metrics = Collections.unmodifiableMap(new LinkedHashMap<>(metrics));
      pg = Collections.unmodifiableMap(new LinkedHashMap<>(pg));
      Objects.requireNonNull(name, "name");
    }
  }

  /**
   * What a run found.
   *
   * @param json everything, as written to the JSON file
   * @param checks every check
   * @param jsonFile the file written, or null
   */
  public record Report(Map<String, Object> json, List<ClusterChecks.Check> checks, Path jsonFile) {
    /** Whether every check passed. */
    public boolean passed() {
      return checks.stream().allMatch(ClusterChecks.Check::pass);
    }

    /** Each failed check as {@code name: failures of checked (detail)}; empty if all passed. */
    public List<String> failedChecks() {
      List<String> out = new ArrayList<>();
      for (ClusterChecks.Check c : checks) {
        if (!c.pass()) {
          out.add(c.name() + ": " + c.failures() + " of " + c.checked() + " (" + c.detail() + ")");
        }
      }
      return out;
    }

    /** How many checks ran. */
    public int checkCount() {
      return checks.size();
    }
  }

  private static final Pattern NAME = Pattern.compile("\"name\":\"(t[34]_[a-z0-9]+)\"");
  private static final Pattern PERMALINK = Pattern.compile("\"permalink\":\"([^\"]+)\"");

  private final Settings s;
  private final ConcurrentLinkedQueue<Rec> recs = new ConcurrentLinkedQueue<>();
  private final Map<String, List<String>> commentsOf = new ConcurrentHashMap<>();
  private final List<long[]> ackedComments = new CopyOnWriteArrayList<>(); // id, ack millis
  private final AtomicLong rywChecked = new AtomicLong();
  private final AtomicLong rywMissed = new AtomicLong();
  private final AtomicLong rywReadFailed = new AtomicLong();
  private final ConcurrentLinkedQueue<String> rywMisses = new ConcurrentLinkedQueue<>();

  /** Ids of the comments whose read-back missed them. */
  private final Set<Long> rywMissedComments = ConcurrentHashMap.newKeySet();

  /** Ids of acknowledged comments the comments primary does not have after the run. */
  private volatile Set<Long> lostComments = Set.of();

  private final AtomicLong dropped = new AtomicLong();
  private final AtomicInteger zipfNext = new AtomicInteger();
  private List<BlogWorkload.Post> posts;
  private int[] zipf;
  private List<User> users;
  private List<String> communities;
  private final List<double[]> probes = new CopyOnWriteArrayList<>(); // t_s, ms (NaN: timeout)
  private BlogWorkload.Post probePost;
  private User probeVoter;
  private User probeReader;
  private final ThreadLocal<MiniHttp> http = new ThreadLocal<>();
  private final ThreadLocal<Long> lastUse = new ThreadLocal<>();
  private final List<MiniHttp> connections = new CopyOnWriteArrayList<>();

  private ClusterWorkload(Settings s) {
    this.s = s;
  }

  /** Entry point; see the class comment. */
  public static void main(String[] argv) throws Exception {
    Report r = run(settings(BlogWorkload.flags(argv)));
    System.exit(r.passed() ? 0 : 1);
  }

  /**
   * The settings from command-line flags (see the class comment), e.g. for a test: {@code
   * fromFlags("--duration", "150", "--schedule", "short", "--out-dir", dir)}; what is not given
   * comes from {@code cluster.json} in {@code --cluster-home} and the defaults.
   *
   * @throws IllegalArgumentException naming a bad flag
   * @throws IOException if cluster.json cannot be read
   */
  public static Settings fromFlags(String... argv) throws IOException {
    return settings(BlogWorkload.flags(argv));
  }

  /** Runs the workload with its faults, checks and (with an out dir) writes the results. */
  public static Report run(Settings s) throws Exception {
    return new ClusterWorkload(s).go();
  }

  // ------------------------------------------------------------------ settings from flags

  static Settings settings(Map<String, String> a) throws IOException {
    Path home = Path.of(a.getOrDefault("cluster-home", "examples/cluster/run"));
    Map<String, Object> cluster = Map.of();
    Path clusterJson = home.resolve("cluster.json");
    if (Files.isRegularFile(clusterJson)) {
      Object parsed = MiniJson.parse(Files.readString(clusterJson));
      if (parsed instanceof Map<?, ?> m) {
        @SuppressWarnings("unchecked")
        Map<String, Object> mm = (Map<String, Object>) m;
        cluster = mm;
      }
    }
    String schedule = a.getOrDefault("schedule", "default");
    List<ClusterFaults.Fault> faults =
        ClusterFaults.parse(
            switch (schedule) {
              case "default" -> ClusterFaults.DEFAULT_SCHEDULE;
              case "short" -> ClusterFaults.SHORT_SCHEDULE;
              default -> schedule;
            });
    Map<String, URI> metrics = new LinkedHashMap<>();
    if (a.containsKey("metrics")) {
      for (Map.Entry<String, String> e : pairs(a.get("metrics")).entrySet()) {
        metrics.put(e.getKey(), URI.create(e.getValue()));
      }
    } else {
      int[] ports = {18101, 18102, 18103, 18111, 18112, 18121};
      String[] names = {"web1", "web2", "web3", "processors1", "processors2", "recompute1"};
      for (int i = 0; i < ports.length; i++) {
        metrics.put(names[i], URI.create("http://127.0.0.1:" + ports[i] + "/metrics"));
      }
    }
    Map<String, String> pg =
        a.containsKey("pg") ? pairs(a.get("pg")) : ClusterConfig.pgServers(cluster);
    String links = a.getOrDefault("links-db", ClusterConfig.jdbc(cluster, "links"));
    String comments = a.getOrDefault("comments-db", ClusterConfig.jdbc(cluster, "comments"));
    String mcFile =
        a.getOrDefault(
            "memcached-file", cluster.get("memcached_servers_file") instanceof String f ? f : null);
    Path memcachedFile =
        mcFile != null
            ? Path.of(mcFile)
            : Files.isRegularFile(home.resolve("memcached.servers"))
                ? home.resolve("memcached.servers")
                : null;
    return new Settings(
        URI.create(
            a.getOrDefault("base", cluster.get("http") instanceof String h ? h : null) == null
                ? BlogWorkload.require(a, "base")
                : a.getOrDefault("base", (String) cluster.get("http"))),
        Double.parseDouble(a.getOrDefault("rate", "20")),
        BlogWorkload.intFlag(a, "duration", 600),
        faults,
        Path.of(a.getOrDefault("fault-command", "examples/cluster/fault")),
        BlogWorkload.intFlag(a, "users", 40),
        Double.parseDouble(a.getOrDefault("logged-in-share", "0.3")),
        BlogWorkload.intFlag(a, "min-posts", 200),
        BlogWorkload.intFlag(a, "concurrency", 96),
        Long.parseLong(a.getOrDefault("seed", "42")),
        BlogWorkload.intFlag(a, "page-cache-ttl", 5),
        a.getOrDefault("edge-header", "X-Edge-Cache"),
        metrics,
        pg,
        links,
        comments,
        memcachedFile,
        a.containsKey("out-dir") ? Path.of(a.get("out-dir")) : null,
        a.getOrDefault("name", "cluster"),
        home.toAbsolutePath());
  }

  /** {@code name=value,name=value}; values may hold '=' (JDBC URLs) but not ','. */
  static Map<String, String> pairs(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String p : text.split(",")) {
      int eq = p.indexOf('=');
      if (eq < 1) {
        throw new IllegalArgumentException(
            "expected name=value, got '" + p + "' in '" + text + "'");
      }
      out.put(p.substring(0, eq).trim(), p.substring(eq + 1).trim());
    }
    return out;
  }

  // ------------------------------------------------------------------ the run

  private Report go() throws Exception {
    System.err.printf("cluster workload: preparing against %s%n", s.base());
    prepare();
    ClusterMetrics metrics = new ClusterMetrics(s.metrics(), s.pg());
    Thread sampler = new Thread(metrics::run, "cluster-metrics");
    sampler.setDaemon(true);
    ClusterFaults faults = new ClusterFaults(s.faultCommand(), s.faults(), s.clusterHome());
    ThreadPoolExecutor pool =
        (ThreadPoolExecutor)
            Executors.newFixedThreadPool(
                s.concurrency(),
                r -> {
                  Thread t = new Thread(r, "cluster-request");
                  t.setDaemon(true);
                  return t;
                });
    sampler.start();
    TimeUnit.SECONDS.sleep(2); // a baseline sample before the first request
    long startNanos = System.nanoTime();
    long startMillis = System.currentTimeMillis();
    long stopNanos = startNanos + TimeUnit.SECONDS.toNanos(s.durationSeconds());
    Thread faultThread =
        new Thread(
            () -> {
              try {
                faults.run(startNanos, stopNanos);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "cluster-faults");
    faultThread.setDaemon(true);
    faultThread.start();
    Thread probeThread =
        new Thread(() -> probe(startNanos, startMillis, stopNanos), "cluster-probe");
    probeThread.setDaemon(true);
    probeThread.start();
    System.err.printf(
        "cluster workload: %.0f arrivals/s for %d s, %d faults scheduled%n",
        s.rate(), s.durationSeconds(), s.faults().size());
    arrivals(pool, startNanos, startMillis, stopNanos);
    pool.shutdown();
    if (!pool.awaitTermination(90, TimeUnit.SECONDS)) {
      pool.shutdownNow();
    }
    long endMillis = System.currentTimeMillis();
    faultThread.join(TimeUnit.MINUTES.toMillis(5));
    probeThread.join(TimeUnit.SECONDS.toMillis(30));
    for (MiniHttp c : connections) {
      c.close();
    }

    List<ClusterChecks.Check> checks = new ArrayList<>();
    Map<String, Object> failover = new LinkedHashMap<>();
    long queueLeft = -1;
    if (s.linksDb() != null && s.commentsDb() != null) {
      ClusterChecks db = new ClusterChecks(s.linksDb(), s.commentsDb(), memcachedServers());
      queueLeft = guard(checks, "listing queues drain", () -> db.drainQueues(180), -1L);
      System.err.printf("cluster workload: listing queues drained (%d jobs left)%n", queueLeft);
      // P3 "after the windows": every cache TTL and lease the faults touched has run out by now.
      TimeUnit.SECONDS.sleep(Math.max(0, s.pageCacheTtlSeconds()));
      checks.add(
          guard(checks, "P1 post votes", () -> db.p1("P1 post votes = vote rows", true), null));
      checks.add(
          guard(
              checks,
              "P1 comment votes",
              () -> db.p1("P1 comment votes = vote rows", false),
              null));
      checks.addAll(guard(checks, "P5 listings", db::p5, List.of()));
      checks.addAll(guard(checks, "P3 cache vs db", db::p3, List.of()));
      checks.removeIf(Objects::isNull);
      Map<String, Object> lost =
          guard(checks, "failover loss", () -> failoverLoss(db, faults.done(), startMillis), null);
      failover = lost == null ? failover : lost;
    }
    sampler.interrupt();
    sampler.join(10_000);

    List<Rec> all = new ArrayList<>(recs);
    all.sort((x, y) -> Long.compare(x.dueMillis(), y.dueMillis()));
    List<ClusterFaults.Done> done = faults.done();
    checks.add(faultsCheck(done));
    checks.add(rywCheck());
    checks.add(serverErrorsCheck(all, done));
    checks.add(hotKeyCheck(all, done));
    checks.add(edgePrivacyCheck(all));
    if (queueLeft > 0) {
      checks.add(
          new ClusterChecks.Check(
              "listing queues drained", queueLeft, queueLeft, false, "jobs left after 180 s"));
    }

    Map<String, Object> json =
        report(all, metrics.samples(), done, checks, failover, startMillis, endMillis);
    Path file = null;
    if (s.outDir() != null) {
      Files.createDirectories(s.outDir());
      file = s.outDir().resolve(s.name() + ".json");
      Files.writeString(file, JsonOut.write(json), StandardCharsets.UTF_8);
      ClusterPlots.write(s.outDir(), s.name(), json);
    }
    System.out.println("checks:");
    for (ClusterChecks.Check c : checks) {
      System.out.println("  " + c.line());
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> summary = (Map<String, Object>) json.get("summary");
    System.out.println("summary: " + summary);
    if (!failover.isEmpty()) {
      System.out.println("failover: " + failover);
    }
    if (file != null) {
      System.out.println("results: " + file + " and " + s.name() + "-*.png in " + s.outDir());
    }
    return new Report(json, checks, file);
  }

  private interface CheckWork<T> {
    T run() throws Exception;
  }

  /**
   * Runs one check's work; if it throws (a database the faults left down, say), the check is
   * recorded as failed with the exception's message, and {@code otherwise} is returned, so that the
   * other checks still run and the run's data is still written.
   */
  private static <T> T guard(
      List<ClusterChecks.Check> checks, String name, CheckWork<T> work, T otherwise)
      throws InterruptedException {
    try {
      return work.run();
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      System.err.println("check " + name + " could not run: " + e);
      checks.add(new ClusterChecks.Check(name, 0, 1, false, "could not run: " + e));
      return otherwise;
    }
  }

  private List<String> memcachedServers() throws IOException {
    if (s.memcachedFile() == null) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(s.memcachedFile())) {
      String t = line.trim();
      if (!t.isEmpty() && !t.startsWith("#")) {
        out.add(t);
      }
    }
    return out;
  }

  private void prepare() throws Exception {
    // The load balancer answers /healthz itself once it runs; give a starting cluster 3 minutes.
    long ready = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    while (true) {
      try (MiniHttp h = new MiniHttp(s.base())) {
        if (h.get("/healthz").status() == 200 && h.get("/?cw=ready").status() == 200) {
          break;
        }
      } catch (UncheckedIOException e) {
        if (System.nanoTime() > ready) {
          throw new IllegalStateException(s.base() + " did not answer for 3 minutes", e);
        }
      }
      if (System.nanoTime() > ready) {
        throw new IllegalStateException(s.base() + " did not answer 200 for 3 minutes");
      }
      TimeUnit.SECONDS.sleep(1);
    }
    users = new ArrayList<>();
    for (BlogWorkload.User u : BlogWorkload.loginAll(s.base(), s.users(), true)) {
      users.add(new User(u));
    }
    communities = BlogWorkload.communities(s.base());
    try (MiniHttp h = new MiniHttp(s.base())) {
      probeVoter = new User(BlogWorkload.signupOrLogin(h, "probe0"));
      probeReader = new User(BlogWorkload.signupOrLogin(h, "probe1"));
      probePost =
          BlogWorkload.submit(
              h,
              new BlogWorkload.User(probeVoter.name, probeVoter.session, probeVoter.csrf),
              communities.get(0),
              "Vote-to-visible probe " + System.currentTimeMillis(),
              "",
              "The workload's probe votes on this post; nothing else does.");
    }
    List<BlogWorkload.Post> found =
        BlogWorkload.discoverPosts(s.base(), "&cw=" + System.nanoTime());
    if (found.size() < s.minPosts()) {
      int missing = s.minPosts() - found.size();
      System.err.printf("cluster workload: submitting %d posts%n", missing);
      try (MiniHttp h = new MiniHttp(s.base())) {
        Random rnd = new Random(s.seed());
        for (int i = 0; i < missing; i++) {
          User u = users.get(rnd.nextInt(users.size()));
          String c = communities.get(i % communities.size());
          BlogWorkload.submit(
              h,
              new BlogWorkload.User(u.name, u.session, u.csrf),
              c,
              "Cluster post " + i + " about " + c,
              i % 4 == 0 ? "" : "https://example.com/cluster/" + s.seed() + "/" + i,
              i % 4 == 0 ? "A text post, number " + i + "." : "");
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      do {
        TimeUnit.MILLISECONDS.sleep(500);
        found = BlogWorkload.discoverPosts(s.base(), "&cw=" + System.nanoTime());
      } while (found.size() < s.minPosts() && System.nanoTime() < deadline);
    }
    posts = found.stream().filter(p -> !p.name().equals(probePost.name())).toList();
    zipf = Keys.zipfSequence(posts.size(), 1 << 16, s.seed());
    // The comments of the most popular posts, to vote on.
    try (MiniHttp h = new MiniHttp(s.base())) {
      Set<Integer> seen = new java.util.HashSet<>();
      for (int i = 0; i < 2000 && seen.size() < 40; i++) {
        int p = zipf[i];
        if (seen.add(p)) {
          BlogWorkload.Post post = posts.get(p);
          MiniHttp.Response r = h.get(post.permalink() + ".json?cw=1");
          if (r.status() == 200) {
            Matcher m = NAME.matcher(r.text());
            while (m.find()) {
              if (m.group(1).startsWith("t4_")) {
                commentsOf
                    .computeIfAbsent(post.name(), k -> new CopyOnWriteArrayList<>())
                    .add(m.group(1));
              }
            }
          }
        }
      }
    }
    System.err.printf(
        "cluster workload: %d users, %d posts, %d communities, comments known on %d posts%n",
        users.size(), posts.size(), communities.size(), commentsOf.size());
  }

  private void arrivals(ExecutorService pool, long startNanos, long startMillis, long stopNanos)
      throws InterruptedException {
    SplittableRandom rnd = new SplittableRandom(s.seed());
    double meanGapNanos = 1e9 / s.rate();
    long due = startNanos;
    long seq = 0;
    ThreadPoolExecutor tpe = (ThreadPoolExecutor) pool;
    while (true) {
      due += (long) (-Math.log(1 - rnd.nextDouble()) * meanGapNanos);
      if (due >= stopNanos) {
        return;
      }
      long wait = due - System.nanoTime();
      if (wait > 0) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      long dueNanos = due;
      long dueMillis = startMillis + (due - startNanos) / 1_000_000;
      long opSeed = s.seed() * 1_000_003L + seq++;
      if (tpe.getQueue().size() > s.concurrency() * 20) {
        dropped.incrementAndGet(); // the cluster is far behind: do not queue without bound
        continue;
      }
      pool.execute(() -> operation(new SplittableRandom(opSeed), dueNanos, dueMillis));
    }
  }

  private MiniHttp conn() {
    MiniHttp h = http.get();
    if (h == null) {
      h = new MiniHttp(s.base());
      http.set(h);
      connections.add(h);
    }
    // HAProxy closes a client connection idle for its client timeout (30 s); a POST written onto
    // such a connection fails without having reached an instance. A thread's connection idle for
    // 10 s is closed here instead (the next request opens a new one).
    long now = System.nanoTime();
    Long last = lastUse.get();
    if (last != null && now - last > TimeUnit.SECONDS.toNanos(10)) {
      h.close();
    }
    lastUse.set(now);
    return h;
  }

  private BlogWorkload.Post zipfPost() {
    return posts.get(zipf[zipfNext.getAndIncrement() & (zipf.length - 1)]);
  }

  private void operation(SplittableRandom rnd, long dueNanos, long dueMillis) {
    boolean loggedIn = rnd.nextDouble() < s.loggedInShare();
    User user = loggedIn ? users.get(rnd.nextInt(users.size())) : null;
    if (loggedIn) {
      double r = rnd.nextDouble();
      if (r < 0.20) {
        voteLink(rnd, user, dueNanos, dueMillis);
        return;
      } else if (r < 0.28) {
        voteComment(rnd, user, dueNanos, dueMillis);
        return;
      } else if (r < 0.36) {
        comment(rnd, user, dueNanos, dueMillis);
        return;
      } else if (r < 0.38) {
        submit(rnd, user, dueNanos, dueMillis);
        return;
      }
    }
    double v = rnd.nextDouble();
    Kind kind;
    String path;
    if (v < 0.35) {
      kind = Kind.FRONT;
      path = "/";
    } else if (v < 0.50) {
      kind = Kind.COMMUNITY;
      String c = communities.get(rnd.nextInt(communities.size()));
      path = rnd.nextInt(4) == 0 ? "/r/" + c + "/new" : "/r/" + c + "/";
    } else if (v < 0.80) {
      kind = Kind.PERMALINK;
      path = zipfPost().permalink();
    } else if (v < 0.90) {
      kind = Kind.PERMALINK_JSON;
      path = zipfPost().permalink() + ".json";
    } else {
      kind = Kind.NEW_JSON;
      path = "/new.json";
    }
    if (user == null) {
      request(kind, false, dueNanos, dueMillis, h -> h.get(path));
    } else {
      request(kind, true, dueNanos, dueMillis, h -> h.get(path, "Cookie", user.cookies(user.rw)));
    }
  }

  private interface Call {
    MiniHttp.Response send(MiniHttp h);
  }

  /** Sends, records, and returns the answer (null when the connection failed). */
  private MiniHttp.Response request(
      Kind kind, boolean loggedIn, long dueNanos, long dueMillis, Call call) {
    MiniHttp.Response r;
    try {
      r = call.send(conn());
    } catch (UncheckedIOException e) {
      recs.add(
          new Rec(dueMillis, (System.nanoTime() - dueNanos) / 1000, 0, kind, loggedIn, -1, null));
      return null;
    }
    String edge = r.header(s.edgeHeader());
    int edgeHit = edge == null ? -1 : edge.toUpperCase(Locale.ROOT).contains("HIT") ? 1 : 0;
    recs.add(
        new Rec(
            dueMillis,
            (System.nanoTime() - dueNanos) / 1000,
            r.status(),
            kind,
            loggedIn,
            edgeHit,
            r.header("X-Page-Cache")));
    return r;
  }

  private static String rwCookie(MiniHttp.Response r, String before) {
    String set = r.header("Set-Cookie");
    if (set == null) {
      return before;
    }
    for (String line : set.split("\n")) {
      if (line.startsWith("blog_rw=")) {
        int semi = line.indexOf(';');
        return semi < 0 ? line : line.substring(0, semi);
      }
    }
    return before;
  }

  private void voteLink(SplittableRandom rnd, User u, long dueNanos, long dueMillis) {
    BlogWorkload.Post p = zipfPost();
    int dir = rnd.nextInt(10) < 7 ? 1 : rnd.nextInt(3) == 0 ? 0 : -1;
    String rwBefore = u.rw;
    MiniHttp.Response r =
        request(
            Kind.VOTE_LINK, true, dueNanos, dueMillis, h -> vote(h, u, rwBefore, p.name(), dir));
    if (r != null && r.status() == 200) {
      String rw = rwCookie(r, rwBefore);
      u.rw = rw;
      readBack(u, rw, p.permalink(), p.name(), dir, "vote " + dir + " on " + p.name());
    }
  }

  private void voteComment(SplittableRandom rnd, User u, long dueNanos, long dueMillis) {
    BlogWorkload.Post p = zipfPost();
    List<String> cs = commentsOf.get(p.name());
    if (cs == null || cs.isEmpty()) {
      voteLink(rnd, u, dueNanos, dueMillis);
      return;
    }
    String c = cs.get(rnd.nextInt(cs.size()));
    int dir = rnd.nextInt(10) < 7 ? 1 : rnd.nextInt(3) == 0 ? 0 : -1;
    String rwBefore = u.rw;
    MiniHttp.Response r =
        request(Kind.VOTE_COMMENT, true, dueNanos, dueMillis, h -> vote(h, u, rwBefore, c, dir));
    if (r != null && r.status() == 200) {
      String rw = rwCookie(r, rwBefore);
      u.rw = rw;
      readBack(u, rw, p.permalink(), c, dir, "vote " + dir + " on " + c);
    }
  }

  private static MiniHttp.Response vote(MiniHttp h, User u, String rw, String fullname, int dir) {
    return post(h, u, rw, "/vote", Map.of("id", fullname, "dir", Integer.toString(dir)));
  }

  /**
   * A logged-in form post asking for JSON: {@code u}'s cookies (with {@code rw}) and CSRF token.
   */
  private static MiniHttp.Response post(
      MiniHttp h, User u, String rw, String path, Map<String, String> form) {
    return h.postForm(
        path, form, "Cookie", u.cookies(rw), "X-CSRF-Token", u.csrf, "Accept", "application/json");
  }

  private void comment(SplittableRandom rnd, User u, long dueNanos, long dueMillis) {
    BlogWorkload.Post p = zipfPost();
    String rwBefore = u.rw;
    String text = "Cluster comment " + rnd.nextInt(1_000_000) + " by " + u.name;
    MiniHttp.Response r =
        request(
            Kind.COMMENT,
            true,
            dueNanos,
            dueMillis,
            h -> post(h, u, rwBefore, "/comment", Map.of("link", p.name(), "text", text)));
    if (r != null && r.status() == 201) {
      long ack = System.currentTimeMillis();
      Matcher m = NAME.matcher(r.text());
      if (!m.find()) {
        rywMisses.add("comment answer without a name: " + r.text());
        return;
      }
      String name = m.group(1);
      ackedComments.add(new long[] {Long.parseLong(name.substring(3), 36), ack});
      commentsOf.computeIfAbsent(p.name(), k -> new CopyOnWriteArrayList<>()).add(name);
      String rw = rwCookie(r, rwBefore);
      u.rw = rw;
      readBack(u, rw, p.permalink(), name, Integer.MIN_VALUE, "comment " + name);
    }
  }

  private void submit(SplittableRandom rnd, User u, long dueNanos, long dueMillis) {
    String c = communities.get(rnd.nextInt(communities.size()));
    Map<String, String> form = new LinkedHashMap<>();
    int n = rnd.nextInt(1_000_000_000);
    form.put("title", "Cluster submission " + n + " in " + c);
    form.put("url", "https://example.com/cluster/run/" + n);
    form.put("text", "");
    form.put("community", c);
    String rwBefore = u.rw;
    MiniHttp.Response r =
        request(Kind.SUBMIT, true, dueNanos, dueMillis, h -> post(h, u, rwBefore, "/submit", form));
    if (r != null && r.status() == 201) {
      Matcher m = NAME.matcher(r.text());
      Matcher l = PERMALINK.matcher(r.text());
      if (!m.find() || !l.find()) {
        rywMisses.add("submission answer without name or permalink: " + r.text());
        return;
      }
      String rw = rwCookie(r, rwBefore);
      u.rw = rw;
      readBack(u, rw, l.group(1), m.group(1), Integer.MIN_VALUE, "submission " + m.group(1));
    }
  }

  private static final Pattern SCORE = Pattern.compile("\"score\":(-?\\d+)");

  /**
   * Vote-to-visible, every 3 s: the probe account votes on the probe post (up, then clears the
   * vote, alternately) and another logged-in account (no read-your-writes cookie: its reads may go
   * to the web replica) polls the post's JSON every 20 ms until it shows the score the vote
   * answered; the time from the vote's answer is recorded (NaN after 15 s without it).
   */
  private void probe(long startNanos, long startMillis, long stopNanos) {
    try (MiniHttp w = new MiniHttp(s.base());
        MiniHttp r = new MiniHttp(s.base())) {
      String json = probePost.permalink() + ".json";
      for (int i = 0; System.nanoTime() < stopNanos; i++) {
        long next = startNanos + TimeUnit.SECONDS.toNanos(3L * (i + 1));
        long wait = next - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        }
        double at = (System.currentTimeMillis() - startMillis) / 1000.0;
        MiniHttp.Response v;
        try {
          v = vote(w, probeVoter, null, probePost.name(), i % 2 == 0 ? 1 : 0);
        } catch (UncheckedIOException e) {
          probes.add(new double[] {at, Double.NaN});
          continue;
        }
        if (v.status() != 200) {
          probes.add(new double[] {at, Double.NaN});
          continue;
        }
        long t0 = System.nanoTime();
        String want = BlogWorkload.find(SCORE, v.text(), "the vote's score");
        double ms = Double.NaN;
        while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(15)) {
          try {
            MiniHttp.Response g = r.get(json, "Cookie", probeReader.session);
            Matcher m = SCORE.matcher(g.text());
            if (g.status() == 200 && m.find() && m.group(1).equals(want)) {
              ms = (System.nanoTime() - t0) / 1e6;
              break;
            }
          } catch (UncheckedIOException e) {
            // an instance died under the read: poll again
          }
          TimeUnit.MILLISECONDS.sleep(20);
        }
        probes.add(new double[] {at, ms});
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      System.err.println("vote-to-visible probe stopped: " + e);
    }
  }

  /**
   * P2: the writer reads the post's JSON right away with the cookies its write answered with; the
   * written thing must be there and (for a vote) show the writer's direction.
   *
   * @param dir the vote's direction, or {@code Integer.MIN_VALUE} for "present"
   */
  private void readBack(User u, String rw, String permalink, String name, int dir, String what) {
    String path =
        (permalink.endsWith("/") ? permalink.substring(0, permalink.length() - 1) : permalink)
            + ".json";
    long t0 = System.nanoTime();
    MiniHttp.Response r =
        request(
            Kind.READBACK,
            true,
            t0,
            System.currentTimeMillis(),
            h -> h.get(path, "Cookie", u.cookies(rw)));
    if (r == null || r.status() != 200) {
      rywReadFailed.incrementAndGet();
      return;
    }
    rywChecked.incrementAndGet();
    String body = r.text();
    boolean ok;
    if (dir == Integer.MIN_VALUE) {
      ok = body.contains("\"name\":\"" + name + "\"");
    } else {
      Matcher m =
          Pattern.compile("\"name\":\"" + name + "\"[^{}]*?\"likes\":(true|false|null)")
              .matcher(body);
      if (!m.find()) {
        ok = false;
      } else {
        String want = dir == 1 ? "true" : dir == -1 ? "false" : "null";
        ok = m.group(1).equals(want);
      }
    }
    if (!ok) {
      rywMissed.incrementAndGet();
      if (dir == Integer.MIN_VALUE && name.startsWith("t4_")) {
        rywMissedComments.add(Long.parseLong(name.substring(3), 36));
      }
      if (rywMisses.size() < 20) {
        rywMisses.add(u.name + ": " + what + " not seen in " + path + " at " + Instant.now());
      }
    }
  }

  // ------------------------------------------------------------------ checks on the records

  /**
   * P2 over every read-back. A comment that an asynchronous failover lost (acknowledged by the old
   * primary a moment before it stopped, missing on the promoted one; see {@link #failoverLoss}) can
   * be read by nobody: its missed read-back is reported with the failover's loss, not as a P2 miss.
   */
  private ClusterChecks.Check rywCheck() {
    long lostInFailover = rywMissedComments.stream().filter(lostComments::contains).count();
    long missed = rywMissed.get() - lostInFailover;
    return new ClusterChecks.Check(
        "P2 read-your-writes",
        rywChecked.get(),
        missed,
        missed == 0,
        (rywReadFailed.get() > 0 ? rywReadFailed.get() + " read-backs failed (not counted); " : "")
            + (lostInFailover > 0
                ? lostInFailover
                    + " missed comments were lost by the failover (not on the promoted primary;"
                    + " not counted); "
                : "")
            + String.join("; ", rywMisses));
  }

  /** Every scheduled fault ran and its command succeeded (else the run proved nothing of it). */
  private ClusterChecks.Check faultsCheck(List<ClusterFaults.Done> done) {
    List<String> failed = new ArrayList<>();
    for (ClusterFaults.Done d : done) {
      if (d.exitCode() != 0) {
        failed.add(d.fault().label() + " exited " + d.exitCode() + ": " + d.output().strip());
      }
    }
    long missing = s.faults().size() - done.size();
    if (missing > 0) {
      failed.add(missing + " scheduled faults never ran (the run ended first)");
    }
    return new ClusterChecks.Check(
        "every scheduled fault ran",
        s.faults().size(),
        failed.size(),
        failed.isEmpty(),
        String.join("; ", failed));
  }

  /**
   * A fault that kills a server requests are in flight on: a web instance, or the comments primary
   * (a failover: requests that needed it fail until the apps reach the promoted server).
   */
  private static boolean killsAServer(ClusterFaults.Done d) {
    return d.fault().name().equals("kill-web") || d.fault().name().equals("failover-comments");
  }

  private static boolean isMemcachedFault(ClusterFaults.Done d) {
    return d.fault().name().contains("memcached");
  }

  /**
   * 5xx and failed connections: only inside the window of a fault that killed a server (from its
   * start to 10 s after it returned).
   */
  private ClusterChecks.Check serverErrorsCheck(List<Rec> all, List<ClusterFaults.Done> done) {
    long total = 0;
    long attributed = 0;
    Map<String, Long> outside = new TreeMap<>();
    for (Rec r : all) {
      if (r.status() != 0 && r.status() < 500) {
        continue;
      }
      total++;
      long end = r.dueMillis() + r.latencyMicros() / 1000;
      boolean inWindow = false;
      for (ClusterFaults.Done d : done) {
        if (killsAServer(d)
            && end >= d.startMillis() - 1000
            && r.dueMillis() <= d.endMillis() + 10_000) {
          inWindow = true;
          break;
        }
      }
      if (inWindow) {
        attributed++;
      } else {
        String at = faultAt(done, r.dueMillis());
        outside.merge(
            (r.status() == 0 ? "connection error" : "HTTP " + r.status()) + " " + at,
            1L,
            Long::sum);
      }
    }
    long unexplained = total - attributed;
    return new ClusterChecks.Check(
        "5xx only while a server was killed (kill-web, failover-comments)",
        total,
        unexplained,
        unexplained == 0,
        attributed + " in those windows" + (outside.isEmpty() ? "" : "; outside: " + outside));
  }

  private static String faultAt(List<ClusterFaults.Done> done, long millis) {
    for (ClusterFaults.Done d : done) {
      if (millis >= d.startMillis() - 1000 && millis <= d.endMillis() + 15_000) {
        return "(during/after " + d.fault().label() + ")";
      }
    }
    return "(no fault near)";
  }

  /**
   * P4 on the hottest key, the anonymous front page: its foreground renders (answers that reached
   * an app with {@code X-Page-Cache: miss}; a request that waited for another's render says {@code
   * shared}) must be at least a TTL apart, less 1.5 s for memcached's whole-second expiry, outside
   * the memcached faults' windows. Background renders (stale-while-revalidate, early refresh)
   * answer no request and are not seen over HTTP.
   */
  private ClusterChecks.Check hotKeyCheck(List<Rec> all, List<ClusterFaults.Done> done) {
    List<Long> renders = new ArrayList<>();
    Map<String, Long> how = new TreeMap<>();
    for (Rec r : all) {
      if (r.kind() == Kind.FRONT && !r.loggedIn() && r.status() == 200 && r.edge() != 1) {
        how.merge(String.valueOf(r.pageCache()), 1L, Long::sum);
        if ("miss".equalsIgnoreCase(r.pageCache())) {
          renders.add(r.dueMillis() + r.latencyMicros() / 1000);
        }
      }
    }
    Collections.sort(renders);
    long minGap = s.pageCacheTtlSeconds() * 1000L - 1500;
    long bad = 0;
    long excluded = 0;
    List<String> examples = new ArrayList<>();
    for (int i = 1; i < renders.size(); i++) {
      long t = renders.get(i);
      boolean inFault = false;
      for (ClusterFaults.Done d : done) {
        if (isMemcachedFault(d) && t >= d.startMillis() - 1000 && t <= d.endMillis() + 15_000) {
          inFault = true;
        }
      }
      if (inFault) {
        excluded++;
        continue;
      }
      if (t - renders.get(i - 1) < minGap) {
        bad++;
        if (examples.size() < 5) {
          examples.add((t - renders.get(i - 1)) + " ms apart at " + Instant.ofEpochMilli(t));
        }
      }
    }
    return new ClusterChecks.Check(
        "P4 front page renders per expiry",
        renders.size(),
        bad,
        bad == 0,
        "anonymous front-page answers from the apps by X-Page-Cache: "
            + how
            + "; "
            + excluded
            + " renders in memcached fault windows not counted"
            + (examples.isEmpty() ? "" : "; " + String.join("; ", examples)));
  }

  /** No logged-in request is ever answered from the edge cache. */
  private static ClusterChecks.Check edgePrivacyCheck(List<Rec> all) {
    long loggedIn = 0;
    long hits = 0;
    for (Rec r : all) {
      if (r.loggedIn()) {
        loggedIn++;
        if (r.edge() == 1) {
          hits++;
        }
      }
    }
    return new ClusterChecks.Check(
        "edge never serves a logged-in request", loggedIn, hits, hits == 0, "");
  }

  private Map<String, Object> failoverLoss(
      ClusterChecks db, List<ClusterFaults.Done> done, long startMillis) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    ClusterFaults.Done fo = null;
    for (ClusterFaults.Done d : done) {
      if (d.fault().name().equals("failover-comments")) {
        fo = d;
      }
    }
    List<Long> ids = new ArrayList<>();
    for (long[] a : ackedComments) {
      ids.add(a[0]);
    }
    Set<Long> missing = ids.isEmpty() ? Set.of() : db.missingComments(ids);
    lostComments = Set.copyOf(missing);
    out.put("failover_fault", fo == null ? null : fo.fault().label());
    out.put("acknowledged_comments", ids.size());
    out.put("missing_on_comments_primary", missing.size());
    List<Double> missingAt = new ArrayList<>();
    for (long[] a : ackedComments) {
      if (missing.contains(a[0])) {
        missingAt.add((a[1] - startMillis) / 1000.0);
      }
    }
    Collections.sort(missingAt);
    out.put("missing_acknowledged_at_s", missingAt);
    if (fo != null) {
      out.put("failover_start_s", (fo.startMillis() - startMillis) / 1000.0);
      out.put("failover_end_s", (fo.endMillis() - startMillis) / 1000.0);
      long before = 0;
      for (long[] a : ackedComments) {
        if (a[1] < fo.startMillis()) {
          before++;
        }
      }
      out.put("acknowledged_before_failover", before);
    }
    out.put(
        "expectation",
        "asynchronous replication loses the comments acknowledged after the replica's last replay"
            + " before the promotion; with CLUSTER_SYNC_COMMENTS=1 (synchronous_standby_names) none");
    return out;
  }

  // ------------------------------------------------------------------ the report

  @SuppressWarnings("unchecked")
  private Map<String, Object> report(
      List<Rec> all,
      List<ClusterMetrics.Sample> samples,
      List<ClusterFaults.Done> done,
      List<ClusterChecks.Check> checks,
      Map<String, Object> failover,
      long startMillis,
      long endMillis) {
    int secs = s.durationSeconds();
    long[] count = new long[secs];
    long[] s5xx = new long[secs];
    long[] s4xx = new long[secs];
    long[] errors = new long[secs];
    long[] anon = new long[secs];
    long[] edgeHits = new long[secs];
    long[] writes = new long[secs];
    List<List<Long>> lat = new ArrayList<>();
    for (int i = 0; i < secs; i++) {
      lat.add(new ArrayList<>());
    }
    Map<String, Long> statuses = new TreeMap<>();
    Map<String, Long> kinds = new TreeMap<>();
    List<Long> allLat = new ArrayList<>();
    for (Rec r : all) {
      int i = (int) ((r.dueMillis() - startMillis) / 1000);
      if (i < 0 || i >= secs) {
        continue;
      }
      count[i]++;
      lat.get(i).add(r.latencyMicros());
      allLat.add(r.latencyMicros());
      statuses.merge(
          r.status() == 0 ? "connection_error" : Integer.toString(r.status()), 1L, Long::sum);
      kinds.merge(r.kind().name().toLowerCase(Locale.ROOT), 1L, Long::sum);
      if (r.status() == 0) {
        errors[i]++;
      } else if (r.status() >= 500) {
        s5xx[i]++;
      } else if (r.status() >= 400) {
        s4xx[i]++;
      }
      if (!r.loggedIn() && r.kind() != Kind.READBACK) {
        anon[i]++;
        if (r.edge() == 1) {
          edgeHits[i]++;
        }
      }
      if (r.kind() == Kind.VOTE_LINK
          || r.kind() == Kind.VOTE_COMMENT
          || r.kind() == Kind.COMMENT
          || r.kind() == Kind.SUBMIT) {
        writes[i]++;
      }
    }
    double[] p50 = new double[secs];
    double[] p99 = new double[secs];
    double[] edgeRatio = new double[secs];
    for (int i = 0; i < secs; i++) {
      p50[i] = pctMillis(lat.get(i), 0.50);
      p99[i] = pctMillis(lat.get(i), 0.99);
      edgeRatio[i] = anon[i] == 0 ? Double.NaN : (double) edgeHits[i] / anon[i];
    }
    Map<String, Object> perSecond = new LinkedHashMap<>();
    perSecond.put("requests", count);
    perSecond.put("writes", writes);
    perSecond.put("http_5xx", s5xx);
    perSecond.put("http_4xx", s4xx);
    perSecond.put("connection_errors", errors);
    perSecond.put("p50_ms", p50);
    perSecond.put("p99_ms", p99);
    perSecond.put("edge_hit_ratio_anonymous", edgeRatio);

    // Metrics samples: seconds relative to the run's start, and the series the plots draw.
    Map<String, Object> m = new LinkedHashMap<>();
    double[] t = new double[Math.max(0, samples.size() - 1)];
    for (int i = 1; i < samples.size(); i++) {
      t[i - 1] = (samples.get(i).millis() - startMillis) / 1000.0;
    }
    m.put("t_s", t);
    m.put(
        "app_statements_per_s",
        ClusterMetrics.rate(samples, "thingdb_core_statements_total", false));
    double[] hits = ClusterMetrics.rate(samples, "thingdb_cache_hits_total", false);
    double[] misses = ClusterMetrics.rate(samples, "thingdb_cache_misses_total", false);
    double[] ratio = new double[hits.length];
    for (int i = 0; i < hits.length; i++) {
      ratio[i] = hits[i] + misses[i] == 0 ? Double.NaN : hits[i] / (hits[i] + misses[i]);
    }
    m.put("app_cache_hits_per_s", hits);
    m.put("app_cache_misses_per_s", misses);
    m.put("app_cache_hit_ratio", ratio);
    m.put(
        "app_cache_loads_per_s", ClusterMetrics.rate(samples, "thingdb_cache_loads_total", false));
    m.put(
        "queue_depth_links",
        ClusterMetrics.max(samples, "thingdb_listings_queue_depth{queue=links}", false));
    m.put(
        "queue_depth_comments",
        ClusterMetrics.max(samples, "thingdb_listings_queue_depth{queue=comments}", false));
    m.put("listing_jobs_per_s", ClusterMetrics.rate(samples, "thingdb_listings_jobs_total", false));
    double[] ageSum = ClusterMetrics.rate(samples, "thingdb_listings_job_age_seconds_sum", false);
    double[] ageCount =
        ClusterMetrics.rate(samples, "thingdb_listings_job_age_seconds_count", false);
    double[] ageMean = new double[ageSum.length];
    for (int i = 0; i < ageSum.length; i++) {
      ageMean[i] = ageCount[i] == 0 ? Double.NaN : ageSum[i] / ageCount[i] * 1000;
    }
    m.put("listing_job_age_mean_ms", ageMean);
    List<String> names = ClusterMetrics.appMetricNames(samples);
    for (String n : names) {
      String lower = n.toLowerCase(Locale.ROOT);
      if ((lower.contains("visible") || lower.contains("lag")) && !n.contains("{")) {
        if (n.endsWith("_sum")) {
          String base = n.substring(0, n.length() - 4);
          double[] sum = ClusterMetrics.rate(samples, n, false);
          double[] cnt = ClusterMetrics.rate(samples, base + "_count", false);
          double[] mean = new double[sum.length];
          for (int i = 0; i < sum.length; i++) {
            mean[i] = cnt[i] == 0 ? Double.NaN : sum[i] / cnt[i] * 1000;
          }
          m.put(base + "_mean_ms", mean);
        } else if (!n.endsWith("_count") && !n.endsWith("_total") && !n.endsWith("_max")) {
          m.put(n + "_max", ClusterMetrics.max(samples, n, false));
        } else if (n.endsWith("_max")) {
          m.put(n, ClusterMetrics.max(samples, n, false));
        }
      }
    }
    Map<String, Object> pg = new LinkedHashMap<>();
    for (String server : s.pg().keySet()) {
      Map<String, Object> one = new LinkedHashMap<>();
      one.put("xact_per_s", ClusterMetrics.rateOf(samples, server, "xact_total", true));
      one.put("tuples_read_per_s", ClusterMetrics.rateOf(samples, server, "tup_read_total", true));
      one.put(
          "tuples_written_per_s",
          ClusterMetrics.rateOf(samples, server, "tup_written_total", true));
      one.put("replay_lag_s", ClusterMetrics.gaugeOf(samples, server, "replay_lag_s", true));
      one.put(
          "replicas_replay_lag_s",
          ClusterMetrics.gaugeOf(samples, server, "replicas_replay_lag_s", true));
      one.put("in_recovery", ClusterMetrics.gaugeOf(samples, server, "in_recovery", true));
      pg.put(server, one);
    }
    m.put("postgresql", pg);
    m.put("app_metric_names", names);

    Map<String, Object> summary = new LinkedHashMap<>();
    long n = all.size();
    summary.put("requests", n);
    summary.put("requests_per_s", Math.round(n * 10.0 / secs) / 10.0);
    summary.put("p50_ms", pctMillis(allLat, 0.50));
    summary.put("p99_ms", pctMillis(allLat, 0.99));
    summary.put("p999_ms", pctMillis(allLat, 0.999));
    summary.put("statuses", statuses);
    summary.put("kinds", kinds);
    summary.put("dropped_arrivals", dropped.get());
    long anonTotal = Arrays.stream(anon).sum();
    long edgeTotal = Arrays.stream(edgeHits).sum();
    summary.put("edge_hit_ratio_anonymous", anonTotal == 0 ? null : (double) edgeTotal / anonTotal);
    summary.put("read_your_writes_checked", rywChecked.get());
    summary.put("acknowledged_comments", ackedComments.size());

    List<Object> faultJson = new ArrayList<>();
    for (ClusterFaults.Done d : done) {
      faultJson.add(ClusterFaults.json(d, startMillis));
    }
    List<Object> checkJson = new ArrayList<>();
    for (ClusterChecks.Check c : checks) {
      checkJson.add(c.json());
    }

    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("base", s.base().toString());
    settings.put("rate_per_s", s.rate());
    settings.put("duration_s", s.durationSeconds());
    settings.put("users", s.users());
    settings.put("logged_in_share", s.loggedInShare());
    settings.put("posts", posts.size());
    settings.put("communities", communities);
    settings.put("concurrency", s.concurrency());
    settings.put("seed", s.seed());
    settings.put("page_cache_ttl_s", s.pageCacheTtlSeconds());
    settings.put("edge_header", s.edgeHeader());
    settings.put(
        "mix",
        "open loop, Poisson arrivals; logged-in share of arrivals: of them 20% vote on a post, 8% on a"
            + " comment, 8% comment, 2% submit (each write followed by the writer's read-back of the"
            + " post's JSON), the rest views; views: 35% /, 15% a community's hot or new page, 30%"
            + " a permalink page, 10% a permalink's JSON, 10% /new.json; posts Zipf (exponent 0.99)");
    settings.put(
        "schedule", s.faults().stream().map(f -> f.offsetSeconds() + ":" + f.label()).toList());

    Map<String, Object> json = new LinkedHashMap<>();
    json.put(
        "what", "ThingDB example blog on the loopback cluster, open-loop workload with faults");
    json.put("started_utc", Instant.ofEpochMilli(startMillis).toString());
    json.put("ended_utc", Instant.ofEpochMilli(endMillis).toString());
    json.put(
        "machine",
        Map.of(
            "cpus",
            Runtime.getRuntime().availableProcessors(),
            "load_average_at_end",
            BlogWorkload.loadAverage()));
    json.put("settings", settings);
    json.put("summary", summary);
    json.put("checks", checkJson);
    json.put("faults", faultJson);
    json.put("failover", failover);
    List<Double> probeT = new ArrayList<>();
    List<Double> probeMs = new ArrayList<>();
    for (double[] p : probes) {
      probeT.add(p[0]);
      probeMs.add(p[1]);
    }
    Map<String, Object> probe = new LinkedHashMap<>();
    probe.put("what", "vote to visible for another logged-in reader (probe post, every 3 s)");
    probe.put("t_s", probeT);
    probe.put("ms", probeMs);
    List<Long> okMicros = new ArrayList<>();
    for (double[] p : probes) {
      if (!Double.isNaN(p[1])) {
        okMicros.add((long) (p[1] * 1000));
      }
    }
    probe.put("p50_ms", pctMillis(okMicros, 0.5));
    probe.put("p99_ms", pctMillis(okMicros, 0.99));
    probe.put("max_ms", pctMillis(okMicros, 1.0));
    probe.put("timeouts", probes.size() - okMicros.size());
    json.put("vote_to_visible", probe);
    json.put("per_second", perSecond);
    json.put("metrics", m);
    return (Map<String, Object>) jsonable(json);
  }

  /** The same tree with every {@code long[]} and {@code double[]} turned into a list. */
  static Object jsonable(Object o) {
    if (o instanceof long[] a) {
      return Arrays.stream(a).boxed().toList();
    }
    if (o instanceof double[] a) {
      List<Double> out = new ArrayList<>(a.length);
      for (double d : a) {
        out.add(Double.isFinite(d) ? Math.round(d * 10_000) / 10_000.0 : Double.NaN);
      }
      return out;
    }
    if (o instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      for (Map.Entry<?, ?> e : m.entrySet()) {
        out.put(String.valueOf(e.getKey()), jsonable(e.getValue()));
      }
      return out;
    }
    if (o instanceof List<?> l) {
      List<Object> out = new ArrayList<>(l.size());
      for (Object v : l) {
        out.add(jsonable(v));
      }
      return out;
    }
    return o;
  }

  static double pctMillis(List<Long> micros, double q) {
    if (micros.isEmpty()) {
      return Double.NaN;
    }
    long[] a = micros.stream().mapToLong(Long::longValue).toArray();
    Arrays.sort(a);
    int i = (int) Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
    return Math.round(a[i] / 10.0) / 100.0;
  }
}

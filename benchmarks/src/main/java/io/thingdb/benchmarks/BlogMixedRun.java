package io.thingdb.benchmarks;

import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The mixed run of issue 5 against a running blog: closed-loop workers (no think time), each
 * operation drawn at random: 85% page views, 10% votes, 3% comments, 2% submissions; the post a
 * view, vote or comment is about is drawn Zipf (exponent 0.99, ranks scattered over the posts) from
 * the posts listed in {@code /new.json} at the start. Page views are anonymous except for {@code
 * --logged-in-share} of them; votes, comments and submissions come from logged-in {@code bench<i>}
 * accounts. Page views: 40% front page, 10% a community's hot page, 35% a post's permalink page,
 * 10% a post's JSON, 5% {@code /new.json}.
 *
 * <p>Beside the workers, two probes measure vote-to-visible on posts of their own (created at the
 * start; no worker touches them, so their score changes only by the probe's vote): the probe votes,
 * and the time from the vote's response to the first response of the post's JSON that shows the
 * score the vote returned is measured, once for a logged-in reader (another account, polling back
 * to back: fresh pages) and once for an anonymous reader (polling every 10 ms, after reading the
 * page once before the vote so that a copy is in the page cache).
 *
 * <p>Only operations that started after the warm-up and ended before the end are counted. Not
 * thread-safe as an object: each worker thread owns its tallies, merged after the run.
 */
final class BlogMixedRun {
  enum Kind {
    VIEW_ANON,
    VIEW_LOGGED_IN,
    VOTE,
    COMMENT,
    SUBMIT
  }

  enum Page {
    FRONT,
    COMMUNITY,
    PERMALINK,
    PERMALINK_JSON,
    NEW_JSON
  }

  private static final long PROBE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(15);
  private static final int ANONYMOUS_PROBES = 4;
  private static final int ANONYMOUS_POLL_MS = 25;

  private final URI base;
  private final int users;
  private final int workers;
  private final int warmupSeconds;
  private final int durationSeconds;
  private final double loggedInShare;
  private final String memcached;
  private final long appPid;
  private final Path out;
  private final long seed;
  private final Map<String, String> notes = new LinkedHashMap<>();

  BlogMixedRun(URI base, Map<String, String> a) {
    this.base = base;
    this.users = BlogWorkload.intFlag(a, "users", 50);
    this.workers = BlogWorkload.intFlag(a, "workers", 16);
    this.warmupSeconds = BlogWorkload.intFlag(a, "warmup", 10);
    this.durationSeconds = BlogWorkload.intFlag(a, "duration", 30);
    this.loggedInShare = Double.parseDouble(a.getOrDefault("logged-in-share", "0.2"));
    this.memcached = a.get("memcached");
    this.appPid = Long.parseLong(a.getOrDefault("app-pid", "-1"));
    this.out = a.containsKey("out") ? Path.of(a.get("out")) : null;
    this.seed = Long.parseLong(a.getOrDefault("seed", "1"));
    for (Map.Entry<String, String> e : a.entrySet()) {
      if (e.getKey().startsWith("note-")) {
        notes.put(e.getKey().substring(5), e.getValue());
      }
    }
    if (loggedInShare < 0 || loggedInShare > 1) {
      throw new IllegalArgumentException("--logged-in-share must be 0 to 1, was " + loggedInShare);
    }
  }

  /** A growable list of longs. */
  static final class Longs {
    long[] a = new long[1024];
    int n;

    void add(long v) {
      if (n == a.length) {
        a = Arrays.copyOf(a, n * 2);
      }
      a[n++] = v;
    }

    void addAll(Longs o) {
      for (int i = 0; i < o.n; i++) {
        add(o.a[i]);
      }
    }

    long[] sorted() {
      long[] s = Arrays.copyOf(a, n);
      Arrays.sort(s);
      return s;
    }
  }

  /** What one worker saw of one kind of operation (or page). */
  static final class Tally {
    final Longs nanos = new Longs();
    long sql;
    long cacheHits;
    long pageHit;
    long pageMiss;
    final Map<String, Long> statuses = new TreeMap<>();

    void merge(Tally o) {
      nanos.addAll(o.nanos);
      sql += o.sql;
      cacheHits += o.cacheHits;
      pageHit += o.pageHit;
      pageMiss += o.pageMiss;
      o.statuses.forEach((k, v) -> statuses.merge(k, v, Long::sum));
    }
  }

  void run() throws Exception {
    List<BlogWorkload.Post> posts = BlogWorkload.discoverPosts(base);
    List<String> communities = BlogWorkload.communities(base);
    List<BlogWorkload.User> accounts = BlogWorkload.loginAll(base, users, false);
    BlogWorkload.User voter;
    BlogWorkload.User reader;
    List<BlogWorkload.Post> probePosts = new ArrayList<>();
    try (MiniHttp http = new MiniHttp(base)) {
      BlogWorkload.User author = BlogWorkload.signupOrLogin(http, "benchprobe_author");
      voter = BlogWorkload.signupOrLogin(http, "benchprobe_voter");
      reader = BlogWorkload.signupOrLogin(http, "benchprobe_reader");
      for (int i = 0; i < 16; i++) {
        probePosts.add(
            BlogWorkload.submit(
                http,
                author,
                communities.get(0),
                "Probe post " + i + " of run " + seed + " at " + BlogWorkload.now(),
                "https://example.com/probe/" + seed + "/" + i,
                ""));
      }
    }
    int[] zipf = Keys.zipfSequence(posts.size(), 1 << 20, seed);

    long start = System.nanoTime();
    long measureFrom = start + TimeUnit.SECONDS.toNanos(warmupSeconds);
    long measureTo = measureFrom + TimeUnit.SECONDS.toNanos(durationSeconds);
    AtomicInteger submitted = new AtomicInteger();
    List<Map<Kind, Tally>> kindTallies = new ArrayList<>();
    List<Map<Page, Tally>> pageTallies = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    long[] ioErrors = new long[workers];
    for (int w = 0; w < workers; w++) {
      Map<Kind, Tally> kinds = new EnumMap<>(Kind.class);
      for (Kind k : Kind.values()) {
        kinds.put(k, new Tally());
      }
      Map<Page, Tally> pages = new EnumMap<>(Page.class);
      for (Page p : Page.values()) {
        pages.put(p, new Tally());
      }
      kindTallies.add(kinds);
      pageTallies.add(pages);
      int id = w;
      Random rnd = new Random(seed * 1000 + w);
      Thread t =
          new Thread(
              () ->
                  work(
                      id,
                      rnd,
                      posts,
                      communities,
                      accounts,
                      zipf,
                      measureFrom,
                      measureTo,
                      kinds,
                      pages,
                      submitted,
                      ioErrors),
              "bench-worker-" + w);
      threads.add(t);
    }
    Probe loggedIn =
        new Probe(
            base, "logged-in", voter, reader, probePosts.subList(0, 8), measureFrom, measureTo);
    List<Probe> anonymous = new ArrayList<>();
    List<Thread> probeThreads =
        new ArrayList<>(List.of(new Thread(loggedIn, "bench-probe-logged-in")));
    for (int i = 0; i < ANONYMOUS_PROBES; i++) {
      // Each anonymous probe waits out a page cache TTL per vote: several in parallel, one post
      // each.
      Probe p =
          new Probe(
              base,
              "anonymous",
              voter,
              null,
              probePosts.subList(8 + i, 9 + i),
              measureFrom,
              measureTo);
      anonymous.add(p);
      probeThreads.add(new Thread(p, "bench-probe-anonymous-" + i));
    }
    threads.forEach(Thread::start);

    sleepUntil(measureFrom);
    Map<String, Long> mcBefore = memcached == null ? null : BlogWorkload.memcachedStats(memcached);
    double cpuBefore = BlogWorkload.cpuSeconds(appPid);
    String loadBefore = BlogWorkload.loadAverage();
    String startedAt = BlogWorkload.now();
    probeThreads.forEach(Thread::start);
    sleepUntil(measureTo);
    Map<String, Long> mcAfter = memcached == null ? null : BlogWorkload.memcachedStats(memcached);
    double cpuAfter = BlogWorkload.cpuSeconds(appPid);
    String loadAfter = BlogWorkload.loadAverage();
    for (Thread t : threads) {
      t.join();
    }
    for (Thread t : probeThreads) {
      t.join();
    }

    Map<Kind, Tally> kinds = new EnumMap<>(Kind.class);
    Map<Page, Tally> pages = new EnumMap<>(Page.class);
    for (Kind k : Kind.values()) {
      kinds.put(k, new Tally());
      kindTallies.forEach(m -> kinds.get(k).merge(m.get(k)));
    }
    for (Page p : Page.values()) {
      pages.put(p, new Tally());
      pageTallies.forEach(m -> pages.get(p).merge(m.get(p)));
    }
    Tally views = new Tally();
    views.merge(kinds.get(Kind.VIEW_ANON));
    views.merge(kinds.get(Kind.VIEW_LOGGED_IN));
    long totalOps = 0;
    for (Tally t : kinds.values()) {
      totalOps += t.nanos.n;
    }
    double seconds = durationSeconds;

    Map<String, Object> r = new LinkedHashMap<>();
    r.put(
        "what",
        "examples/blog mixed run (issue 5): 85% page views, 10% votes, 3% comments, 2% submissions,"
            + " Zipf 0.99 over posts; closed loop, no think time");
    r.put("started_utc", startedAt);
    r.put("base", base.toString());
    Map<String, Object> cfg = new LinkedHashMap<>();
    cfg.put("workers", workers);
    cfg.put("accounts", users);
    cfg.put("posts_in_zipf_set", posts.size());
    cfg.put("communities", communities);
    cfg.put("logged_in_share_of_page_views", loggedInShare);
    cfg.put(
        "page_view_mix",
        "40% /, 10% /r/<community>/, 35% permalink page, 10% permalink .json, 5% /new.json");
    cfg.put("vote_directions", "70% up, 20% down, 10% clear");
    cfg.put("warmup_s", warmupSeconds);
    cfg.put("measured_s", durationSeconds);
    cfg.put("seed", seed);
    cfg.put("memcached", memcached);
    cfg.putAll(notes);
    r.put("config", cfg);
    r.put("load_average_before", loadBefore);
    r.put("load_average_after", loadAfter);

    Map<String, Object> pv = new LinkedHashMap<>();
    pv.put("page_views_per_s", views.nanos.n / seconds);
    pv.put("all_requests_per_s", totalOps / seconds);
    pv.put("latency_ms", latency(views.nanos));
    pv.put("anonymous_latency_ms", latency(kinds.get(Kind.VIEW_ANON).nanos));
    pv.put("logged_in_latency_ms", latency(kinds.get(Kind.VIEW_LOGGED_IN).nanos));
    Tally anon = kinds.get(Kind.VIEW_ANON);
    pv.put("page_cache_hit_ratio_anonymous", ratio(anon.pageHit, anon.pageHit + anon.pageMiss));
    pv.put("sql_statements_per_page_view", ratio(views.sql, views.nanos.n));
    pv.put("sql_statements_per_anonymous_view", ratio(anon.sql, anon.nanos.n));
    pv.put(
        "sql_statements_per_logged_in_view",
        ratio(kinds.get(Kind.VIEW_LOGGED_IN).sql, kinds.get(Kind.VIEW_LOGGED_IN).nanos.n));
    pv.put("cache_hits_per_page_view", ratio(views.cacheHits, views.nanos.n));
    r.put("page_views", pv);

    if (mcBefore != null) {
      Map<String, Object> mc = new LinkedHashMap<>();
      long hits = mcAfter.get("get_hits") - mcBefore.get("get_hits");
      long misses = mcAfter.get("get_misses") - mcBefore.get("get_misses");
      mc.put("get_hit_ratio", ratio(hits, hits + misses));
      mc.put("get_hits", hits);
      mc.put("get_misses", misses);
      mc.put("cmd_set", mcAfter.get("cmd_set") - mcBefore.get("cmd_set"));
      mc.put(
          "note",
          "every memcached get of the app during the measured window: pages, things, relations,"
              + " listings, queries (a multi-get counts each key)");
      r.put("memcached", mc);
    }
    if (cpuBefore >= 0 && cpuAfter >= 0) {
      Map<String, Object> cpu = new LinkedHashMap<>();
      cpu.put("app_cpu_s", cpuAfter - cpuBefore);
      cpu.put("app_cpu_us_per_request", (cpuAfter - cpuBefore) * 1e6 / Math.max(1, totalOps));
      cpu.put(
          "note",
          "the blog JVM's user+system CPU over the measured window (PostgreSQL and memcached not included)");
      r.put("app_cpu", cpu);
    }

    Map<String, Object> byKind = new LinkedHashMap<>();
    for (Kind k : Kind.values()) {
      byKind.put(k.name().toLowerCase(java.util.Locale.ROOT), describe(kinds.get(k), seconds));
    }
    r.put("by_operation", byKind);
    Map<String, Object> byPage = new LinkedHashMap<>();
    for (Page p : Page.values()) {
      byPage.put(p.name().toLowerCase(java.util.Locale.ROOT), describe(pages.get(p), seconds));
    }
    r.put("page_views_by_page", byPage);
    r.put("io_errors", Arrays.stream(ioErrors).sum());
    r.put("posts_submitted_during_run", submitted.get());

    Map<String, Object> v2v = new LinkedHashMap<>();
    v2v.put(
        "definition",
        "A probe account votes (alternately up and down) on a probe post no worker touches; t0 is"
            + " when the vote's HTTP response (which carries the new score S) has been read. A reader then requests the"
            + " post's JSON (/r/<c>/comments/<id>.json) until its score equals S; vote-to-visible is the time from t0 to"
            + " the end of reading that first response. Logged-in reader: another account, requests back to back"
            + " (logged-in pages are never page-cached). Anonymous reader: no cookie, reads the post once before the"
            + " vote (so its page is in the page cache), then every "
            + ANONYMOUS_POLL_MS
            + " ms ("
            + ANONYMOUS_PROBES
            + " such probes in parallel, one post each): bounded by the page cache TTL. Only votes whose t0 and"
            + " visibility both fall in the measured window count.");
    v2v.put("logged_in_reader", loggedIn.summary());
    v2v.put("anonymous_reader", Probe.merged(anonymous));
    r.put("vote_to_visible", v2v);

    String json = JsonOut.write(r);
    if (out != null) {
      Files.createDirectories(out.toAbsolutePath().getParent());
      Files.writeString(out, json);
    }
    System.out.print(json);
  }

  private void work(
      int id,
      Random rnd,
      List<BlogWorkload.Post> posts,
      List<String> communities,
      List<BlogWorkload.User> accounts,
      int[] zipf,
      long measureFrom,
      long measureTo,
      Map<Kind, Tally> kinds,
      Map<Page, Tally> pages,
      AtomicInteger submitted,
      long[] ioErrors) {
    int z = (int) ((long) id * zipf.length / workers);
    try (MiniHttp http = new MiniHttp(base)) {
      long t0;
      while ((t0 = System.nanoTime()) < measureTo) {
        double op = rnd.nextDouble();
        BlogWorkload.Post post = posts.get(zipf[z++ & (zipf.length - 1)]);
        BlogWorkload.User user = accounts.get(rnd.nextInt(accounts.size()));
        Kind kind;
        Page page = null;
        int expected;
        MiniHttp.Response resp;
        try {
          if (op < 0.85) {
            boolean loggedIn = rnd.nextDouble() < loggedInShare;
            kind = loggedIn ? Kind.VIEW_LOGGED_IN : Kind.VIEW_ANON;
            double p = rnd.nextDouble();
            String path;
            if (p < 0.40) {
              page = Page.FRONT;
              path = "/";
            } else if (p < 0.50) {
              page = Page.COMMUNITY;
              path = "/r/" + communities.get(rnd.nextInt(communities.size())) + "/";
            } else if (p < 0.85) {
              page = Page.PERMALINK;
              path = post.permalink();
            } else if (p < 0.95) {
              page = Page.PERMALINK_JSON;
              path = post.permalink() + ".json";
            } else {
              page = Page.NEW_JSON;
              path = "/new.json";
            }
            expected = 200;
            resp = loggedIn ? http.get(path, "Cookie", user.cookie()) : http.get(path);
          } else if (op < 0.95) {
            kind = Kind.VOTE;
            double d = rnd.nextDouble();
            int dir = d < 0.7 ? 1 : d < 0.9 ? -1 : 0;
            expected = 200;
            resp = BlogWorkload.vote(http, user, post.name(), dir);
          } else if (op < 0.98) {
            kind = Kind.COMMENT;
            expected = 201;
            resp =
                BlogWorkload.comment(
                    http, user, post.name(), "A comment from " + user.name() + " in the mixed run");
          } else {
            kind = Kind.SUBMIT;
            expected = 201;
            int n = submitted.incrementAndGet();
            Map<String, String> form = new LinkedHashMap<>();
            form.put("title", "Mixed-run post " + n + " by " + user.name());
            form.put("url", "https://example.com/mixed/" + seed + "/" + n);
            form.put("community", communities.get(rnd.nextInt(communities.size())));
            resp =
                http.postForm(
                    "/submit",
                    form,
                    "Cookie",
                    user.cookie(),
                    "X-CSRF-Token",
                    user.csrf(),
                    "Accept",
                    "application/json");
          }
        } catch (UncheckedIOException e) {
          ioErrors[id]++;
          continue;
        }
        long t1 = System.nanoTime();
        if (t0 < measureFrom || t1 > measureTo) {
          continue;
        }
        record(kinds.get(kind), resp, t1 - t0, expected);
        if (page != null) {
          record(pages.get(page), resp, t1 - t0, expected);
        }
      }
    }
  }

  private static void record(Tally t, MiniHttp.Response resp, long nanos, int expected) {
    t.nanos.add(nanos);
    t.sql += resp.longHeader("X-SQL-Statements");
    t.cacheHits += resp.longHeader("X-Cache-Hits");
    String pc = resp.header("X-Page-Cache");
    if ("hit".equals(pc)) {
      t.pageHit++;
    } else if ("miss".equals(pc)) {
      t.pageMiss++;
    }
    t.statuses.merge(
        resp.status() == expected ? Integer.toString(expected) : "unexpected_" + resp.status(),
        1L,
        Long::sum);
  }

  private static Map<String, Object> describe(Tally t, double seconds) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("count", t.nanos.n);
    m.put("per_s", t.nanos.n / seconds);
    m.put("latency_ms", latency(t.nanos));
    m.put("sql_statements_per_request", ratio(t.sql, t.nanos.n));
    m.put("cache_hits_per_request", ratio(t.cacheHits, t.nanos.n));
    if (t.pageHit + t.pageMiss > 0) {
      m.put("page_cache_hit_ratio", ratio(t.pageHit, t.pageHit + t.pageMiss));
    }
    m.put("statuses", t.statuses);
    return m;
  }

  static Map<String, Object> latency(Longs nanos) {
    long[] s = nanos.sorted();
    Map<String, Object> m = new LinkedHashMap<>();
    if (s.length == 0) {
      m.put("samples", 0);
      return m;
    }
    m.put("samples", s.length);
    m.put("p50", pct(s, 0.50));
    m.put("p90", pct(s, 0.90));
    m.put("p99", pct(s, 0.99));
    m.put("max", s[s.length - 1] / 1e6);
    return m;
  }

  /** The nearest-rank percentile, in milliseconds. */
  static double pct(long[] sorted, double q) {
    int rank = (int) Math.ceil(q * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))] / 1e6;
  }

  static Double ratio(long a, long b) {
    return b == 0 ? null : (double) a / b;
  }

  private static void sleepUntil(long nanoTime) throws InterruptedException {
    long left;
    while ((left = nanoTime - System.nanoTime()) > 0) {
      TimeUnit.NANOSECONDS.sleep(Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)));
    }
  }

  /** One vote-to-visible probe; see the class comment. */
  static final class Probe implements Runnable {
    private final URI base;
    private final String name;
    private final BlogWorkload.User voter;
    private final BlogWorkload.User reader; // null: anonymous
    private final List<BlogWorkload.Post> posts;
    private final long from;
    private final long to;
    private final Longs visible = new Longs();
    private long timeouts;
    private long primedHits;
    private long polls;
    private String failure;

    Probe(
        URI base,
        String name,
        BlogWorkload.User voter,
        BlogWorkload.User reader,
        List<BlogWorkload.Post> posts,
        long from,
        long to) {
      this.base = base;
      this.name = name;
      this.voter = voter;
      this.reader = reader;
      this.posts = posts;
      this.from = from;
      this.to = to;
    }

    @Override
    public void run() {
      Map<String, Integer> nextDir = new LinkedHashMap<>();
      try (MiniHttp votes = new MiniHttp(base);
          MiniHttp reads = new MiniHttp(base)) {
        int i = 0;
        while (System.nanoTime() < to) {
          BlogWorkload.Post post = posts.get(i++ % posts.size());
          String json = post.permalink() + ".json";
          if (reader == null) {
            MiniHttp.Response primed = reads.get(json);
            BlogWorkload.expect(primed, 200, name + " probe: GET " + json);
            if ("hit".equals(primed.header("X-Page-Cache"))) {
              primedHits++;
            }
          }
          int dir = nextDir.getOrDefault(post.name(), 1);
          nextDir.put(post.name(), -dir);
          MiniHttp.Response v = BlogWorkload.vote(votes, voter, post.name(), dir);
          BlogWorkload.expect(v, 200, name + " probe: vote on " + post.name());
          int score = BlogWorkload.score(v.text());
          long t0 = System.nanoTime();
          boolean seen = false;
          while (System.nanoTime() - t0 < PROBE_TIMEOUT_NANOS) {
            MiniHttp.Response r =
                reader == null ? reads.get(json) : reads.get(json, "Cookie", reader.cookie());
            polls++;
            BlogWorkload.expect(r, 200, name + " probe: GET " + json);
            if (BlogWorkload.score(r.text()) == score) {
              long t1 = System.nanoTime();
              if (t0 >= from && t1 <= to) {
                visible.add(t1 - t0);
              }
              seen = true;
              break;
            }
            if (reader == null) {
              TimeUnit.MILLISECONDS.sleep(ANONYMOUS_POLL_MS);
            }
          }
          if (!seen) {
            timeouts++;
          }
          TimeUnit.MILLISECONDS.sleep(reader == null ? 10 : 50);
        }
      } catch (RuntimeException e) {
        failure = e.toString();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failure = "interrupted";
      }
    }

    /** Several probes' samples as one. */
    static Map<String, Object> merged(List<Probe> probes) {
      Probe all = new Probe(null, probes.get(0).name, null, null, List.of(), 0, 0);
      for (Probe p : probes) {
        all.visible.addAll(p.visible);
        all.timeouts += p.timeouts;
        all.polls += p.polls;
        all.primedHits += p.primedHits;
        if (p.failure != null) {
          all.failure = p.failure;
        }
      }
      return all.summary();
    }

    Map<String, Object> summary() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("vote_to_visible_ms", latency(visible));
      m.put("votes_not_visible_within_15s", timeouts);
      m.put("reads", polls);
      if (reader == null) {
        m.put("primed_reads_answered_from_page_cache", primedHits);
      }
      if (failure != null) {
        m.put("failure", failure);
      }
      return m;
    }
  }
}

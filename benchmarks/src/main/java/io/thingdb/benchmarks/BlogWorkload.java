package io.thingdb.benchmarks;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The blog's workload harness (issue 5, "Measured"): drives a running blog over HTTP only (it
 * shares no code with {@code examples/blog}) through {@link MiniHttp} connections.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.thingdb.benchmarks.BlogWorkload COMMAND --base http://127.0.0.1:8080/ ...
 *
 * populate --users N --posts N --comments N --votes N
 *     signs up bench0..bench(N-1) (password "bench-password", or logs them in if they exist), then
 *     submits posts over the blog's communities and adds comments and votes, Zipf over the posts.
 * check --path P --samples N
 *     requests P anonymously N times and prints statuses, X-SQL-Statements, X-Cache-Hits and
 *     X-Page-Cache of each answer as JSON (the warm-cache check next to wrk).
 * mixed --users N --workers N --warmup S --duration S --logged-in-share F --memcached H:P
 *       --app-pid PID --out FILE
 *     the mixed run: 85% page views, 10% votes, 3% comments, 2% submissions, Zipf (exponent
 *     0.99) over the posts found in /new.json; plus two vote-to-visible probes; writes JSON.
 * </pre>
 *
 * <p>Everything random derives from {@code --seed}. Not thread-safe as an object; each worker
 * thread owns its connection and its tallies, merged at the end.
 */
public final class BlogWorkload {
  static final String PASSWORD = "bench-password";
  private static final Pattern CSRF_META =
      Pattern.compile("<meta name=\"csrf-token\" content=\"([^\"]+)\">");
  private static final Pattern CSRF_FIELD = Pattern.compile("name=\"csrf\" value=\"([^\"]+)\"");
  private static final Pattern COMMUNITY = Pattern.compile("href=\"/r/([A-Za-z0-9_]+)/?\"");
  private static final Pattern NAME = Pattern.compile("\"name\":\"(t3_[a-z0-9]+)\"");
  private static final Pattern PERMALINK = Pattern.compile("\"permalink\":\"([^\"]+)\"");
  private static final Pattern AFTER = Pattern.compile("\"after\":(null|\"([^\"]+)\")");
  private static final Pattern SCORE = Pattern.compile("\"score\":(-?\\d+)");

  private BlogWorkload() {}

  /** A logged-in account: its session cookie and CSRF token. */
  record User(String name, String cookie, String csrf) {}

  /** A post: fullname and permalink path. */
  record Post(String name, String permalink) {}

  /** Entry point; see the class comment. */
  public static void main(String[] argv) throws Exception {
    if (argv.length == 0) {
      throw new IllegalArgumentException(
          "usage: BlogWorkload populate|check|mixed --base URL ... (see the class comment)");
    }
    Map<String, String> a = flags(Arrays.copyOfRange(argv, 1, argv.length));
    URI base = URI.create(require(a, "base"));
    switch (argv[0]) {
      case "populate" -> populate(base, a);
      case "check" ->
          System.out.println(check(base, a.getOrDefault("path", "/"), intFlag(a, "samples", 20)));
      case "mixed" -> new BlogMixedRun(base, a).run();
      default ->
          throw new IllegalArgumentException(
              "unknown command " + argv[0] + " (populate, check, mixed)");
    }
  }

  // ------------------------------------------------------------------ accounts

  /** Signs {@code name} up, or logs it in if the name is taken. */
  static User signupOrLogin(MiniHttp http, String name) {
    User u = formLogin(http, "/signup", name);
    return u != null ? u : login(http, name);
  }

  /** Logs in with {@link #PASSWORD}. */
  static User login(MiniHttp http, String name) {
    User u = formLogin(http, "/login", name);
    if (u == null) {
      throw new IllegalStateException(
          "cannot log in as " + name + "; run populate first with as many --users");
    }
    return u;
  }

  /** Posts the login or signup form; null if the server refused (name taken, wrong password). */
  private static User formLogin(MiniHttp http, String path, String name) {
    MiniHttp.Response form = http.get("/login");
    expect(form, 200, "GET /login");
    String anonCookie = cookie(form);
    String csrf = find(CSRF_FIELD, form.text(), "the login form's CSRF field");
    MiniHttp.Response r =
        http.postForm(
            path,
            Map.of("name", name, "password", PASSWORD, "csrf", csrf),
            "Cookie",
            anonCookie,
            "Accept",
            "application/json");
    if (r.status() == 409 || r.status() == 403) {
      return null;
    }
    expect(r, 200, "POST " + path + " as " + name);
    String cookie = cookie(r);
    MiniHttp.Response front = http.get("/?as=" + name, "Cookie", cookie);
    expect(front, 200, "GET / as " + name);
    return new User(
        name, cookie, find(CSRF_META, front.text(), "the csrf-token meta tag of a logged-in page"));
  }

  private static String cookie(MiniHttp.Response r) {
    String set = r.header("Set-Cookie");
    if (set == null) {
      throw new IllegalStateException(
          "expected a Set-Cookie header in a " + r.status() + " answer");
    }
    int eol = set.indexOf('\n');
    String first = eol < 0 ? set : set.substring(0, eol);
    int semi = first.indexOf(';');
    return semi < 0 ? first : first.substring(0, semi);
  }

  // ------------------------------------------------------------------ writes

  static Post submit(
      MiniHttp http, User u, String community, String title, String url, String text) {
    Map<String, String> form = new LinkedHashMap<>();
    form.put("title", title);
    form.put("url", url);
    form.put("text", text);
    form.put("community", community);
    MiniHttp.Response r =
        http.postForm(
            "/submit",
            form,
            "Cookie",
            u.cookie(),
            "X-CSRF-Token",
            u.csrf(),
            "Accept",
            "application/json");
    expect(r, 201, "POST /submit as " + u.name());
    return new Post(
        find(NAME, r.text(), "the new post's name"),
        find(PERMALINK, r.text(), "the new post's permalink"));
  }

  static MiniHttp.Response vote(MiniHttp http, User u, String fullname, int dir) {
    return http.postForm(
        "/vote",
        Map.of("id", fullname, "dir", Integer.toString(dir)),
        "Cookie",
        u.cookie(),
        "X-CSRF-Token",
        u.csrf(),
        "Accept",
        "application/json");
  }

  static MiniHttp.Response comment(MiniHttp http, User u, String linkName, String text) {
    return http.postForm(
        "/comment",
        Map.of("link", linkName, "text", text),
        "Cookie",
        u.cookie(),
        "X-CSRF-Token",
        u.csrf(),
        "Accept",
        "application/json");
  }

  // ------------------------------------------------------------------ populate

  private static void populate(URI base, Map<String, String> a) throws Exception {
    int users = intFlag(a, "users", 50);
    int posts = intFlag(a, "posts", 300);
    int comments = intFlag(a, "comments", 300);
    int votes = intFlag(a, "votes", 2000);
    long seed = Long.parseLong(a.getOrDefault("seed", "42"));
    long started = System.nanoTime();
    List<User> accounts = loginAll(base, users, true);
    List<String> communities = communities(base);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Post> created = java.util.Collections.synchronizedList(new ArrayList<>());
      runSplit(
          pool,
          base,
          posts,
          seed,
          (http, rnd, i) -> {
            User u = accounts.get(rnd.nextInt(accounts.size()));
            String community = communities.get(i % communities.size());
            boolean self = i % 5 == 0;
            created.add(
                submit(
                    http,
                    u,
                    community,
                    "Benchmark post " + i + " about " + community,
                    self ? "" : "https://example.com/bench/" + i,
                    self ? "A text post, number " + i + "." : ""));
          });
      // The listing queue applies the new posts in the background: wait until /new.json has them.
      List<Post> all = discoverPosts(base);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      for (int bust = 1; all.size() < created.size(); bust++) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "/new.json lists "
                  + all.size()
                  + " posts two minutes after "
                  + created.size()
                  + " were submitted: is the listing queue stuck?");
        }
        TimeUnit.MILLISECONDS.sleep(500);
        all = discoverPosts(base, "&populate=" + bust);
      }
      List<Post> zipfSet = all;
      int[] zipf = Keys.zipfSequence(all.size(), 1 << 16, seed);
      AtomicInteger next = new AtomicInteger();
      runSplit(
          pool,
          base,
          comments,
          seed + 1,
          (http, rnd, i) -> {
            User u = accounts.get(rnd.nextInt(accounts.size()));
            Post p = zipfSet.get(zipf[next.getAndIncrement() & (zipf.length - 1)]);
            expect(
                comment(http, u, p.name(), "Comment " + i + " from " + u.name()),
                201,
                "POST /comment");
          });
      runSplit(
          pool,
          base,
          votes,
          seed + 2,
          (http, rnd, i) -> {
            User u = accounts.get(rnd.nextInt(accounts.size()));
            Post p = zipfSet.get(zipf[next.getAndIncrement() & (zipf.length - 1)]);
            expect(vote(http, u, p.name(), rnd.nextInt(5) == 0 ? -1 : 1), 200, "POST /vote");
          });
      System.out.printf(
          "populated in %.1f s: %d users, %d new posts (%d posts in /new.json), %d comments, %d votes"
              + " over communities %s%n",
          (System.nanoTime() - started) / 1e9,
          accounts.size(),
          created.size(),
          all.size(),
          comments,
          votes,
          communities);
    } finally {
      pool.shutdownNow();
    }
  }

  interface Task {
    void run(MiniHttp http, Random rnd, int i);
  }

  /**
   * Runs tasks 0..n-1 on the pool's four threads, each thread with its own connection and random;
   * the first failure is thrown.
   */
  private static void runSplit(ExecutorService pool, URI base, int n, long seed, Task task)
      throws Exception {
    AtomicInteger next = new AtomicInteger();
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      long s = seed * 31 + t;
      futures.add(
          pool.submit(
              () -> {
                Random rnd = new Random(s);
                try (MiniHttp http = new MiniHttp(base)) {
                  for (int i; (i = next.getAndIncrement()) < n; ) {
                    task.run(http, rnd, i);
                  }
                }
                return null;
              }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
  }

  /** Logs in (or signs up) bench0..bench(n-1), four at a time. */
  static List<User> loginAll(URI base, int n, boolean signup) throws Exception {
    User[] out = new User[n];
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      runSplit(
          pool,
          base,
          n,
          7,
          (http, rnd, i) ->
              out[i] = signup ? signupOrLogin(http, "bench" + i) : login(http, "bench" + i));
    } finally {
      pool.shutdownNow();
    }
    return List.of(out);
  }

  /** The communities the front page links to. */
  static List<String> communities(URI base) {
    try (MiniHttp http = new MiniHttp(base)) {
      MiniHttp.Response r = http.get("/?communities");
      expect(r, 200, "GET /");
      Set<String> names = new LinkedHashSet<>();
      Matcher m = COMMUNITY.matcher(r.text());
      while (m.find()) {
        names.add(m.group(1));
      }
      if (names.isEmpty()) {
        throw new IllegalStateException("the front page links to no community (/r/NAME)");
      }
      return new ArrayList<>(names);
    }
  }

  /** Every post in /new.json, paged with after. */
  static List<Post> discoverPosts(URI base) {
    return discoverPosts(base, "");
  }

  /**
   * Every post in /new.json, paged with after; {@code query} is appended (to bypass the page
   * cache).
   */
  static List<Post> discoverPosts(URI base, String query) {
    List<Post> out = new ArrayList<>();
    try (MiniHttp http = new MiniHttp(base)) {
      String after = null;
      do {
        MiniHttp.Response r =
            http.get("/new.json?limit=100" + (after == null ? "" : "&after=" + after) + query);
        expect(r, 200, "GET /new.json");
        String body = r.text();
        Matcher names = NAME.matcher(body);
        Matcher links = PERMALINK.matcher(body);
        while (names.find()) {
          if (!links.find()) {
            throw new IllegalStateException("a post in /new.json has no permalink: " + body);
          }
          out.add(new Post(names.group(1), links.group(1)));
        }
        Matcher m = AFTER.matcher(body);
        after = m.find() && m.group(2) != null ? m.group(2) : null;
      } while (after != null);
    }
    if (out.isEmpty()) {
      throw new IllegalStateException("/new.json lists no posts: run populate first");
    }
    return out;
  }

  // ------------------------------------------------------------------ check

  /** {@code samples} anonymous requests of {@code path}; their headers as JSON. */
  static String check(URI base, String path, int samples) {
    Map<String, Integer> statuses = new TreeMap<>();
    Map<String, Integer> pageCache = new TreeMap<>();
    List<Long> sql = new ArrayList<>();
    List<Long> cacheHits = new ArrayList<>();
    int bytes = 0;
    try (MiniHttp http = new MiniHttp(base)) {
      for (int i = 0; i < samples; i++) {
        MiniHttp.Response r = http.get(path);
        statuses.merge(Integer.toString(r.status()), 1, Integer::sum);
        pageCache.merge(String.valueOf(r.header("X-Page-Cache")), 1, Integer::sum);
        sql.add(r.longHeader("X-SQL-Statements"));
        cacheHits.add(r.longHeader("X-Cache-Hits"));
        bytes = r.body().length;
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("path", path);
    out.put("samples", samples);
    out.put("body_bytes", bytes);
    out.put("status", statuses);
    out.put("x_page_cache", pageCache);
    out.put("x_sql_statements", sql);
    out.put("x_sql_statements_total", sql.stream().mapToLong(Long::longValue).sum());
    out.put("x_cache_hits", cacheHits);
    return JsonOut.write(out);
  }

  // ------------------------------------------------------------------ helpers

  static void expect(MiniHttp.Response r, int status, String what) {
    if (r.status() != status) {
      String body = r.text();
      throw new IllegalStateException(
          what
              + " answered "
              + r.status()
              + " (expected "
              + status
              + "): "
              + (body.length() > 300 ? body.substring(0, 300) + "..." : body));
    }
  }

  static String find(Pattern p, String text, String what) {
    Matcher m = p.matcher(text);
    if (!m.find()) {
      throw new IllegalStateException(
          "cannot find "
              + what
              + " in: "
              + (text.length() > 300 ? text.substring(0, 300) + "..." : text));
    }
    return m.group(1);
  }

  static int score(String postJson) {
    return Integer.parseInt(find(SCORE, postJson, "the post's score"));
  }

  static Map<String, String> flags(String[] args) {
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --flag value pairs, got '" + args[i] + "'");
      }
      out.put(args[i].substring(2), args[++i]);
    }
    return out;
  }

  static String require(Map<String, String> a, String name) {
    String v = a.get(name);
    if (v == null) {
      throw new IllegalArgumentException("--" + name + " is required");
    }
    return v;
  }

  static int intFlag(Map<String, String> a, String name, int dflt) {
    String v = a.get(name);
    try {
      return v == null ? dflt : Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "--" + name + " must be a whole number, was '" + v + "'", e);
    }
  }

  /** memcached's {@code stats} as a map, from a raw socket. */
  static Map<String, Long> memcachedStats(String server) {
    int colon = server.lastIndexOf(':');
    try (Socket s = new Socket()) {
      s.connect(
          new InetSocketAddress(
              server.substring(0, colon), Integer.parseInt(server.substring(colon + 1))),
          2000);
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write("stats\r\n".getBytes(US_ASCII));
      out.flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), US_ASCII));
      Map<String, Long> stats = new LinkedHashMap<>();
      for (String line; (line = in.readLine()) != null && !line.equals("END"); ) {
        String[] p = line.split(" ");
        if (p.length == 3 && p[0].equals("STAT")) {
          try {
            stats.put(p[1], Long.parseLong(p[2]));
          } catch (NumberFormatException e) {
            // non-numeric stats (version, libevent) are not needed
          }
        }
      }
      return stats;
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot read stats from memcached " + server + ": " + e.getMessage(), e);
    }
  }

  /** CPU seconds (user + system) of a process, from /proc; -1 when unknown. */
  static double cpuSeconds(long pid) {
    if (pid <= 0) {
      return -1;
    }
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      // fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  static String loadAverage() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).trim();
    } catch (IOException e) {
      return "unknown";
    }
  }

  static String now() {
    return Instant.now().toString();
  }
}

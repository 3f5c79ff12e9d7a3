package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.MeterRegistry;
import io.thingdb.cache.VersionedCache;
import io.thingdb.core.DatabaseUnavailableException;
import io.thingdb.core.OutcomeUnknownException;
import io.thingdb.core.Scope;
import io.thingdb.core.Thing;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP side: the JDK's {@code HttpServer}, the routes, and what every request goes through —
 * the session cookie, the CSRF check on every POST, the anonymous page cache ({@link PageCache}),
 * error pages, and one log line per request with its status, time, SQL statements and cache hits
 * (also sent as the {@code X-SQL-Statements}, {@code X-Cache-Hits} and {@code X-Page-Cache}
 * headers).
 *
 * <p>Thread-safe; requests run on a fixed pool of {@code blog-http-*} threads.
 */
final class BlogServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(BlogServer.class);

  private record Route(String method, Pattern pattern, Handler handler) {}

  /**
   * Sent with every answer: scripts, styles, fetches and form targets from this site only, no
   * inline script or style and no event-handler attributes (a script that slipped past the
   * templates' escaping cannot run), no plugins, and no framing by any site (clickjacking; also
   * said by {@code X-Frame-Options: DENY} for older browsers). The templates and {@code
   * /static/blog.js} satisfy it; the real-browser test fails on any violation in the console.
   */
  static final String CONTENT_SECURITY_POLICY =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
          + " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

  /** The most request headers the blog answers; more get 431. */
  static final int MAX_HEADERS = 100;

  /** The most bytes of request headers (names, values, separators) the blog answers; more: 431. */
  static final int MAX_HEADER_BYTES = 64 * 1024;

  /** The JDK's ceilings, above which it closes the connection without an answer. */
  static final int JDK_MAX_HEADERS = 1000;

  static final int JDK_MAX_HEADER_BYTES = 5 * 1024 * 1024;

  private final Site site;
  private final Views views;
  private final List<Route> routes = new ArrayList<>();

  /** The paths of form pages: GETs that carry the visitor's CSRF token, never page-cached. */
  private final Set<String> forms = new HashSet<>();

  private final Map<String, byte[]> statics = new LinkedHashMap<>();
  private final PageCache pages;
  private final HttpServer server;
  private final ExecutorService pool;
  private final AccessLog accessLog;
  private final java.util.function.Function<String, io.thingdb.core.Session> restore =
      this::restore;

  /** Whether this process serves the site (role {@code web}); else only health and metrics. */
  private final boolean web;

  /** The Prometheus text of {@code /metrics}. */
  private final java.util.function.Supplier<String> metrics;

  /** Request-thread CPU per kind of request ({@link RequestKind}). */
  private final RequestCpu requestCpu;

  /**
   * A server on {@code host:port} with {@code threads} request threads, keeping anonymous pages in
   * {@code pageCache} for the configured page TTL, and writing its access log to {@code accessLog}
   * (null: no access log).
   */
  BlogServer(
      Site site,
      VersionedCache pageCache,
      String host,
      int port,
      int threads,
      AccessLog accessLog,
      boolean web,
      MeterRegistry registry,
      java.util.function.Supplier<String> metrics)
      throws IOException {
    this.site = site;
    this.requestCpu = new RequestCpu(registry);
    this.accessLog = accessLog;
    this.web = web;
    this.metrics = metrics;
    this.views = new Views(site);
    this.pages =
        new PageCache(
            pageCache,
            site.config.pageCacheTtl,
            this::renderAnonymous,
            restore,
            () -> site.db.unavailable().isPresent(),
            this::epochs);
    PostsHandler posts = new PostsHandler(site, views);
    CommentsHandler comments = new CommentsHandler(site);
    AccountsHandler accounts = new AccountsHandler(site, views);
    VotesHandler votes = new VotesHandler(site);
    ApiHandler api = new ApiHandler(site, views, posts, accounts);

    String listing = "(?:/r/([A-Za-z0-9_]+))?(?:/(hot|new|top|controversial))?/?";
    page(listing, posts::listing);
    page(listing + "\\.json", api::listing);
    page("/r/([A-Za-z0-9_]+)/comments/([a-z0-9]+)/?", posts::permalink);
    page("/r/([A-Za-z0-9_]+)/comments/([a-z0-9]+)\\.json", api::permalink);
    page("/by_id/([^/]+)\\.json", api::byId);
    page("/user/([A-Za-z0-9_-]+)/?", accounts::user);
    page("/user/([A-Za-z0-9_-]+)\\.json", api::user);
    form("/submit", posts::submitForm);
    form("/login", accounts::loginForm);
    form("/signup", accounts::loginForm);
    post("/submit", posts::submit);
    post("/comment", comments::post);
    post("/vote", votes::vote);
    post("/signup", accounts::signup);
    post("/login", accounts::login);
    post("/logout", accounts::logout);
    post("/password", accounts::changePassword);
    post("/prefs", accounts::preferences);
    post("/admin/spammer", accounts::markSpammer);
    for (String name : List.of("style.css", "blog.js")) {
      try (InputStream in = BlogServer.class.getResourceAsStream("/static/" + name)) {
        if (in == null) {
          throw new IllegalStateException("static/" + name + " is missing from the classpath");
        }
        statics.put("/static/" + name, in.readAllBytes());
      }
    }

    // Without TCP_NODELAY, Nagle's algorithm meets the client's delayed ACK and each small
    // response waits about 40 ms: the server's throughput drops from tens of thousands of
    // requests per second to hundreds. The JDK reads this property once, when its server class
    // initialises, so it must be set before the first HttpServer is created.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    // The JDK's own header limits (JDK 17: 200 headers, 380 KiB) are enforced while it reads the
    // request head, before any handler runs, and a request beyond them gets no answer at all: the
    // connection is closed. So the JDK is told to read heads up to a higher ceiling and the blog
    // answers 431 itself above its own limits (MAX_HEADERS, MAX_HEADER_BYTES). Beyond the ceiling
    // the JDK still drops the connection without an answer. The ceiling costs memory only while a
    // request thread reads such a head: at most http-threads heads at once. Read once, when the
    // JDK's server configuration initialises; a value the operator set is kept.
    setIfAbsent("sun.net.httpserver.maxReqHeaders", Integer.toString(JDK_MAX_HEADERS));
    setIfAbsent("sun.net.httpserver.maxReqHeaderSize", Integer.toString(JDK_MAX_HEADER_BYTES));
    this.server = HttpServer.create(new InetSocketAddress(host, port), 256);
    AtomicInteger n = new AtomicInteger();
    this.pool =
        Executors.newFixedThreadPool(
            threads,
            r -> {
              Thread t = new Thread(r, "blog-http-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(pool);
    server.createContext("/", this::serve);
  }

  /**
   * A GET whose answer to anonymous visitors is the same for all of them. Anonymous GETs of every
   * path but a form's are answered through the page cache (unknown paths too: their 404 is not
   * kept); a logged-in visitor's page is rendered for them.
   */
  private void page(String regex, Handler h) {
    routes.add(new Route("GET", Pattern.compile(regex), h));
  }

  /** A GET of a form page at {@code path}: rendered for each visitor, never cached. */
  private void form(String path, Handler h) {
    forms.add(path);
    routes.add(new Route("GET", Pattern.compile(Pattern.quote(path)), h));
  }

  private void post(String path, Handler h) {
    routes.add(new Route("POST", Pattern.compile(Pattern.quote(path)), h));
  }

  void start() {
    server.start();
  }

  /**
   * Drops the anonymous pages (HTML and JSON) that {@code pathAndQuery} is answered from, so the
   * next anonymous GET renders it afresh (tests).
   */
  void forgetPage(String pathAndQuery) {
    URI uri = URI.create(pathAndQuery);
    Request r =
        Request.anonymousGet(
            uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()),
            false,
            restore);
    pages.forget(r.pageKey());
  }

  /** The cache epochs of the databases pages are rendered from, for the page cache's keys. */
  private String epochs() {
    String main = site.db.cacheEpoch("main").token();
    return site.config.commentsDbUrl == null
        ? main
        : main + "," + site.db.cacheEpoch("comments").token();
  }

  /** The bound port. */
  int port() {
    return server.getAddress().getPort();
  }

  private void serve(HttpExchange ex) {
    long start = System.nanoTime();
    long cpuStart = RequestCpu.threadCpuNanos();
    long jdbcBefore = SqlCounter.current();
    Request req = new Request(ex);
    Response resp;
    String pageCache = "-";
    long statements;
    long cacheHits;
    try (Scope scope = site.db.scope()) {
      try {
        checkHeaders(ex);
        resp = operational(req);
        if (resp == null && !web) {
          throw new HttpError(
              404, "this process serves only /healthz and /metrics (its roles do not include web)");
        }
        if (resp == null) {
          resp = statics.containsKey(req.path()) ? staticFile(req) : null;
        }
        if (resp == null) {
          identify(req);
          if (req.method().equals("GET") && req.viewer() == null && !forms.contains(req.path())) {
            pageCache = PageCache.MISS; // what the log says if the render fails
            PageCache.Page page = pages.get(req.pageKey(), req.wantsJson());
            resp = page.response();
            pageCache = page.how();
          } else {
            resp = route(req);
          }
        }
      } catch (HttpError e) {
        resp = error(req, e.status(), e.getMessage());
        if (e.retryAfterSeconds() >= 0) {
          resp.header("Retry-After", Long.toString(e.retryAfterSeconds()));
        }
      } catch (IOException | UncheckedIOException e) {
        resp = error(req, 400, "could not read the request: " + e.getMessage());
      } catch (RuntimeException e) {
        Unavailable down = Unavailable.of(e);
        if (down != null) {
          // Expected while a database is down: one line, no stack trace (ThingDB's circuit logs
          // the outage itself once).
          log.warn("{} {} answered 503: {}", req.method(), req.path(), down.reason());
          resp = unavailable(req, down);
        } else {
          log.error("{} {} failed", req.method(), req.path(), e);
          resp = error(req, 500, "something went wrong on our side; it has been logged");
        }
      }
      statements = scope.statements() + SqlCounter.current() - jdbcBefore;
      cacheHits =
          scope.cacheHits()
              + (pageCache.equals(PageCache.HIT) || pageCache.equals(PageCache.STALE) ? 1 : 0);
    }
    if (req.newSession && resp.status < 400) {
      resp.header("Set-Cookie", site.cookies.setCookie(req.session(), site.secureCookies(req)));
    }
    // A write recorded a new WAL position (only with replicas configured): the visitor carries it.
    io.thingdb.core.Session db = req.dbSessionIfUsed();
    if (db != null) {
      String token = db.token();
      if (!token.isEmpty() && !token.equals(req.positionsIn)) {
        resp.header("Set-Cookie", site.cookies.setPositionsCookie(token, site.secureCookies(req)));
      }
    }
    String cacheControl = cacheControl(req, resp, pageCache);
    if (cacheControl != null) {
      resp.header("Cache-Control", cacheControl);
    }
    resp.header("X-SQL-Statements", Long.toString(statements));
    resp.header("X-Cache-Hits", Long.toString(cacheHits));
    resp.header("X-Page-Cache", pageCache);
    try {
      write(ex, resp);
    } catch (IOException e) {
      log.debug("{} {}: client went away: {}", req.method(), req.path(), e.getMessage());
    } finally {
      ex.close();
    }
    requestCpu.record(
        RequestCpu.kind(req.method(), req.path(), req.viewer() != null, pageCache),
        RequestCpu.threadCpuNanos() - cpuStart);
    if (accessLog != null) {
      accessLog.request(
          req.method(),
          req.pathAndQuery(),
          resp.status,
          System.nanoTime() - start,
          statements,
          cacheHits,
          pageCache);
    }
  }

  /**
   * {@code /healthz} (a load balancer's check: 200 while the main database's circuit is closed, 503
   * with the reason while it is open) and {@code /metrics} (Prometheus text); null for any other
   * request.
   */
  private Response operational(Request req) {
    if (!req.method().equals("GET")) {
      return null;
    }
    if (req.path().equals("/healthz")) {
      Optional<io.thingdb.core.DatabaseUnavailableException> down = site.db.unavailable("main");
      return down.isEmpty()
          ? Response.of(200, "text/plain; charset=utf-8", "ok\n".getBytes(UTF_8))
          : Response.of(
              503,
              "text/plain; charset=utf-8",
              ("unavailable: " + down.get().getMessage() + "\n").getBytes(UTF_8));
    }
    if (req.path().equals("/metrics")) {
      return Response.of(
          200, "text/plain; version=0.0.4; charset=utf-8", metrics.get().getBytes(UTF_8));
    }
    return null;
  }

  /**
   * What a shared cache in front (a CDN, HAProxy's cache) may do with a response: keep an anonymous
   * page served through the page cache for its TTL; keep nothing else (logged-in pages, forms,
   * responses that set a cookie, errors, health and metrics). A shared cache must still pass every
   * request that carries the session cookie to the app: it cannot see who is logged in. Null if the
   * response says it already (static files).
   */
  private String cacheControl(Request req, Response resp, String pageCache) {
    for (String[] h : resp.headers) {
      if (h[0].equalsIgnoreCase("Cache-Control")) {
        return null;
      }
    }
    boolean setsCookie = resp.headers.stream().anyMatch(h -> h[0].equalsIgnoreCase("Set-Cookie"));
    if (!pageCache.equals("-") && resp.status == 200 && req.viewer() == null && !setsCookie) {
      return "public, max-age=" + site.config.pageCacheTtl.toSeconds();
    }
    return "private, no-store";
  }

  /**
   * Refuses with 431 a request whose headers exceed {@link #MAX_HEADERS} or {@link
   * #MAX_HEADER_BYTES}.
   */
  private static void checkHeaders(HttpExchange ex) {
    int count = 0;
    long bytes = 0;
    for (Map.Entry<String, List<String>> e : ex.getRequestHeaders().entrySet()) {
      for (String v : e.getValue()) {
        count++;
        bytes += e.getKey().length() + 4L + (v == null ? 0 : v.length()); // "name: value\r\n"
      }
    }
    if (count > MAX_HEADERS || bytes > MAX_HEADER_BYTES) {
      throw new HttpError(
          431,
          "the request headers are too large ("
              + count
              + " headers, "
              + bytes
              + " bytes; the limits are "
              + MAX_HEADERS
              + " headers and "
              + MAX_HEADER_BYTES
              + " bytes): nothing was read");
    }
  }

  private static void setIfAbsent(String property, String value) {
    if (System.getProperty(property) == null) {
      System.setProperty(property, value);
    }
  }

  /**
   * Reads the session cookie and, for a logged-in session, the account (cache first; from a replica
   * only if it has replayed the visitor's own writes, such as the signup). A cookie whose session
   * generation is not the account's (issued before a logout or a password change) makes the visitor
   * anonymous: that is what revokes every copy of it.
   */
  private void identify(Request req) {
    SessionCookies.Session s = site.cookies.decode(req.cookie(SessionCookies.NAME));
    req.session = s;
    req.positionsIn = site.cookies.decodePositions(req.cookie(SessionCookies.POSITIONS));
    req.sessions(restore);
    if (s != null && s.loggedIn()) {
      Thing account =
          site.db.withSession(req.dbSession()).get(Models.ACCOUNT, s.accountId()).orElse(null);
      if (account == null || account.get(Models.SESSION_GENERATION) != s.generation()) {
        req.session = null; // the account is gone, or the session was revoked: anonymous again
      } else {
        req.viewer = account;
      }
    }
  }

  /** A ThingDb session from a verified token; a token this ThingDb cannot read counts as none. */
  private io.thingdb.core.Session restore(String token) {
    try {
      return site.db.session(token);
    } catch (IllegalArgumentException e) {
      log.debug("ignoring an unreadable positions token: {}", e.getMessage());
      return site.db.session();
    }
  }

  private Response route(Request req) throws IOException {
    boolean pathKnown = false;
    for (Route r : routes) {
      Matcher m = r.pattern.matcher(req.path());
      if (!m.matches()) {
        continue;
      }
      pathKnown = true;
      if (!r.method.equals(req.method())) {
        continue;
      }
      req.match(m);
      if (r.method.equals("POST")) {
        checkCsrf(req);
      }
      return r.handler.handle(req);
    }
    if (pathKnown) {
      throw new HttpError(
          405, req.method() + " is not allowed on " + Request.abbreviate(req.path()));
    }
    throw HttpError.notFound("there is no page at " + Request.abbreviate(req.path()));
  }

  /**
   * Every POST carries the session's CSRF token (form field {@code csrf} or header {@code
   * X-CSRF-Token}); another site can make a browser send the cookie, but cannot read the token.
   */
  private void checkCsrf(Request req) throws IOException {
    String token = req.header("X-CSRF-Token");
    if (token == null) {
      token = req.form("csrf");
    }
    if (!site.cookies.checkCsrf(req.session(), token)) {
      throw HttpError.forbidden(
          "the form's security token (CSRF) is missing or wrong: reload the page and try again;"
              + " nothing was saved");
    }
  }

  /**
   * A request that failed because a database could not be reached, found in the exception's causes:
   * ThingDB's {@link DatabaseUnavailableException} (its circuit is open, or connecting failed), a
   * write whose COMMIT was cut off ({@link OutcomeUnknownException}: it may have been saved), or a
   * connection failure of the blog's own SQL (SQLSTATE class 08, 57P01-57P03, a pool timeout).
   *
   * @param maybeSaved whether the write may have been saved
   * @param retryAfter when to try again
   * @param reason the failure, for the log
   */
  record Unavailable(boolean maybeSaved, Duration retryAfter, String reason) {
    static Unavailable of(Throwable e) {
      boolean maybeSaved = false;
      Duration retryAfter = null;
      Throwable found = null;
      Throwable t = e;
      for (int depth = 0; t != null && depth < 16; depth++, t = t.getCause()) {
        if (t instanceof OutcomeUnknownException) {
          maybeSaved = true;
          found = found == null ? t : found;
        } else if (t instanceof DatabaseUnavailableException d) {
          retryAfter = d.retryAfter();
          found = found == null ? t : found;
          break;
        } else if (t instanceof SQLException s && connectionFailure(s)) {
          found = found == null ? t : found;
        }
      }
      if (found == null) {
        return null;
      }
      return new Unavailable(
          maybeSaved,
          retryAfter == null ? Duration.ofSeconds(1) : retryAfter,
          found.getClass().getSimpleName() + ": " + found.getMessage());
    }

    private static boolean connectionFailure(SQLException s) {
      String state = s.getSQLState();
      return s instanceof SQLTransientConnectionException
          || (state != null && (state.startsWith("08") || state.startsWith("57P0")));
    }

    /** {@code Retry-After} in whole seconds, at least 1. */
    long retryAfterSeconds() {
      return Math.max(1, (retryAfter.toMillis() + 999) / 1000);
    }
  }

  private Response unavailable(Request req, Unavailable down) {
    long seconds = down.retryAfterSeconds();
    String message =
        down.maybeSaved()
            ? "the database failed while this was being saved, so it may or may not have been"
                + " saved: reload the page to see, in "
                + seconds
                + (seconds == 1 ? " second" : " seconds")
            : "the database is unavailable right now, so this could not be done and nothing was"
                + " saved; try again in "
                + seconds
                + (seconds == 1 ? " second" : " seconds");
    return error(req, 503, message).header("Retry-After", Long.toString(seconds));
  }

  private Response staticFile(Request req) {
    String type =
        req.path().endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    return Response.of(200, type, statics.get(req.path()))
        .header("Cache-Control", "public, max-age=3600");
  }

  private Response error(Request req, int status, String message) {
    if (req.wantsJson()) {
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("error", status);
      body.put("message", message);
      return Response.json(status, Json.write(body));
    }
    Map<String, Object> scope;
    try {
      scope = views.page(req, "error " + status);
    } catch (RuntimeException e) {
      scope = new LinkedHashMap<>();
      scope.put("title", "error " + status);
    }
    scope.put("status", status);
    scope.put("message", message);
    byte[] body = site.templates.render("error", scope).getBytes(UTF_8);
    return Response.of(status, "text/html; charset=utf-8", body);
  }

  /**
   * The page cache's renderer: what any anonymous visitor gets for a GET, error pages included.
   * Runs on a request thread or on a background refresh thread.
   */
  private Response renderAnonymous(Request anonymous) {
    try {
      return route(anonymous);
    } catch (HttpError e) {
      return error(anonymous, e.status(), e.getMessage());
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a GET has no body to fail reading
    }
  }

  private static void write(HttpExchange ex, Response resp) throws IOException {
    ex.getResponseHeaders().set("Content-Type", resp.contentType);
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    ex.getResponseHeaders().set("Referrer-Policy", "same-origin");
    ex.getResponseHeaders().set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    ex.getResponseHeaders().set("X-Frame-Options", "DENY");
    for (String[] h : resp.headers) {
      ex.getResponseHeaders().add(h[0], h[1]);
    }
    ex.sendResponseHeaders(resp.status, resp.bodyLength == 0 ? -1 : resp.bodyLength);
    if (resp.bodyLength > 0) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(resp.body, resp.bodyOffset, resp.bodyLength);
      }
    }
  }

  /**
   * Stops accepting requests, lets running ones finish (up to 2 s), stops the threads, then writes
   * the rest of the access log.
   */
  @Override
  public void close() {
    server.stop(2);
    pool.shutdown();
    try {
      if (!pool.awaitTermination(5, TimeUnit.SECONDS)) {
        pool.shutdownNow();
      }
    } catch (InterruptedException e) {
      pool.shutdownNow();
      Thread.currentThread().interrupt();
    }
    if (accessLog != null) {
      accessLog.close();
    }
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import io.thingdb.core.Thing;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;

/**
 * One HTTP request as the handlers see it: method, path, query and form parameters, cookies, and
 * the visitor (session and account), with the body read at most once and capped; and the reads
 * every handler shares (trimmed form fields, the listing's {@code after} and {@code limit}, the
 * login a page needs). Not thread-safe: one request is handled by one thread.
 */
public final class Request {
  /** The largest request body read; a larger one is refused with 413 and nothing is written. */
  public static final int MAX_BODY_BYTES = 256 * 1024;

  /**
   * Bodies up to this size are read and discarded before the 413, so the client sees the answer.
   */
  private static final long MAX_DRAIN_BYTES = 64L * 1024 * 1024;

  /** Listing items per page unless {@code limit} says otherwise. */
  static final int DEFAULT_LIMIT = 25;

  /** The largest {@code limit} a listing page accepts. */
  static final int MAX_LIMIT = 100;

  private final String method;
  private final String path;
  private final String rawQuery;
  private final Headers headers;
  private final InputStream body;
  private final Map<String, List<String>> query;
  private final Map<String, String> cookies;
  private Map<String, List<String>> form;
  private Matcher match;
  SessionCookies.Session session;
  Thing viewer;
  boolean newSession;

  /** The token of the WAL positions cookie as received (verified), or null. */
  String positionsIn;

  /** The client's IP address (the peer of the connection), for per-address throttling. */
  private final String clientAddress;

  /** Whether the request reached us over HTTPS (directly, or as a proxy in front says). */
  private final boolean https;

  private io.thingdb.core.Session db;
  private java.util.function.Function<String, io.thingdb.core.Session> sessions;

  Request(HttpExchange exchange) {
    this(
        exchange.getRequestMethod(),
        exchange.getRequestURI().getRawPath(),
        exchange.getRequestURI().getRawQuery(),
        exchange.getRequestHeaders(),
        exchange.getRequestBody(),
        exchange.getRemoteAddress() == null || exchange.getRemoteAddress().getAddress() == null
            ? "unknown"
            : exchange.getRemoteAddress().getAddress().getHostAddress(),
        exchange instanceof com.sun.net.httpserver.HttpsExchange
            || "https"
                .equalsIgnoreCase(exchange.getRequestHeaders().getFirst("X-Forwarded-Proto")));
  }

  private Request(
      String method,
      String rawPath,
      String rawQuery,
      Headers headers,
      InputStream body,
      String clientAddress,
      boolean https) {
    this.clientAddress = clientAddress;
    this.https = https;
    this.method = method;
    this.path = rawPath;
    this.rawQuery = rawQuery;
    this.headers = headers;
    this.body = body;
    this.query = parseForm(rawQuery);
    this.cookies = parseCookies(headers.get("Cookie"));
  }

  /**
   * A GET of {@code pathAndQuery} (as {@link #pageKey()} gives it) from a visitor without cookies,
   * asking for JSON if {@code json}: what the page cache renders once for every anonymous visitor,
   * on whichever thread refreshes the page. It reads with a fresh ThingDb session from {@code
   * sessions}.
   */
  static Request anonymousGet(
      String pathAndQuery,
      boolean json,
      java.util.function.Function<String, io.thingdb.core.Session> sessions) {
    int q = pathAndQuery.indexOf('?'); // a raw path has no '?': it would be percent-encoded
    Headers headers = new Headers();
    if (json) {
      headers.set("Accept", "application/json");
    }
    String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
    String query = q < 0 ? null : pathAndQuery.substring(q + 1);
    Request r =
        new Request(
            "GET", path, query, headers, InputStream.nullInputStream(), "page-cache", false);
    r.sessions(sessions);
    return r;
  }

  /** GET, POST, ... */
  public String method() {
    return method;
  }

  /** The raw path, e.g. {@code /r/java/top.json}. */
  public String path() {
    return path;
  }

  /**
   * The path and query as received (the access log shows it; the page cache uses {@link #pageKey}).
   */
  public String pathAndQuery() {
    return rawQuery == null ? path : path + "?" + rawQuery;
  }

  /** The client's IP address as the connection shows it. */
  public String clientAddress() {
    return clientAddress;
  }

  /**
   * Whether the request came over HTTPS: an HTTPS server, or {@code X-Forwarded-Proto: https} from
   * a proxy in front (trusting it can only add {@code Secure} to cookies, which costs nothing).
   */
  public boolean https() {
    return https;
  }

  /**
   * The query parameters any page reads; the anonymous page cache's key keeps these and drops every
   * other one, so that random query strings share one entry instead of each rendering and storing a
   * page of its own.
   */
  static final List<String> PAGE_PARAMETERS = List.of("t", "after", "limit");

  /**
   * The key of the anonymous page cache: the path and, of the query, only the {@link
   * #PAGE_PARAMETERS} (the first value of each, in that order, re-encoded). Two requests with the
   * same key get the same page.
   */
  public String pageKey() {
    StringBuilder key = new StringBuilder(path);
    char sep = '?';
    for (String name : PAGE_PARAMETERS) {
      String v = query(name);
      if (v != null) {
        key.append(sep).append(name).append('=').append(java.net.URLEncoder.encode(v, UTF_8));
        sep = '&';
      }
    }
    return key.toString();
  }

  /** A request header, or null. */
  public String header(String name) {
    return headers.getFirst(name);
  }

  /** A cookie's value, or null. */
  public String cookie(String name) {
    return cookies.get(name);
  }

  /** A query parameter, or null. */
  public String query(String name) {
    List<String> v = query.get(name);
    return v == null ? null : v.get(0);
  }

  /** A path group of the route's pattern. */
  public String pathParam(int group) {
    return match.group(group);
  }

  void match(Matcher m) {
    this.match = m;
  }

  /** The logged-in account, or null for an anonymous visitor. */
  public Thing viewer() {
    return viewer;
  }

  /**
   * The logged-in account, or a 401 saying what needs a login ({@code what}: "vote", "comment").
   */
  public Thing requireViewer(String what) {
    if (viewer == null) {
      throw new HttpError(401, "log in to " + what);
    }
    return viewer;
  }

  /** The fullname a listing page continues after ({@code after}), or null for the first page. */
  public String after() {
    String after = query("after");
    return after == null || after.isEmpty() ? null : after;
  }

  /**
   * Items per listing page: {@code limit}, 1 to 100 (default 25), or a 400 naming the bad value.
   */
  public int limit() {
    String text = query("limit");
    if (text == null || text.isEmpty()) {
      return DEFAULT_LIMIT;
    }
    try {
      int n = Integer.parseInt(text);
      if (n >= 1 && n <= MAX_LIMIT) {
        return n;
      }
    } catch (NumberFormatException e) {
      // answered below
    }
    throw HttpError.badRequest(
        "limit must be a whole number from 1 to " + MAX_LIMIT + ", was '" + abbreviate(text) + "'");
  }

  /**
   * The session, creating an anonymous one (set as a cookie with the response) if the visitor has
   * none: forms shown to anonymous visitors need it for their CSRF token.
   */
  SessionCookies.Session ensureSession(SessionCookies cookies) {
    if (session == null) {
      session = cookies.newSession(0, 0);
      newSession = true;
    }
    return session;
  }

  /**
   * The visitor's ThingDb session for read-your-writes through replicas: restored from the
   * positions cookie (see {@link SessionCookies#encodePositions}) on first use. Pass it to every
   * write, and to the reads that must see the visitor's own writes; {@link BlogServer} sends the
   * cookie back when a write moved the positions. A page-cache hit never creates one.
   */
  public io.thingdb.core.Session dbSession() {
    if (db == null) {
      if (sessions == null) {
        throw new IllegalStateException("dbSession() before the server identified the visitor");
      }
      db = sessions.apply(positionsIn == null ? "" : positionsIn);
    }
    return db;
  }

  /** The session if a handler used one, else null. */
  io.thingdb.core.Session dbSessionIfUsed() {
    return db;
  }

  void sessions(java.util.function.Function<String, io.thingdb.core.Session> factory) {
    this.sessions = factory;
  }

  /** The verified session, or null. */
  public SessionCookies.Session session() {
    return session;
  }

  /** Whether the client asked for JSON ({@code .json} path or {@code Accept: application/json}). */
  public boolean wantsJson() {
    String accept = header("Accept");
    return path.endsWith(".json") || (accept != null && accept.startsWith("application/json"));
  }

  /** A form field of a {@code application/x-www-form-urlencoded} POST body, or null. */
  public String form(String name) throws IOException {
    if (form == null) {
      String type = header("Content-Type");
      if (type != null
          && !type.toLowerCase(Locale.ROOT).startsWith("application/x-www-form-urlencoded")) {
        throw new HttpError(
            415, "send forms as application/x-www-form-urlencoded (got " + type + ")");
      }
      form = parseForm(new String(body(), UTF_8));
    }
    List<String> v = form.get(name);
    return v == null ? null : v.get(0);
  }

  /** A form field without leading and trailing white space; empty if the form has none. */
  public String formText(String name) throws IOException {
    String v = form(name);
    return v == null ? "" : v.strip();
  }

  private byte[] body() throws IOException {
    String lengthHeader = header("Content-Length");
    long declared = -1;
    if (lengthHeader != null) {
      try {
        declared = Long.parseLong(lengthHeader.trim());
      } catch (NumberFormatException e) {
        throw HttpError.badRequest("bad Content-Length '" + lengthHeader + "'");
      }
    }
    InputStream in = body;
    if (declared > MAX_BODY_BYTES) {
      if (declared <= MAX_DRAIN_BYTES) {
        in.transferTo(OutputStreamSink.INSTANCE);
      }
      throw tooLarge(declared);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    long total = 0;
    int n;
    while ((n = in.read(buf)) > 0) {
      total += n;
      if (total > MAX_BODY_BYTES) {
        long drained = total;
        while ((n = in.read(buf)) > 0 && drained <= MAX_DRAIN_BYTES) {
          drained += n;
        }
        throw tooLarge(drained);
      }
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }

  private static HttpError tooLarge(long size) {
    return new HttpError(
        413,
        "the request body is too large ("
            + size
            + " bytes; the limit is "
            + MAX_BODY_BYTES
            + " bytes): nothing was saved");
  }

  private static Map<String, List<String>> parseForm(String raw) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    for (String pair : raw.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      String k = eq < 0 ? pair : pair.substring(0, eq);
      String v = eq < 0 ? "" : pair.substring(eq + 1);
      try {
        out.computeIfAbsent(URLDecoder.decode(k, UTF_8), x -> new ArrayList<>())
            .add(URLDecoder.decode(v, UTF_8));
      } catch (IllegalArgumentException e) {
        throw HttpError.badRequest("malformed percent-encoding in '" + abbreviate(pair) + "'");
      }
    }
    return out;
  }

  private static Map<String, String> parseCookies(List<String> headers) {
    Map<String, String> out = new LinkedHashMap<>();
    if (headers == null) {
      return out;
    }
    for (String header : headers) {
      for (String part : header.split(";")) {
        int eq = part.indexOf('=');
        if (eq > 0) {
          String value = part.substring(eq + 1).trim();
          // RFC 6265 allows a quoted value (some clients, e.g. java.net.CookieManager, send one).
          if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
            value = value.substring(1, value.length() - 1);
          }
          out.putIfAbsent(part.substring(0, eq).trim(), value);
        }
      }
    }
    return out;
  }

  static String abbreviate(String s) {
    return s.length() <= 60 ? s : s.substring(0, 60) + "...";
  }

  /** Discards what is written to it. */
  private static final class OutputStreamSink extends java.io.OutputStream {
    static final OutputStreamSink INSTANCE = new OutputStreamSink();

    @Override
    public void write(int b) {}

    @Override
    public void write(byte[] b, int off, int len) {}
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

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
 * the visitor (session and account), with the body read at most once and capped. Not thread-safe:
 * one request is handled by one thread.
 */
public final class Request {
  /** The largest request body read; a larger one is refused with 413 and nothing is written. */
  public static final int MAX_BODY_BYTES = 256 * 1024;
  /** Bodies up to this size are read and discarded before the 413, so the client sees the answer. */
  private static final long MAX_DRAIN_BYTES = 64L * 1024 * 1024;

  private final HttpExchange exchange;
  private final String path;
  private final Map<String, List<String>> query;
  private final Map<String, String> cookies;
  private Map<String, List<String>> form;
  private Matcher match;
  SessionCookies.Session session;
  Thing viewer;
  boolean newSession;
  /** The token of the WAL positions cookie as received (verified), or null. */
  String positionsIn;
  private io.thingdb.core.Session db;
  private java.util.function.Function<String, io.thingdb.core.Session> sessions;

  Request(HttpExchange exchange) {
    this.exchange = exchange;
    this.path = exchange.getRequestURI().getRawPath();
    this.query = parseForm(exchange.getRequestURI().getRawQuery());
    this.cookies = parseCookies(exchange.getRequestHeaders().get("Cookie"));
  }

  /** GET, POST, ... */
  public String method() {
    return exchange.getRequestMethod();
  }

  /** The raw path, e.g. {@code /r/java/top.json}. */
  public String path() {
    return path;
  }

  /** The path and query as received, the key of the anonymous page cache. */
  public String pathAndQuery() {
    String q = exchange.getRequestURI().getRawQuery();
    return q == null ? path : path + "?" + q;
  }

  /** A request header, or null. */
  public String header(String name) {
    return exchange.getRequestHeaders().getFirst(name);
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
   * The session, creating an anonymous one (set as a cookie with the response) if the visitor has
   * none: forms shown to anonymous visitors need it for their CSRF token.
   */
  SessionCookies.Session ensureSession(SessionCookies cookies) {
    if (session == null) {
      session = cookies.newSession(0);
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
      if (type != null && !type.toLowerCase(Locale.ROOT).startsWith("application/x-www-form-urlencoded")) {
        throw new HttpError(415, "send forms as application/x-www-form-urlencoded (got " + type + ")");
      }
      form = parseForm(new String(body(), UTF_8));
    }
    List<String> v = form.get(name);
    return v == null ? null : v.get(0);
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
    InputStream in = exchange.getRequestBody();
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
    return new HttpError(413, "the request body is too large (" + size + " bytes; the limit is " + MAX_BODY_BYTES
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
        out.computeIfAbsent(URLDecoder.decode(k, UTF_8), x -> new ArrayList<>()).add(URLDecoder.decode(v, UTF_8));
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

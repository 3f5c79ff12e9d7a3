package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.thingdb.cache.VersionedCache;
import io.thingdb.core.Session;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The anonymous page cache: a page is the same for every visitor who is not logged in, so their
 * GETs are answered from one copy, rendered at most once per TTL. It loads through {@link
 * VersionedCache#loadView}, which brings the library's stampede protection:
 *
 * <ul>
 *   <li>a page missing from the cache is rendered once however many requests want it at that
 *       moment, in this JVM (single flight) and across app servers (a lease in the cache); the
 *       others wait for that render and serve its bytes ({@code shared});
 *   <li>shortly before a busy page expires, one request's read starts a render in the background
 *       (early refresh), so readers rarely find it expired;
 *   <li>an expired page is still served, for up to one more TTL ({@code stale}), while one
 *       background render replaces it.
 * </ul>
 *
 * <p>A hit costs one cache read and no copy: the response's body is the tail of the cached value
 * ({@code <content type length><content type><body>}). Pages are rendered by the {@link Renderer}
 * from an anonymous request built from the key, never from the visitor's own request: a background
 * render runs after that request has been answered, on another thread.
 *
 * <p>While a database is down ({@link io.thingdb.core.ThingDb#unavailable()}), a page still in the
 * cache is served as it is, expired or not ({@code stale}), and no render is started for it: a
 * render would fail, and stale-while-revalidate would try one per request. A page not in the cache
 * is rendered, which may work from cached data or fail with the database's 503.
 *
 * <p>Only answers with status 200 that fit in one cache item are cached. Any other answer (a
 * redirect, a 404, a page too large) goes to the request that rendered it and to the requests that
 * waited for that render, and is not kept. Thread-safe.
 */
final class PageCache {
  private static final Logger log = LoggerFactory.getLogger(PageCache.class);
  private static final String PREFIX = "page:";

  // How a page was obtained, as X-Page-Cache and the access log say it (see Page).
  static final String HIT = "hit";
  static final String STALE = "stale";
  static final String MISS = "miss";
  static final String SHARED = "shared";

  private static final int KIND_LENGTH = "html:".length();

  /** Renders what an anonymous visitor gets for a GET, error pages included. Thread-safe. */
  @FunctionalInterface
  interface Renderer {
    Response render(Request anonymous);
  }

  /**
   * A page for one request (its own {@link Response}) and how it was obtained, as {@code
   * X-Page-Cache} and the access log say: {@code hit}, {@code stale}, {@code miss} (this request
   * rendered it) or {@code shared} (it waited for another request's render).
   */
  record Page(Response response, String how) {}

  private final VersionedCache pages;
  private final Duration ttl;
  private final Renderer renderer;
  private final Function<String, Session> sessions;
  private final BooleanSupplier databaseDown;
  private final Supplier<String> epochs;
  private final VersionedCache.Loader render = this::render;

  /**
   * A page cache keeping pages fresh for {@code ttl} in {@code pages} (whose stale grace says how
   * long an expired page may still be served), rendering them with {@code renderer}; the anonymous
   * requests read with ThingDb sessions from {@code sessions}; {@code databaseDown} says whether a
   * render cannot succeed now. {@code epochs} names the cache epochs of the databases a page is
   * rendered from ({@link io.thingdb.core.ThingDb#cacheEpoch}): it is part of every page's key, so
   * that after a failover a page rendered from a write the new primary lost is not served again
   * once this process has learned the new epoch (the same window as ThingDb's own cache keys).
   */
  PageCache(
      VersionedCache pages,
      Duration ttl,
      Renderer renderer,
      Function<String, Session> sessions,
      BooleanSupplier databaseDown,
      Supplier<String> epochs) {
    this.pages = pages;
    this.ttl = ttl;
    this.renderer = renderer;
    this.sessions = sessions;
    this.databaseDown = databaseDown;
    this.epochs = epochs;
  }

  /** {@code page:<epochs>|<kind>:<path and query>}; the epoch tokens hold no '|'. */
  private String key(String kind, String pathAndQuery) {
    return PREFIX + epochs.get() + '|' + kind + pathAndQuery;
  }

  /**
   * The page an anonymous visitor gets for a GET of {@code pathAndQuery}, as JSON if {@code json}.
   */
  Page get(String pathAndQuery, boolean json) {
    String key = key(json ? "json:" : "html:", pathAndQuery);
    if (databaseDown.getAsBoolean()) {
      VersionedCache.Versioned kept = pages.get(key);
      Response page =
          kept == null
              ? null
              : decode(
                  new VersionedCache.View(
                      kept.value(),
                      0,
                      kept.value().length,
                      kept.version(),
                      VersionedCache.Origin.STALE));
      if (page != null) {
        return new Page(page, STALE);
      }
    }
    VersionedCache.View v;
    try {
      v = pages.loadView(key, ttl, render);
    } catch (NotCached e) {
      return new Page(e.response.copy(), e.renderer == Thread.currentThread() ? MISS : SHARED);
    }
    Response page = v == null ? null : decode(v);
    if (page == null) {
      log.warn("page cache entry {} is malformed; rendering the page without the cache", key);
      return new Page(renderer.render(Request.anonymousGet(pathAndQuery, json, sessions)), MISS);
    }
    return new Page(
        page,
        switch (v.origin()) {
          case HIT -> HIT;
          case STALE -> STALE;
          case LOADED -> MISS;
          case SHARED -> SHARED;
        });
  }

  /** Deletes the HTML and JSON pages of {@code pathAndQuery} from the cache. */
  void forget(String pathAndQuery) {
    for (String kind : new String[] {"html:", "json:"}) {
      pages.cache().delete(key(kind, pathAndQuery));
    }
  }

  /** The loader: renders the page a key names; an answer that is not to be cached is thrown. */
  private VersionedCache.Loaded render(String key) {
    int kind = key.indexOf('|', PREFIX.length()) + 1;
    boolean json = key.startsWith("json:", kind);
    Response r =
        renderer.render(Request.anonymousGet(key.substring(kind + KIND_LENGTH), json, sessions));
    if (r.status == 200) {
      byte[] type = r.contentType.getBytes(UTF_8);
      if (4 + type.length + r.bodyLength <= pages.maxValueSize(key)) {
        ByteBuffer b = ByteBuffer.allocate(4 + type.length + r.bodyLength);
        b.putInt(type.length).put(type).put(r.body, r.bodyOffset, r.bodyLength);
        return VersionedCache.Loaded.of(b.array(), 0);
      }
    }
    throw new NotCached(r);
  }

  /** The response whose body is the cached value's tail, or null if the value is malformed. */
  private static Response decode(VersionedCache.View v) {
    byte[] bytes = v.buffer();
    int typeLength = v.length() < 4 ? -1 : ByteBuffer.wrap(bytes).getInt(v.offset());
    if (typeLength < 0 || typeLength > v.length() - 4) {
      return null;
    }
    int bodyAt = v.offset() + 4 + typeLength;
    String type = new String(bytes, v.offset() + 4, typeLength, UTF_8);
    return Response.of(200, type, bytes, bodyAt, v.length() - 4 - typeLength);
  }

  /**
   * A rendered answer that is not cached, thrown out of the loader so that the library hands it to
   * every request waiting for this render (and caches nothing). No stack trace: it is not an error.
   */
  private static final class NotCached extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final transient Response response;
    final transient Thread renderer = Thread.currentThread();

    NotCached(Response response) {
      super(
          "status " + response.status + ", " + response.bodyLength + " bytes: not cached",
          null,
          false,
          false);
      this.response = response;
    }
  }
}

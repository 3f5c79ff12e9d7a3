package io.thingdb.examples.blog;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * CPU time of the request thread per kind of request, as the Micrometer timer {@code
 * blog.request.cpu} tagged {@code kind} (Prometheus: {@code blog_request_cpu_seconds_count/sum}):
 * what a page view, a vote or a comment costs this process, for the capacity model. Only the
 * request thread is counted; work handed to other threads (the cache client's I/O thread, the
 * access log writer, garbage collection) is in the process total ({@code process_cpu_time}), not
 * here. Reading the thread's CPU clock costs about a microsecond. Thread-safe.
 */
final class RequestCpu {
  /** What a request was, as far as its cost goes. */
  enum RequestKind {
    /** An anonymous page answered from the page cache (fresh or stale). */
    VIEW_ANONYMOUS_CACHED,
    /** An anonymous page rendered because the page cache missed. */
    VIEW_ANONYMOUS_RENDERED,
    /** A page for a logged-in visitor (never page-cached). */
    VIEW_LOGGED_IN,
    /** {@code POST /vote}. */
    VOTE,
    /** {@code POST /comment}. */
    COMMENT,
    /** {@code POST /submit}. */
    SUBMIT,
    /** Health checks and metrics scrapes. */
    OPERATIONS,
    /** Everything else (logins, sign-ups, static files, other forms). */
    OTHER
  }

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private static final boolean MEASURED =
      THREADS.isCurrentThreadCpuTimeSupported() && THREADS.isThreadCpuTimeEnabled();

  private final Map<RequestKind, Timer> timers = new EnumMap<>(RequestKind.class);

  RequestCpu(MeterRegistry registry) {
    for (RequestKind kind : RequestKind.values()) {
      timers.put(
          kind,
          Timer.builder("blog.request.cpu")
              .description("CPU time of the request thread, per kind of request")
              .tag("kind", kind.name().toLowerCase(Locale.ROOT))
              .register(registry));
    }
  }

  /** The current thread's CPU time in nanoseconds, or 0 where the JVM cannot measure it. */
  static long threadCpuNanos() {
    return MEASURED ? THREADS.getCurrentThreadCpuTime() : 0;
  }

  /** Whether this JVM measures thread CPU time (else every recorded time is 0). */
  static boolean measured() {
    return MEASURED;
  }

  void record(RequestKind kind, long cpuNanos) {
    timers.get(kind).record(Math.max(0, cpuNanos), TimeUnit.NANOSECONDS);
  }

  /**
   * The kind of a finished request.
   *
   * @param pageCache the page cache's answer ({@link PageCache#HIT}, {@link PageCache#STALE},
   *     {@link PageCache#SHARED}, {@link PageCache#MISS}), or "-" when it was not asked
   */
  static RequestKind kind(String method, String path, boolean loggedIn, String pageCache) {
    if (path.equals("/healthz") || path.equals("/metrics")) {
      return RequestKind.OPERATIONS;
    }
    if (method.equals("POST")) {
      return switch (path) {
        case "/vote" -> RequestKind.VOTE;
        case "/comment" -> RequestKind.COMMENT;
        case "/submit" -> RequestKind.SUBMIT;
        default -> RequestKind.OTHER;
      };
    }
    if (pageCache.equals(PageCache.HIT)
        || pageCache.equals(PageCache.STALE)
        || pageCache.equals(PageCache.SHARED)) {
      return RequestKind.VIEW_ANONYMOUS_CACHED;
    }
    if (pageCache.equals(PageCache.MISS)) {
      return RequestKind.VIEW_ANONYMOUS_RENDERED;
    }
    return loggedIn && method.equals("GET") ? RequestKind.VIEW_LOGGED_IN : RequestKind.OTHER;
  }
}

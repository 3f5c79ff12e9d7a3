package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The access log: one line per request with its time, method, path, status, duration, SQL
 * statements and cache hits:
 *
 * <pre>
 * 2026-11-26T20:39:00.123Z GET / 200 0.3 ms sql=0 cache_hits=1 page_cache=hit
 * </pre>
 *
 * <p>A request thread only appends its line to a buffer; a background thread ({@code
 * blog-access-log}) writes the buffer out every {@code flushInterval}, or as soon as it holds 64
 * KiB, so a request never waits for the console or the disk. Writing one line per request through
 * the logger (a locked, flushed write per line) cost about a fifth of the anonymous page cache's
 * throughput. {@link #close} writes what is left. Thread-safe.
 */
final class AccessLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
  private static final int FLUSH_BYTES = 64 * 1024;
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT)
          .withZone(ZoneOffset.UTC);

  private final OutputStream out;
  private final Clock clock;
  private final Duration flushInterval;
  private final Thread writer;
  private final Object lock = new Object();
  private final StringBuilder buffer = new StringBuilder(FLUSH_BYTES + 1024);
  private boolean closed;

  /**
   * A log writing to {@code out} (not closed by {@link #close}), flushed every {@code
   * flushInterval}.
   */
  AccessLog(OutputStream out, Clock clock, Duration flushInterval) {
    if (flushInterval.isNegative() || flushInterval.isZero()) {
      throw new IllegalArgumentException(
          "access log flush interval must be positive: " + flushInterval);
    }
    this.out = out;
    this.clock = clock;
    this.flushInterval = flushInterval;
    this.writer = new Thread(this::run, "blog-access-log");
    writer.setDaemon(true);
    writer.start();
  }

  /** Appends one request's line; the line is written within the flush interval. */
  void request(
      String method,
      String pathAndQuery,
      int status,
      long nanos,
      long statements,
      long cacheHits,
      String pageCache) {
    StringBuilder line = new StringBuilder(96 + pathAndQuery.length());
    line.append(TIME.format(clock.instant())).append(' ').append(method).append(' ');
    appendSafe(line, pathAndQuery);
    line.append(' ').append(status).append(' ');
    long tenthsOfMs = (nanos + 50_000) / 100_000;
    line.append(tenthsOfMs / 10)
        .append('.')
        .append(tenthsOfMs % 10)
        .append(" ms sql=")
        .append(statements)
        .append(" cache_hits=")
        .append(cacheHits)
        .append(" page_cache=")
        .append(pageCache)
        .append('\n');
    synchronized (lock) {
      if (closed) {
        return;
      }
      buffer.append(line);
      if (buffer.length() >= FLUSH_BYTES) {
        lock.notifyAll(); // wake the writer early; this thread does not write
      }
    }
  }

  /**
   * Control characters (a percent-decoded path never gets here, but a raw one could hold them) as
   * '?'.
   */
  private static void appendSafe(StringBuilder line, String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      line.append(c < 0x20 || c == 0x7f ? '?' : c);
    }
  }

  /** Writes what is buffered now. */
  void flush() {
    String text;
    synchronized (lock) {
      if (buffer.length() == 0) {
        return;
      }
      text = buffer.toString();
      buffer.setLength(0);
    }
    // One writer at a time keeps lines whole and in order of their flush.
    synchronized (out) {
      try {
        out.write(text.getBytes(UTF_8));
        out.flush();
      } catch (IOException e) {
        log.warn("cannot write the access log: {}", e.getMessage());
      }
    }
  }

  private void run() {
    while (true) {
      synchronized (lock) {
        if (closed) {
          return;
        }
        try {
          if (buffer.length() < FLUSH_BYTES) { // else a wake-up came while this thread was writing
            TimeUnit.MILLISECONDS.timedWait(lock, flushInterval.toMillis());
          }
        } catch (InterruptedException e) {
          return; // nothing interrupts this thread; if something does, close() still flushes
        }
      }
      flush();
    }
  }

  /** Writes what is left and stops the background thread. Idempotent. */
  @Override
  public void close() {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      lock.notifyAll();
    }
    try {
      writer.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    flush();
  }
}

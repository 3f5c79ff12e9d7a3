package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The access log: one line per request, buffered off the request thread, all of it written by
 * close.
 */
class AccessLogTest {
  private static final Clock CLOCK =
      Clock.fixed(Instant.parse("2026-11-26T20:39:00.123456Z"), ZoneOffset.UTC);

  @Test
  void writesOneLinePerRequestWithStatusTimeStatementsAndCacheHits() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    AccessLog log = new AccessLog(out, CLOCK, Duration.ofHours(1));
    log.request("GET", "/r/java/top?t=day", 200, 1_260_000, 0, 1, "hit");
    log.request("POST", "/vote", 303, 12_340_000_000L, 6, 3, "-");
    // Buffered: nothing reaches the stream on the request thread (the flush interval is an hour).
    assertThat(out.size()).isZero();
    log.close();
    assertThat(out.toString(UTF_8))
        .isEqualTo(
            "2026-11-26T20:39:00.123Z GET /r/java/top?t=day 200 1.3 ms sql=0 cache_hits=1 page_cache=hit\n"
                + "2026-11-26T20:39:00.123Z POST /vote 303 12340.0 ms sql=6 cache_hits=3 page_cache=-\n");
  }

  @Test
  void theBackgroundThreadWritesWithoutAClose() throws InterruptedException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (AccessLog log = new AccessLog(out, CLOCK, Duration.ofMillis(20))) {
      log.request("GET", "/", 200, 50_000, 0, 1, "hit");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (out.size() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(out.toString(UTF_8))
          .isEqualTo(
              "2026-11-26T20:39:00.123Z GET / 200 0.1 ms sql=0 cache_hits=1 page_cache=hit\n");
    }
  }

  @Test
  void a64KibBufferIsWrittenWithoutWaitingForTheInterval() throws InterruptedException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (AccessLog log = new AccessLog(out, CLOCK, Duration.ofHours(1))) {
      String path = "/" + "p".repeat(1000);
      for (int i = 0; i < 70; i++) { // about 70 KiB of lines
        log.request("GET", path, 200, 0, 0, 1, "hit");
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (out.size() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      // Written by the background thread long before the hour is up, every line whole.
      String written;
      synchronized (out) {
        written = out.toString(UTF_8);
      }
      assertThat(written).isNotEmpty().endsWith("page_cache=hit\n");
      assertThat(written.split("\n"))
          .allMatch(l -> l.endsWith("sql=0 cache_hits=1 page_cache=hit"));
    }
  }

  @Test
  void aLineCannotBeSplitByControlCharactersInThePath() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    AccessLog log = new AccessLog(out, CLOCK, Duration.ofHours(1));
    log.request("GET", "/a\nGET /forged 200\r", 404, 0, 0, 0, "miss");
    log.close();
    assertThat(out.toString(UTF_8))
        .isEqualTo(
            "2026-11-26T20:39:00.123Z GET /a?GET /forged 200? 404 0.0 ms sql=0 cache_hits=0"
                + " page_cache=miss\n");
  }

  @Test
  void linesAfterCloseAreDroppedAndCloseIsIdempotent() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    AccessLog log = new AccessLog(out, CLOCK, Duration.ofHours(1));
    log.close();
    log.request("GET", "/late", 200, 0, 0, 0, "-");
    log.close();
    assertThat(out.size()).isZero();
  }

  @Test
  void refusesAZeroFlushInterval() {
    assertThatThrownBy(() -> new AccessLog(new ByteArrayOutputStream(), CLOCK, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("flush interval");
  }
}

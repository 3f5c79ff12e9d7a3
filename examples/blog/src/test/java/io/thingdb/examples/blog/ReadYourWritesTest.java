package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.testing.PostgresFixture;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Read-your-writes through replicas: every write a visitor makes records its database's WAL
 * position in the visitor's ThingDb {@code Session}, which travels in the signed {@code blog_rw}
 * cookie, and the next requests read with it (a replica that has not replayed that far is skipped).
 *
 * <p>A real streaming replica is not cheap to start here, so each database's "replica" is a second
 * pool on the primary itself (which ThingDB treats as a promoted standby: caught up). That checks
 * the wiring, not the lag: positions are recorded on every write (main and comments database),
 * handed out, carried back, only move forward, and forged ones are ignored.
 */
class ReadYourWritesTest {
  private static final byte[] SECRET = "0123456789abcdef0123456789abcdef-rw-secret".getBytes(UTF_8);
  static PostgresFixture pg;
  static BlogApp app;
  private final SessionCookies cookies = new SessionCookies(SECRET, Clock.systemUTC());

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    pg.createDatabase("blog");
    pg.createDatabase("blog_comments");
    app =
        BlogApp.start(
            Config.builder()
                .port(0)
                .db(pg.jdbcUrl("blog"))
                .dbReplica(pg.jdbcUrl("blog"))
                .commentsDb(pg.jdbcUrl("blog_comments"))
                .commentsDbReplica(pg.jdbcUrl("blog_comments"))
                .pbkdf2Iterations(1000)
                .adminPassword("admin-password-rw")
                .secret(SECRET)
                .accessLog("off")
                .build());
  }

  @AfterAll
  static void stop() {
    if (app != null) {
      app.close();
    }
    if (pg != null) {
      pg.close();
    }
  }

  /** The positions in the visitor's cookie, by database. */
  private Map<String, Long> positions(Browser b) {
    return positions(b.cookie(SessionCookies.POSITIONS));
  }

  /** The positions a response's {@code Set-Cookie: blog_rw=...} sets. */
  private Map<String, Long> positionsSet(Browser.Page page) {
    String prefix = SessionCookies.POSITIONS + "=";
    String set =
        page.headers().getOrDefault("set-cookie", List.of()).stream()
            .filter(c -> c.startsWith(prefix))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no blog_rw cookie set: " + page.headers()));
    return positions(set.substring(prefix.length(), set.indexOf(';')));
  }

  private Map<String, Long> positions(String value) {
    assertThat(value).as("the blog_rw cookie").isNotNull();
    String token = cookies.decodePositions(value);
    assertThat(token).as("a cookie signed by the blog").isNotNull();
    Map<String, Long> out = new HashMap<>();
    for (String part : token.split(";")) {
      if (part.startsWith("~")) {
        continue; // a thing the visitor wrote (for their own listing pages), not a position
      }
      String[] kv = part.split("=");
      // timeline.position (both hexadecimal); the position alone in tokens from before timelines
      String position = kv[1].substring(kv[1].indexOf('.') + 1);
      out.put(kv[0], Long.parseUnsignedLong(position, 16));
    }
    return out;
  }

  @Test
  void everyWriteHandsTheVisitorItsWalPositionAndTheNextRequestsCarryIt() {
    Browser b = new Browser(app.uri());
    b.signup("rw_writer", "password-rw-1");
    Map<String, Long> afterSignup = positions(b);
    assertThat(afterSignup).containsOnlyKeys("main");
    // Logged in on the next request: the account is read with the signup's position.
    assertThat(b.get("/?rw=1").body()).contains("href=\"/user/rw_writer\"");

    Browser.Page submitted =
        b.postJson(
            "/submit",
            Map.of(
                "title", "read your writes", "url", "https://example.com/rw", "community", "java"));
    assertThat(submitted.status()).isEqualTo(201);
    Map<String, Long> afterSubmit = positions(b);
    assertThat(afterSubmit.get("main")).isGreaterThan(afterSignup.get("main"));

    String link = (String) submitted.json().get("name");
    String permalink = (String) submitted.json().get("permalink");
    assertThat(b.postJson("/comment", Map.of("link", link, "text", "my own comment")).status())
        .isEqualTo(201);
    Map<String, Long> afterComment = positions(b);
    assertThat(afterComment).containsKeys("main", "comments");
    // The comment count is incremented on the main database: that position moved too.
    assertThat(afterComment.get("main")).isGreaterThan(afterSubmit.get("main"));

    // Reading changes no position, so no new cookie; the page has the visitor's own comment.
    Browser.Page page = b.get(permalink);
    assertThat(page.status()).isEqualTo(200);
    assertThat(page.body()).contains("my own comment");
    assertThat(page.headers().getOrDefault("set-cookie", List.of()))
        .noneMatch(c -> c.startsWith(SessionCookies.POSITIONS));
    assertThat(positions(b)).isEqualTo(afterComment);
  }

  @Test
  void aForgedPositionsCookieIsIgnoredAndReplacedByTheNextWrite() {
    Browser b = new Browser(app.uri());
    b.signup("rw_forger", "password-rw-2");
    // A position no replica will ever reach would send all of this visitor's reads to the primary.
    String forged =
        java.util.Base64.getUrlEncoder()
            .withoutPadding()
            .encodeToString("main=7fffffffffffffff".getBytes(UTF_8));
    b.setCookie(SessionCookies.POSITIONS, forged + ".not-our-signature");
    assertThat(b.get("/?rw=2").body()).contains("href=\"/user/rw_forger\"");
    Browser.Page submitted =
        b.postJson(
            "/submit",
            Map.of(
                "title", "after a forgery", "url", "https://example.com/f", "community", "java"));
    assertThat(submitted.status()).isEqualTo(201);
    assertThat(positionsSet(submitted).get("main")).isLessThan(Long.MAX_VALUE).isPositive();
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.ReplicatedPostgres;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A voter reloading the post sees their vote at once through a lagging streaming replica (issue 10,
 * item 16): the vote goes through the visitor's ThingDb session, whose WAL position travels in the
 * read-your-writes cookie, so the reload skips the replica that has not replayed it. Replay is
 * paused during the vote and the reload, so the replica lags for certain; memcached is flushed
 * before the vote, so the post is not served from the cache (as after an eviction: the vote then
 * invalidates the post's key, and the reload must read a database). The listing processors are
 * stopped: they would refill the post's key from the primary.
 */
class VoteReadYourWritesHttpTest {
  private static final byte[] SECRET = "0123456789abcdef0123456789abcdef-vote-ryw".getBytes(UTF_8);

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static ReplicatedPostgres pg;
  static BlogApp app;

  @BeforeAll
  static void start() {
    pg = ReplicatedPostgres.start(Duration.ofMillis(200));
    ReplicatedPostgres.execute(pg.primaryUrl(), "create database blog");
    pg.awaitCaughtUp(Duration.ofSeconds(30));
    app =
        BlogApp.start(
            Config.builder()
                .port(0)
                .db(url(pg.primaryUrl()))
                .dbReplica(url(pg.standbyUrl()))
                .memcached(memcached.cluster().servers())
                .pbkdf2Iterations(1000)
                .adminPassword("admin-password-vote-ryw")
                .secret(SECRET)
                .accessLog("off")
                .build());
    // The processors read the voted post from the primary and fill the cache with it, which would
    // let the anonymous read below see the vote through the cache, whatever the replica holds.
    app.stopListingProcessors();
  }

  /** The same server's {@code blog} database. */
  static String url(String postgresUrl) {
    return postgresUrl.replace("/postgres?", "/blog?");
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

  @SuppressWarnings("unchecked")
  static Map<String, Object> post(Browser b, String permalink) {
    List<Object> both = (List<Object>) JsonParser.parse(b.get(permalink + ".json").body());
    Map<String, Object> listing = (Map<String, Object>) both.get(0);
    List<Object> children =
        (List<Object>) ((Map<String, Object>) listing.get("data")).get("children");
    return (Map<String, Object>) ((Map<String, Object>) children.get(0)).get("data");
  }

  @Test
  void aVoterReloadingThePostSeesTheirVoteWhileTheReplicaLags() {
    Browser author = new Browser(app.uri());
    author.signup("ryw_author", "password-ryw-1");
    Browser.Page submitted =
        author.postJson(
            "/submit",
            Map.of("title", "vote on me", "url", "https://example.com/ryw", "community", "java"));
    assertThat(submitted.status()).as(submitted.body()).isEqualTo(201);
    String name = (String) submitted.json().get("name");
    String permalink = (String) submitted.json().get("permalink");
    Browser voter = new Browser(app.uri());
    voter.signup("ryw_voter", "password-ryw-2");
    pg.awaitCaughtUp(Duration.ofSeconds(30));
    assertThat(post(voter, permalink)).containsEntry("ups", 1L);
    String csrf = voter.csrf();

    memcached.cluster().flushAll();
    pg.pauseReplay();
    try {
      Browser.Page vote = voter.postJson("/vote", Map.of("id", name, "dir", "1", "csrf", csrf));
      assertThat(vote.status()).as(vote.body()).isEqualTo(200);
      assertThat(vote.json()).containsEntry("ups", 2L);
      // Before the voter's reload: that one reads the primary and fills the cache.
      assertThat(post(new Browser(app.uri()), permalink).get("ups"))
          .as("an anonymous reader, served by the paused replica")
          .isEqualTo(1L);
      Map<String, Object> reloaded = post(voter, permalink);
      assertThat(reloaded).as("the voter's reload").containsEntry("ups", 2L);
      assertThat(reloaded).containsEntry("likes", true);
    } finally {
      pg.resumeReplay();
    }
  }

  /**
   * The vote arrow too: with the cache emptied after the vote (an eviction, a node restarted
   * empty), the viewer's vote direction is read from a database, and through the voter's session
   * that is the primary, not the paused replica.
   */
  @Test
  void theVotersArrowShowsTheirVoteAfterTheCacheLostItWhileTheReplicaLags() {
    Browser author = new Browser(app.uri());
    author.signup("ryw_author2", "password-ryw-3");
    Browser.Page submitted =
        author.postJson(
            "/submit",
            Map.of("title", "arrow", "url", "https://example.com/ryw-arrow", "community", "java"));
    assertThat(submitted.status()).as(submitted.body()).isEqualTo(201);
    String name = (String) submitted.json().get("name");
    String permalink = (String) submitted.json().get("permalink");
    Browser voter = new Browser(app.uri());
    voter.signup("ryw_voter2", "password-ryw-4");
    pg.awaitCaughtUp(Duration.ofSeconds(30));
    assertThat(post(voter, permalink)).containsEntry("likes", null);
    String csrf = voter.csrf();

    pg.pauseReplay();
    try {
      Browser.Page vote = voter.postJson("/vote", Map.of("id", name, "dir", "1", "csrf", csrf));
      assertThat(vote.status()).as(vote.body()).isEqualTo(200);
      memcached.cluster().flushAll();
      Map<String, Object> reloaded = post(voter, permalink);
      assertThat(reloaded).as("the voter's reload").containsEntry("ups", 2L);
      assertThat(reloaded).as("the voter's arrow").containsEntry("likes", true);
    } finally {
      pg.resumeReplay();
    }
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.testing.PostgresFixture;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An author's new post is on their own pages right after submitting it (issue 10, item 17), without
 * any replica, while the listing queue has not applied it: the app's listing processors are stopped
 * for the whole test, so nothing drains between the submit and the reads. The post travels in the
 * author's read-your-writes cookie (the ThingDb session's remembered writes) and the listing reader
 * merges it into the author's pages; other visitors see it once the queue has run.
 */
class OwnPostsHttpTest {
  private static final byte[] SECRET = "0123456789abcdef0123456789abcdef-own-posts".getBytes(UTF_8);
  static PostgresFixture pg;
  static BlogApp app;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    pg.createDatabase("blog");
    app =
        BlogApp.start(
            Config.builder()
                .port(0)
                .db(pg.jdbcUrl("blog"))
                .pbkdf2Iterations(1000)
                .adminPassword("admin-password-own")
                .secret(SECRET)
                .accessLog("off")
                .build());
    app.stopListingProcessors();
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
  static List<String> names(Map<String, Object> listing) {
    List<String> out = new ArrayList<>();
    for (Object c : (List<Object>) ((Map<String, Object>) listing.get("data")).get("children")) {
      out.add((String) ((Map<String, Object>) ((Map<String, Object>) c).get("data")).get("name"));
    }
    return out;
  }

  String submit(Browser author, String title) {
    Browser.Page p =
        author.postJson(
            "/submit",
            Map.of("title", title, "url", "https://example.com/" + title, "community", "java"));
    assertThat(p.status()).as(p.body()).isEqualTo(201);
    return (String) p.json().get("name");
  }

  @Test
  void aNewPostIsOnItsAuthorsPagesBeforeTheQueueHasRun() {
    Browser author = new Browser(app.uri());
    author.signup("own_author", "password-own-1");
    String first = submit(author, "first");
    app.drainListings();
    Browser other = new Browser(app.uri());
    other.signup("own_reader", "password-own-2");

    for (int i = 0; i < 5; i++) {
      String post = submit(author, "new" + i);
      assertThat(names(author.get("/user/own_author.json").json()))
          .as("the author's own page right after submit " + i)
          .startsWith(post)
          .contains(first);
      assertThat(names(author.get("/new.json").json())).as("the author's /new").startsWith(post);
      assertThat(author.get("/user/own_author").body()).contains("new" + i);
      assertThat(names(other.get("/user/own_author.json").json()))
          .as("another visitor, before the queue has run")
          .doesNotContain(post)
          .contains(first);
    }
    app.drainListings();
    List<String> mine = names(author.get("/user/own_author.json").json());
    assertThat(names(other.get("/user/own_author.json").json()))
        .as("everyone sees them once the queue has run, in the same order")
        .isEqualTo(mine)
        .hasSize(6);
  }
}

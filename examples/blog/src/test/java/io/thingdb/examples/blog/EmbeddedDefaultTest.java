package io.thingdb.examples.blog;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The one-command default: embedded PostgreSQL with its data in a local folder, the in-process
 * cache, seeding on the first start only, and a second start that finds everything again.
 */
class EmbeddedDefaultTest {
  private Path dataDir;

  @AfterEach
  void removeData() throws IOException {
    if (dataDir != null) {
      try (Stream<Path> files = Files.walk(dataDir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  @Test
  void firstStartSeedsAndASecondStartReusesTheDataAndTheSessions() throws IOException {
    dataDir = Files.createTempDirectory("blog-embedded-");
    Config config = Config.builder().port(0).dataDir(dataDir).pbkdf2Iterations(1000).build();
    String link;
    String permalink;
    Browser b;
    int postgresPort;
    try (BlogApp app = BlogApp.start(config)) {
      assertThat(app.seededAdminPassword()).isNotNull();
      b = new Browser(app.uri());
      assertThat(BlogHttpTest.children(b.get("/new.json").json())).hasSizeGreaterThanOrEqualTo(10);
      b.signup("keeper", "password-keep");
      Browser.Page p =
          b.postJson(
              "/submit",
              Map.of(
                  "title",
                  "kept across restarts",
                  "url",
                  "https://example.com/kept",
                  "community",
                  "meta"));
      assertThat(p.status()).isEqualTo(201);
      link = (String) p.json().get("name");
      permalink = (String) p.json().get("permalink");
      postgresPort = app.postgresPort();
    }
    // Everything stopped: the embedded server no longer listens.
    assertThat(listening(postgresPort)).isFalse();
    assertThat(dataDir.resolve("postgres").resolve("PG_VERSION")).exists();

    try (BlogApp app = BlogApp.start(config)) {
      assertThat(app.seededAdminPassword()).as("no second seed").isNull();
      Browser again = new Browser(app.uri());
      // Listing jobs still queued at the stop (if any) were kept in PostgreSQL and run now.
      app.drainListings();
      assertThat(BlogHttpTest.names(again.get("/new.json?limit=100").json())).contains(link);
      assertThat(again.get(permalink).body()).contains("kept across restarts");
      // The session secret is kept in the data folder too, so the old cookie still logs in.
      Browser.Page page = reconnect(b, app).get("/");
      assertThat(page.body()).contains("href=\"/user/keeper\"");
      assertThat(BlogHttpTest.names(again.get("/r/meta/new.json").json())).contains(link);
    }
  }

  /** The same visitor (cookies) against the restarted app on its new port. */
  private static Browser reconnect(Browser old, BlogApp app) {
    return old.at(app.uri());
  }

  private static boolean listening(int port) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}

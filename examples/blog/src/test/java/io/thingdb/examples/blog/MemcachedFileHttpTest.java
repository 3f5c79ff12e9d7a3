package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --memcached-file}: the blog reads its memcached servers from a file and applies a changed
 * list while it runs, which {@code /metrics} shows as meters of the added server.
 */
class MemcachedFileHttpTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);
  static PostgresFixture pg;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    pg.createDatabase("serversfile");
  }

  @AfterAll
  static void stop() {
    if (pg != null) {
      pg.close();
    }
  }

  static void write(Path file, String content) throws IOException {
    // Replaced in one step, as an operator's editor or a deployment tool does.
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, content, UTF_8);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static void awaitMetrics(BlogApp app, String server, String what) {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    String needle = "server=\"" + server + "\"";
    while (!new Browser(app.uri()).get("/metrics").body().contains(needle)) {
      assertThat(System.nanoTime() - end).as("%s within 15 s", what).isNegative();
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
    }
  }

  @Test
  void aChangedServersFileIsAppliedWhileTheBlogRunsAlsoAfterABadOne(@TempDir Path dir)
      throws IOException {
    MemcachedCluster cluster = memcached.cluster();
    Path file = dir.resolve("memcached.servers");
    write(file, "# the cache\n" + cluster.server(0) + "\n\n");
    Config config =
        Config.builder()
            .port(0)
            .db(pg.jdbcUrl("serversfile"))
            .pbkdf2Iterations(1000)
            .adminPassword("admin-password-1")
            .secret("0123456789abcdef0123456789abcdef-test-secret".getBytes(UTF_8))
            .accessLog("off")
            .memcachedFile(file)
            .build();
    try (BlogApp app = BlogApp.start(config)) {
      Browser b = new Browser(app.uri());
      assertThat(b.get("/").status()).isEqualTo(200);
      String metrics = b.get("/metrics").body();
      assertThat(metrics).contains("server=\"" + cluster.server(0) + "\"");
      assertThat(metrics).doesNotContain("server=\"" + cluster.server(1) + "\"");

      write(file, cluster.server(0) + "\n" + cluster.server(1) + "  # added\n");
      awaitMetrics(app, cluster.server(1), "the added server's meters");

      write(file, cluster.server(0) + "\nnot a server\n");
      assertThat(b.get("/").status()).isEqualTo(200);
      // The poll goes on after a bad file: the next good one is applied.
      write(file, String.join("\n", cluster.servers()) + "\n");
      awaitMetrics(app, cluster.server(2), "the third server's meters after a bad file");
      assertThat(new Browser(app.uri()).get("/").status()).isEqualTo(200);
    }
  }

  @Test
  void aBadLineIsNamedWithItsFileAndLine(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("servers");
    assertThatThrownBy(() -> MemcachedServersFile.parse(file, "# c\nh:1\nh 2\n"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(file + " line 3: expected one host:port, found 'h 2'");
    assertThatThrownBy(() -> MemcachedServersFile.parse(file, "h:1\nh:1\n"))
        .hasMessage(file + " line 2: h:1 is listed twice");
    assertThatThrownBy(() -> MemcachedServersFile.parse(file, "# none\n"))
        .hasMessage(file + " lists no memcached server");
    assertThat(MemcachedServersFile.parse(file, "a:1 # x\n\n b:2\r\n"))
        .containsExactly("a:1", "b:2");
    assertThatThrownBy(() -> MemcachedServersFile.read(dir.resolve("missing")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("missing");
  }

  @Test
  void theFileAndTheListAreExclusive() {
    assertThatThrownBy(
            () ->
                Config.fromArgs(
                    new String[] {"--memcached", "h:1", "--memcached-file", "/x"}, Map.of()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("exclusive");
    assertThat(
            Config.fromArgs(new String[0], Map.of("BLOG_MEMCACHED_FILE", "/etc/m")).memcachedFile)
        .isEqualTo(Path.of("/etc/m"));
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.testing.PostgresFixture;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What operating the blog as several processes needs: {@code /healthz} for the load balancer,
 * {@code /metrics} in Prometheus format, roles that split the web, the queue processors and the
 * recompute into processes of their own, and {@code Cache-Control} that lets a shared cache keep
 * anonymous pages and nothing else.
 */
class OperationsHttpTest {
  static PostgresFixture pg;
  static BlogApp web;

  static Config.Builder config() {
    return Config.builder()
        .port(0)
        .db(pg.jdbcUrl("ops"))
        .pbkdf2Iterations(1000)
        .adminPassword("admin-password-1")
        .secret("0123456789abcdef0123456789abcdef-test-secret".getBytes(UTF_8))
        .accessLog("off");
  }

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
    pg.createDatabase("ops");
    web = BlogApp.start(config().build());
  }

  @AfterAll
  static void stop() {
    if (web != null) {
      web.close();
    }
    if (pg != null) {
      pg.close();
    }
  }

  @Test
  void healthzAnswersOkWhileTheDatabaseDoes() {
    Browser.Page p = new Browser(web.uri()).get("/healthz");
    assertThat(p.status()).isEqualTo(200);
    assertThat(p.body()).isEqualTo("ok\n");
    assertThat(p.header("Cache-Control")).isEqualTo("private, no-store");
  }

  @Test
  void metricsShowTheLibraryModulesAndTheJvmInPrometheusFormat() {
    Browser b = new Browser(web.uri());
    b.get("/");
    Browser.Page p = b.get("/metrics");
    assertThat(p.status()).isEqualTo(200);
    assertThat(p.header("Content-Type")).startsWith("text/plain; version=0.0.4");
    assertThat(p.body())
        .contains("thingdb_cache_hits_total{roles=\"web+processors+recompute\",server=\"local\"}")
        .contains("thingdb_core_statements_total")
        .contains("thingdb_core_reads_total")
        .contains("thingdb_core_circuit_open{")
        .contains("thingdb_core_outbox_depth{")
        .contains("thingdb_listings_queue_depth{")
        .contains("queue=\"links\"")
        .contains("thingdb_listings_batches_total")
        .contains("jvm_memory_used_bytes")
        .contains("roles=\"web+processors+recompute\"");
  }

  @Test
  void metricsTellTheRequestThreadsCpuPerKindOfRequest() {
    Browser anonymous = new Browser(web.uri());
    anonymous.get("/");
    anonymous.get("/");
    Browser user = new Browser(web.uri());
    user.signup("cpu_" + System.nanoTime() % 100000, "password-123");
    user.get("/");
    String body = anonymous.get("/metrics").body();
    assertThat(RequestCpu.measured()).as("this JVM measures thread CPU time").isTrue();
    for (String kind : List.of("view_anonymous_cached", "view_logged_in")) {
      assertThat(sample(body, "blog_request_cpu_seconds_count", kind)).as(kind).isGreaterThan(0);
      assertThat(sample(body, "blog_request_cpu_seconds_sum", kind)).as(kind).isGreaterThan(0);
    }
    // Declared for every kind, so a scraper sees zeros rather than missing series.
    assertThat(body).contains("kind=\"vote\"").contains("kind=\"comment\"");
  }

  /** The value of the Prometheus sample {@code name} whose {@code kind} label is {@code kind}. */
  private static double sample(String body, String name, String kind) {
    for (String line : body.split("\n")) {
      if (line.startsWith(name + "{") && line.contains("kind=\"" + kind + "\"")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError("no sample " + name + " with kind=" + kind + " in:\n" + body);
  }

  @Test
  void anonymousPagesMayBeKeptBySharedCachesAndLoggedInOnesNever() {
    Browser anonymous = new Browser(web.uri());
    anonymous.get("/");
    Browser.Page page = anonymous.get("/");
    assertThat(page.status()).isEqualTo(200);
    assertThat(page.header("Cache-Control")).isEqualTo("public, max-age=5");
    assertThat(anonymous.get("/login").header("Cache-Control")).isEqualTo("private, no-store");

    Browser user = new Browser(web.uri());
    user.signup("ops_" + System.nanoTime() % 100000, "password-123");
    Browser.Page mine = user.get("/");
    assertThat(mine.status()).isEqualTo(200);
    assertThat(mine.header("Cache-Control")).isEqualTo("private, no-store");
    assertThat(user.get("/.json").header("Cache-Control")).isEqualTo("private, no-store");
  }

  @Test
  void aProcessorsOnlyProcessServesHealthAndMetricsButNoPages() {
    try (BlogApp processors =
        BlogApp.start(config().roles(List.of("processors")).seed(false).build())) {
      Browser b = new Browser(processors.uri());
      assertThat(b.get("/healthz").status()).isEqualTo(200);
      Browser.Page metrics = b.get("/metrics");
      assertThat(metrics.status()).isEqualTo(200);
      assertThat(metrics.body())
          .contains("roles=\"processors\"")
          .contains("thingdb_listings_jobs_total");
      Browser.Page page = b.get("/");
      assertThat(page.status()).isEqualTo(404);
      assertThat(page.body()).contains("its roles do not include web");
    }
  }

  /**
   * The cluster's JDBC URLs name every server of a vertical (pgjdbc's multi-host form) with {@code
   * targetServerType=primary}, so that after a failover the promoted replica is found without
   * changing the app: here the first host is a port nobody listens on, and the blog (its pools and
   * its outage probe alike) finds the primary behind it.
   */
  @Test
  void aMultiHostUrlFindsThePrimaryPastAServerThatIsGone() throws Exception {
    int gone;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      gone = s.getLocalPort();
    }
    String url =
        "jdbc:postgresql://localhost:"
            + gone
            + ",localhost:"
            + pg.port()
            + "/ops?user=postgres&targetServerType=primary&connectTimeout=2";
    try (BlogApp app = BlogApp.start(config().db(url).roles(List.of("web")).seed(false).build())) {
      Browser b = new Browser(app.uri());
      assertThat(b.get("/healthz").status()).isEqualTo(200);
      assertThat(b.get("/").status()).isEqualTo(200);
    }
  }

  /**
   * {@code --batch-replica} names the replica that the windowed recompute reads, so that its bulk
   * scans load neither the primary nor the replicas that serve pages. Here the "replica" is the
   * same server under another application name: after a recompute, a connection with that name
   * exists, and it is the recompute's (the process has no other replica).
   */
  @Test
  void theRecomputeReadsTheBatchReplica() throws Exception {
    String name = "batch-reader-" + System.nanoTime();
    try (BlogApp recompute =
        BlogApp.start(
            config()
                .roles(List.of("recompute"))
                .seed(false)
                .batchReplica(pg.jdbcUrl("ops") + "&ApplicationName=" + name)
                .build())) {
      recompute.recomputeNow();
      try (java.sql.Connection c = pg.dataSource("ops").getConnection();
          java.sql.PreparedStatement ps =
              c.prepareStatement(
                  "select count(*) from pg_stat_activity where application_name = ?")) {
        ps.setString(1, name);
        try (java.sql.ResultSet rs = ps.executeQuery()) {
          rs.next();
          assertThat(rs.getLong(1)).isPositive();
        }
      }
    }
  }

  @Test
  void theBatchReplicaComesFromAFlagOrTheEnvironment() {
    String url = "jdbc:postgresql://localhost:5432/blog";
    assertThat(Config.fromArgs(new String[0], Map.of()).batchReplica).isNull();
    assertThat(
            Config.fromArgs(new String[] {"--db", url, "--batch-replica", url}, Map.of())
                .batchReplica)
        .isEqualTo(url);
    assertThat(
            Config.fromArgs(
                    new String[] {"--db", url}, Map.of("BLOG_BATCH_REPLICA", url + "?replica"))
                .batchReplica)
        .isEqualTo(url + "?replica");
    assertThatThrownBy(() -> Config.fromArgs(new String[] {"--batch-replica", url}, Map.of()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("need --db");
    assertThatThrownBy(
            () -> Config.fromArgs(new String[] {"--batch-replica", "postgres://x/blog"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--batch-replica");
  }

  @Test
  void rolesAreCheckedAndComeFromFlagsOrTheEnvironment() {
    assertThat(Config.fromArgs(new String[0], Map.of()).roles)
        .containsExactlyInAnyOrder("web", "processors", "recompute");
    assertThat(Config.fromArgs(new String[] {"--roles", "web,recompute"}, Map.of()).roles)
        .containsExactlyInAnyOrder("web", "recompute");
    assertThat(Config.fromArgs(new String[0], Map.of("BLOG_ROLES", "processors")).roles)
        .containsExactly("processors");
    assertThatThrownBy(() -> Config.fromArgs(new String[] {"--roles", "web,cron"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown role 'cron': roles are [web, processors, recompute]");
    assertThatThrownBy(() -> Config.fromArgs(new String[] {"--roles", ","}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least one");
  }
}

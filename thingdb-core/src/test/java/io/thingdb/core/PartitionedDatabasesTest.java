package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import io.thingdb.testing.ReplicatedPostgres;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Vertical partitioning: links on one PostgreSQL server, comments on another (DESIGN.md 2, 8). Each
 * type's tables exist only on its own server, the registry only on the first database, and reads
 * across types never join in SQL.
 */
class PartitionedDatabasesTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<String> BODY = Prop.string("body", "");
  static final Prop<Long> LINK_ID = Prop.int64("link_id", 0);
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
  static final ThingType COMMENT = ThingType.named("comment").props(BODY, LINK_ID).build();

  static PostgresFixture linksServer;
  static PostgresFixture commentsServer;
  static HikariDataSource links;
  static HikariDataSource comments;

  @BeforeAll
  static void startServers() {
    CompletableFuture<PostgresFixture> second =
        CompletableFuture.supplyAsync(PostgresFixture::start);
    linksServer = PostgresFixture.start();
    commentsServer = second.join();
    links = pool(linksServer, "links");
    comments = pool(commentsServer, "comments");
  }

  @AfterAll
  static void stopServers() {
    for (AutoCloseable c : new AutoCloseable[] {links, comments, linksServer, commentsServer}) {
      if (c != null) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IllegalStateException("cannot close " + c, e);
        }
      }
    }
  }

  static HikariDataSource pool(PostgresFixture server, String name) {
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName(name);
    cfg.setJdbcUrl(server.jdbcUrl());
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(8);
    return new HikariDataSource(cfg);
  }

  static ThingDbBuilder twoServers() {
    return ThingDb.builder()
        .database("links", Database.of(links))
        .database("comments", Database.of(comments))
        .type(LINK, "links")
        .type(COMMENT, "comments");
  }

  @Test
  void eachTypeIsWrittenAndReadOnItsOwnServer() {
    try (ThingDb db = twoServers().noCache().build()) {
      Thing link = db.create(db.newThing(LINK).set(TITLE, "a link"));
      Thing comment = db.create(db.newThing(COMMENT).set(BODY, "first").set(LINK_ID, link.id()));

      Thing linkV2 =
          db.update(db.get(LINK, link.id()).orElseThrow().edit().set(TITLE, "a better link"));
      Thing commentV2 =
          db.update(db.get(COMMENT, comment.id()).orElseThrow().edit().set(BODY, "edited"));

      assertThat(db.get(LINK, link.id()).orElseThrow()).isEqualTo(linkV2);
      assertThat(db.get(COMMENT, comment.id()).orElseThrow()).isEqualTo(commentV2);
      assertThat(commentV2.version()).isEqualTo(2);
      assertThat(commentV2.get(LINK_ID)).isEqualTo(link.id());
      assertThat(
              ReplicatedPostgres.query(
                  linksServer.jdbcUrl(),
                  "select value from data_link where key = 'title' and thing_id = " + link.id()))
          .isEqualTo("a better link");
      assertThat(
              ReplicatedPostgres.query(
                  commentsServer.jdbcUrl(),
                  "select value from data_comment where key = 'body' and thing_id = "
                      + comment.id()))
          .isEqualTo("edited");
    }
  }

  @Test
  void tablesExistOnlyOnTheirOwnServerAndTheRegistryOnTheFirst() {
    try (ThingDb db = twoServers().noCache().build()) {
      assertThat(db.engine.databases()).containsOnlyKeys("links", "comments");
    }
    String tables =
        "select table_name from information_schema.tables where table_schema = 'public'"
            + " and table_name in ('thing_link', 'data_link', 'thing_comment', 'data_comment', 'thingdb_registry',"
            + " 'thingdb_props', 'thingdb_outbox', 'thingdb_schema') order by table_name";
    assertThat(ReplicatedPostgres.column(linksServer.jdbcUrl(), tables))
        .containsExactly(
            "data_link",
            "thing_link",
            "thingdb_outbox",
            "thingdb_props",
            "thingdb_registry",
            "thingdb_schema");
    assertThat(ReplicatedPostgres.column(commentsServer.jdbcUrl(), tables))
        .containsExactly("data_comment", "thing_comment", "thingdb_outbox", "thingdb_schema");
    assertThat(
            ReplicatedPostgres.column(
                linksServer.jdbcUrl(),
                "select name from thingdb_registry where kind = 't' order by name"))
        .contains("comment", "link");
  }

  @Test
  void getByFullnamesAcrossServersReturnsInputOrder() {
    try (InProcessCache cache = InProcessCache.create();
        ThingDb cached = twoServers().cache(cache).build();
        ThingDb uncached = twoServers().noCache().build()) {
      List<Thing> made =
          uncached.createAll(
              List.of(
                  uncached.newThing(LINK).set(TITLE, "l1"),
                  uncached.newThing(COMMENT).set(BODY, "c1"),
                  uncached.newThing(LINK).set(TITLE, "l2"),
                  uncached.newThing(COMMENT).set(BODY, "c2")));
      List<String> order =
          List.of(
              made.get(3).fullname(),
              made.get(0).fullname(),
              made.get(1).fullname(),
              made.get(2).fullname(),
              made.get(0).fullname());
      for (ThingDb db :
          List.of(
              uncached, cached, cached)) { // cached twice: from the databases, then from the cache
        assertThat(db.getByFullnames(order, ThingDb.Missing.FAIL))
            .extracting(Thing::fullname)
            .containsExactly(
                made.get(3).fullname(),
                made.get(0).fullname(),
                made.get(1).fullname(),
                made.get(2).fullname());
      }
      try (Scope scope = cached.scope()) {
        cached.getByFullnames(order, ThingDb.Missing.FAIL);
        assertThat(scope.statements()).isZero();
      }
    }
  }

  @Test
  void typePlacedOnUnconfiguredDatabaseIsRefusedByBuild() {
    ThingDbBuilder b =
        ThingDb.builder()
            .database("links", Database.of(links))
            .type(LINK, "links")
            .type(COMMENT, "nowhere")
            .noCache();
    assertThatThrownBy(b::build)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "type comment is placed on database nowhere, which is not configured (configured: [links])");
  }
}

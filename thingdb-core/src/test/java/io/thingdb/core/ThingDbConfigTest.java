package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The builder refuses incomplete or unworkable configurations with messages that say what to do.
 */
class ThingDbConfigTest {
  static final ThingType LINK = ThingType.named("link").build();
  static PostgresFixture pg;

  @BeforeAll
  static void start() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stop() {
    pg.close();
  }

  @Test
  void aPoolTooSmallForTheOutboxThreadIsRefused() {
    HikariConfig cfg = new HikariConfig();
    cfg.setJdbcUrl(pg.jdbcUrl());
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(1);
    try (HikariDataSource one = new HikariDataSource(cfg);
        InProcessCache cache = InProcessCache.create()) {
      assertThatThrownBy(
              () ->
                  ThingDb.builder()
                      .database("main", Database.of(one))
                      .type(LINK, "main")
                      .cache(cache)
                      .build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessage(
              "the primary pool of database main allows 1 connection(s), but ThingDB needs at least 2 (its outbox"
                  + " thread holds one while it runs, and callers need the rest): raise maximumPoolSize");
      // Without a cache there is no outbox thread: one connection is enough.
      ThingDb.builder()
          .database("main", Database.of(one))
          .type(LINK, "main")
          .noCache()
          .build()
          .close();
    }
  }

  @Test
  void incompleteConfigurationsAreRefusedWithWhatToDo() {
    assertThatThrownBy(() -> ThingDb.builder().noCache().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "at least one database is required: call database(\"main\", Database.of(dataSource))");
    assertThatThrownBy(
            () -> ThingDb.builder().database("main", Database.of(pg.dataSource())).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "choose a cache: call cache(InProcessCache.create()), cache(memcached) or noCache()");
    assertThatThrownBy(() -> ThingDb.builder().database("Main", Database.of(pg.dataSource())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("database name must match [a-z][a-z0-9_]{0,39}: 'Main'");
    assertThatThrownBy(
            () ->
                ThingDb.builder().type(LINK, "main").type(ThingType.named("link").build(), "main"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("type link is registered twice");
  }

  @Test
  void aProbeDataSourceMustBeItsOwnAndDefaultsToThePrimary() {
    javax.sql.DataSource primary = pg.dataSource();
    assertThatThrownBy(() -> Database.of(primary).withProbe(primary))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "the probe DataSource must not be the primary itself: it is meant to bypass its pool");
    assertThatThrownBy(() -> Database.of(primary).withProbe(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("probe must not be null");
    org.assertj.core.api.Assertions.assertThat(Database.of(primary).probe()).isSameAs(primary);
    org.postgresql.ds.PGSimpleDataSource own = new org.postgresql.ds.PGSimpleDataSource();
    own.setURL(pg.jdbcUrl());
    Database withProbe = Database.of(primary).withProbe(own);
    org.assertj.core.api.Assertions.assertThat(withProbe.probe()).isSameAs(own);
    org.assertj.core.api.Assertions.assertThat(withProbe.withReplicas().probe())
        .as("kept by withReplicas")
        .isSameAs(own);
  }

  @Test
  void circuitOptionsOutsideTheirRangesAreRefused() {
    assertThatThrownBy(() -> ThingDb.builder().circuitOpensAfter(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("circuitOpensAfter must be between 1 and 100: 0");
    assertThatThrownBy(() -> ThingDb.builder().circuitOpensAfter(101))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("circuitOpensAfter must be between 1 and 100: 101");
    assertThatThrownBy(() -> ThingDb.builder().circuitProbeInterval(java.time.Duration.ofMillis(9)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("circuitProbeInterval must be between 10 ms and 60 s: PT0.009S");
    assertThatThrownBy(
            () -> ThingDb.builder().circuitProbeInterval(java.time.Duration.ofSeconds(61)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("circuitProbeInterval must be between 10 ms and 60 s: PT1M1S");
    assertThatThrownBy(() -> ThingDb.builder().circuitProbeInterval(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("circuitProbeInterval must not be null");
  }
}

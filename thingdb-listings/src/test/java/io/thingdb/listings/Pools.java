package io.thingdb.listings;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.testing.PostgresFixture;

/**
 * Pooled DataSources for the load tests: the fixture's plain DataSource opens a new server process
 * per connection (several milliseconds), which would dominate a 20,000-vote run.
 */
final class Pools {
  private Pools() {}

  /** Creates {@code database} on {@code pg} and returns a pool over it; the caller closes it. */
  static HikariDataSource create(PostgresFixture pg, String database, int size) {
    pg.createDatabase(database);
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.jdbcUrl(database));
    config.setMaximumPoolSize(size);
    config.setMinimumIdle(0);
    config.setPoolName("test-" + database);
    return new HikariDataSource(config);
  }
}

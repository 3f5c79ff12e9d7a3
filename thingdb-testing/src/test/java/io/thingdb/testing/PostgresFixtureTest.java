package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PostgresFixtureTest {
  private static PostgresFixture fast;

  @BeforeAll
  static void startServer() {
    fast = PostgresFixture.start();
  }

  @AfterAll
  static void stopServer() {
    fast.close();
  }

  @Test
  void answersQueriesThroughDataSourceAndJdbcUrl() throws SQLException {
    assertThat(queryOne(fast.dataSource(), "select 1")).isEqualTo("1");
    try (Connection connection = DriverManager.getConnection(fast.jdbcUrl())) {
      assertThat(connection.isValid(1)).isTrue();
    }
    assertThat(fast.jdbcUrl())
        .isEqualTo("jdbc:postgresql://localhost:" + fast.port() + "/postgres?user=postgres");
    assertThat(fast.dataDirectory().resolve("PG_VERSION")).hasContent("15");
  }

  @Test
  void defaultServerTradesDurabilityForSpeed() throws SQLException {
    assertThat(queryOne(fast.dataSource(), "show fsync")).isEqualTo("off");
    assertThat(queryOne(fast.dataSource(), "show synchronous_commit")).isEqualTo("off");
  }

  @Test
  void durableServerSyncsEveryCommit() throws SQLException {
    try (PostgresFixture durable = PostgresFixture.durable()) {
      DataSource dataSource = durable.dataSource();

      assertThat(queryOne(dataSource, "show fsync")).isEqualTo("on");
      assertThat(queryOne(dataSource, "show synchronous_commit")).isEqualTo("on");
      assertThat(queryOne(dataSource, "show full_page_writes")).isEqualTo("on");
    }
  }

  @Test
  void createDatabaseIsolatesTables() throws SQLException {
    DataSource isolated = fast.createDatabase("fixture_isolation");
    execute(isolated, "create table only_here (id int)");

    assertThat(queryOne(isolated, "select current_database()")).isEqualTo("fixture_isolation");
    assertThat(queryOne(fast.dataSource(), "select to_regclass('only_here') is null"))
        .isEqualTo("t");
    assertThatThrownBy(() -> fast.createDatabase("fixture_isolation"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already exists");
    assertThatThrownBy(() -> fast.createDatabase("Bad-Name"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("database name must match [a-z_][a-z0-9_]{0,62} (was 'Bad-Name')");
  }

  @Test
  void stopImmediateThenStartAgainKeepsCommittedAndLosesUncommittedData() throws SQLException {
    try (PostgresFixture durable =
        PostgresFixture.builder().durable().serverConfig("max_connections", "50").start()) {
      DataSource dataSource = durable.dataSource();
      int port = durable.port();
      execute(dataSource, "create table t (id int primary key)");
      execute(dataSource, "insert into t values (1)");
      Connection open = dataSource.getConnection();
      open.setAutoCommit(false);
      try (Statement statement = open.createStatement()) {
        statement.execute("insert into t values (2)");
      }

      durable.stopImmediate();

      assertThat(durable.isRunning()).isFalse();
      assertThat(LoopbackPorts.isAccepting(port)).isFalse();
      assertThatThrownBy(open::commit).isInstanceOf(SQLException.class);
      open.close();

      durable.startAgain();

      assertThat(durable.port()).isEqualTo(port);
      assertThat(queryAll(dataSource, "select id from t order by id")).containsExactly("1");
      assertThat(queryOne(dataSource, "show max_connections")).isEqualTo("50");
      assertThat(queryOne(dataSource, "show synchronous_commit")).isEqualTo("on");
    }
  }

  @Test
  void closeIsIdempotentAndDeletesTheDataDirectory() {
    PostgresFixture fixture = PostgresFixture.start();
    Path dataDirectory = fixture.dataDirectory();
    int port = fixture.port();

    fixture.close();
    fixture.close();

    assertThat(Files.exists(dataDirectory)).isFalse();
    assertThat(LoopbackPorts.isAccepting(port)).isFalse();
    assertThatThrownBy(fixture::startAgain)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("the PostgreSQL fixture on port " + port + " is closed");
  }

  @Test
  void builderRejectsInvalidSettings() {
    assertThatThrownBy(() -> PostgresFixture.builder().serverConfig("max connections", "1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "server config key must be a PostgreSQL setting name like max_connections"
                + " (was 'max connections')");
    assertThatThrownBy(() -> PostgresFixture.builder().serverConfig("fsync", null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("server config value for fsync must not be null");
  }

  @Test
  void builderRejectsAStartupTimeoutThatIsNotPositive() {
    assertThatThrownBy(() -> PostgresFixture.builder().startupTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("startupTimeout must be positive (was PT0S)");
    assertThatThrownBy(() -> PostgresFixture.builder().startupTimeout(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("startupTimeout must be positive (was null)");
  }

  private static String queryOne(DataSource dataSource, String sql) throws SQLException {
    List<String> rows = queryAll(dataSource, sql);
    assertThat(rows).hasSize(1);
    return rows.get(0);
  }

  private static List<String> queryAll(DataSource dataSource, String sql) throws SQLException {
    try (Connection connection = dataSource.getConnection();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery(sql)) {
      List<String> values = new ArrayList<>();
      while (rows.next()) {
        values.add(rows.getString(1));
      }
      return values;
    }
  }

  private static void execute(DataSource dataSource, String sql) throws SQLException {
    try (Connection connection = dataSource.getConnection();
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    }
  }
}

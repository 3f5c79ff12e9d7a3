package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

class PostgresExtensionTest {
  @RegisterExtension
  static final PostgresExtension postgres =
      new PostgresExtension(
          PostgresFixture.builder().durable().serverConfig("max_connections", "40"));

  @Test
  void servesTheClassWithTheBuildersSettings() throws SQLException {
    PostgresFixture fixture = postgres.fixture();

    assertThat(fixture.isRunning()).isTrue();
    assertThat(query(fixture.jdbcUrl(), "show max_connections")).isEqualTo("40");
    assertThat(query(fixture.jdbcUrl(), "show synchronous_commit")).isEqualTo("on");
    try (Connection connection = fixture.dataSource().getConnection()) {
      assertThat(connection.isValid(1)).isTrue();
    }
  }

  @Test
  void fixtureOutsideARegisteredClassFailsSayingWhere() {
    assertThatThrownBy(() -> new PostgresExtension().fixture())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "no PostgreSQL server: fixture() is available from @BeforeAll to @AfterAll of"
                + " the test class that registers the PostgresExtension");
  }

  @Test
  void rejectsANullBuilder() {
    assertThatThrownBy(() -> new PostgresExtension(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("builder must not be null; use PostgresFixture.builder()");
  }

  /**
   * The extension restarts a crashed server between tests, and a durable server keeps what was
   * committed; the order makes that observable.
   */
  @Nested
  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  class ExtensionBetweenTests {
    @Test
    @Order(1)
    void commitThenCrashTheServer() throws SQLException {
      execute(postgres.fixture().jdbcUrl(), "create table kept (v text)");
      execute(postgres.fixture().jdbcUrl(), "insert into kept values ('committed')");

      postgres.fixture().stopImmediate();
    }

    @Test
    @Order(2)
    void findTheSameServerRunningWithTheCommittedRow() throws SQLException {
      assertThat(postgres.fixture().isRunning()).isTrue();
      assertThat(query(postgres.fixture().jdbcUrl(), "select v from kept")).isEqualTo("committed");
    }
  }

  private static String query(String url, String sql) throws SQLException {
    try (Connection connection = DriverManager.getConnection(url);
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery(sql)) {
      assertThat(rows.next()).isTrue();
      return rows.getString(1);
    }
  }

  private static void execute(String url, String sql) throws SQLException {
    try (Connection connection = DriverManager.getConnection(url);
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    }
  }
}

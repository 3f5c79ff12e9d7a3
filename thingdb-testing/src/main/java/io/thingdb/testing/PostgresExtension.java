package io.thingdb.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * JUnit 5 extension that starts a {@link PostgresFixture} once per test class and closes it after
 * the class, deleting its data directory. Before each test it starts the server again if a test
 * crashed it with {@link PostgresFixture#stopImmediate()}, so a fault test leaves a running server
 * for the next one. Data is kept from test to test (PostgreSQL has no cheap reset): give each test
 * its own tables or its own database ({@link PostgresFixture#createDatabase}).
 *
 * <pre>{@code
 * @RegisterExtension
 * static final PostgresExtension postgres = new PostgresExtension();
 *
 * @Test
 * void storesAThing() {
 *   DataSource dataSource = postgres.fixture().dataSource();
 *   String url = postgres.fixture().jdbcUrl(); // for a connection pool
 *   ...
 * }
 * }</pre>
 *
 * <p>Register it on a {@code static} field. On an instance field JUnit does not call the before-all
 * callback; the extension then starts a server before each test and closes it after.
 * {@code @Nested} classes share the enclosing class's server.
 *
 * <p>Thread-safety: the extension's callbacks are invoked by JUnit one at a time; {@link
 * #fixture()} may be called from any thread, and the fixture itself is thread-safe.
 */
public final class PostgresExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
  private final PostgresFixture.Builder builder;
  private volatile PostgresFixture fixture;

  /** The unique id of the context that started the server and so closes it. */
  private String owner;

  /**
   * An extension for a server with zonky's fast settings (fsync and synchronous_commit off); see
   * {@link PostgresFixture#start()}.
   */
  public PostgresExtension() {
    this(PostgresFixture.builder());
  }

  /**
   * An extension for servers started by {@code builder}, e.g. {@code
   * PostgresFixture.builder().durable()}; the builder must not change later.
   *
   * @throws IllegalArgumentException if {@code builder} is null
   */
  public PostgresExtension(PostgresFixture.Builder builder) {
    if (builder == null) {
      throw new IllegalArgumentException("builder must not be null; use PostgresFixture.builder()");
    }
    this.builder = builder;
  }

  /**
   * The running server.
   *
   * @throws IllegalStateException outside a test of the class that registered the extension
   */
  public PostgresFixture fixture() {
    PostgresFixture current = fixture;
    if (current == null) {
      throw new IllegalStateException(
          "no PostgreSQL server: fixture() is available from @BeforeAll to @AfterAll of the test"
              + " class that registers the PostgresExtension");
    }
    return current;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    startIfAbsent(context);
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    if (startIfAbsent(context)) {
      return;
    }
    PostgresFixture current = fixture;
    if (!current.isRunning()) {
      current.startAgain();
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    closeIfOwner(context);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    closeIfOwner(context);
  }

  private boolean startIfAbsent(ExtensionContext context) {
    if (fixture != null) {
      return false;
    }
    fixture = builder.start();
    owner = context.getUniqueId();
    return true;
  }

  private void closeIfOwner(ExtensionContext context) {
    if (fixture != null && context.getUniqueId().equals(owner)) {
      try {
        fixture.close();
      } finally {
        fixture = null;
        owner = null;
      }
    }
  }
}

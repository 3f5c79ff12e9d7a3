package io.thingdb.examples.blog;

import io.thingdb.core.DatabaseUnavailableException;
import io.thingdb.core.ThingDb;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.util.Optional;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A DataSource for the blog's own JDBC users (listing stores, votes, queue processors, locks) that
 * fails at once while ThingDB knows the database is down ({@link ThingDb#unavailable(String)}), as
 * ThingDB's own operations do, instead of letting each of them wait out the pool's acquire timeout:
 * request threads stay free, and the only waiter left on the pool is ThingDB's recovery probe, so
 * HikariCP's refill does not back off to seconds and the first write after the outage is prompt.
 *
 * <p>While the database's circuit is open, {@link #getConnection()} throws {@link
 * SQLTransientConnectionException} (SQLSTATE 08000) whose cause is the {@link
 * DatabaseUnavailableException}; {@link BlogServer} answers it with 503. Thread-safe.
 */
final class OutageGuard implements DataSource {
  private final ThingDb db;
  private final String database;
  private final DataSource pool;

  private OutageGuard(ThingDb db, String database, DataSource pool) {
    this.db = db;
    this.database = database;
    this.pool = pool;
  }

  /** {@code pool}, the primary of ThingDB's database {@code database}, behind its circuit. */
  static DataSource wrap(ThingDb db, String database, DataSource pool) {
    db.unavailable(database); // fails now for a database ThingDb does not know
    return new OutageGuard(db, database, pool);
  }

  @Override
  public Connection getConnection() throws SQLException {
    Optional<DatabaseUnavailableException> down = db.unavailable(database);
    if (down.isPresent()) {
      throw new SQLTransientConnectionException(down.get().getMessage(), "08000", down.get());
    }
    return pool.getConnection();
  }

  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    throw new SQLFeatureNotSupportedException("the blog's pools are configured with their user");
  }

  @Override
  public PrintWriter getLogWriter() throws SQLException {
    return pool.getLogWriter();
  }

  @Override
  public void setLogWriter(PrintWriter out) throws SQLException {
    pool.setLogWriter(out);
  }

  @Override
  public void setLoginTimeout(int seconds) throws SQLException {
    pool.setLoginTimeout(seconds);
  }

  @Override
  public int getLoginTimeout() throws SQLException {
    return pool.getLoginTimeout();
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    return pool.getParentLogger();
  }

  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    return iface.isInstance(this) ? iface.cast(this) : pool.unwrap(iface);
  }

  @Override
  public boolean isWrapperFor(Class<?> iface) throws SQLException {
    return iface.isInstance(this) || pool.isWrapperFor(iface);
  }

  @Override
  public String toString() {
    return pool + " (behind the circuit of database " + database + ")";
  }
}

package io.thingdb.core;

import io.thingdb.testing.ForwardingDataSource;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.postgresql.PGConnection;

/**
 * A DataSource over a real pool that can lose a connection at a chosen moment, the way a network
 * failure or a server restart loses it: by terminating the connection's PostgreSQL backend ({@code
 * pg_terminate_backend(pid, timeout)}, which waits until the backend is gone) through another pool.
 * Nothing is simulated on the wire: the driver sees a real dead connection.
 */
final class ThingStoreFaultyDataSource extends ForwardingDataSource {
  /** Where a connection can be lost. */
  enum Moment {
    /** Right before a statement whose SQL contains the marker is sent. */
    BEFORE_STATEMENT,
    /** Right after a statement whose SQL contains the marker returned (autocommit: committed). */
    AFTER_STATEMENT,
    /** Right before COMMIT is sent. */
    BEFORE_COMMIT,
    /** Right after COMMIT returned. */
    AFTER_COMMIT
  }

  /** A one-shot fault: at {@code moment} (for statements: whose SQL contains {@code marker}). */
  record Fault(Moment moment, String marker) {}

  private final DataSource admin;
  private final AtomicReference<Fault> armed = new AtomicReference<>();
  final AtomicInteger connections = new AtomicInteger();
  final AtomicInteger killed = new AtomicInteger();

  /** The PostgreSQL backend pids that a fault terminated, in order. */
  final List<Integer> terminated = new CopyOnWriteArrayList<>();

  /** getConnection fails with SQLSTATE 08001 (connection refused) while this is positive. */
  final AtomicInteger refuseConnections = new AtomicInteger();

  ThingStoreFaultyDataSource(DataSource real, DataSource admin) {
    super(real);
    this.admin = admin;
  }

  /** Arms a fault for the next matching moment on any connection. */
  void arm(Moment moment, String marker) {
    armed.set(moment == null ? null : new Fault(moment, marker));
  }

  boolean fired() {
    return armed.get() == null;
  }

  /**
   * ThingDB's own background threads (outbox) are left alone: faults and counts are the caller's.
   */
  private static boolean background() {
    return Thread.currentThread().getName().startsWith("thingdb-");
  }

  @Override
  public Connection getConnection() throws SQLException {
    if (background()) {
      return delegate().getConnection();
    }
    connections.incrementAndGet();
    if (refuseConnections.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      throw new SQLException(
          "Connection to localhost refused. Check that the hostname and port are correct"
              + " and that the postmaster is accepting TCP/IP connections.",
          "08001");
    }
    Connection c = delegate().getConnection();
    return (Connection)
        Proxy.newProxyInstance(
            getClass().getClassLoader(),
            new Class<?>[] {Connection.class},
            new ConnectionHandler(c));
  }

  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    throw new SQLFeatureNotSupportedException();
  }

  private void maybeKill(Connection c, Moment moment, String sql) throws SQLException {
    Fault f = armed.get();
    if (background()
        || f == null
        || f.moment() != moment
        || (f.marker() != null && (sql == null || !sql.contains(f.marker())))) {
      return;
    }
    if (!armed.compareAndSet(f, null)) {
      return;
    }
    int pid = c.unwrap(PGConnection.class).getBackendPID();
    try (Connection a = admin.getConnection();
        PreparedStatement ps = a.prepareStatement("select pg_terminate_backend(?, 5000)");
        PreparedStatement gone =
            a.prepareStatement("select count(*) from pg_stat_activity where pid = ?")) {
      ps.setInt(1, pid);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next() || !rs.getBoolean(1)) {
          throw new AssertionError(
              "the fault did not fire: backend " + pid + " was not terminated");
        }
      }
      gone.setInt(1, pid);
      try (ResultSet rs = gone.executeQuery()) {
        rs.next();
        if (rs.getLong(1) != 0) {
          throw new AssertionError("the fault did not fire: backend " + pid + " is still there");
        }
      }
    }
    terminated.add(pid);
    killed.incrementAndGet();
  }

  private final class ConnectionHandler implements InvocationHandler {
    private final Connection c;

    ConnectionHandler(Connection c) {
      this.c = c;
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
      try {
        switch (m.getName()) {
          case "commit" -> {
            maybeKill(c, Moment.BEFORE_COMMIT, null);
            c.commit();
            maybeKill(c, Moment.AFTER_COMMIT, null);
            return null;
          }
          case "prepareStatement" -> {
            PreparedStatement ps = (PreparedStatement) m.invoke(c, args);
            String sql = (String) args[0];
            return Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {PreparedStatement.class},
                new StatementHandler(c, ps, sql));
          }
          case "unwrap" -> {
            return c.unwrap((Class<?>) args[0]);
          }
          default -> {
            return m.invoke(c, args);
          }
        }
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
    }
  }

  private final class StatementHandler implements InvocationHandler {
    private final Connection c;
    private final Statement ps;
    private final String sql;

    StatementHandler(Connection c, Statement ps, String sql) {
      this.c = c;
      this.ps = ps;
      this.sql = sql;
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
      boolean executes = m.getName().startsWith("execute");
      try {
        if (executes) {
          maybeKill(c, Moment.BEFORE_STATEMENT, sql);
        }
        Object result = m.invoke(ps, args);
        if (executes) {
          maybeKill(c, Moment.AFTER_STATEMENT, sql);
        }
        return result;
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
    }
  }
}

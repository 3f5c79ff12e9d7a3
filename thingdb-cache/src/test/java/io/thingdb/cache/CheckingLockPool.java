package io.thingdb.cache;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A minimal connection pool for the lock tests that checks every connection given back to it, as
 * OkHttp's test rule fails a test that leaks connections: a returned connection must be in
 * auto-commit mode, outside a transaction, with its original {@code lock_timeout}, and hold no
 * advisory lock. Violations are collected for the test to assert on, and {@link #inUse()} counts
 * connections not given back. Aborted connections are dropped. Thread-safe.
 */
final class CheckingLockPool implements DataSource, AutoCloseable {
  private final PGSimpleDataSource target;
  private final int maxSize;
  private final Deque<Connection> idle = new ArrayDeque<>();
  private final List<String> violations = new ArrayList<>();
  private int open; // guarded by this: physical connections out or idle
  private int inUse; // guarded by this
  private int aborted; // guarded by this

  /** A pool of at most {@code maxSize} connections to {@code jdbcUrl}, named {@code appName}. */
  CheckingLockPool(String jdbcUrl, String appName, int maxSize) {
    this.target = new PGSimpleDataSource();
    target.setURL(jdbcUrl);
    target.setApplicationName(appName);
    this.maxSize = maxSize;
  }

  @Override
  public Connection getConnection() throws SQLException {
    Connection physical;
    synchronized (this) {
      while (idle.isEmpty() && open >= maxSize) {
        try {
          wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SQLException("interrupted waiting for a pooled connection", e);
        }
      }
      physical = idle.poll();
      if (physical == null) {
        open++;
      }
      inUse++;
    }
    if (physical == null) {
      try {
        physical = target.getConnection();
      } catch (SQLException | RuntimeException e) {
        synchronized (this) {
          open--;
          inUse--;
          notifyAll();
        }
        throw e;
      }
    }
    return wrap(physical);
  }

  private Connection wrap(Connection physical) {
    InvocationHandler handler =
        new InvocationHandler() {
          private boolean closed; // guarded by the handler

          @Override
          public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            synchronized (this) {
              switch (method.getName()) {
                case "close":
                  if (!closed) {
                    closed = true;
                    giveBack(physical);
                  }
                  return null;
                case "isClosed":
                  return closed || physical.isClosed();
                case "abort":
                  if (!closed) {
                    closed = true;
                    physical.abort((Executor) args[0]);
                    dropAborted();
                  }
                  return null;
                default:
                  if (closed) {
                    throw new SQLException("connection returned to the pool: " + method.getName());
                  }
              }
            }
            try {
              return method.invoke(physical, args);
            } catch (InvocationTargetException e) {
              throw e.getCause();
            }
          }
        };
    return (Connection)
        Proxy.newProxyInstance(
            Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, handler);
  }

  private void giveBack(Connection physical) {
    String problem = check(physical);
    synchronized (this) {
      inUse--;
      if (problem == null) {
        idle.push(physical);
      } else {
        violations.add(problem);
        open--;
        closeQuietly(physical);
      }
      notifyAll();
    }
  }

  private synchronized void dropAborted() {
    inUse--;
    open--;
    aborted++;
    notifyAll();
  }

  /** What is wrong with a returned connection, or null. */
  private static String check(Connection c) {
    try {
      if (c.isClosed()) {
        return "a closed connection was returned";
      }
      if (!c.getAutoCommit()) {
        return "a connection was returned with auto-commit off";
      }
      try (Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "select current_setting('lock_timeout'),"
                      + " (select count(*) from pg_locks where locktype = 'advisory'"
                      + "  and pid = pg_backend_pid())")) {
        rs.next();
        if (!rs.getString(1).equals("0")) {
          return "a connection was returned with lock_timeout=" + rs.getString(1);
        }
        if (rs.getLong(2) != 0) {
          return "a connection was returned holding " + rs.getLong(2) + " advisory lock(s)";
        }
      }
      return null;
    } catch (SQLException e) {
      return "a returned connection failed its check: " + e;
    }
  }

  /** Connections handed out and not yet closed or aborted. */
  synchronized int inUse() {
    return inUse;
  }

  /** Connections aborted by their user instead of returned. */
  synchronized int aborted() {
    return aborted;
  }

  /** What was wrong with returned connections, in order. */
  synchronized List<String> violations() {
    return List.copyOf(violations);
  }

  @Override
  public synchronized void close() {
    for (Connection c : idle) {
      closeQuietly(c);
    }
    open -= idle.size();
    idle.clear();
  }

  private static void closeQuietly(Connection c) {
    try {
      c.close();
    } catch (SQLException e) {
      // closing a pooled test connection; nothing to do
    }
  }

  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    throw new SQLFeatureNotSupportedException("the test pool has one user");
  }

  @Override
  public PrintWriter getLogWriter() {
    return null;
  }

  @Override
  public void setLogWriter(PrintWriter out) {}

  @Override
  public void setLoginTimeout(int seconds) {}

  @Override
  public int getLoginTimeout() {
    return 0;
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException("no parent logger");
  }

  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    throw new SQLException("not a wrapper");
  }

  @Override
  public boolean isWrapperFor(Class<?> iface) {
    return false;
  }
}

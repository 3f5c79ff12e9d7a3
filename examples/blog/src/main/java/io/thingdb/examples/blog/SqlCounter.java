package io.thingdb.examples.blog;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * Counts the SQL statements that the listing classes run through plain JDBC on the current thread
 * (ThingDb counts its own in a {@link io.thingdb.core.Scope}), so that the per-request log line
 * covers every statement: wrap a DataSource with {@link #wrap}, read {@link #current()} before and
 * after. Thread-safe: the counter is per thread.
 */
final class SqlCounter {
  private static final ThreadLocal<long[]> COUNT = ThreadLocal.withInitial(() -> new long[1]);

  private SqlCounter() {}

  /** Statements executed on this thread through wrapped DataSources so far. */
  static long current() {
    return COUNT.get()[0];
  }

  /** {@code ds}, counting each statement execution on the calling thread. */
  static DataSource wrap(DataSource ds) {
    return proxy(DataSource.class, ds);
  }

  private static <T> T proxy(Class<T> type, Object target) {
    InvocationHandler h =
        (p, method, args) -> {
          Object result;
          try {
            result = method.invoke(target, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
          return wrapResult(method, result);
        };
    return type.cast(
        Proxy.newProxyInstance(SqlCounter.class.getClassLoader(), new Class<?>[] {type}, h));
  }

  private static Object wrapResult(Method method, Object result) {
    String name = method.getName();
    if (result instanceof Connection c && name.equals("getConnection")) {
      return proxy(Connection.class, c);
    }
    if (result instanceof Statement s
        && (name.equals("prepareStatement")
            || name.equals("createStatement")
            || name.equals("prepareCall"))) {
      Class<?> type =
          s instanceof java.sql.CallableStatement
              ? java.sql.CallableStatement.class
              : s instanceof java.sql.PreparedStatement
                  ? java.sql.PreparedStatement.class
                  : Statement.class;
      return proxy(type, s);
    }
    if (name.startsWith("execute") && method.getDeclaringClass() != Connection.class) {
      COUNT.get()[0]++;
    }
    return result;
  }
}

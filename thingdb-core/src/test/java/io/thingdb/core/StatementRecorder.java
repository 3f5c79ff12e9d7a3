package io.thingdb.core;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;

/**
 * A DataSource over a real one that records, for every prepared statement executed through it, its
 * SQL, how many parameters were bound and the largest array bound: what a test needs to show that a
 * large batch is sent as bounded statements. Records the calling threads' statements only, not
 * ThingDB's background threads'. Thread-safe.
 */
final class StatementRecorder {
  /** One executed statement. */
  record Executed(String sql, int parameters, int largestArray) {}

  final List<Executed> executed = new CopyOnWriteArrayList<>();
  private final DataSource real;

  StatementRecorder(DataSource real) {
    this.real = real;
  }

  /** The recording DataSource; the real one is used for everything else. */
  DataSource dataSource() {
    return (DataSource)
        Proxy.newProxyInstance(
            getClass().getClassLoader(),
            new Class<?>[] {DataSource.class},
            (proxy, m, args) -> {
              Object result = invoke(real, m, args);
              if (m.getName().equals("getConnection")
                  && !Thread.currentThread().getName().startsWith("thingdb-")) {
                return connection((Connection) result);
              }
              return result;
            });
  }

  private Connection connection(Connection c) {
    Map<Array, Integer> arrayLengths = new IdentityHashMap<>();
    return (Connection)
        Proxy.newProxyInstance(
            getClass().getClassLoader(),
            new Class<?>[] {Connection.class},
            (proxy, m, args) -> {
              Object result = invoke(c, m, args);
              switch (m.getName()) {
                case "createArrayOf" ->
                    arrayLengths.put((Array) result, ((Object[]) args[1]).length);
                case "prepareStatement" -> {
                  return statement((PreparedStatement) result, (String) args[0], arrayLengths);
                }
                default -> {}
              }
              return result;
            });
  }

  private PreparedStatement statement(
      PreparedStatement ps, String sql, Map<Array, Integer> arrayLengths) {
    int[] bound = new int[2]; // parameters, largest array
    InvocationHandler h =
        (proxy, m, args) -> {
          if (m.getName().equals("setObject")) {
            bound[0] = Math.max(bound[0], (Integer) args[0]);
            if (args[1] instanceof Array a) {
              bound[1] = Math.max(bound[1], arrayLengths.getOrDefault(a, 0));
            }
          }
          Object result = invoke(ps, m, args);
          if (m.getName().startsWith("execute")) {
            executed.add(new Executed(sql, bound[0], bound[1]));
          }
          return result;
        };
    return (PreparedStatement)
        Proxy.newProxyInstance(
            getClass().getClassLoader(), new Class<?>[] {PreparedStatement.class}, h);
  }

  private static Object invoke(Object target, Method m, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}

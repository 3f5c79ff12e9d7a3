package io.thingdb.core;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.Cache;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.testing.MemcachedCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

/**
 * What the thing-store tests share: HikariCP pools, memcached clients, and reads of the tables and
 * of the cache that bypass ThingDB, so that every assertion checks what is really stored.
 */
final class ThingStoreSupport {
  private static final AtomicInteger DATABASES = new AtomicInteger();

  private ThingStoreSupport() {}

  /** A pool of at most 10 connections to {@code jdbcUrl} as user postgres. */
  static HikariDataSource pool(String jdbcUrl) {
    return pool(jdbcUrl, 10, Duration.ofSeconds(30));
  }

  static HikariDataSource pool(String jdbcUrl, int size, Duration connectionTimeout) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl);
    config.setUsername("postgres");
    config.setMaximumPoolSize(size);
    config.setConnectionTimeout(connectionTimeout.toMillis());
    config.setPoolName("thingstore-test-" + DATABASES.incrementAndGet());
    return new HikariDataSource(config);
  }

  /** A memcached client on the whole cluster, default options. */
  static MemcachedCache memcached(MemcachedCluster cluster) {
    return MemcachedCache.builder().servers(cluster.servers()).build();
  }

  /** The key {@code db} caches {@code t} under now (its database's current cache epoch). */
  static String key(ThingDb db, Thing t) {
    return db.cacheKeyOf(t.type(), t.id());
  }

  // ------------------------------------------------------------------ the cache, read directly

  /**
   * The kind and version of the entry VersionedCache stored under {@code key}, or null if absent.
   */
  static VersionedCache.Stored rawEntry(Cache cache, String key) {
    try (VersionedCache vc = VersionedCache.builder(cache).build()) {
      return vc.inspect(key);
    }
  }

  /** The thing cached under its key (decoded), or null on a miss or a tombstone. */
  static Thing cachedThing(Cache cache, ThingDb db, ThingType type, int typeId, long id) {
    try (VersionedCache vc = VersionedCache.builder(cache).build()) {
      String key = db.cacheKeyOf(type, id);
      VersionedCache.Versioned v = vc.get(key);
      // On this loaded 2-core machine a read can time out (a miss, and three in a row make the
      // server suspect for about one probe interval): look again before calling it a miss.
      // A raw entry that is not a value (a tombstone or a negative entry) is a real miss.
      for (int i = 0; i < 3 && v == null; i++) {
        VersionedCache.Stored e = vc.inspect(key);
        if (e != null && e.kind() != VersionedCache.Kind.VALUE) {
          break;
        }
        sleep(100);
        v = vc.get(key);
      }
      if (v == null) {
        return null;
      }
      Thing t = ThingCodec.decode(type, typeId, v.value());
      if (t == null) {
        throw new AssertionError(
            "cache entry of " + Fullnames.thing(typeId, id) + " does not decode");
      }
      if (t.version() != v.version()) {
        throw new AssertionError(
            "cache entry of "
                + t.fullname()
                + " has entry version "
                + v.version()
                + " but holds a thing of version "
                + t.version());
      }
      return t;
    }
  }

  static Thing cachedThing(Cache cache, ThingDb db, Thing t) {
    return cachedThing(cache, db, t.type(), t.typeId(), t.id());
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  // ------------------------------------------------------------------ the database, read directly

  /** One {@code thing_<type>} row and its {@code data_<type>} rows (key to value and kind). */
  record Stored(
      long id,
      int ups,
      int downs,
      boolean deleted,
      boolean spam,
      long version,
      TreeMap<String, String> values,
      TreeMap<String, String> kinds) {}

  static Optional<Stored> stored(DataSource ds, ThingType type, long id) {
    try (Connection c = ds.getConnection()) {
      c.setAutoCommit(false);
      c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
      try {
        Stored s = null;
        try (PreparedStatement ps =
            c.prepareStatement(
                "select ups, downs, deleted, spam, version from thing_"
                    + type.name()
                    + " where thing_id = ?")) {
          ps.setLong(1, id);
          try (ResultSet rs = ps.executeQuery()) {
            if (rs.next()) {
              s =
                  new Stored(
                      id,
                      rs.getInt(1),
                      rs.getInt(2),
                      rs.getBoolean(3),
                      rs.getBoolean(4),
                      rs.getLong(5),
                      new TreeMap<>(),
                      new TreeMap<>());
            }
          }
        }
        if (s == null) {
          return Optional.empty();
        }
        try (PreparedStatement ps =
            c.prepareStatement(
                "select key, value, kind from data_" + type.name() + " where thing_id = ?")) {
          ps.setLong(1, id);
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              s.values().put(rs.getString(1), rs.getString(2));
              s.kinds().put(rs.getString(1), rs.getString(3));
            }
          }
        }
        return Optional.of(s);
      } finally {
        c.rollback();
      }
    } catch (SQLException e) {
      throw new AssertionError("cannot read " + type.name() + " " + id + ": " + e.getMessage(), e);
    }
  }

  static Stored storedOrFail(DataSource ds, Thing t) {
    return stored(ds, t.type(), t.id())
        .orElseThrow(() -> new AssertionError(t.fullname() + " is not in the database"));
  }

  /** The first column of every row, as text. */
  static List<String> column(DataSource ds, String sql, Object... params) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      bind(c, ps, params);
      List<String> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new AssertionError(sql + ": " + e.getMessage(), e);
    }
  }

  static long count(DataSource ds, String sql, Object... params) {
    return Long.parseLong(column(ds, sql, params).get(0));
  }

  static void execute(DataSource ds, String sql, Object... params) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      bind(c, ps, params);
      ps.execute();
    } catch (SQLException e) {
      throw new AssertionError(sql + ": " + e.getMessage(), e);
    }
  }

  private static void bind(Connection c, PreparedStatement ps, Object[] params)
      throws SQLException {
    for (int i = 0; i < params.length; i++) {
      Object p = params[i];
      if (p instanceof Long[] a) {
        p = c.createArrayOf("bigint", a);
      } else if (p instanceof String[] a) {
        p = c.createArrayOf("text", a);
      }
      ps.setObject(i + 1, p);
    }
  }

  /** The registry id of a thing type, read from thingdb_registry. */
  static int typeId(DataSource ds, ThingType type) {
    return Integer.parseInt(
        column(
                ds,
                "select type_id from thingdb_registry where kind = 't' and name = ?",
                type.name())
            .get(0));
  }
}

package io.thingdb.core;

import io.thingdb.cache.VersionedCache.Versioned;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** The read path: cache multi-get, then one query per table for the misses, then fills. */
final class ThingReads {
  private ThingReads() {}

  /** {@link #loadAll} for a collection of ids, as a map by id (found things only). */
  static Map<Long, Thing> load(Io io, Session session, TypeHandle h, Collection<Long> ids) {
    long[] array = new long[ids.size()];
    int i = 0;
    for (long id : ids) {
      array[i++] = id;
    }
    Thing[] found = loadAll(io, session, h, array);
    Map<Long, Thing> out = new HashMap<>(found.length * 2);
    for (Thing t : found) {
      if (t != null) {
        out.put(t.id(), t);
      }
    }
    return out;
  }

  /**
   * The things with {@code ids} (distinct), by position: null where a thing does not exist. One
   * positional multi-get, each hit decoded in place from the bytes memcached returned (no map, no
   * copy per layer); then one query for the misses.
   */
  static Thing[] loadAll(Io io, Session session, TypeHandle h, long[] ids) {
    int n = ids.length;
    Thing[] found = new Thing[n];
    int hits = 0;
    // One epoch for the read and its fills: a fill must land under the keys the read missed.
    // Null: the session is on a timeline this instance cannot confirm; no cache for this read.
    Epoch epoch = io.cached() ? h.db.epochFor(session) : null;
    if (epoch != null && n > 0) {
      String[] keys = new String[n];
      for (int i = 0; i < n; i++) {
        keys[i] = h.cacheKey(epoch, ids[i]);
      }
      io.cache()
          .getAll(
              Arrays.asList(keys),
              (i, version, b, offset, length) -> {
                Thing t = ThingCodec.decode(h.names, h.id, b, offset, length);
                if (t != null && t.id() == ids[i]) {
                  found[i] = t;
                }
              });
      for (Thing t : found) {
        if (t != null) {
          hits++;
        }
      }
      Scope.countCacheHits(hits);
    }
    if (hits == n) {
      return found;
    }
    long[] missing = new long[n - hits];
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (found[i] == null) {
        missing[m++] = ids[i];
      }
    }
    Routing.Served<Map<Long, Thing>> served =
        io.routing().readServed(h.db, session, io.retry(), c -> fetch(io, c, h, missing));
    Map<Long, Thing> loaded = served.value();
    for (int i = 0; i < n; i++) {
      if (found[i] == null) {
        found[i] = loaded.get(ids[i]);
      }
    }
    // Only primary reads fill: see Routing.readServed.
    if (epoch != null && !loaded.isEmpty() && !served.fromReplica()) {
      Map<String, Versioned> fills = ThingCodec.fills(io.cache(), epoch, loaded.values());
      io.cache().fillAll(fills, io.cacheTtl());
      // fillAll is add-only: it cannot replace an older tombstone (left by an increment's
      // invalidation) or an older value that a slow writer published after our multi-get. Left
      // like that, a writer of v-1 that commits before v but publishes after our read of v
      // makes this reader's next read go back to v-1, and a tombstone keeps a hot thing out of
      // the cache until the tombstone expires. One pipelined multi-get tells which fills did not
      // land (misses cost one extra round trip); those go through fill's gets/cas, which never
      // replaces a newer version.
      Map<String, Versioned> landed = io.cache().getAll(fills.keySet());
      for (Map.Entry<String, Versioned> f : fills.entrySet()) {
        Versioned now = landed.get(f.getKey());
        if (now == null || now.version() < f.getValue().version()) {
          io.cache().fill(f.getKey(), f.getValue().value(), f.getValue().version(), io.cacheTtl());
        }
      }
    }
    return found;
  }

  /**
   * One statement whatever the count: the thing rows joined with their data rows. One statement is
   * one snapshot; the two statements this used to be (thing rows, then data rows, each in
   * autocommit) returned the row of one version with the props of a later one whenever an update
   * committed in between, and that mix was cached under the older version.
   */
  static Map<Long, Thing> fetch(Io io, Connection c, TypeHandle h, long[] ids) throws SQLException {
    Fetched f = new Fetched(h);
    io.sql().query(c, fetchSql(h, ids.length), f::row, ids.length == 1 ? ids[0] : ids);
    return f.things();
  }

  /**
   * The statement of {@link #fetch}: the thing rows joined with their data rows. One id (a single
   * get, a write transaction's read) gets "= ?", an index lookup whatever plan the prepared
   * statement settled on; "= any(?)" was planned for arrays and cost about ten times as much on a
   * vote's hot path.
   */
  static String fetchSql(TypeHandle h, int ids) {
    String t = h.type.name();
    return "select t.*, d.key as data_key, d.value as data_value, d.kind as data_kind from thing_"
        + t
        + " t left join data_"
        + t
        + " d on d.thing_id = t.thing_id where t.thing_id "
        + (ids == 1 ? "= ?" : "= any(?)");
  }

  /** Collects the rows of {@link #fetchSql} into things. Not thread-safe. */
  static final class Fetched {
    private final TypeHandle h;
    private final Map<Long, Thing.Row> rows = new LinkedHashMap<>();
    private final Map<Long, Map<String, Object>> props = new HashMap<>();

    Fetched(TypeHandle h) {
      this.h = h;
    }

    Object row(java.sql.ResultSet rs) throws SQLException {
      long id = rs.getLong("thing_id");
      if (!rows.containsKey(id)) {
        rows.put(id, Engine.row(rs));
      }
      String key = rs.getString("data_key");
      if (key != null) {
        addProp(h, props, id, key, rs.getString("data_value"), rs.getString("data_kind"));
      }
      return null;
    }

    Map<Long, Thing> things() {
      Map<Long, Thing> out = new LinkedHashMap<>();
      for (Thing.Row r : rows.values()) {
        out.put(
            r.id(), Thing.of(h.type, h.id, r, props.getOrDefault(r.id(), new LinkedHashMap<>())));
      }
      return out;
    }
  }

  /**
   * The data rows of {@code ids}. Consistent with the thing rows only inside a transaction that
   * holds their row locks (the write path); reads use {@link #fetch}.
   */
  static Map<Long, Map<String, Object>> fetchProps(Io io, Connection c, TypeHandle h, long[] ids)
      throws SQLException {
    Map<Long, Map<String, Object>> props = new HashMap<>();
    io.sql()
        .query(
            c,
            "select thing_id, key, value, kind from data_"
                + h.type.name()
                + " where thing_id = any(?)",
            rs -> {
              addProp(h, props, rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4));
              return null;
            },
            ids);
    return props;
  }

  private static void addProp(
      TypeHandle h,
      Map<Long, Map<String, Object>> props,
      long id,
      String key,
      String value,
      String kind) {
    Object v = h.type.storedValue(id, key, value, kind);
    if (v != null) {
      props.computeIfAbsent(id, k -> new LinkedHashMap<>()).put(key, v);
    }
  }
}

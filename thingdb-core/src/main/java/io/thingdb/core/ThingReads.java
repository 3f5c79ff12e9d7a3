package io.thingdb.core;

import io.thingdb.cache.VersionedCache.Versioned;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The read path: cache multi-get, then one query per table for the misses, then fills. */
final class ThingReads {
  private ThingReads() {}

  static Map<Long, Thing> load(ThingDb db, Session session, ThingDb.TypeHandle h, Collection<Long> ids) {
    Map<Long, Thing> found = new HashMap<>(ids.size() * 2);
    List<Long> misses = new ArrayList<>();
    if (db.cache != null && !ids.isEmpty()) {
      Map<String, Long> keys = new LinkedHashMap<>();
      for (long id : ids) {
        keys.put(db.cacheKey(h, id), id);
      }
      Map<String, Versioned> hits = db.cache.getAll(keys.keySet());
      for (Map.Entry<String, Long> k : keys.entrySet()) {
        Versioned v = hits.get(k.getKey());
        Thing t = v == null ? null : ThingCodec.decode(h.type, h.id, v.value());
        if (t != null && t.id() == k.getValue()) {
          found.put(k.getValue(), t);
        } else {
          misses.add(k.getValue());
        }
      }
      Scope.countCacheHits(found.size());
    } else {
      misses.addAll(ids);
    }
    if (misses.isEmpty()) {
      return found;
    }
    long[] missing = misses.stream().mapToLong(Long::longValue).toArray();
    Map<Long, Thing> loaded = db.routing.read(h.db, session, db.retry, c -> fetch(db, c, h, missing));
    found.putAll(loaded);
    if (db.cache != null && !loaded.isEmpty()) {
      Map<String, Versioned> fills = new LinkedHashMap<>();
      for (Thing t : loaded.values()) {
        fills.put(db.cacheKey(t), new Versioned(ThingCodec.encode(t), t.version()));
      }
      db.cache.fillAll(fills, db.cacheTtl);
    }
    return found;
  }

  /** Two statements whatever the count: the thing rows, then their data rows. */
  static Map<Long, Thing> fetch(ThingDb db, Connection c, ThingDb.TypeHandle h, long[] ids) throws SQLException {
    String t = h.type.name();
    List<Thing.Row> rows = db.sql.query(c, "select * from thing_" + t + " where thing_id = any(?)", ThingDb::row, ids);
    Map<Long, Thing> out = new LinkedHashMap<>();
    if (rows.isEmpty()) {
      return out;
    }
    long[] present = rows.stream().mapToLong(Thing.Row::id).toArray();
    Map<Long, Map<String, Object>> props = fetchProps(db, c, h, present);
    for (Thing.Row r : rows) {
      out.put(r.id(), Thing.of(h.type, h.id, r, props.getOrDefault(r.id(), new LinkedHashMap<>())));
    }
    return out;
  }

  static Map<Long, Map<String, Object>> fetchProps(ThingDb db, Connection c, ThingDb.TypeHandle h, long[] ids)
      throws SQLException {
    Map<Long, Map<String, Object>> props = new HashMap<>();
    db.sql.query(c, "select thing_id, key, value, kind from data_" + h.type.name() + " where thing_id = any(?)", rs -> {
      String key = rs.getString(2);
      if (h.type.hasProp(key)) { // rows of props no longer declared stay in the table, unread
        Prop<?> prop = h.type.prop(key);
        String kind = rs.getString(4);
        if (kind.charAt(0) != prop.kind().code()) {
          throw new ThingDbException("stored prop '" + key + "' of " + h.type.name() + " " + rs.getLong(1)
              + " has kind " + kind + " but is declared " + prop.kind());
        }
        props.computeIfAbsent(rs.getLong(1), k -> new LinkedHashMap<>()).put(key, prop.kind().decode(rs.getString(3)));
      }
      return null;
    }, ids);
    return props;
  }
}

package io.thingdb.core;

import io.thingdb.cache.VersionedCache.Versioned;
import java.sql.Array;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The relation read path. Every read is ONE statement: relation rows with their props aggregated by
 * a lateral subquery, so that a relation and its props come from one snapshot.
 */
final class RelationReads {
  private RelationReads() {}

  /** Columns of a relation row plus its props as three parallel arrays ordered by key. */
  static String select(RelationHandle h) {
    if (h.type.props().isEmpty()) {
      // No declared props, so none is read (undeclared rows are ignored anyway): no lateral
      // aggregate per row, which a vote's pair lock would otherwise pay on its hot path.
      return "select r.rel_id, r.thing1_id, r.thing2_id, r.name, r.date, r.version,"
          + " null::text[] as keys, null::text[] as vals, null::text[] as kinds from "
          + h.table
          + " r";
    }
    return "select r.rel_id, r.thing1_id, r.thing2_id, r.name, r.date, r.version, d.keys, d.vals, d.kinds"
        + " from "
        + h.table
        + " r"
        + propsJoin(h);
  }

  private static String propsJoin(RelationHandle h) {
    return " left join lateral (select array_agg(key order by key) as keys, array_agg(value order by key) as vals,"
        + " array_agg(kind::text order by key) as kinds from "
        + h.dataTable
        + " where rel_id = r.rel_id) d on true";
  }

  /** Maps a row of {@link #select}, or null when {@code rel_id} is null (an outer join's miss). */
  static Relation map(RelationHandle h, ResultSet rs) throws SQLException {
    long id = rs.getLong("rel_id");
    if (rs.wasNull()) {
      return null;
    }
    Map<String, Object> props = new LinkedHashMap<>();
    String[] keys = strings(rs.getArray("keys"));
    if (keys != null) {
      String[] values = strings(rs.getArray("vals"));
      String[] kinds = strings(rs.getArray("kinds"));
      for (int i = 0; i < keys.length; i++) {
        Object v = h.type.storedValue(id, keys[i], values[i], kinds[i]);
        if (v != null) {
          props.put(keys[i], v);
        }
      }
    }
    return new Relation(
        h.type,
        h.id,
        id,
        rs.getLong("thing1_id"),
        rs.getLong("thing2_id"),
        rs.getString("name"),
        Sql.instant(rs, "date"),
        rs.getLong("version"),
        props);
  }

  private static String[] strings(Array a) throws SQLException {
    if (a == null) {
      return null;
    }
    try {
      return (String[]) a.getArray();
    } finally {
      a.free();
    }
  }

  /**
   * The relations of one pair, by id, on {@code c} (a writer's list read inside its transaction).
   */
  static List<Relation> pair(Io io, Connection c, RelationHandle h, long thing1Id, long thing2Id)
      throws SQLException {
    return io.sql()
        .query(
            c,
            select(h) + " where r.thing1_id = ? and r.thing2_id = ? order by r.rel_id",
            rs -> map(h, rs),
            thing1Id,
            thing2Id);
  }

  /** One relation by id, or null. */
  static Relation byId(Io io, Session session, RelationHandle h, long id) {
    List<Relation> found =
        io.routing()
            .read(
                h.db,
                session,
                io.retry(),
                c -> io.sql().query(c, select(h) + " where r.rel_id = ?", rs -> map(h, rs), id));
    return found.isEmpty() ? null : found.get(0);
  }

  /** All relations from ({@code column = thing1_id}) or to ({@code thing2_id}) one thing, by id. */
  static List<Relation> byThing(
      Io io, Session session, RelationHandle h, String column, long thingId, String name) {
    String where =
        " where r."
            + column
            + " = ?"
            + (name == null ? "" : " and r.name = ?")
            + " order by r.rel_id";
    Object[] params = name == null ? new Object[] {thingId} : new Object[] {thingId, name};
    return io.routing()
        .read(
            h.db,
            session,
            io.retry(),
            c -> io.sql().query(c, select(h) + where, rs -> map(h, rs), params));
  }

  /** A pair's relations and the pair's version as one snapshot read them. */
  record PairState(List<Relation> relations, long version) {}

  /**
   * Which of {@code pairs} have relations: one cache multi-get, then ONE statement for all the
   * pairs that missed, whose answers (empty lists included) fill the cache at the pair's version.
   */
  static Map<Relation.Pair, List<Relation>> lookup(
      Io io, Session session, RelationHandle h, Collection<Relation.Pair> pairs) {
    Map<Relation.Pair, List<Relation>> found = new LinkedHashMap<>(pairs.size() * 2);
    List<Relation.Pair> misses = new ArrayList<>();
    // One epoch for the read and its fills: a fill must land under the keys the read missed.
    // Null: the session is on a timeline this instance cannot confirm; no cache for this read.
    Epoch epoch = io.cached() ? h.db.epochFor(session) : null;
    if (epoch != null && !pairs.isEmpty()) {
      Map<String, Relation.Pair> keys = new LinkedHashMap<>();
      for (Relation.Pair p : pairs) {
        keys.put(h.cacheKey(epoch, p.thing1Id(), p.thing2Id()), p);
      }
      Map<String, Versioned> hits = io.cache().getAll(keys.keySet());
      int hitCount = 0;
      for (Map.Entry<String, Relation.Pair> k : keys.entrySet()) {
        Relation.Pair p = k.getValue();
        Versioned v = hits.get(k.getKey());
        List<Relation> list =
            v == null ? null : RelationCodec.decode(h, p.thing1Id(), p.thing2Id(), v.value());
        if (list != null) {
          found.put(p, List.copyOf(list));
          hitCount++;
        } else {
          misses.add(p);
        }
      }
      Scope.countCacheHits(hitCount);
    } else {
      misses.addAll(pairs);
    }
    if (misses.isEmpty()) {
      return found;
    }
    Routing.Served<Map<Relation.Pair, PairState>> served =
        io.routing().readServed(h.db, session, io.retry(), c -> fetchPairs(io, c, h, misses));
    Map<Relation.Pair, PairState> loaded = served.value();
    for (Map.Entry<Relation.Pair, PairState> e : loaded.entrySet()) {
      found.put(e.getKey(), e.getValue().relations());
    }
    // Only primary reads fill: see Routing.readServed.
    if (epoch != null && !served.fromReplica()) {
      Map<String, Versioned> fills = new LinkedHashMap<>();
      for (Map.Entry<Relation.Pair, PairState> e : loaded.entrySet()) {
        Relation.Pair p = e.getKey();
        // Version 0 for a pair never written: any write's tombstone or value (version >= 1) wins.
        fills.put(
            h.cacheKey(epoch, p.thing1Id(), p.thing2Id()),
            new Versioned(
                RelationCodec.encode(p.thing1Id(), p.thing2Id(), e.getValue().relations()),
                e.getValue().version()));
      }
      io.cache().fillAll(fills, io.cacheTtl());
    }
    Map<Relation.Pair, List<Relation>> ordered = new LinkedHashMap<>(pairs.size() * 2);
    for (Relation.Pair p : pairs) {
      ordered.put(p, found.get(p));
    }
    return ordered;
  }

  /**
   * One statement for any number of pairs. The pair's version and its relation rows come from the
   * same snapshot, and every writer changes both in one transaction, so a (list, version) filled
   * into the cache is exactly the state that version was committed with.
   */
  static Map<Relation.Pair, PairState> fetchPairs(
      Io io, Connection c, RelationHandle h, List<Relation.Pair> pairs) throws SQLException {
    long[] t1 = new long[pairs.size()];
    long[] t2 = new long[pairs.size()];
    for (int i = 0; i < pairs.size(); i++) {
      t1[i] = pairs.get(i).thing1Id();
      t2[i] = pairs.get(i).thing2Id();
    }
    Map<Relation.Pair, List<Relation>> lists = new LinkedHashMap<>();
    Map<Relation.Pair, Long> versions = new LinkedHashMap<>();
    io.sql()
        .query(
            c,
            "select p.t1, p.t2, coalesce(v.version, 0) as pair_version,"
                + " r.rel_id, r.thing1_id, r.thing2_id, r.name, r.date, r.version, d.keys, d.vals, d.kinds"
                + " from unnest(?::bigint[], ?::bigint[]) as p(t1, t2)"
                + " left join "
                + h.pairTable
                + " v on v.thing1_id = p.t1 and v.thing2_id = p.t2"
                + " left join "
                + h.table
                + " r on r.thing1_id = p.t1 and r.thing2_id = p.t2"
                + propsJoin(h)
                + " order by p.t1, p.t2, r.rel_id",
            rs -> {
              Relation.Pair p = new Relation.Pair(rs.getLong("t1"), rs.getLong("t2"));
              versions.put(p, rs.getLong("pair_version"));
              List<Relation> list = lists.computeIfAbsent(p, k -> new ArrayList<>());
              Relation r = map(h, rs);
              if (r != null) {
                list.add(r);
              }
              return null;
            },
            t1,
            t2);
    Map<Relation.Pair, PairState> out = new LinkedHashMap<>();
    for (Relation.Pair p : pairs) {
      List<Relation> list = lists.get(p);
      out.put(
          p,
          new PairState(
              list == null ? List.of() : List.copyOf(list), versions.getOrDefault(p, 0L)));
    }
    return out;
  }
}

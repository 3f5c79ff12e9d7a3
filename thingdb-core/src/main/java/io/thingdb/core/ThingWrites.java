package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The write path: inserts, updates and increments, each recording its outbox row. */
final class ThingWrites {
  private static final Logger log = LoggerFactory.getLogger(ThingWrites.class);

  private ThingWrites() {}

  /** A committed write and the outbox row that guards its cache update (0 if none). */
  record Committed(Thing thing, long outboxId) {}

  /** An updated thing row and its outbox row (0 if none). */
  record RowCommitted(Thing.Row row, long outboxId) {}

  private static final String OUTBOX_CTE =
      ", o as (insert into thingdb_outbox (cache_key, version) select ?, version from u returning id)"
          + " select u.*, (select id from o) as outbox_id from u";

  /** Per type: ids, thing rows and data rows in three statements whatever the count. */
  static List<Thing> insert(Io io, Connection c, TypeHandle h, List<NewThing> batch)
      throws SQLException {
    String t = h.type.name();
    int n = batch.size();
    List<Long> ids =
        io.sql()
            .query(
                c,
                "select nextval('thingseq_" + t + "') from generate_series(1, ?)",
                rs -> rs.getLong(1),
                n);
    long[] idArray = new long[n];
    int[] ups = new int[n];
    int[] downs = new int[n];
    boolean[] spam = new boolean[n];
    Instant[] dates = new Instant[n];
    List<Long> dataIds = new ArrayList<>();
    List<String> keys = new ArrayList<>();
    List<String> values = new ArrayList<>();
    List<String> kinds = new ArrayList<>();
    Instant now = io.now();
    for (int i = 0; i < n; i++) {
      NewThing nt = batch.get(i);
      idArray[i] = ids.get(i);
      ups[i] = nt.ups();
      downs[i] = nt.downs();
      spam[i] = nt.spam();
      dates[i] = nt.date() != null ? nt.date() : now;
      for (Map.Entry<String, Object> p : nt.props().entrySet()) {
        PropKind kind = h.type.prop(p.getKey()).kind();
        dataIds.add(idArray[i]);
        keys.add(p.getKey());
        values.add(kind.encode(p.getValue()));
        kinds.add(String.valueOf(kind.code()));
      }
    }
    io.sql()
        .update(
            c,
            "insert into thing_"
                + t
                + " (thing_id, ups, downs, spam, date)"
                + " select * from unnest(?::bigint[], ?::int[], ?::int[], ?::boolean[], ?::timestamptz[])",
            idArray,
            ups,
            downs,
            spam,
            dates);
    if (!keys.isEmpty()) {
      io.sql()
          .update(
              c,
              "insert into data_"
                  + t
                  + " (thing_id, key, value, kind)"
                  + " select * from unnest(?::bigint[], ?::text[], ?::text[], ?::text[])",
              dataIds.stream().mapToLong(Long::longValue).toArray(),
              keys.toArray(new String[0]),
              values.toArray(new String[0]),
              kinds.toArray(new String[0]));
    }
    List<Thing> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      NewThing nt = batch.get(i);
      out.add(
          Thing.of(
              h.type,
              h.id,
              new Thing.Row(idArray[i], ups[i], downs[i], false, spam[i], dates[i], 1),
              new LinkedHashMap<>(nt.props())));
    }
    return out;
  }

  static Committed update(Io io, Connection c, TypeHandle h, ThingUpdate u) throws SQLException {
    String t = h.type.name();
    long id = u.base().id();
    StringBuilder set = new StringBuilder("version = version + 1");
    List<Object> params = new ArrayList<>();
    if (u.changedDeleted() != null) {
      set.append(", deleted = ?");
      params.add(u.changedDeleted());
    }
    if (u.changedSpam() != null) {
      set.append(", spam = ?");
      params.add(u.changedSpam());
    }
    Map<String, Object> changed = u.changedProps();
    List<String> toDelete = new ArrayList<>();
    List<String> keys = new ArrayList<>();
    List<String> values = new ArrayList<>();
    List<String> kinds = new ArrayList<>();
    for (Map.Entry<String, Object> e : changed.entrySet()) {
      Prop<?> prop = h.type.prop(e.getKey());
      if (prop.isDefault(e.getValue())) {
        toDelete.add(e.getKey());
      } else {
        keys.add(e.getKey());
        values.add(prop.kind().encode(e.getValue()));
        kinds.add(String.valueOf(prop.kind().code()));
      }
    }
    RowCommitted updated = updateRow(io, c, h, set.toString(), params, id);
    if (!toDelete.isEmpty()) {
      io.sql()
          .update(
              c,
              "delete from data_" + t + " where thing_id = ? and key = any(?)",
              id,
              toDelete.toArray(new String[0]));
    }
    if (!keys.isEmpty()) {
      io.sql()
          .update(
              c,
              "insert into data_"
                  + t
                  + " (thing_id, key, value, kind)"
                  + " select ?, * from unnest(?::text[], ?::text[], ?::text[])"
                  + " on conflict (thing_id, key) do update set value = excluded.value, kind = excluded.kind",
              id,
              keys.toArray(new String[0]),
              values.toArray(new String[0]),
              kinds.toArray(new String[0]));
    }
    // Read the props back inside the transaction: the snapshot the update was made from may be
    // older than other writers' changes, and the cache must get exactly what this version holds.
    Map<String, Object> props =
        ThingReads.fetchProps(io, c, h, new long[] {id}).getOrDefault(id, new LinkedHashMap<>());
    return new Committed(Thing.of(h.type, h.id, updated.row(), props), updated.outboxId());
  }

  /** Updates the thing row (bumping its version) and records the outbox row in one statement. */
  private static RowCommitted updateRow(
      Io io, Connection c, TypeHandle h, String set, List<Object> params, long id)
      throws SQLException {
    String t = h.type.name();
    List<Object> all = new ArrayList<>(params);
    all.add(id);
    String sql;
    if (io.cached()) {
      sql =
          "with u as (update thing_"
              + t
              + " set "
              + set
              + " where thing_id = ? returning *)"
              + OUTBOX_CTE;
      all.add(h.cacheKey(id));
    } else {
      sql =
          "update thing_"
              + t
              + " set "
              + set
              + " where thing_id = ? returning *, 0::bigint as outbox_id";
    }
    List<RowCommitted> rows =
        io.sql()
            .query(
                c,
                sql,
                rs -> new RowCommitted(Engine.row(rs), rs.getLong("outbox_id")),
                all.toArray());
    if (rows.isEmpty()) {
      throw new NotFoundException("no " + t + " with id " + id);
    }
    return rows.get(0);
  }

  static Committed incrProp(Io io, Connection c, TypeHandle h, long id, Prop<?> prop, Number delta)
      throws SQLException {
    String t = h.type.name();
    RowCommitted updated = updateRow(io, c, h, "version = version + 1", List.of(), id);
    String initial;
    String expression;
    Object deltaParam;
    if (prop.kind() == PropKind.LONG) {
      initial = Long.toString(Math.addExact((Long) prop.defaultValue(), delta.longValue()));
      expression = "(data_" + t + ".value::bigint + ?::bigint)::text";
      deltaParam = delta.longValue();
    } else {
      initial = Double.toString((Double) prop.defaultValue() + delta.doubleValue());
      expression = "(data_" + t + ".value::float8 + ?::float8)::text";
      deltaParam = delta.doubleValue();
    }
    List<String> after =
        io.sql()
            .query(
                c,
                "insert into data_"
                    + t
                    + " (thing_id, key, value, kind) values (?, ?, ?, ?)"
                    + " on conflict (thing_id, key) do update set value = "
                    + expression
                    + " returning value",
                rs -> rs.getString(1),
                id,
                prop.name(),
                initial,
                String.valueOf(prop.kind().code()),
                deltaParam);
    if (prop.isDefault(prop.kind().decode(after.get(0)))) {
      // Back at its default (+3 then -3): a prop equal to its default is not stored, as update
      // does. A second statement only in that case: the upsert's new row is invisible to a
      // DELETE in the same statement.
      io.sql()
          .update(c, "delete from data_" + t + " where thing_id = ? and key = ?", id, prop.name());
    }
    Map<String, Object> props =
        ThingReads.fetchProps(io, c, h, new long[] {id}).getOrDefault(id, new LinkedHashMap<>());
    return new Committed(Thing.of(h.type, h.id, updated.row(), props), updated.outboxId());
  }

  /**
   * The statement of {@link #incrCounter}, built once per type, counter and cache setting: the same
   * String instance every time, so pgjdbc's per-connection statement cache finds it without hashing
   * a new string per increment.
   */
  static String incrSql(String type, ThingDb.Counter counter, boolean outbox) {
    String column = counter == ThingDb.Counter.UPS ? "ups" : "downs";
    String update =
        "update thing_"
            + type
            + " set "
            + column
            + " = "
            + column
            + " + ?, version = version + 1"
            + " where thing_id = ? returning thing_id, ups, downs, version";
    return outbox ? "with u as (" + update + ")" + OUTBOX_CTE : update + ", 0::bigint as outbox_id";
  }

  /**
   * The statement of {@link WriteTransaction#addCounts}: both counters of a live (not deleted)
   * thing, its version and, with a cache, its outbox row; no row when the thing is missing or
   * deleted. Parameters: ups delta, downs delta, id (and the cache key).
   */
  static String addCountsSql(String type, boolean outbox) {
    String update =
        "update thing_"
            + type
            + " set ups = ups + ?, downs = downs + ?, version = version + 1"
            + " where thing_id = ? and not deleted returning thing_id, ups, downs, version";
    return outbox ? "with u as (" + update + ")" + OUTBOX_CTE : update + ", 0::bigint as outbox_id";
  }

  /** An increment's new counts and the outbox row that guards its cache update (0 if none). */
  record CountsCommitted(Counts counts, long outboxId) {}

  /**
   * {@code ups}/{@code downs} plus the outbox row in ONE autocommitted statement: one round trip,
   * like the raw {@code update ... set ups = ups + 1} it is measured against. It returns only the
   * columns an increment changes (the cache is patched from the previous version's copy, which has
   * the rest), read by position.
   */
  static CountsCommitted incrCounter(
      Io io,
      Session session,
      TypeHandle h,
      long id,
      String cacheKey,
      ThingDb.Counter counter,
      int delta) {
    String t = h.type.name();
    String column = counter == ThingDb.Counter.UPS ? "ups" : "downs";
    String sql = h.incrSql(counter, io.cached());
    Object[] params = io.cached() ? new Object[] {delta, id, cacheKey} : new Object[] {delta, id};
    return io.retry()
        .run(
            h.db,
            "increment " + column + " of " + t + " " + id,
            () -> {
              Connection c = h.db.circuit.connect();
              CountsCommitted updated;
              try {
                List<CountsCommitted> rows =
                    io.sql()
                        .query(
                            c,
                            sql,
                            rs ->
                                new CountsCommitted(
                                    new Counts(
                                        rs.getLong(1), rs.getInt(2), rs.getInt(3), rs.getLong(4)),
                                    rs.getLong(5)),
                            params);
                if (rows.isEmpty()) {
                  throw new NotFoundException("no " + t + " with id " + id);
                }
                updated = rows.get(0);
              } catch (SQLException | RuntimeException e) {
                try {
                  c.close();
                } catch (SQLException suppressed) {
                  e.addSuppressed(suppressed);
                }
                if (e instanceof SQLException se && Retry.isConnectionFailure(se)) {
                  // Autocommit: the statement is its own COMMIT, so its outcome is unknown.
                  throw new OutcomeUnknownException(
                      "the connection to database "
                          + h.db.name
                          + " failed while incrementing "
                          + column
                          + " of "
                          + t
                          + " "
                          + id
                          + "; it may or may not have been applied: "
                          + e.getMessage(),
                      e);
                }
                throw e;
              }
              // Committed. Nothing from here on may throw SQLException: Retry would apply the
              // increment
              // again (a connection lost right after the statement counted a vote twice).
              io.recordPosition(h.db, session, c);
              try {
                c.close();
              } catch (SQLException e) {
                log.warn(
                    "closing the connection to database {} after an increment failed; the increment is committed: {}",
                    h.db.name,
                    e.getMessage());
              }
              return updated;
            });
  }
}

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

  /**
   * The most things one insert statement takes. Each statement binds a fixed number of parameters
   * (five arrays for the thing rows, four for the data rows), far below PostgreSQL's 65,535, but
   * the arrays grow with the batch: pgjdbc renders each as one text literal and the server parses
   * it whole, so 100,000 things in one statement would hold tens of megabytes per array on both
   * sides in one uninterruptible statement. 10,000 keeps each array near a megabyte while a batch
   * of 100,000 still costs only 30 statements.
   */
  static final int INSERT_CHUNK = 10_000;

  /**
   * The most prop text (in chars, estimated) one insert statement takes: a chunk of things with
   * large props (1 MiB strings) ends early rather than binding hundreds of megabytes at once.
   */
  static final long INSERT_CHUNK_CHARS = 16L << 20;

  /**
   * Per type: ids, thing rows and data rows in three statements per chunk of at most {@link
   * #INSERT_CHUNK} things and about {@link #INSERT_CHUNK_CHARS} chars of props, all in the caller's
   * transaction.
   */
  static List<Thing> insert(Io io, Connection c, TypeHandle h, List<NewThing> batch)
      throws SQLException {
    List<Thing> out = new ArrayList<>(batch.size());
    int from = 0;
    while (from < batch.size()) {
      int to = from;
      long chars = 0;
      while (to < batch.size()
          && to - from < INSERT_CHUNK
          && (to == from || chars < INSERT_CHUNK_CHARS)) {
        chars += textSize(batch.get(to));
        to++;
      }
      out.addAll(insertChunk(io, c, h, batch.subList(from, to)));
      from = to;
    }
    return out;
  }

  /** About how many chars a new thing's rows put into the insert statements' arrays. */
  private static long textSize(NewThing nt) {
    long n = 64;
    for (Map.Entry<String, Object> p : nt.props().entrySet()) {
      Object v = p.getValue();
      n +=
          p.getKey().length()
              + (v instanceof String s
                  ? s.length()
                  : v instanceof byte[] b ? b.length / 3L * 4 : 24);
    }
    return n;
  }

  private static List<Thing> insertChunk(Io io, Connection c, TypeHandle h, List<NewThing> batch)
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
    RowCommitted updated = updateRow(io, c, h, set.toString(), params, id, true);
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

  /**
   * Updates the thing row (bumping its version) and, with a cache and {@code outbox}, records the
   * outbox row in the same statement.
   */
  private static RowCommitted updateRow(
      Io io, Connection c, TypeHandle h, String set, List<Object> params, long id, boolean outbox)
      throws SQLException {
    String t = h.type.name();
    List<Object> all = new ArrayList<>(params);
    all.add(id);
    String sql;
    if (io.cached() && outbox) {
      sql =
          "with u as (update thing_"
              + t
              + " set "
              + set
              + " where thing_id = ? returning *)"
              + OUTBOX_CTE;
      all.add(h.logicalKey(id));
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
    // The thing row first (the lock order of every write), its outbox row only after the
    // increment succeeded: a refused overflow draws no outbox id.
    RowCommitted bumped = updateRow(io, c, h, "version = version + 1", List.of(), id, false);
    String initial;
    String expression;
    Object deltaParam;
    if (prop.kind() == PropKind.LONG) {
      long from = (Long) prop.defaultValue();
      long sum = from + delta.longValue();
      // The initial value is used only when the thing has no row yet; computing it must not fail
      // an increment that PostgreSQL would apply to the stored value.
      boolean overflows = ((from ^ sum) & (delta.longValue() ^ sum)) < 0;
      initial = overflows ? "overflow" : Long.toString(sum);
      expression = "(data_" + t + ".value::bigint + ?::bigint)::text";
      deltaParam = delta.longValue();
    } else {
      double sum = (Double) prop.defaultValue() + delta.doubleValue();
      initial = Double.isFinite(sum) ? Double.toString(sum) : "overflow";
      // PostgreSQL raises 22003 when a float8 sum of finite values overflows, as for bigint.
      expression = "(data_" + t + ".value::float8 + ?::float8)::text";
      deltaParam = delta.doubleValue();
    }
    List<String> after;
    try {
      after =
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
    } catch (SQLException e) {
      if (!NUMERIC_VALUE_OUT_OF_RANGE.equals(e.getSQLState())) {
        throw e;
      }
      throw propOutOfRange(h, id, prop, delta, e);
    }
    if ("overflow".equals(after.get(0))) {
      // The thing had no row: the default plus the delta was computed here and overflowed.
      throw propOutOfRange(h, id, prop, delta, null);
    }
    if (prop.isDefault(prop.kind().decode(after.get(0)))) {
      // Back at its default (+3 then -3): a prop equal to its default is not stored, as update
      // does. A second statement only in that case: the upsert's new row is invisible to a
      // DELETE in the same statement.
      io.sql()
          .update(c, "delete from data_" + t + " where thing_id = ? and key = ?", id, prop.name());
    }
    long outboxId = 0;
    if (io.cached()) {
      outboxId =
          io.sql()
              .query(
                  c,
                  "insert into thingdb_outbox (cache_key, version) values (?, ?) returning id",
                  rs -> rs.getLong(1),
                  h.logicalKey(id),
                  bumped.row().version())
              .get(0);
    }
    Map<String, Object> props =
        ThingReads.fetchProps(io, c, h, new long[] {id}).getOrDefault(id, new LinkedHashMap<>());
    return new Committed(Thing.of(h.type, h.id, bumped.row(), props), outboxId);
  }

  /** PostgreSQL's numeric_value_out_of_range: an integer or float overflowed. */
  static final String NUMERIC_VALUE_OUT_OF_RANGE = "22003";

  private static OutOfRangeException propOutOfRange(
      TypeHandle h, long id, Prop<?> prop, Number delta, SQLException cause) {
    String message =
        "cannot add "
            + delta
            + " to prop '"
            + prop.name()
            + "' of "
            + h.type.name()
            + " "
            + id
            + " ("
            + Fullnames.thing(h.id, id)
            + "): the sum leaves the range of a "
            + prop.kind()
            + " prop ("
            + (prop.kind() == PropKind.LONG ? "64-bit signed integers" : "finite doubles")
            + "); nothing was written";
    return cause == null
        ? new OutOfRangeException(message)
        : new OutOfRangeException(message + " (" + cause.getMessage() + ")", cause);
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
            + " where thing_id = ? and "
            + inRange(column)
            + " returning thing_id, ups, downs, version";
    return outbox ? "with u as (" + update + ")" + OUTBOX_CTE : update + ", 0::bigint as outbox_id";
  }

  /** The largest vote count: {@code ups} and {@code downs} are PostgreSQL {@code int}s. */
  static final long MAX_COUNT = Integer.MAX_VALUE;

  /**
   * The guard that keeps a counter in 0 to {@link #MAX_COUNT}: computed in {@code bigint}, so an
   * increment past the top updates no row instead of raising PostgreSQL's 22003 mid-transaction,
   * and one below zero updates no row either. One parameter: the delta. The caller tells "no such
   * thing" from "out of range" by reading the row ({@link #countsOutOfRange}), only on that path.
   */
  private static String inRange(String column) {
    return column + "::bigint + ? between 0 and " + MAX_COUNT;
  }

  /**
   * The statement of {@link WriteTransaction#addCounts}: both counters of a live (not deleted)
   * thing, its version and, with a cache, its outbox row; no row when the thing is missing or
   * deleted or a counter would leave 0 to {@link #MAX_COUNT}. Parameters: ups delta, downs delta,
   * id, ups delta, downs delta (and the cache key).
   */
  static String addCountsSql(String type, boolean outbox) {
    String update =
        "update thing_"
            + type
            + " set ups = ups + ?, downs = downs + ?, version = version + 1"
            + " where thing_id = ? and not deleted and "
            + inRange("ups")
            + " and "
            + inRange("downs")
            + " returning thing_id, ups, downs, version";
    return outbox ? "with u as (" + update + ")" + OUTBOX_CTE : update + ", 0::bigint as outbox_id";
  }

  /**
   * An increment's new counts, the outbox row that guards its cache update (0 if none) and the
   * epoch it committed on ({@link Io#connectionEpoch}; null if unknown).
   */
  record CountsCommitted(Counts counts, long outboxId, Epoch epoch) {}

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
    Object[] params =
        io.cached() ? new Object[] {delta, id, delta, cacheKey} : new Object[] {delta, id, delta};
    return io.retry()
        .run(
            h.db,
            "increment " + column + " of " + t + " " + id,
            () -> {
              Connection c = h.db.circuit.connect();
              Epoch epoch;
              try {
                epoch = io.connectionEpoch(h.db, c); // before the increment: safe to retry
              } catch (SQLException | RuntimeException e) {
                try {
                  c.close();
                } catch (SQLException suppressed) {
                  e.addSuppressed(suppressed);
                }
                throw e;
              }
              List<CountsCommitted> rows;
              try {
                rows =
                    io.sql()
                        .query(
                            c,
                            sql,
                            rs ->
                                new CountsCommitted(
                                    new Counts(
                                        rs.getLong(1), rs.getInt(2), rs.getInt(3), rs.getLong(4)),
                                    rs.getLong(5),
                                    null),
                            params);
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
              if (rows.isEmpty()) {
                // The statement changed nothing, so a failure of this read may be retried like
                // any other: say whether the thing is missing or the count would leave its range.
                try (Connection reading = c) {
                  int[] now = currentCounts(io, reading, h, id, false);
                  if (now == null) {
                    throw new NotFoundException("no " + t + " with id " + id);
                  }
                  throw countsOutOfRange(
                      h,
                      id,
                      counter == ThingDb.Counter.UPS ? delta : 0,
                      counter == ThingDb.Counter.DOWNS ? delta : 0,
                      now);
                }
              }
              CountsCommitted updated = rows.get(0);
              // Committed. Nothing from here on may throw SQLException: Retry would apply the
              // increment again (a connection lost right after the statement counted a vote twice).
              io.recordPosition(h.db, session, c);
              try {
                c.close();
              } catch (SQLException e) {
                log.warn(
                    "closing the connection to database {} after an increment failed; the increment is committed: {}",
                    h.db.name,
                    e.getMessage());
              }
              return new CountsCommitted(updated.counts(), updated.outboxId(), epoch);
            });
  }

  /**
   * The {@code ups} and {@code downs} of thing {@code id} (only a live one if {@code liveOnly}), or
   * null if there is none: read after a guarded counter update changed no row, to tell a missing
   * thing from a count that would leave its range.
   */
  static int[] currentCounts(Io io, Connection c, TypeHandle h, long id, boolean liveOnly)
      throws SQLException {
    List<int[]> rows =
        io.sql()
            .query(
                c,
                "select ups, downs from thing_"
                    + h.type.name()
                    + " where thing_id = ?"
                    + (liveOnly ? " and not deleted" : ""),
                rs -> new int[] {rs.getInt(1), rs.getInt(2)},
                id);
    return rows.isEmpty() ? null : rows.get(0);
  }

  /**
   * The refusal of a counter change that would take {@code ups} or {@code downs} of thing {@code
   * id}, now {@code now}, below 0 or above {@link #MAX_COUNT}.
   */
  static OutOfRangeException countsOutOfRange(
      TypeHandle h, long id, int upsDelta, int downsDelta, int[] now) {
    List<String> out = new ArrayList<>();
    String[] names = {"ups", "downs"};
    int[] deltas = {upsDelta, downsDelta};
    for (int i = 0; i < 2; i++) {
      long after = (long) now[i] + deltas[i];
      if (after < 0 || after > MAX_COUNT) {
        out.add(
            names[i]
                + " "
                + now[i]
                + (deltas[i] < 0 ? " - " + -(long) deltas[i] : " + " + deltas[i])
                + " = "
                + after
                + (after < 0 ? " is below 0" : " is above " + MAX_COUNT));
      }
    }
    String thing = h.type.name() + " " + id + " (" + Fullnames.thing(h.id, id) + ")";
    return new OutOfRangeException(
        "cannot add ups "
            + upsDelta
            + ", downs "
            + downsDelta
            + " to "
            + thing
            + ": "
            + (out.isEmpty()
                ? "a count would leave 0 to " + MAX_COUNT + " (it changed meanwhile)"
                : String.join(", ", out) + " (vote counts stay within 0 to " + MAX_COUNT + ")")
            + "; nothing was written");
  }
}

package io.thingdb.core;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The relation write path. Every write first takes the pair's row in {@code relpair_<name>} (an
 * upsert that locks it and draws the pair's next version) and records the pair's cache key at that
 * version in {@code thingdb_outbox}, in one statement; then changes the relation rows; then, with a
 * cache, reads the pair's whole list back inside the transaction so that the writer can publish
 * exactly what that version holds.
 *
 * <p>Why a pair row and not the relation rows' own versions: a delete leaves no row to carry a
 * version, so a delete followed by a create would restart at version 1 and an older cached list
 * could win. The pair row survives deletes and its version only grows (it is also drawn from a
 * sequence, so it stays monotonic even if pair rows are ever purged). Because every writer of a
 * pair takes the pair lock first and holds it to COMMIT, pair versions follow commit order, and the
 * list read after the lock is the state at COMMIT: no other writer of the pair can commit in
 * between. Taking the lock first also orders writers of one pair the same way, so a create waiting
 * on the unique index for a concurrent delete cannot deadlock with it.
 */
final class RelationWrites {
  private RelationWrites() {}

  /**
   * A committed relation write.
   *
   * @param relation the relation as written (null for a delete)
   * @param pairVersion the pair's version after the write
   * @param pairList the pair's relations after the write (null without a cache)
   * @param outboxId the outbox row guarding the cache update (0 without a cache)
   */
  record Committed(Relation relation, long pairVersion, List<Relation> pairList, long outboxId) {}

  private static final String UNIQUE_VIOLATION = "23505";

  /**
   * The statement that locks a pair's row, draws its next version and (with a cache) records the
   * outbox row of its cache key, returning {version, outbox id (0 without a cache)}. Parameters:
   * {@link #lockPairParams}. Shared with {@link WriteTransaction#lockPair}.
   */
  static String lockPairSql(RelationHandle h, boolean cached) {
    String upsert =
        "insert into "
            + h.pairTable
            + " as cur (thing1_id, thing2_id, version)"
            + " values (?, ?, nextval('"
            + h.versionSequence
            + "')) on conflict (thing1_id, thing2_id)"
            + " do update set version = greatest(cur.version + 1, nextval('"
            + h.versionSequence
            + "')) returning version";
    return cached
        ? "with p as ("
            + upsert
            + "), o as (insert into thingdb_outbox (cache_key, version)"
            + " select ?, version from p returning id) select p.version, (select id from o) from p"
        : "with p as (" + upsert + ") select p.version, 0::bigint from p";
  }

  /** The parameters of {@link #lockPairSql}. */
  static Object[] lockPairParams(RelationHandle h, boolean cached, long thing1Id, long thing2Id) {
    return cached
        ? new Object[] {thing1Id, thing2Id, h.logicalKey(thing1Id, thing2Id)}
        : new Object[] {thing1Id, thing2Id};
  }

  /** Locks the pair, bumps its version and records the outbox row: {version, outboxId}. */
  private static long[] lockPair(
      Io io, Connection c, RelationHandle h, long thing1Id, long thing2Id) throws SQLException {
    return io.sql()
        .query(
            c,
            lockPairSql(h, io.cached()),
            rs -> new long[] {rs.getLong(1), rs.getLong(2)},
            lockPairParams(h, io.cached(), thing1Id, thing2Id))
        .get(0);
  }

  static Committed create(Io io, Connection c, RelationHandle h, NewRelation nr)
      throws SQLException {
    long t1 = nr.thing1Id();
    long t2 = nr.thing2Id();
    long[] pair = lockPair(io, c, h, t1, t2);
    Instant date = nr.date() != null ? nr.date() : io.now();
    long id;
    try {
      id =
          io.sql()
              .query(
                  c,
                  "insert into "
                      + h.table
                      + " (rel_id, thing1_id, thing2_id, name, date)"
                      + " values (nextval('"
                      + h.idSequence
                      + "'), ?, ?, ?, ?) returning rel_id",
                  rs -> rs.getLong(1),
                  t1,
                  t2,
                  nr.name(),
                  date)
              .get(0);
    } catch (SQLException e) {
      throw duplicateOr(e, h, t1, t2, nr.name());
    }
    Map<String, Object> props = nr.props();
    if (!props.isEmpty()) {
      writeProps(io, c, h, id, props);
    }
    Relation created =
        new Relation(
            h.type, h.id, id, t1, t2, nr.name(), date, 1, new java.util.LinkedHashMap<>(props));
    List<Relation> list = !io.cached() ? null : RelationReads.pair(io, c, h, t1, t2);
    return new Committed(created, pair[0], list, pair[1]);
  }

  /**
   * Deletes the relation and its data rows; throws {@link NotFoundException} (rolled back) if gone.
   */
  static Committed delete(Io io, Connection c, RelationHandle h, Relation r) throws SQLException {
    long[] pair = lockPair(io, c, h, r.thing1Id(), r.thing2Id());
    int deleted =
        io.sql()
            .query(
                c,
                "with d as (delete from "
                    + h.table
                    + " where rel_id = ? and thing1_id = ? and thing2_id = ?"
                    + " returning rel_id), dd as (delete from "
                    + h.dataTable
                    + " where rel_id in (select rel_id from d))"
                    + " select count(*) from d",
                rs -> rs.getInt(1),
                r.id(),
                r.thing1Id(),
                r.thing2Id())
            .get(0);
    if (deleted == 0) {
      throw new NotFoundException("no relation " + h.type.name() + " with id " + r.id());
    }
    List<Relation> list =
        !io.cached() ? null : RelationReads.pair(io, c, h, r.thing1Id(), r.thing2Id());
    return new Committed(null, pair[0], list, pair[1]);
  }

  static Committed update(Io io, Connection c, RelationHandle h, RelationUpdate u)
      throws SQLException {
    Relation base = u.base();
    long[] pair = lockPair(io, c, h, base.thing1Id(), base.thing2Id());
    String name = u.changedName();
    int updated;
    try {
      String set = "version = version + 1" + (name == null ? "" : ", name = ?");
      Object[] params =
          name == null
              ? new Object[] {base.id(), base.thing1Id(), base.thing2Id()}
              : new Object[] {name, base.id(), base.thing1Id(), base.thing2Id()};
      updated =
          io.sql()
              .update(
                  c,
                  "update "
                      + h.table
                      + " set "
                      + set
                      + " where rel_id = ? and thing1_id = ? and thing2_id = ?",
                  params);
    } catch (SQLException e) {
      throw duplicateOr(e, h, base.thing1Id(), base.thing2Id(), name);
    }
    if (updated == 0) {
      throw new NotFoundException("no relation " + h.type.name() + " with id " + base.id());
    }
    List<String> toDelete = new ArrayList<>();
    Map<String, Object> changed = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, Object> e : u.changedProps().entrySet()) {
      if (h.type.prop(e.getKey()).isDefault(e.getValue())) {
        toDelete.add(e.getKey());
      } else {
        changed.put(e.getKey(), e.getValue());
      }
    }
    if (!toDelete.isEmpty()) {
      io.sql()
          .update(
              c,
              "delete from " + h.dataTable + " where rel_id = ? and key = any(?)",
              base.id(),
              toDelete.toArray(new String[0]));
    }
    if (!changed.isEmpty()) {
      writeProps(io, c, h, base.id(), changed);
    }
    // Read back inside the transaction: the snapshot the update was made from may be older than
    // other writers' changes, and the cache must get exactly what this pair version holds.
    List<Relation> list = RelationReads.pair(io, c, h, base.thing1Id(), base.thing2Id());
    Relation after = null;
    for (Relation r : list) {
      if (r.id() == base.id()) {
        after = r;
      }
    }
    if (after == null) {
      throw new IllegalStateException(
          "relation " + base.fullname() + " vanished inside its own update transaction");
    }
    return new Committed(after, pair[0], !io.cached() ? null : list, pair[1]);
  }

  /** Upserts data rows in one statement. */
  private static void writeProps(
      Io io, Connection c, RelationHandle h, long id, Map<String, Object> props)
      throws SQLException {
    List<String> keys = new ArrayList<>();
    List<String> values = new ArrayList<>();
    List<String> kinds = new ArrayList<>();
    for (Map.Entry<String, Object> e : props.entrySet()) {
      PropKind kind = h.type.prop(e.getKey()).kind();
      keys.add(e.getKey());
      values.add(kind.encode(e.getValue()));
      kinds.add(String.valueOf(kind.code()));
    }
    io.sql()
        .update(
            c,
            "insert into "
                + h.dataTable
                + " (rel_id, key, value, kind)"
                + " select ?, * from unnest(?::text[], ?::text[], ?::text[])"
                + " on conflict (rel_id, key) do update set value = excluded.value, kind = excluded.kind",
            id,
            keys.toArray(new String[0]),
            values.toArray(new String[0]),
            kinds.toArray(new String[0]));
  }

  /**
   * The unique constraint on (thing1, thing2, name) is the only one these statements can violate
   * (ids come from a sequence), so SQLSTATE 23505 means "that relation exists". The transaction is
   * rolled back by the caller: nothing was written.
   */
  private static SQLException duplicateOr(
      SQLException e, RelationHandle h, long t1, long t2, String name) {
    if (UNIQUE_VIOLATION.equals(e.getSQLState())) {
      throw new DuplicateRelationException(
          "relation "
              + h.describe(t1, t2)
              + " with name '"
              + name
              + "' already exists: (thing1, thing2, name) is unique; nothing was written",
          e);
    }
    return e;
  }
}

package io.thingdb.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Creates and checks ThingDB's tables: the library's own (schema version, type registry, prop
 * registry, outbox, sort functions) and one pair per type. Everything runs in one transaction per
 * database under {@code pg_advisory_xact_lock}, so instances starting together do not collide, and
 * with {@code create ... if not exists}, so registering a type or prop never needs a migration. Not
 * thread-safe: used once, at startup.
 */
final class Schema {
  /** The version of the library's tables and functions this code writes and understands. */
  static final int VERSION = 1;

  /** Advisory lock key for schema changes: "thingdb" in ASCII. */
  private static final long LOCK = 0x7468696e676462L;

  private final Sql sql;

  Schema(Sql sql) {
    this.sql = sql;
  }

  /** The library's own objects on one database; checks the schema version first. */
  void bootstrap(Connection c, boolean registry) throws SQLException {
    sql.query(c, "select pg_advisory_xact_lock(?)", rs -> null, LOCK);
    sql.execute(
        c,
        "create table if not exists thingdb_schema (component text primary key, version int not null)");
    List<Integer> found =
        sql.query(
            c,
            "select version from thingdb_schema where component = 'thingdb'",
            rs -> rs.getInt(1));
    if (!found.isEmpty() && found.get(0) > VERSION) {
      throw new SchemaConflictException(
          "the database schema is version "
              + found.get(0)
              + ", newer than this library understands ("
              + VERSION
              + "); upgrade ThingDB, do not downgrade it");
    }
    // Version 1 is the first; later versions add their upgrade steps here, each guarded by found.
    sql.execute(
        c,
        "create table if not exists thingdb_outbox (id bigserial primary key, cache_key text not null,"
            + " version bigint not null, created_at timestamptz not null default now())");
    if (registry) {
      sql.execute(
          c,
          "create table if not exists thingdb_registry (type_id serial primary key, kind char(1) not null,"
              + " name text not null, unique (kind, name))");
      sql.execute(
          c,
          "create table if not exists thingdb_props (kind char(1) not null, type_name text not null,"
              + " prop text not null, value_kind char(1) not null, default_value text not null,"
              + " primary key (kind, type_name, prop))");
    }
    sql.execute(c, sortFunctions());
    sql.update(
        c,
        "insert into thingdb_schema (component, version) values ('thingdb', ?)"
            + " on conflict (component) do update set version = excluded.version",
        VERSION);
  }

  private static String sortFunctions() {
    try (InputStream in = Schema.class.getResourceAsStream("/io/thingdb/core/sorts.sql")) {
      if (in == null) {
        throw new IllegalStateException(
            "resource /io/thingdb/core/sorts.sql is missing from the thingdb-core jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Registers a type (kind {@code t} or {@code r}) and its props on the registry database and
   * returns its stable id. A prop whose recorded kind or default differs is refused: changing it
   * would silently change every stored thing that relied on the old default.
   */
  int register(Connection c, char kind, String name, Iterable<Prop<?>> props) throws SQLException {
    sql.query(c, "select pg_advisory_xact_lock(?)", rs -> null, LOCK);
    sql.update(
        c,
        "insert into thingdb_registry (kind, name) values (?, ?) on conflict do nothing",
        String.valueOf(kind),
        name);
    int id =
        sql.query(
                c,
                "select type_id from thingdb_registry where kind = ? and name = ?",
                rs -> rs.getInt(1),
                String.valueOf(kind),
                name)
            .get(0);
    Map<String, String[]> recorded = new HashMap<>();
    for (String[] row :
        sql.query(
            c,
            "select prop, value_kind, default_value from thingdb_props where kind = ? and type_name = ?",
            rs -> new String[] {rs.getString(1), rs.getString(2), rs.getString(3)},
            String.valueOf(kind),
            name)) {
      recorded.put(row[0], row);
    }
    List<String> conflicts = new ArrayList<>();
    for (Prop<?> p : props) {
      String code = String.valueOf(p.kind().code());
      String def = p.kind().encode(p.defaultValue());
      String[] old = recorded.get(p.name());
      if (old == null) {
        sql.update(
            c,
            "insert into thingdb_props (kind, type_name, prop, value_kind, default_value) values (?, ?, ?, ?, ?)"
                + " on conflict do nothing",
            String.valueOf(kind),
            name,
            p.name(),
            code,
            def);
      } else if (!old[1].equals(code) || !old[2].equals(def)) {
        conflicts.add(
            "'"
                + p.name()
                + "' is recorded as "
                + PropKind.ofCode(old[1].charAt(0))
                + " default '"
                + old[2]
                + "' but declared as "
                + p.kind()
                + " default '"
                + def
                + "'");
      }
    }
    if (!conflicts.isEmpty()) {
      throw new SchemaConflictException(
          "type "
              + name
              + ": "
              + String.join("; ", conflicts)
              + ". Changing a prop's kind or default would silently change every stored value that relied on it;"
              + " migrate the stored data explicitly and update thingdb_props, or declare a new prop name");
    }
    return id;
  }

  /** The tables of one thing type on its database. */
  void createThingTables(Connection c, String type) throws SQLException {
    sql.query(c, "select pg_advisory_xact_lock(?)", rs -> null, LOCK);
    // Sequence and index names use their own prefixes: a suffix (thing_<t>_seq) would be the
    // table of a type named <t>_seq.
    sql.execute(c, "create sequence if not exists thingseq_" + type);
    sql.execute(
        c,
        "create table if not exists thing_"
            + type
            + " (thing_id bigint primary key,"
            + " ups int not null default 0, downs int not null default 0,"
            + " deleted bool not null default false, spam bool not null default false,"
            + " date timestamptz not null default now(), version bigint not null default 1)");
    sql.execute(
        c,
        "create table if not exists data_"
            + type
            + " (thing_id bigint not null, key text not null,"
            + " value text not null, kind char(1) not null, primary key (thing_id, key))");
    sql.execute(
        c,
        "create index if not exists thingidx_"
            + type
            + "_date on thing_"
            + type
            + " (date desc, thing_id desc)");
  }

  /**
   * The tables of one relation type on its database: {@code rel_<name>} (unique on thing1, thing2,
   * name; the unique index also serves lists by thing1), an index on thing2, {@code
   * data_rel_<name>}, the id sequence, and the pair-version table and sequence that version the
   * cached per-pair lists (see {@link RelationHandle} for the names).
   */
  void createRelationTables(Connection c, String relation) throws SQLException {
    sql.query(c, "select pg_advisory_xact_lock(?)", rs -> null, LOCK);
    sql.execute(c, "create sequence if not exists relseq_" + relation);
    sql.execute(
        c,
        "create table if not exists rel_"
            + relation
            + " (rel_id bigint primary key,"
            + " thing1_id bigint not null, thing2_id bigint not null, name text not null,"
            + " date timestamptz not null default now(), version bigint not null default 1,"
            + " unique (thing1_id, thing2_id, name))");
    sql.execute(
        c,
        "create index if not exists relidx_"
            + relation
            + "_thing2 on rel_"
            + relation
            + " (thing2_id)");
    sql.execute(
        c,
        "create table if not exists data_rel_"
            + relation
            + " (rel_id bigint not null, key text not null,"
            + " value text not null, kind char(1) not null, primary key (rel_id, key))");
    sql.execute(c, "create sequence if not exists relverseq_" + relation);
    sql.execute(
        c,
        "create table if not exists relpair_"
            + relation
            + " (thing1_id bigint not null,"
            + " thing2_id bigint not null, version bigint not null, primary key (thing1_id, thing2_id))");
  }
}

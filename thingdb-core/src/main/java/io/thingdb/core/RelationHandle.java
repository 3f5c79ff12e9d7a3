package io.thingdb.core;

/**
 * A registered relation type: where it lives, its stable id, its endpoint types and its table
 * names. Immutable and thread-safe.
 *
 * <p>Table names: {@code rel_<name>} and {@code data_rel_<name>} (DESIGN.md section 2), plus {@code
 * relpair_<name>} (one row per pair ever written, holding the pair's cache version), sequences
 * {@code relseq_<name>} (relation ids) and {@code relverseq_<name>} (pair versions), and index
 * {@code relidx_<name>_thing2}. The extra objects use their own prefixes rather than suffixes of
 * {@code rel_<name>}: a suffix such as {@code rel_<name>_seq} would be the table of a relation type
 * named {@code <name>_seq}.
 */
final class RelationHandle {
  final RelationType type;
  final int id;
  final DbHandle db;
  final TypeHandle thing1;
  final TypeHandle thing2;
  final String table;
  final String dataTable;
  final String pairTable;
  final String idSequence;
  final String versionSequence;

  /** The declared props' encoded names, for {@link RelationCodec#decode}. */
  final EntityCodec.Names<RelationType> names;

  RelationHandle(RelationType type, int id, DbHandle db, TypeHandle thing1, TypeHandle thing2) {
    this.type = type;
    this.id = id;
    this.db = db;
    this.thing1 = thing1;
    this.thing2 = thing2;
    this.table = table(type.name());
    this.dataTable = "data_" + table;
    this.pairTable = "relpair_" + type.name();
    this.idSequence = "relseq_" + type.name();
    this.versionSequence = "relverseq_" + type.name();
    this.names = new EntityCodec.Names<>(type);
  }

  static String table(String relationName) {
    return "rel_" + relationName;
  }

  /**
   * The key of the list of relations of one (thing1, thing2) pair without an epoch, as outbox rows
   * record it.
   */
  String logicalKey(long thing1Id, long thing2Id) {
    return "rel:" + id + ":" + thing1Id + ":" + thing2Id;
  }

  /** The cache key of the pair's list under {@code epoch}. */
  String cacheKey(Epoch epoch, long thing1Id, long thing2Id) {
    return epoch.prefix() + logicalKey(thing1Id, thing2Id);
  }

  /** "vote (account 3 -> link 9)" for messages. */
  String describe(long thing1Id, long thing2Id) {
    return type.name()
        + " ("
        + thing1.type.name()
        + " "
        + thing1Id
        + " -> "
        + thing2.type.name()
        + " "
        + thing2Id
        + ")";
  }

  @Override
  public String toString() {
    return type.name();
  }
}

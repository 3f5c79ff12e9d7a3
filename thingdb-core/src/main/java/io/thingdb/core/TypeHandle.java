package io.thingdb.core;

/**
 * A registered type: where it lives, its stable id, and what its cache keys and decoder need.
 * Immutable.
 */
final class TypeHandle {
  final ThingType type;
  final int id;
  final DbHandle db;

  /** {@code thing:t<base36 id>_}: a thing's cache key is this plus its base36 id. */
  final String keyPrefix;

  final ThingCodec.Names names;

  /** {@link ThingWrites#incrSql} by counter ordinal, without and with the outbox row. */
  private final String[][] incrSql = new String[2][ThingDb.Counter.values().length];

  private final String[] addCountsSql = new String[2];

  TypeHandle(ThingType type, int id, DbHandle db) {
    this.type = type;
    this.id = id;
    this.db = db;
    this.keyPrefix = "thing:t" + Integer.toString(id, 36) + "_";
    this.names = new ThingCodec.Names(type);
    for (ThingDb.Counter c : ThingDb.Counter.values()) {
      incrSql[0][c.ordinal()] = ThingWrites.incrSql(type.name(), c, false);
      incrSql[1][c.ordinal()] = ThingWrites.incrSql(type.name(), c, true);
    }
    addCountsSql[0] = ThingWrites.addCountsSql(type.name(), false);
    addCountsSql[1] = ThingWrites.addCountsSql(type.name(), true);
  }

  /**
   * The key of {@code t} without an epoch: the same as {@link #logicalKey(long)} of its type's
   * handle.
   */
  static String logicalKey(Thing t) {
    return "thing:" + t.fullname();
  }

  /**
   * The key of thing {@code id} of this type without an epoch, as outbox rows record it (a row
   * outlives epochs: the replay applies the epoch current when it runs) and as messages name it.
   */
  String logicalKey(long id) {
    return keyPrefix.concat(Long.toString(id, 36));
  }

  /** The cache key of {@code t} under {@code epoch} (before the cache's namespace). */
  static String cacheKey(Epoch epoch, Thing t) {
    return epoch.prefix() + "thing:" + t.fullname();
  }

  /** The cache key of thing {@code id} of this type under {@code epoch}. */
  String cacheKey(Epoch epoch, long id) {
    return epoch.prefix() + keyPrefix + Long.toString(id, 36);
  }

  String incrSql(ThingDb.Counter counter, boolean outbox) {
    return incrSql[outbox ? 1 : 0][counter.ordinal()];
  }

  /** {@link ThingWrites#addCountsSql}, without and with the outbox row. */
  String addCountsSql(boolean outbox) {
    return addCountsSql[outbox ? 1 : 0];
  }
}

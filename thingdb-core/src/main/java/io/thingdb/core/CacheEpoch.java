package io.thingdb.core;

/**
 * A database's cache epoch as one ThingDb instance knows it ({@link ThingDb#cacheEpoch}): the
 * system identifier of the PostgreSQL cluster behind the database's primary DataSource and the
 * timeline that primary writes on. It changes when the primary is promoted from a standby (a new
 * timeline; asynchronous replication may have lost the last acknowledged writes of the old one) or
 * when the DataSource reaches another cluster. Epochs only move forward.
 *
 * <p>Modules that cache values derived from the database under keys of their own should put {@link
 * #token()} into those keys, as ThingDb does with its own, and should publish a value written in a
 * transaction only under the epoch of the timeline that transaction committed on: the timeline of
 * the server a connection reaches is {@code substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1,
 * 8)} read as hexadecimal, which a statement of the transaction can return for free.
 *
 * @param token letters, digits and one dot, for cache keys; equal tokens mean equal epochs
 * @param systemIdentifier {@code system_identifier} of {@code pg_control_system()}
 * @param timeline the primary's timeline
 */
public record CacheEpoch(String token, long systemIdentifier, int timeline) {
  static CacheEpoch of(Epoch e) {
    String prefix = e.prefix();
    return new CacheEpoch(prefix.substring(0, prefix.length() - 1), e.systemId(), e.timeline());
  }
}

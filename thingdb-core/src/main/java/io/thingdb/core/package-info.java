/**
 * ThingDB core, for applications and for thingdb-listings: a schemaless store of things and
 * relations on PostgreSQL, cached write-through in memcached, with replica reads that keep each
 * caller's read-your-writes.
 *
 * <p>Entry points: declare types with {@link io.thingdb.core.ThingType#named} and {@link
 * io.thingdb.core.RelationType#named} (typed {@link io.thingdb.core.Prop}s with defaults), place
 * them on {@link io.thingdb.core.Database}s (a primary and its replicas), and build one {@link
 * io.thingdb.core.ThingDb} with {@link io.thingdb.core.ThingDb#builder()}. It creates, reads,
 * updates and counts {@link io.thingdb.core.Thing}s and {@link io.thingdb.core.Relation}s and runs
 * {@link io.thingdb.core.ThingQuery} queries ({@link io.thingdb.core.Filter}, {@link
 * io.thingdb.core.Sort}); several writes, with statements on the caller's own tables, commit
 * together through {@link io.thingdb.core.ThingDb#write} and its {@link
 * io.thingdb.core.WriteTransaction}. A {@link io.thingdb.core.Session} carries one caller's
 * read-your-writes position ({@link io.thingdb.core.ThingDb#withSession}), a {@link
 * io.thingdb.core.Scope} counts one unit of work's statements, and every failure is a {@link
 * io.thingdb.core.ThingDbException}.
 *
 * <p>Core alone reads and writes its tables and spells its cache keys; other modules use this
 * package's API, never core's storage. Everything public here is API. The engine ({@code Engine}:
 * SQL, routing, codecs, outbox, query cache) is package-private, and what must be public only for
 * another package of this module goes in {@code io.thingdb.core.internal}.
 */
package io.thingdb.core;

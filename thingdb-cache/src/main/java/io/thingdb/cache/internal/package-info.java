/**
 * Implementation details of ThingDB's cache: the ketama ring, key and value encodings, the entry
 * header of {@link io.thingdb.cache.VersionedCache}, and the per-server state of the memcached
 * client.
 *
 * <p>Not API. Jdbi's rule applies: a class here is public only because {@code io.thingdb.cache}, a
 * sibling package of this module, uses it, and members nothing outside this package needs are
 * package-private. No other module imports this package, ThingDB's own included; anything here may
 * change in any release. What other code does need from here is published in {@code
 * io.thingdb.cache}: {@link io.thingdb.cache.WireFormat} (wire keys, placement, framing), {@link
 * io.thingdb.cache.VersionedCache#maxValueSize} and {@link
 * io.thingdb.cache.VersionedCache#inspect}.
 */
package io.thingdb.cache.internal;

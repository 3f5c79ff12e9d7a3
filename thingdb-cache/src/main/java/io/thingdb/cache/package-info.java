/**
 * ThingDB's cache, for applications and for thingdb-core: bytes-in, bytes-out caching on string
 * keys with memcached's failure semantics made explicit.
 *
 * <p>Entry points: {@link io.thingdb.cache.Cache}, built as {@link
 * io.thingdb.cache.MemcachedCache#builder()} (a consistent-hash memcached client that places keys
 * as libmemcached's ketama does) or {@link io.thingdb.cache.InProcessCache#builder()} (one JVM, no
 * server); {@link io.thingdb.cache.VersionedCache} on top of either for versioned write-through and
 * stampede-protected loading; {@link io.thingdb.cache.Locks} ({@link
 * io.thingdb.cache.MemcachedLocks}, {@link io.thingdb.cache.PostgresLocks}) for expiring locks; and
 * {@link io.thingdb.cache.WireFormat} for other clients that share the cluster.
 *
 * <p>Everything public in this package is API. The ring, the codecs and the client's per-server
 * state live in {@code io.thingdb.cache.internal}, which is public only for this package's sake and
 * which no other module imports.
 */
package io.thingdb.cache;

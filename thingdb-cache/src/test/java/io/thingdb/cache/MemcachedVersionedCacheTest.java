package io.thingdb.cache;

import io.thingdb.testing.MemcachedExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Versioned write-through semantics on three real memcached servers. */
class MemcachedVersionedCacheTest extends VersionedCacheContractTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  @Override
  Cache newCache() {
    return MemcachedCache.builder()
        .servers(memcached.cluster().servers())
        .namespace("versioned")
        .build();
  }

  @Override
  boolean mayLeaveWritesUnconfirmed() {
    return true;
  }
}

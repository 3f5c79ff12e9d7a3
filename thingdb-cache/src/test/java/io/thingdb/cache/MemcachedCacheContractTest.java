package io.thingdb.cache;

import io.thingdb.testing.MemcachedExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite against three real memcached servers. */
class MemcachedCacheContractTest extends CacheContractTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  @Override
  Cache newCache() {
    return MemcachedCache.builder()
        .servers(memcached.cluster().servers())
        .namespace("contract")
        .build();
  }

  @Override
  boolean mayLeaveWritesUnconfirmed() {
    return true;
  }
}

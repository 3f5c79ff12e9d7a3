package io.thingdb.cache;

import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite against three real memcached servers. */
class MemcachedCacheContractTest extends CacheContractTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  /**
   * Generous timeouts: the contract is about what each call does, and on a loaded 2-CPU machine a 1
   * MiB set can take longer than the default 100 ms and come back UNCONFIRMED (by design). What
   * timeouts do is tested in MemcachedCacheTest and MemcachedFaultTest.
   */
  @Override
  Cache newCache() {
    return MemcachedCache.builder()
        .servers(memcached.cluster().servers())
        .namespace("contract")
        .readDeadline(Duration.ofSeconds(2))
        .writeTimeout(Duration.ofSeconds(2))
        .build();
  }

  @Override
  boolean mayLeaveWritesUnconfirmed() {
    return true;
  }
}

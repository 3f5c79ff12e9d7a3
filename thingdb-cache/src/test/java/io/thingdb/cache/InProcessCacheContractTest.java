package io.thingdb.cache;

/** The contract suite against the in-process backend. */
class InProcessCacheContractTest extends CacheContractTest {
  @Override
  Cache newCache() {
    return InProcessCache.builder().namespace("contract").build();
  }

  @Override
  boolean mayLeaveWritesUnconfirmed() {
    return false;
  }
}

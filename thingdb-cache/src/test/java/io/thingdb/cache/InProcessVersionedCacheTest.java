package io.thingdb.cache;

/** Versioned write-through semantics on the in-process backend. */
class InProcessVersionedCacheTest extends VersionedCacheContractTest {
  @Override
  Cache newCache() {
    return InProcessCache.builder().namespace("versioned").build();
  }
}

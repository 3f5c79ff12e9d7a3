package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.VersionedCache.Loaded;
import io.thingdb.cache.VersionedCache.Origin;
import io.thingdb.cache.VersionedCache.View;
import org.junit.jupiter.api.Test;

/** Versioned write-through semantics on the in-process backend. */
class InProcessVersionedCacheTest extends VersionedCacheContractTest {
  @Override
  Cache newCache() {
    return InProcessCache.builder().namespace("versioned").build();
  }

  @Override
  boolean mayLeaveWritesUnconfirmed() {
    return false;
  }

  @Test
  void loadViewHitsInProcessShareTheStoredBufferWithoutAnyCopy() {
    vc.loadView("k", TTL, key -> Loaded.of("page".getBytes(UTF_8), 1));
    VersionedCache.Loader none =
        key -> {
          throw new AssertionError("a hit must not load");
        };
    View first = vc.loadView("k", TTL, none);
    View second = vc.loadView("k", TTL, none);
    assertThat(first.origin()).isEqualTo(Origin.HIT);
    assertThat(second.buffer()).isSameAs(first.buffer());
    assertThat(second.offset()).isEqualTo(first.offset()).isPositive();
  }
}

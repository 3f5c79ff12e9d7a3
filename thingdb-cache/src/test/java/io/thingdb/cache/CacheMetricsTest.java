package io.thingdb.cache;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link CacheMetrics}: per-server meters that read the live counters. */
class CacheMetricsTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  static double count(SimpleMeterRegistry r, String name, String server) {
    return r.get(name).tags("server", server, "app", "test").functionCounter().count();
  }

  @Test
  void everyServerGetsItsOwnCountersWhichFollowTheCache() {
    MemcachedCluster cluster = memcached.cluster();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (MemcachedCache cache = MemcachedCache.builder().servers(cluster.servers()).build();
        VersionedCache vc = VersionedCache.builder(cache).build()) {
      CacheMetrics.of(vc, Tags.of("app", "test")).bindTo(registry);
      String key = "metrics-key";
      String server = cache.serverFor(key);
      String other = cluster.servers().stream().filter(s -> !s.equals(server)).findFirst().get();
      assertThat(
              vc.load(key, Duration.ofMinutes(1), k -> VersionedCache.Loaded.of(new byte[] {1}, 1)))
          .containsExactly(1);
      vc.get(key);
      assertThat(count(registry, "thingdb.cache.loads", server)).isEqualTo(1);
      assertThat(count(registry, "thingdb.cache.hits", server)).isGreaterThanOrEqualTo(1);
      assertThat(count(registry, "thingdb.cache.misses", server)).isGreaterThanOrEqualTo(1);
      assertThat(count(registry, "thingdb.cache.loads", other)).isZero();
      assertThat(count(registry, "thingdb.cache.timeouts", server)).isZero();
      assertThat(registry.get("thingdb.cache.unconfirmed.writes").functionCounters()).hasSize(2);
      assertThat(registry.get("thingdb.cache.lease.waits").functionCounters()).hasSize(2);
      assertThat(registry.get("thingdb.cache.stale.served").functionCounters()).hasSize(2);
    }
  }

  @Test
  void theInProcessBackendReportsOneLocalServer() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (InProcessCache cache = InProcessCache.create()) {
      CacheMetrics.of(cache, Tags.of("app", "test")).bindTo(registry);
      cache.get("absent");
      cache.set("k", new byte[] {1}, Duration.ofMinutes(1));
      cache.get("k");
      assertThat(count(registry, "thingdb.cache.misses", "local")).isEqualTo(1);
      assertThat(count(registry, "thingdb.cache.hits", "local")).isEqualTo(1);
    }
  }
}

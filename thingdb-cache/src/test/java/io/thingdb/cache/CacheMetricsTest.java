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

  /**
   * A hung server's reconcile window shows on its gauges: a write it cannot confirm leaves a key to
   * delete and the server not healthy; once it answers again and is reconciled, both read 0.
   */
  @Test
  void aServersReconcileWindowShowsOnItsGauges() throws Exception {
    MemcachedCluster cluster = memcached.cluster();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (MemcachedCache cache =
        MemcachedCache.builder()
            .servers(cluster.servers())
            .writeTimeout(Duration.ofMillis(100))
            .probeInterval(Duration.ofMillis(50))
            .build()) {
      CacheMetrics.of(cache, Tags.of("app", "test")).bindTo(registry);
      String key = "reconcile-key";
      String server = cache.serverFor(key);
      int node = cluster.servers().indexOf(server);
      assertThat(gauge(registry, "thingdb.cache.state", server)).isZero();
      assertThat(gauge(registry, "thingdb.cache.reconcile.pending", server)).isZero();
      cluster.hang(node);
      try {
        cache.set(key, new byte[] {1}, Duration.ofMinutes(1));
        assertThat(gauge(registry, "thingdb.cache.reconcile.pending", server))
            .as("the unconfirmed write's key awaits deletion")
            .isGreaterThanOrEqualTo(1);
      } finally {
        cluster.resume(node);
      }
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (gauge(registry, "thingdb.cache.state", server) != 0
          || gauge(registry, "thingdb.cache.reconcile.pending", server) != 0) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("the server was not reconciled within 30 s: " + cache.status());
        }
        cache.get("probe-" + System.nanoTime()); // traffic lets the client notice the server
        Thread.sleep(20); // polling interval, not synchronisation: the deadline decides
      }
    }
  }

  static double gauge(SimpleMeterRegistry r, String name, String server) {
    return r.get(name).tags("server", server, "app", "test").gauge().value();
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

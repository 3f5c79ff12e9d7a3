package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.testing.MemcachedCluster;
import io.thingdb.testing.MemcachedExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What another client sharing the cluster relies on: {@link WireFormat} names, places and frames
 * every item exactly as a {@link MemcachedCache} with the same namespace and servers does, checked
 * on the servers themselves.
 */
class WireFormatTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);
  static final Duration TTL = Duration.ofMinutes(5);

  static MemcachedCache open(MemcachedCluster cluster) {
    return MemcachedCache.builder().servers(cluster.servers()).namespace("peers").build();
  }

  static boolean holds(MemcachedCluster cluster, int node, String wireKey) {
    return cluster.rawCommand(node, "get " + wireKey).startsWith("VALUE ");
  }

  @Test
  void everyKeyIsOnTheServerAndUnderTheWireKeyTheFormatNames() {
    MemcachedCluster cluster = memcached.cluster();
    WireFormat format = WireFormat.of("peers", cluster.servers());
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      keys.add("placed:" + i);
    }
    // Keys memcached cannot carry as they are: sent as the SHA-256 form.
    keys.addAll(List.of("with space", "x".repeat(300), "ключ", "#hash-like", "tab\there"));
    try (MemcachedCache cache = open(cluster)) {
      int[] perNode = new int[3];
      for (String key : keys) {
        assertThat(cache.set(key, "v".getBytes(UTF_8), TTL)).isEqualTo(Cache.Outcome.APPLIED);
        String wire = format.wireKey(key);
        int expected = cluster.servers().indexOf(format.serverFor(key));
        assertThat(format.serverFor(key)).as(key).isEqualTo(cache.serverFor(key));
        assertThat(format.serverForWireKey(wire)).as(key).isEqualTo(format.serverFor(key));
        for (int n = 0; n < 3; n++) {
          assertThat(holds(cluster, n, wire))
              .as("key %s (wire %s) on node %d", key, wire, n)
              .isEqualTo(n == expected);
        }
        perNode[expected]++;
      }
      assertThat(java.util.Arrays.stream(perNode).min().orElse(0)).isGreaterThan(30);
    }
    assertThat(format.wireKey("placed:1")).isEqualTo("peers:1:placed:1");
    assertThat(format.wireKey("with space"))
        .startsWith("peers:1:#")
        .hasSize("peers:1:#".length() + 43);
  }

  @Test
  void aValueAnotherClientFramesIsReadByTheCacheAndTheCachesIsFramedTheSameWay() {
    MemcachedCluster cluster = memcached.cluster();
    WireFormat format = WireFormat.of("peers", cluster.servers());
    try (MemcachedCache cache = open(cluster)) {
      String wire = format.wireKey("written-elsewhere");
      int node = cluster.servers().indexOf(format.serverFor("written-elsewhere"));
      byte[] framed = WireFormat.frame("hello".getBytes(UTF_8));
      assertThat(framed).hasSize(6);
      String set =
          "set " + wire + " 0 0 " + framed.length + "\r\n" + new String(framed, ISO_8859_1);
      assertThat(cluster.rawCommand(node, set)).startsWith("STORED");
      assertThat(cache.get("written-elsewhere")).isEqualTo("hello".getBytes(UTF_8));

      cache.set("written-here", "world".getBytes(UTF_8), TTL);
      int here = cluster.servers().indexOf(format.serverFor("written-here"));
      String reply = cluster.rawCommand(here, "get " + format.wireKey("written-here"));
      String expected = new String(WireFormat.frame("world".getBytes(UTF_8)), ISO_8859_1);
      assertThat(reply)
          .isEqualTo("VALUE " + format.wireKey("written-here") + " 0 6\r\n" + expected + "\r\nEND");
    }
  }

  @Test
  void ofRejectsWhatTheCacheBuilderRejectsNamingTheOffender() {
    List<String> servers = List.of("127.0.0.1:11211");
    assertThatThrownBy(() -> WireFormat.of("has space", servers))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("has space");
    assertThatThrownBy(() -> WireFormat.of("peers", List.of()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> WireFormat.of("peers", List.of("127.0.0.1:11211", "no-port")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no-port");
    assertThatThrownBy(() -> WireFormat.of(null, servers))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("namespace must not be null");
    assertThatThrownBy(() -> WireFormat.of("peers", null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("servers must not be null");
    assertThatThrownBy(() -> WireFormat.frame(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("value must not be null");
    WireFormat format = WireFormat.of("peers", servers);
    assertThat(format.namespace()).isEqualTo("peers");
    assertThat(format.servers()).isEqualTo(servers);
    assertThat(format.serverFor("anything")).isEqualTo("127.0.0.1:11211");
  }
}

package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.ProcessBuilder.Redirect;
import java.lang.reflect.Proxy;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;

class MemcachedClusterTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(3);

  @Test
  void startsEachNodeOnItsOwnLoopbackPort() {
    MemcachedCluster cluster = memcached.cluster();

    assertThat(cluster.size()).isEqualTo(3);
    assertThat(cluster.servers())
        .containsExactly(cluster.server(0), cluster.server(1), cluster.server(2))
        .allMatch(server -> server.matches("127\\.0\\.0\\.1:\\d+"))
        .doesNotHaveDuplicates();
    for (int i = 0; i < 3; i++) {
      assertThat(cluster.server(i)).isEqualTo("127.0.0.1:" + cluster.port(i));
      assertThat(cluster.isRunning(i)).isTrue();
      assertThat(cluster.rawCommand(i, "version")).startsWith("VERSION 1.");
    }
  }

  @Test
  void rawCommandStoresAndReadsBackPerNode() {
    MemcachedCluster cluster = memcached.cluster();

    assertThat(cluster.rawCommand(0, "set greeting 5 0 5\r\nhello")).isEqualTo("STORED");

    assertThat(cluster.rawCommand(0, "get greeting"))
        .isEqualTo("VALUE greeting 5 5\r\nhello\r\nEND");
    assertThat(cluster.rawCommand(1, "get greeting")).isEqualTo("END");
    assertThat(cluster.rawCommand(0, "incr missing 1")).isEqualTo("NOT_FOUND");
    assertThat(cluster.rawCommand(0, "stats")).contains("STAT pid ").endsWith("END");
  }

  @Test
  void killClosesThePortAndLeavesOtherNodesServing() {
    MemcachedCluster cluster = memcached.cluster();

    cluster.kill(1);

    assertThat(cluster.isRunning(1)).isFalse();
    assertThat(LoopbackPorts.isAccepting(cluster.port(1))).isFalse();
    assertThat(cluster.rawCommand(0, "version")).startsWith("VERSION");
    assertThat(cluster.rawCommand(2, "version")).startsWith("VERSION");
    assertThatThrownBy(() -> cluster.rawCommand(1, "version"))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("node 1 (" + cluster.server(1) + ")");
  }

  @Test
  void restartAfterKillServesOnTheSamePortWithAnEmptyCache() {
    MemcachedCluster cluster = memcached.cluster();
    int port = cluster.port(1);
    cluster.rawCommand(1, "set k 0 0 1\r\nv");

    cluster.kill(1);
    cluster.restart(1);

    assertThat(cluster.port(1)).isEqualTo(port);
    assertThat(cluster.isRunning(1)).isTrue();
    assertThat(cluster.rawCommand(1, "get k")).isEqualTo("END");
    assertThat(cluster.rawCommand(1, "set k 0 0 1\r\nw")).isEqualTo("STORED");
  }

  @Test
  void stopClosesThePortAndRestartBringsTheNodeBack() {
    MemcachedCluster cluster = memcached.cluster();

    cluster.stop(2);

    assertThat(cluster.isRunning(2)).isFalse();
    assertThat(LoopbackPorts.isAccepting(cluster.port(2))).isFalse();

    cluster.restart(2);

    assertThat(cluster.rawCommand(2, "version")).startsWith("VERSION");
  }

  @Test
  void hungNodeDoesNotAnswerUntilResumedAndKeepsItsItems() {
    MemcachedCluster cluster = memcached.cluster();
    cluster.rawCommand(0, "set k 0 0 1\r\nv");

    cluster.hang(0);

    assertThat(cluster.isHung(0)).isTrue();
    assertThat(cluster.isRunning(0)).isTrue();
    assertThatThrownBy(() -> cluster.rawCommand(0, "get k", Duration.ofMillis(300)))
        .isInstanceOf(UncheckedIOException.class)
        .hasCauseInstanceOf(SocketTimeoutException.class)
        .hasMessageContaining("'get k' to node 0 (" + cluster.server(0) + ")");
    assertThat(cluster.rawCommand(1, "version")).startsWith("VERSION");

    cluster.resume(0);

    assertThat(cluster.isHung(0)).isFalse();
    assertThat(cluster.rawCommand(0, "get k")).isEqualTo("VALUE k 0 1\r\nv\r\nEND");
  }

  @Test
  void flushAllEmptiesEveryRunningNode() {
    MemcachedCluster cluster = memcached.cluster();
    for (int i = 0; i < 3; i++) {
      cluster.rawCommand(i, "set k 0 0 1\r\nv");
    }

    cluster.flushAll();

    for (int i = 0; i < 3; i++) {
      assertThat(cluster.rawCommand(i, "get k")).isEqualTo("END");
    }
  }

  @Test
  void closeKillsEveryNodeIncludingHungOnesAndIsIdempotent() {
    MemcachedCluster cluster = MemcachedCluster.start(2);
    List<Integer> ports = List.of(cluster.port(0), cluster.port(1));
    cluster.hang(1);

    cluster.close();
    cluster.close();

    assertThat(ports).noneMatch(LoopbackPorts::isAccepting);
    assertThatThrownBy(() -> cluster.kill(0))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("the memcached cluster is closed");
  }

  @Test
  void statsCountsEachNodesCommandsSeparately() {
    MemcachedCluster cluster = memcached.cluster();
    Map<String, String> before0 = cluster.stats(0);
    Map<String, String> before1 = cluster.stats(1);

    cluster.rawCommand(0, "set k 0 0 1\r\nv");
    cluster.rawCommand(0, "get k");
    cluster.rawCommand(0, "get missing");

    Map<String, String> after0 = cluster.stats(0);
    assertThat(after0.keySet().iterator().next()).isEqualTo("pid");
    assertThat(after0.get("pid")).isEqualTo(before0.get("pid"));
    assertThat(delta(before0, after0, "cmd_set")).isEqualTo(1);
    assertThat(delta(before0, after0, "get_hits")).isEqualTo(1);
    assertThat(delta(before0, after0, "get_misses")).isEqualTo(1);
    assertThat(delta(before1, cluster.stats(1), "cmd_set")).isZero();
    assertThatThrownBy(() -> after0.put("cmd_set", "2"))
        .isInstanceOf(UnsupportedOperationException.class);
  }

  private static long delta(Map<String, String> before, Map<String, String> after, String name) {
    return Long.parseLong(after.get(name)) - Long.parseLong(before.get(name));
  }

  @Test
  void statsOfAKilledNodeFailsNamingIt() {
    MemcachedCluster cluster = memcached.cluster();
    cluster.kill(2);

    assertThatThrownBy(() -> cluster.stats(2))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("'stats' to node 2 (" + cluster.server(2) + ")");
  }

  /**
   * No shutdown hook runs when a JVM is killed with SIGKILL; the node's watchdog still kills it.
   * The cluster runs in a second JVM ({@link ClusterInAnotherJvm}), which this test kills.
   */
  @Test
  void aNodeDiesWithTheJvmThatStartedItEvenWhenThatJvmIsKilled() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child =
        new ProcessBuilder(
                java,
                "-cp",
                System.getProperty("java.class.path"),
                ClusterInAnotherJvm.class.getName())
            .redirectError(Redirect.DISCARD)
            .start();
    long memcachedPid = -1;
    try {
      String line =
          new BufferedReader(
                  new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII))
              .readLine();
      assertThat(line).as("the child JVM's 'port pid' line").isNotNull().matches("\\d+ \\d+");
      int port = Integer.parseInt(line.split(" ")[0]);
      memcachedPid = Long.parseLong(line.split(" ")[1]);
      assertThat(LoopbackPorts.isAccepting(port)).isTrue();

      child.destroyForcibly(); // SIGKILL: no shutdown hook, no close()
      assertThat(child.waitFor(10, TimeUnit.SECONDS)).isTrue();

      LoopbackPorts.awaitClosed(
          port, Duration.ofSeconds(10), "memcached of a JVM killed with SIGKILL");
    } finally {
      child.destroyForcibly();
      if (memcachedPid > 0) {
        ProcessHandle.of(memcachedPid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  @Test
  void missingBinaryFailsWithAnInstallHint() {
    assertThatThrownBy(
            () -> MemcachedCluster.builder().searchPath("/nonexistent:/also/missing").start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "memcached not found on PATH; install it with: apt-get install -y memcached"
                + " (Debian/Ubuntu) or brew install memcached (macOS)");
  }

  @Test
  void startupFailureNamesThePortAndQuotesMemcachedOutput() {
    assertThatThrownBy(() -> MemcachedCluster.builder().extraArgs("-o", "no_such_option").start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageMatching(
            "memcached node 0 on 127\\.0\\.0\\.1:\\d+ exited with code 1 during"
                + " startup; output: Illegal suboption \"no_such_option\"");
  }

  @Test
  void builderRejectsInvalidOptions() {
    assertThatThrownBy(() -> MemcachedCluster.builder().nodes(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("nodes must be at least 1 (was 0)");
    assertThatThrownBy(() -> MemcachedCluster.builder().memoryMegabytes(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("memoryMegabytes must be at least 1 (was 0)");
    assertThatThrownBy(() -> MemcachedCluster.builder().extraArgs("-p", "11211"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("extraArgs must not contain -p:");
  }

  @Test
  void extensionRejectsANullBuilder() {
    assertThatThrownBy(() -> new MemcachedExtension(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("builder must not be null; use MemcachedCluster.builder()");
  }

  @Test
  void extraArgsReachMemcached() {
    try (MemcachedCluster cluster =
        MemcachedCluster.builder().memoryMegabytes(16).extraArgs("-I", "2m").start()) {
      String settings = cluster.rawCommand(0, "stats settings");

      assertThat(settings).contains("STAT maxbytes 16777216", "STAT item_size_max 2097152");
    }
  }

  @Test
  void nodeArgsReachOnlyTheirNodeAndSurviveARestart() {
    try (MemcachedCluster cluster =
        MemcachedCluster.builder()
            .nodes(2)
            .extraArgs("-I", "2m")
            .nodeArgs(1, "-I", "512k")
            .start()) {
      assertThat(cluster.rawCommand(0, "stats settings")).contains("STAT item_size_max 2097152");
      assertThat(cluster.rawCommand(1, "stats settings")).contains("STAT item_size_max 524288");

      cluster.kill(1);
      cluster.restart(1);

      assertThat(cluster.rawCommand(1, "stats settings")).contains("STAT item_size_max 524288");
    }
    assertThatThrownBy(() -> MemcachedCluster.builder().nodeArgs(-1, "-I", "2m"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("nodeArgs node must not be negative (was -1)");
    assertThatThrownBy(() -> MemcachedCluster.builder().nodeArgs(0, "-p", "1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("nodeArgs must not contain -p:");
    assertThatThrownBy(() -> MemcachedCluster.builder().nodes(2).nodeArgs(2, "-I", "2m").start())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("nodeArgs names node 2 but the cluster has 2 nodes");
  }

  /**
   * The extension's reset between tests, driven through its callbacks in one test: a test that
   * leaves a node killed, another hung and an item stored is followed by one that finds every node
   * running, answering and empty. The extension here is this test's own, so the result does not
   * depend on the order in which JUnit runs this class's tests.
   */
  @Test
  void theExtensionResetsNodesAndItemsBetweenTests() {
    MemcachedExtension own = new MemcachedExtension(3);
    ExtensionContext classContext = contextWithId("[class:own]");
    own.beforeAll(classContext);
    try {
      own.beforeEach(contextWithId("[class:own]/[method:leaves]"));
      MemcachedCluster cluster = own.cluster();
      assertThat(cluster.rawCommand(0, "set left 0 0 1\r\nx")).isEqualTo("STORED");
      cluster.kill(1);
      cluster.hang(2);
      assertThat(cluster.isRunning(1)).isFalse();
      assertThat(cluster.isHung(2)).isTrue();
      own.afterEach(contextWithId("[class:own]/[method:leaves]"));

      own.beforeEach(contextWithId("[class:own]/[method:finds]"));
      assertThat(own.cluster()).as("the same cluster, reset").isSameAs(cluster);
      for (int i = 0; i < 3; i++) {
        assertThat(cluster.isRunning(i)).as("node %d running", i).isTrue();
        assertThat(cluster.isHung(i)).as("node %d hung", i).isFalse();
        assertThat(cluster.rawCommand(i, "get left", Duration.ofMillis(500))).isEqualTo("END");
      }
      own.afterEach(contextWithId("[class:own]/[method:finds]"));
    } finally {
      own.afterAll(classContext);
    }
    assertThatThrownBy(own::cluster).isInstanceOf(IllegalStateException.class);
  }

  /**
   * An {@link ExtensionContext} that answers only {@link ExtensionContext#getUniqueId}, the one
   * method {@link MemcachedExtension} calls.
   */
  private static ExtensionContext contextWithId(String id) {
    return (ExtensionContext)
        Proxy.newProxyInstance(
            ExtensionContext.class.getClassLoader(),
            new Class<?>[] {ExtensionContext.class},
            (proxy, method, args) -> {
              if (method.getName().equals("getUniqueId")) {
                return id;
              }
              throw new UnsupportedOperationException(method.getName());
            });
  }
}

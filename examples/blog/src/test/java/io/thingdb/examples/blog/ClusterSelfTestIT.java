package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The blog as a cluster of real processes ({@code examples/cluster}): started from nothing, checked
 * end to end through HAProxy, put through one of each fault (a web instance and a processor killed,
 * a memcached node paused and one emptied, a replica restarted, the comments primary failed over
 * and rejoined, a node added) and stopped with no process left, by the cluster's own {@code
 * selftest} script, whose exit status this asserts.
 *
 * <p>Needs what the cluster needs: root on Debian (the script installs missing packages with
 * apt-get and runs PostgreSQL as user {@code postgres}) and the cluster's fixed ports (18080-18312)
 * free. Takes a few minutes, so it is not one of the default tests (its name ends in {@code IT});
 * run it with {@code mvn -B -pl examples/blog -am verify -Dtest=ClusterSelfTestIT
 * -Dsurefire.failIfNoSpecifiedTests=false}. The cluster's state goes to {@code
 * target/cluster-home}, its output to {@code target/cluster-selftest.log}.
 */
class ClusterSelfTestIT {
  /** Far longer than the script takes (about two minutes from nothing, build included). */
  private static final long TIMEOUT_MINUTES = 20;

  @Test
  void theClusterStartsRecoversFromEachFaultAndStopsLeavingNothing() throws Exception {
    Path module = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    Path cluster = module.resolve("../cluster").normalize();
    Path home = module.resolve("target/cluster-home");
    Path log = module.resolve("target/cluster-selftest.log");
    deleteRecursively(home);
    Files.deleteIfExists(log);

    Process p = script(cluster.resolve("selftest"), home, log).start();
    boolean finished = p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES);
    if (!finished) {
      p.destroy();
      p.waitFor(1, TimeUnit.MINUTES);
      Process stop = script(cluster.resolve("stop"), home, log).start();
      stop.waitFor(5, TimeUnit.MINUTES);
    }
    String output = Files.readString(log, UTF_8);
    assertThat(finished)
        .as("selftest finished within %d minutes; its output:%n%s", TIMEOUT_MINUTES, tail(output))
        .isTrue();
    assertThat(p.exitValue()).as("selftest's exit status; its output:%n%s", tail(output)).isZero();
    assertThat(output).contains("selftest: passed").contains("no process left, every port closed");
  }

  private static ProcessBuilder script(Path script, Path home, Path log) {
    ProcessBuilder pb = new ProcessBuilder(script.toString());
    pb.environment().put("CLUSTER_HOME", home.toString());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    return pb;
  }

  private static String tail(String output) {
    List<String> lines = output.lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}

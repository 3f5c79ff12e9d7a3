package io.thingdb.examples.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.benchmarks.ClusterWorkload;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The cluster of {@code examples/cluster}, in short, as CI runs it: {@code start} from nothing (a
 * state directory under {@code target/}, deleted first if a previous run left one; the blog it runs
 * is the one this build has just packaged, handed over through {@code CLUSTER_CLASSPATH}), then the
 * cluster workload through HAProxy for 150 s at 20 arrivals/s with five faults (kill -9 of a web
 * instance, a memcached node paused for 5 s, a processor killed, the web-read replica restarted,
 * the comments primary stopped and its replica promoted), then every check of the workload (P1
 * counts, P5 listings, P3 cache against the database, P2 read-your-writes, P4 renders per expiry,
 * 5xx only while a server was killed, the edge never serving a logged-in request), then {@code
 * stop}, which must leave no process and no open port.
 *
 * <p>It needs what the start script needs: root (it runs PostgreSQL as user {@code postgres} and
 * installs missing Debian packages with apt-get), and the cluster's fixed ports 18080–18312 free (a
 * cluster started by hand from {@code examples/cluster/run} must be stopped first). The run's JSON
 * and plots go to {@code target/cluster-results}; the logs of every process stay in {@code
 * target/cluster-run/logs}.
 */
class ClusterTest {
  private static final Path MODULE = Path.of("").toAbsolutePath();
  private static final Path HOME = MODULE.resolve("target/cluster-run");

  @Test
  void theClusterCarriesTheWorkloadThroughItsFaultsAndEveryCheckPasses() throws Exception {
    String classpath =
        Files.readString(MODULE.resolve("target/blog.classpath"), StandardCharsets.UTF_8).trim();
    for (String entry : classpath.split(":")) {
      if (!entry.endsWith(".jar")) {
        throw new AssertionError(
            "the blog's classpath holds "
                + entry
                + ", not a jar: run the test through `mvn verify` (which packages the blog)");
      }
    }
    assertThat(classpath).as("the blog's runtime classpath").contains("thingdb-example-blog");

    Path log = MODULE.resolve("target/cluster-scripts.log");
    Files.deleteIfExists(log);
    // From nothing, also on a second `mvn verify` without `clean`: the state a previous run left
    // (the comments vertical already failed over, say) would change what the faults do. A cluster
    // an interrupted run left running from this directory is stopped first.
    if (Files.exists(HOME)) {
      script(log, classpath, 180, "stop");
      deleteRecursively(HOME);
    }
    try {
      script(log, classpath, 600, "start");
      ClusterWorkload.Report report =
          ClusterWorkload.run(
              ClusterWorkload.fromFlags(
                  "--cluster-home", HOME.toString(),
                  "--fault-command", MODULE.resolve("fault").toString(),
                  "--schedule", "short",
                  "--duration", "150",
                  "--rate", "20",
                  "--users", "20",
                  "--min-posts", "100",
                  "--out-dir", MODULE.resolve("target/cluster-results").toString(),
                  "--name", "ci"));
      assertThat(report.failedChecks())
          .as("failed checks (results in %s; %s)", report.jsonFile(), when(report))
          .isEmpty();
      assertThat(report.checkCount()).as("the checks ran").isGreaterThanOrEqualTo(7);
    } finally {
      script(log, classpath, 180, "stop");
    }
  }

  /**
   * When the run and each fault happened, and what the failover lost: to place a failed check's
   * timestamps (CI keeps only the assertion's message, not the results directory).
   */
  private static String when(ClusterWorkload.Report report) {
    Map<String, Object> json = report.json();
    StringBuilder sb = new StringBuilder("run ");
    sb.append(json.get("started_utc")).append(" to ").append(json.get("ended_utc"));
    if (json.get("faults") instanceof List<?> faults) {
      for (Object f : faults) {
        if (f instanceof Map<?, ?> m) {
          sb.append("; ")
              .append(m.get("fault"))
              .append(' ')
              .append(m.get("start_utc"))
              .append(" to ")
              .append(m.get("end_utc"))
              .append(" exit ")
              .append(m.get("exit_code"));
        }
      }
    }
    return sb.append("; failover: ").append(json.get("failover")).toString();
  }

  private static void deleteRecursively(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** Runs {@code examples/cluster/NAME}; its output is appended to {@code log}. */
  private static void script(Path log, String classpath, int timeoutSeconds, String name)
      throws IOException, InterruptedException {
    ProcessBuilder pb =
        new ProcessBuilder("bash", MODULE.resolve(name).toString())
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().put("CLUSTER_HOME", HOME.toString());
    pb.environment().put("CLUSTER_CLASSPATH", classpath);
    Process p = pb.start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(
          name + " did not finish within " + timeoutSeconds + " s; its output:\n" + tail(log));
    }
    if (p.exitValue() != 0) {
      throw new AssertionError(name + " exited " + p.exitValue() + "; its output:\n" + tail(log));
    }
  }

  private static String tail(Path log) throws IOException {
    List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
  }
}

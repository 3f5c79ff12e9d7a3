package io.thingdb.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The cluster workload's fault schedule: at each entry's offset from the start of the run, runs
 * {@code examples/cluster/fault NAME ARGS} (the cluster's fault command, which returns when the
 * fault is done) and records when it started and ended, its exit code and its last output lines.
 * Faults run one after another on the caller's thread, in offset order; an entry whose offset has
 * passed (the previous fault ran long) starts at once. Not thread-safe as an object; {@link
 * #done()} may be read from any thread.
 */
final class ClusterFaults {
  /**
   * One scheduled fault.
   *
   * @param offsetSeconds when, from the start of the run
   * @param name the fault command's first argument (e.g. {@code kill-web})
   * @param args its further arguments
   */
  record Fault(int offsetSeconds, String name, List<String> args) {
    Fault {
      if (offsetSeconds < 0) {
        throw new IllegalArgumentException("fault " + name + ": negative offset " + offsetSeconds);
      }
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("a fault needs a name (offset " + offsetSeconds + ")");
      }
      args = List.copyOf(args);
    }

    String label() {
      return args.isEmpty() ? name : name + " " + String.join(" ", args);
    }
  }

  /**
   * What a fault did.
   *
   * @param fault the schedule entry
   * @param startMillis epoch milliseconds when the command started
   * @param endMillis epoch milliseconds when it returned
   * @param exitCode its exit code
   * @param output its last lines of output (stdout and stderr)
   */
  record Done(Fault fault, long startMillis, long endMillis, int exitCode, String output) {}

  /**
   * The default schedule for a run of at least ten minutes: every fault of the issue, spaced so
   * that each one's effect has settled before the next (offsets in seconds).
   */
  static final String DEFAULT_SCHEDULE =
      "60:kill-web 1;120:pause-memcached 2 5;180:restart-memcached-empty 3;240:add-memcached;"
          + "330:remove-memcached 4;390:kill-processor 1;450:restart-replica links-web;"
          + "510:failover-comments --cut 3";

  /** A short schedule (about two and a half minutes of run) for CI: five faults. */
  static final String SHORT_SCHEDULE =
      "20:kill-web 2;45:pause-memcached 1 5;75:kill-processor 2;95:restart-replica links-web;"
          + "115:failover-comments";

  private final Path command;
  private final Path clusterHome;
  private final List<Fault> schedule;
  private final List<Done> done = new CopyOnWriteArrayList<>();

  /**
   * Runs {@code schedule} with {@code command}, telling it the cluster's state directory ({@code
   * CLUSTER_HOME}; null: the command's default).
   */
  ClusterFaults(Path command, List<Fault> schedule, Path clusterHome) {
    this.command = command;
    this.clusterHome = clusterHome;
    List<Fault> sorted = new ArrayList<>(schedule);
    sorted.sort((a, b) -> Integer.compare(a.offsetSeconds(), b.offsetSeconds()));
    this.schedule = List.copyOf(sorted);
  }

  /**
   * Parses {@code "OFFSET:NAME ARG ARG;OFFSET:NAME"} (offsets in seconds); empty or {@code none}
   * for no faults.
   */
  static List<Fault> parse(String text) {
    List<Fault> out = new ArrayList<>();
    if (text == null || text.isBlank() || text.equals("none")) {
      return out;
    }
    for (String entry : text.split(";")) {
      String e = entry.trim();
      int colon = e.indexOf(':');
      if (colon < 1) {
        throw new IllegalArgumentException(
            "fault schedule entry '" + e + "' is not OFFSET:NAME [ARGS] (in '" + text + "')");
      }
      int offset;
      try {
        offset = Integer.parseInt(e.substring(0, colon).trim());
      } catch (NumberFormatException ex) {
        throw new IllegalArgumentException(
            "fault schedule entry '" + e + "' has a bad offset (seconds expected)", ex);
      }
      String[] words = e.substring(colon + 1).trim().split("\\s+");
      out.add(new Fault(offset, words[0], Arrays.asList(words).subList(1, words.length)));
    }
    return out;
  }

  List<Fault> schedule() {
    return schedule;
  }

  /** The faults run so far. */
  List<Done> done() {
    return List.copyOf(done);
  }

  /**
   * Runs the schedule from {@code startNanos} (a {@link System#nanoTime()} value) until every fault
   * ran or {@code stopNanos} passed; faults due after {@code stopNanos} are skipped.
   */
  void run(long startNanos, long stopNanos) throws InterruptedException {
    for (Fault f : schedule) {
      long due = startNanos + TimeUnit.SECONDS.toNanos(f.offsetSeconds());
      if (due >= stopNanos) {
        return;
      }
      long wait = due - System.nanoTime();
      if (wait > 0) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      done.add(runOne(f));
    }
  }

  private Done runOne(Fault f) throws InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(command.toString());
    cmd.add(f.name());
    cmd.addAll(f.args());
    long start = System.currentTimeMillis();
    Path log;
    int code;
    try {
      log = Files.createTempFile("cluster-fault-", ".log");
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      pb.redirectOutput(log.toFile());
      if (clusterHome != null) {
        pb.environment().put("CLUSTER_HOME", clusterHome.toString());
      }
      Process p = pb.start();
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        code = -1;
      } else {
        code = p.exitValue();
      }
    } catch (IOException e) {
      long end = System.currentTimeMillis();
      System.err.printf("fault %s could not start: %s%n", f.label(), e.getMessage());
      return new Done(f, start, end, -2, "cannot run " + cmd + ": " + e.getMessage());
    }
    long end = System.currentTimeMillis();
    String output;
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      output = String.join("\n", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
      Files.deleteIfExists(log);
    } catch (IOException e) {
      output = "(cannot read the fault's output " + log + ": " + e.getMessage() + ")";
    }
    System.err.printf(
        "fault %s: exit %d after %.1f s%s%n",
        f.label(), code, (end - start) / 1000.0, output.isEmpty() ? "" : "\n  " + output);
    return new Done(f, start, end, code, output);
  }

  /** A fault as JSON, with times relative to {@code runStartMillis}. */
  static Map<String, Object> json(Done d, long runStartMillis) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("fault", d.fault().label());
    m.put("scheduled_offset_s", d.fault().offsetSeconds());
    m.put("start_s", (d.startMillis() - runStartMillis) / 1000.0);
    m.put("end_s", (d.endMillis() - runStartMillis) / 1000.0);
    m.put("start_utc", java.time.Instant.ofEpochMilli(d.startMillis()).toString());
    m.put("end_utc", java.time.Instant.ofEpochMilli(d.endMillis()).toString());
    m.put("exit_code", d.exitCode());
    m.put("output", d.output());
    return m;
  }
}

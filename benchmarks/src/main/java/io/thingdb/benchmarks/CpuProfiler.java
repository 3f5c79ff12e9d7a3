package io.thingdb.benchmarks;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * CPU time per operation, for comparing backends on a shared, noisy machine: {@code -prof
 * io.thingdb.benchmarks.CpuProfiler}.
 *
 * <p>Throughput on a machine whose other tenants come and go varies by tens of percent from run to
 * run; the CPU time an operation consumes varies far less, because time spent waiting for a core is
 * not counted. Reports, per iteration, divided by every operation the iteration ran (as JMH's
 * {@code gc.alloc.rate.norm} does):
 *
 * <ul>
 *   <li>{@code cpu.jvm}: this JVM's CPU time, all threads (client I/O threads and GC included);
 *   <li>{@code cpu.children}: the CPU time of processes this JVM started, i.e. the benchmark's own
 *       memcached (Linux counts it in clock ticks, usually 10 ms, so it is coarse on short
 *       iterations); absent when there are none;
 *   <li>{@code cpu.total}: their sum, the CPU one operation costs the machine.
 * </ul>
 *
 * <p>Runs in the forked JVM; one instance per fork. Not thread-safe, and need not be: JMH calls it
 * from one thread.
 */
public final class CpuProfiler implements InternalProfiler {
  /** Linux's USER_HZ, which /proc reports in; 100 on every mainstream distribution. */
  private static final long NANOS_PER_TICK = 10_000_000L;

  private final List<Long> children = new ArrayList<>();
  private long jvmStart;
  private long childrenStart;
  private boolean hasChildren;

  @Override
  public String getDescription() {
    return "CPU time per operation of this JVM and of the processes it started (memcached)";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmark, IterationParams iteration) {
    jvmStart = jvmCpuNanos();
    childrenStart = childrenCpuNanos();
  }

  @Override
  public Collection<? extends Result<?>> afterIteration(
      BenchmarkParams benchmark, IterationParams iteration, IterationResult result) {
    long jvm = jvmCpuNanos() - jvmStart;
    long children = childrenCpuNanos() - childrenStart;
    double ops = Math.max(1, result.getMetadata().getAllOps());
    List<ScalarResult> out = new ArrayList<>();
    out.add(new ScalarResult("cpu.jvm", jvm / ops, "ns/op", AggregationPolicy.AVG));
    if (hasChildren) {
      out.add(new ScalarResult("cpu.children", children / ops, "ns/op", AggregationPolicy.AVG));
    }
    out.add(new ScalarResult("cpu.total", (jvm + children) / ops, "ns/op", AggregationPolicy.AVG));
    return out;
  }

  private static long jvmCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    throw new UnsupportedOperationException("this JVM does not report its process CPU time");
  }

  /**
   * CPU time of the processes this JVM started, live or exited. Live ones are read from {@code
   * /proc/PID/stat} (they are found once: the memcached started in set-up lives through every
   * iteration); exited ones have been added, by the kernel, to the children's time of whoever
   * waited for them, ending up in this JVM's own. That matters for the last iteration, whose
   * results JMH collects after the trial's tear-down has stopped memcached.
   */
  private long childrenCpuNanos() {
    if (children.isEmpty()) {
      ProcessHandle.current().descendants().forEach(p -> children.add(p.pid()));
      hasChildren = !children.isEmpty();
    }
    long[] self = stat("self");
    long ticks = self == null ? 0 : self[2] + self[3];
    for (long pid : children) {
      long[] t = stat(Long.toString(pid));
      if (t != null) {
        ticks += t[0] + t[1] + t[2] + t[3];
      }
    }
    return ticks * NANOS_PER_TICK;
  }

  /** utime, stime, cutime, cstime in clock ticks, or null if the process is gone (or not Linux). */
  private static long[] stat(String pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      // Fields after the ")" that ends the command name start at field 3; these are 14 to 17.
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return new long[] {
        Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[13]), Long.parseLong(f[14])
      };
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}

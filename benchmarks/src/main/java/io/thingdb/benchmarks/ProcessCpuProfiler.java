package io.thingdb.benchmarks;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * CPU time per operation split by process, for benchmarks that start their own PostgreSQL and
 * memcached: {@code -prof io.thingdb.benchmarks.ProcessCpuProfiler}.
 *
 * <p>Reports, per iteration, divided by all operations of the iteration:
 *
 * <ul>
 *   <li>{@code cpu.jvm}: this JVM, all threads (JDBC and memcached client I/O, GC, ThingDB's
 *       background threads);
 *   <li>{@code cpu.postgres}: the postmasters registered with {@link #watch} and all their
 *       processes, backends included (zonky starts PostgreSQL through {@code pg_ctl}, so it is not
 *       a descendant of this JVM; processes that exited are in the postmaster's children's time);
 *   <li>{@code cpu.memcached}: descendants of this JVM named {@code memcached} or {@code
 *       redis-server} (the cache servers; only {@link VotePeerComparison} starts Redis);
 *   <li>{@code cpu.total}: the sum, plus any other descendant.
 * </ul>
 *
 * <p>JMH runs a trial's set-up inside the first warm-up iteration and its tear-down (stopping the
 * servers, whose CPU then moves to whoever reaps them) inside the last measurement iteration. A
 * benchmark that calls {@link #iterationStarts()} at the end of its {@code Level.Iteration} set-up
 * and {@link #iterationEnds()} at the start of its {@code Level.Iteration} tear-down has exactly
 * the iteration's body measured, without either, and without its own per-iteration preparation (a
 * TRUNCATE and CHECKPOINT, say). Both calls do nothing unless this profiler is enabled. Linux
 * counts in clock ticks (10 ms): coarse for short iterations, fine for 2 s ones.
 *
 * <p>One instance per forked JVM; JMH calls it from one thread, the marks may come from any.
 */
public final class ProcessCpuProfiler implements InternalProfiler {
  private static final long NANOS_PER_TICK = 10_000_000L;
  private static final Set<Long> POSTMASTERS = ConcurrentHashMap.newKeySet();
  private static volatile boolean enabled;
  private static volatile long[] startMark;
  private static volatile long[] endMark;

  private long[] start;

  public ProcessCpuProfiler() {
    enabled = true;
  }

  /** Counts {@code pid} and its descendants as PostgreSQL. */
  static void watch(long pid) {
    POSTMASTERS.add(pid);
  }

  /** Stops counting {@code pid}. */
  static void unwatch(long pid) {
    POSTMASTERS.remove(pid);
  }

  /** Marks the start of the measured part of an iteration (after the iteration's set-up). */
  static void iterationStarts() {
    if (enabled) {
      startMark = sample();
    }
  }

  /** Marks the end of the measured part of an iteration (before any tear-down). */
  static void iterationEnds() {
    if (enabled) {
      endMark = sample();
    }
  }

  /**
   * CPU nanoseconds so far, for harnesses that are not JMH benchmarks: this JVM, PostgreSQL, the
   * cache servers (memcached and redis-server), and everything together. Works whether or not the
   * profiler is enabled; subtract two samples.
   */
  static long[] sampleNow() {
    return sample();
  }

  @Override
  public String getDescription() {
    return "CPU time per operation of this JVM, its PostgreSQL and its memcached";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmark, IterationParams iteration) {
    startMark = null;
    endMark = null;
    start = sample();
  }

  @Override
  public Collection<? extends Result<?>> afterIteration(
      BenchmarkParams benchmark, IterationParams iteration, IterationResult result) {
    long[] end = endMark != null ? endMark : sample();
    long[] from = startMark != null ? startMark : start;
    double ops = Math.max(1, result.getMetadata().getAllOps());
    String[] names = {"cpu.jvm", "cpu.postgres", "cpu.memcached", "cpu.total"};
    List<ScalarResult> out = new ArrayList<>();
    for (int i = 0; i < names.length; i++) {
      out.add(new ScalarResult(names[i], (end[i] - from[i]) / ops, "ns/op", AggregationPolicy.AVG));
    }
    return out;
  }

  /** Nanoseconds of CPU so far: this JVM, PostgreSQL, memcached, everything together. */
  private static long[] sample() {
    long jvm = jvmCpuNanos();
    long[] self = stat(ProcessHandle.current().pid());
    long other = self == null ? 0 : (self[2] + self[3]) * NANOS_PER_TICK; // reaped children
    long postgres = 0;
    for (long pid : POSTMASTERS) {
      postgres += tree(pid);
    }
    long memcached = 0;
    for (ProcessHandle p :
        (Iterable<ProcessHandle>) ProcessHandle.current().descendants()::iterator) {
      long nanos = cpu(p.pid());
      String comm = comm(p.pid());
      if (comm.startsWith("memcached") || comm.startsWith("redis-server")) {
        memcached += nanos;
      } else {
        other += nanos;
      }
    }
    return new long[] {jvm, postgres, memcached, jvm + postgres + memcached + other};
  }

  /** CPU of {@code pid} and all its descendants, live or reaped. */
  private static long tree(long pid) {
    long nanos = cpu(pid);
    try (Stream<ProcessHandle> children =
        ProcessHandle.of(pid).stream().flatMap(ProcessHandle::descendants)) {
      for (ProcessHandle c : (Iterable<ProcessHandle>) children::iterator) {
        nanos += cpu(c.pid());
      }
    }
    return nanos;
  }

  private static long cpu(long pid) {
    long[] t = stat(pid);
    return t == null ? 0 : (t[0] + t[1] + t[2] + t[3]) * NANOS_PER_TICK;
  }

  private static long jvmCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    throw new UnsupportedOperationException("this JVM does not report its process CPU time");
  }

  private static String comm(long pid) {
    try {
      return Files.readString(Path.of("/proc/" + pid + "/comm")).strip();
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /** utime, stime, cutime, cstime in clock ticks, or null if the process is gone (or not Linux). */
  private static long[] stat(long pid) {
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

package io.thingdb.benchmarks;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Vote-to-visible, as both vote harnesses measure it ({@link VotePipelineBenchmark}'s {@code
 * latency} mode and {@link VotePeerComparison}): {@code threads} senders cast votes open-loop, each
 * on a fixed schedule so that together they send {@code rate} votes per second for {@code seconds}
 * (a random account on a random target link, direction ±1, seeds {@code 77 + thread}); for every
 * vote that changed something, a watcher thread polls what readers see every 2 ms, per subreddit,
 * until the link shows at least the vote's version. Votes not visible 30 s after the last was sent
 * fail the run. Not thread-safe; one run per call.
 */
final class OpenLoopVisibility {
  private OpenLoopVisibility() {}

  /** Casts a vote; returns the link's version after it, or -1 if it changed nothing. */
  @FunctionalInterface
  interface Voter {
    long vote(long account, long link, int direction) throws Exception;
  }

  /** The version of each link a reader sees in subreddit {@code sr}'s listing, -1 if absent. */
  @FunctionalInterface
  interface Visible {
    long[] versions(long sr, List<Long> links) throws Exception;
  }

  /**
   * What a run measured.
   *
   * @param nanos each registered vote's time to visible, sorted
   * @param sent votes sent
   * @param achievedRate votes sent per second
   */
  record Outcome(long[] nanos, long sent, double achievedRate) {
    double percentileMillis(double q) {
      return VotePipelineBenchmark.pct(nanos, q);
    }

    double maxMillis() {
      return nanos[nanos.length - 1] / 1e6;
    }
  }

  /**
   * Runs the senders and the watcher.
   *
   * @param fromCallStart time each vote from the start of its call (else from its return)
   * @throws IllegalStateException if a sender or the watcher failed, or a vote never showed
   */
  static Outcome run(
      double rate,
      int seconds,
      int threads,
      List<Long> accounts,
      List<Long> targets,
      Map<Long, Long> srOf,
      boolean fromCallStart,
      Voter voter,
      Visible visible)
      throws InterruptedException {
    record Pending(long link, long version, long since) {}
    Map<Long, ConcurrentLinkedQueue<Pending>> pendingBySr = new HashMap<>();
    for (long sr : srOf.values()) {
      pendingBySr.putIfAbsent(sr, new ConcurrentLinkedQueue<>());
    }
    ConcurrentLinkedQueue<Long> latencies = new ConcurrentLinkedQueue<>();
    AtomicLong sent = new AtomicLong();
    AtomicLong registered = new AtomicLong();
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    long start = System.nanoTime();
    long end = start + seconds * 1_000_000_000L;
    long period = (long) (threads * 1e9 / rate);
    List<Thread> senders = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long seed = 77L + t;
      long offset = t * period / threads;
      Thread th =
          new Thread(
              () -> {
                SplittableRandom r = new SplittableRandom(seed);
                try {
                  for (long next = start + offset; next < end; next += period) {
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                      LockSupport.parkNanos(wait);
                    }
                    long account = accounts.get(r.nextInt(accounts.size()));
                    long link = targets.get(r.nextInt(targets.size()));
                    long called = System.nanoTime();
                    long v = voter.vote(account, link, r.nextBoolean() ? 1 : -1);
                    long since = fromCallStart ? called : System.nanoTime();
                    sent.incrementAndGet();
                    if (v >= 0) {
                      registered.incrementAndGet();
                      pendingBySr.get(srOf.get(link)).add(new Pending(link, v, since));
                    }
                  }
                } catch (Throwable e) {
                  failures.add(e);
                }
              },
              "sender-" + t);
      senders.add(th);
      th.start();
    }
    Thread watcher =
        new Thread(
            () -> {
              Map<Long, List<Pending>> waiting = new HashMap<>();
              long quietUntil = Long.MAX_VALUE;
              try {
                while (true) {
                  boolean any = false;
                  for (Map.Entry<Long, ConcurrentLinkedQueue<Pending>> e : pendingBySr.entrySet()) {
                    List<Pending> list =
                        waiting.computeIfAbsent(e.getKey(), k -> new ArrayList<>());
                    for (Pending pd; (pd = e.getValue().poll()) != null; ) {
                      list.add(pd);
                    }
                    if (list.isEmpty()) {
                      continue;
                    }
                    any = true;
                    long[] seen =
                        visible.versions(e.getKey(), list.stream().map(Pending::link).toList());
                    long now = System.nanoTime();
                    List<Pending> still = new ArrayList<>();
                    for (int i = 0; i < seen.length; i++) {
                      Pending pd = list.get(i);
                      if (seen[i] >= pd.version()) {
                        latencies.add(now - pd.since());
                      } else {
                        still.add(pd);
                      }
                    }
                    list.clear();
                    list.addAll(still);
                  }
                  boolean sendersDone = senders.stream().noneMatch(Thread::isAlive);
                  if (sendersDone && !any) {
                    return;
                  }
                  if (sendersDone && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + 30_000_000_000L;
                  }
                  if (System.nanoTime() > quietUntil) {
                    failures.add(
                        new IllegalStateException(
                            "votes not visible 30 s after the last was sent: "
                                + waiting.values().stream().mapToInt(List::size).sum()));
                    return;
                  }
                  LockSupport.parkNanos(2_000_000);
                }
              } catch (Throwable e) {
                failures.add(e);
              }
            },
            "visibility-watcher");
    watcher.start();
    for (Thread th : senders) {
      th.join();
    }
    double achieved = sent.get() / ((System.nanoTime() - start) / 1e9);
    watcher.join();
    if (!failures.isEmpty()) {
      throw new IllegalStateException("the latency run failed", failures.peek());
    }
    long[] ns = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
    if (ns.length != registered.get()) {
      throw new IllegalStateException(
          registered.get() + " votes registered, " + ns.length + " seen");
    }
    return new Outcome(ns, sent.get(), achieved);
  }
}

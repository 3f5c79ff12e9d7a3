package io.thingdb.benchmarks;

import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * A benchmark thread's position in the shared, precomputed key sequence: each thread starts at its
 * own offset so that threads do not ask for the same key at the same moment. Confined to its thread
 * (JMH gives each thread its own instance).
 */
@State(Scope.Thread)
public class Cursor {
  /** Length of every precomputed sequence; a power of two so that wrapping is a mask. */
  public static final int LENGTH = 1 << 16;

  private static final int MASK = LENGTH - 1;

  private int position;

  /** Spreads the threads evenly over the sequence. */
  @Setup
  public void setUp(ThreadParams thread) {
    position = thread.getThreadIndex() * (LENGTH / Math.max(1, thread.getThreadCount()));
  }

  /** The next element of {@code sequence}, whose length must be {@link #LENGTH}. */
  public int next(int[] sequence) {
    return sequence[position++ & MASK];
  }

  /** The next position modulo {@code size}, a power of two (for batches). */
  public int nextIndex(int size) {
    return position++ & (size - 1);
  }
}

package io.thingdb.benchmarks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Key sets and precomputed access sequences, so that choosing a key inside a benchmark method is an
 * array load. Sequences are Zipf-distributed with YCSB's exponent 0.99 (Caffeine's {@code
 * GetPutBenchmark} draws its keys the same way), the ranks scattered over the key space so that hot
 * keys are not also neighbours. Everything is derived from fixed seeds: every fork and every
 * backend sees the same keys in the same order. Stateless.
 */
final class Keys {
  /** YCSB's default skew. */
  static final double ZIPF_EXPONENT = 0.99;

  private Keys() {}

  /** {@code count} application keys shaped like ThingDB's: {@code item:00042}. */
  static String[] appKeys(int count) {
    String[] keys = new String[count];
    for (int i = 0; i < count; i++) {
      keys[i] = String.format("item:%05d", i);
    }
    return keys;
  }

  /** {@code length} (a power of two) key indices below {@code keyCount}, Zipf-distributed. */
  static int[] zipfSequence(int keyCount, int length, long seed) {
    if (Integer.bitCount(length) != 1) {
      throw new IllegalArgumentException("sequence length must be a power of two: " + length);
    }
    double[] cdf = new double[keyCount];
    double sum = 0;
    for (int rank = 0; rank < keyCount; rank++) {
      sum += 1 / Math.pow(rank + 1, ZIPF_EXPONENT);
      cdf[rank] = sum;
    }
    int[] keyOfRank = shuffledIdentity(keyCount, seed ^ 0x5DEECE66DL);
    Random random = new Random(seed);
    int[] sequence = new int[length];
    for (int i = 0; i < length; i++) {
      int rank = Arrays.binarySearch(cdf, random.nextDouble() * sum);
      rank = rank >= 0 ? rank : Math.min(-rank - 1, keyCount - 1);
      sequence[i] = keyOfRank[rank];
    }
    return sequence;
  }

  /**
   * {@code batches} lists of {@code size} distinct keys each, drawn from {@code sequence} in order;
   * {@code names} maps an index to the key string the backend expects.
   */
  static List<List<String>> batches(int[] sequence, String[] names, int batches, int size) {
    List<List<String>> out = new ArrayList<>(batches);
    int next = 0;
    for (int b = 0; b < batches; b++) {
      Set<String> batch = new LinkedHashSet<>();
      while (batch.size() < size) {
        batch.add(names[sequence[next++ % sequence.length]]);
      }
      out.add(List.copyOf(batch));
    }
    return out;
  }

  private static int[] shuffledIdentity(int n, long seed) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    Random random = new Random(seed);
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

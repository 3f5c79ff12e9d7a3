package io.thingdb.benchmarks;

import io.thingdb.listings.Listing;
import io.thingdb.listings.Listing.Entry;
import io.thingdb.listings.Sorts;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The in-memory cost of a listing: upserts into a full 1,000-entry listing (goal: at least 200,000
 * per second on one thread), and its binary encoding both ways.
 *
 * <p>Upserts pick ids uniformly among 1,200 things, all held (a capacity-1,000 listing holds up to
 * 1,260), each with a newer version, so every call is a move. {@code jump} gives each a random new
 * score, so the entry moves a third of the listing on average (the worst case for the array
 * shifts); {@code vote} nudges the score as one vote nudges a hot value, so entries move a few
 * places. {@code treeSetBaseline} is the obvious implementation, a {@link TreeSet} in listing order
 * plus a {@link HashMap} from id to entry, doing the same work; {@code upsert / treeSetBaseline} is
 * the ratio to report. One thread: a listing is confined to the thread that applies a batch.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(
    value = 3,
    jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ListingBenchmark {
  static final int CAPACITY = 1000;
  static final int THINGS = 1200;
  static final int SEQUENCE = 1 << 16;
  static final long FIRST_ID = 40_000_000L;

  private static final Comparator<Entry> ORDER =
      (a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id());

  /** 1,200 entries with hot values of the same day, in listing order. */
  static List<Entry> entries(SplittableRandom random, double[] values) {
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < THINGS; i++) {
      values[i] =
          Sorts.hot(
              random.nextInt(2_000),
              random.nextInt(200),
              1_700_000_000_000_000L + random.nextLong(86_400L * 1_000_000));
      entries.add(new Entry(FIRST_ID + i, 1, values[i]));
    }
    entries.sort(ORDER);
    return entries;
  }

  /**
   * A full listing, its TreeSet twin, and a precomputed sequence of moves. Confined to its thread.
   */
  @State(Scope.Thread)
  public static class Upserts {
    @Param({"jump", "vote"})
    public String scores;

    private long[] idSequence;
    private double[] deltaSequence;
    private double[] current;
    private int position;
    private long version;

    private Listing listing;
    private TreeSet<Entry> tree;
    private Map<Long, Entry> byId;

    @Setup
    public void setUp() {
      SplittableRandom random = new SplittableRandom(42);
      idSequence = new long[SEQUENCE];
      deltaSequence = new double[SEQUENCE];
      for (int i = 0; i < SEQUENCE; i++) {
        idSequence[i] = random.nextInt(THINGS);
        // One vote moves hot by log10((s+1)/s): about 0.004 at a score of 100.
        deltaSequence[i] =
            "vote".equals(scores)
                ? (random.nextBoolean() ? 1 : -1) * 0.004 * (1 + random.nextInt(3))
                : random.nextDouble() * 10_000;
      }
      current = new double[THINGS];
      List<Entry> entries = entries(random, current);
      version = 1;
      listing = Listing.create(CAPACITY);
      listing.replaceAll(entries, true);
      tree = new TreeSet<>(ORDER);
      tree.addAll(entries);
      byId = new HashMap<>();
      for (Entry entry : entries) {
        byId.put(entry.id(), entry);
      }
    }

    int nextIndex() {
      return position++ & (SEQUENCE - 1);
    }

    int thing(int index) {
      return (int) idSequence[index];
    }

    long nextVersion() {
      return ++version;
    }

    double nextScore(int index, int thing) {
      double delta = deltaSequence[index];
      double score = "vote".equals(scores) ? current[thing] + delta : delta;
      current[thing] = score;
      return score;
    }
  }

  /** A truncated listing of 1,000 entries and its encoding. */
  @State(Scope.Thread)
  public static class Codec {
    private Listing thousand;
    private byte[] encoded;

    @Setup
    public void setUp() {
      List<Entry> entries = entries(new SplittableRandom(43), new double[THINGS]);
      thousand = Listing.create(CAPACITY);
      thousand.replaceAll(entries.subList(0, CAPACITY), false);
      encoded = thousand.encode();
    }
  }

  /** One upsert of a held entry with a newer version and a new score: a move. */
  @Benchmark
  public boolean upsert(Upserts state) {
    int index = state.nextIndex();
    int thing = state.thing(index);
    return state.listing.upsert(
        FIRST_ID + thing, state.nextVersion(), state.nextScore(index, thing));
  }

  /** The same move in a TreeSet plus a HashMap, with the same version check. */
  @Benchmark
  public boolean treeSetBaseline(Upserts state) {
    int index = state.nextIndex();
    int thing = state.thing(index);
    long id = FIRST_ID + thing;
    Entry entry = new Entry(id, state.nextVersion(), state.nextScore(index, thing));
    Entry old = state.byId.get(id);
    if (old != null) {
      if (old.version() >= entry.version()) {
        return false;
      }
      state.tree.remove(old);
    }
    state.byId.put(id, entry);
    return state.tree.add(entry);
  }

  /** Encoding a truncated listing of 1,000 entries (11.5 KB). */
  @Benchmark
  public byte[] encode(Codec state) {
    return state.thousand.encode();
  }

  /** Decoding and checking the same 1,000 entries. */
  @Benchmark
  public Listing decode(Codec state) {
    return Listing.decode(state.encoded);
  }
}

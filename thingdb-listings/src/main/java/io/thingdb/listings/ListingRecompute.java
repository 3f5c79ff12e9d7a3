package io.thingdb.listings;

import io.thingdb.core.Prop;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingScan;
import io.thingdb.core.ThingType;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batch recompute of the windowed {@code top} and {@code controversial} listings (the original
 * site's MapReduce job). The application declares its listing groups: a key prefix such as {@code
 * sr:5} and the value of a group prop (an {@code int64} prop of the thing type, such as the
 * subreddit id) that the group's things hold. A run reads, through core's {@link ThingDb#scan} from
 * a read DataSource (a replica is fine), in one streaming pass over the whole type, the id, ups,
 * downs, date and version of every live (not deleted, not spam) thing of the largest window (by
 * default a year) together with its group prop, computes {@link Sorts#score} and {@link
 * Sorts#controversy} in Java and keeps, per group, sort and window, the first entries in the total
 * order (value descending, then id descending) in a bounded heap. It then replaces each listing
 * whole with {@link ListingStore#put}, under the key {@code <prefix>:<sort>:<window>}, for example
 * {@code sr:5:top:day} and {@code sr:5:controversial:week}. A listing holds its {@link
 * Listing#maxSize()} best entries (capacity plus slack), so its visible part is the first {@code
 * capacity} in the order.
 *
 * <p>Run once with {@link #runOnce()}, or every interval on the recompute's own daemon thread with
 * {@link #start()}; {@link #close()} stops it. Progress is logged at INFO per group and per run.
 *
 * <p>Thread-safe: runs are serialised (a run started while another is running waits for it). Does
 * not own the DataSource or the store.
 */
public final class ListingRecompute implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ListingRecompute.class);
  private static final Pattern TYPE_NAME = Pattern.compile("[a-z][a-z0-9_]*");
  private static final ListingSort[] SORTS = {ListingSort.TOP, ListingSort.CONTROVERSIAL};

  private final ThingDb db;
  private final DataSource readDataSource;
  private final ListingStore store;
  private final ThingType type;
  private final Prop<Long> groupProp;
  private final Map<String, Group> groups;
  private final List<TimeWindow> windows;
  private final int capacity;
  private final Clock clock;
  private final Duration interval;
  private final int fetchSize;
  private final ReentrantLock runLock = new ReentrantLock();
  private final Object scheduleLock = new Object();
  private ScheduledExecutorService scheduler;
  private boolean closed;

  private ListingRecompute(Builder b) {
    this.db = b.db;
    this.readDataSource = b.readDataSource;
    this.store = b.store;
    this.type = b.type;
    this.groupProp = b.groupProp;
    this.groups = Map.copyOf(b.groups);
    this.windows = List.copyOf(b.windows);
    this.capacity = b.capacity;
    this.clock = b.clock;
    this.interval = b.interval;
    this.fetchSize = b.fetchSize;
  }

  /**
   * A builder for the recompute of listings of {@code type}, whose groups are told apart by {@code
   * groupProp}.
   *
   * @param db the ThingDb that places {@code type} (it reads the things: {@link ThingDb#scan})
   * @param readDataSource where the things are read (the type's database or a replica of it)
   * @param store where the listings are written
   * @param type the thing type
   * @param groupProp an {@code int64} prop of {@code type} whose value names a thing's group
   * @return the builder
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code groupProp} is not a prop of {@code type}
   */
  public static Builder builder(
      ThingDb db,
      DataSource readDataSource,
      ListingStore store,
      ThingType type,
      Prop<Long> groupProp) {
    return new Builder(db, readDataSource, store, type, groupProp);
  }

  /**
   * The listing key of a group, sort and window: {@code <prefix>:<sort>:<window>}.
   *
   * @param prefix the group's key prefix
   * @param sort the sort
   * @param window the window
   * @return for example {@code sr:5:top:day}
   */
  public static String key(String prefix, ListingSort sort, TimeWindow window) {
    Objects.requireNonNull(prefix, "prefix must not be null");
    return prefix + ":" + sort.name().toLowerCase(java.util.Locale.ROOT) + ":" + window.key();
  }

  /**
   * Recomputes every declared group's listings now, on the calling thread.
   *
   * @return what the run did
   * @throws ThingDbException if reading the things or writing a listing fails (listings written
   *     before the failure stay written)
   * @throws IllegalStateException if the recompute is closed
   */
  public Summary runOnce() {
    runLock.lock();
    try {
      synchronized (scheduleLock) {
        if (closed) {
          throw new IllegalStateException("listing recompute of " + type.name() + " is closed");
        }
      }
      return run();
    } finally {
      runLock.unlock();
    }
  }

  /**
   * Starts recomputing every interval (the first run at once) on a daemon thread. A failed run is
   * logged and the next one runs on schedule.
   *
   * @throws IllegalStateException if already started or closed
   */
  public void start() {
    synchronized (scheduleLock) {
      if (closed) {
        throw new IllegalStateException("listing recompute of " + type.name() + " is closed");
      }
      if (scheduler != null) {
        throw new IllegalStateException(
            "listing recompute of " + type.name() + " is already started");
      }
      scheduler =
          Executors.newSingleThreadScheduledExecutor(
              r -> {
                Thread t = new Thread(r, "thingdb-listing-recompute-" + type.name());
                t.setDaemon(true);
                return t;
              });
      scheduler.scheduleWithFixedDelay(
          this::scheduledRun, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  private void scheduledRun() {
    try {
      runOnce();
    } catch (IllegalStateException e) {
      // closed meanwhile
    } catch (RuntimeException e) {
      log.warn("listing recompute of {} failed; next run in {}", type.name(), interval, e);
    }
  }

  /** Stops the schedule (waiting up to 30 seconds for a running run) and refuses further runs. */
  @Override
  public void close() {
    ScheduledExecutorService s;
    synchronized (scheduleLock) {
      closed = true;
      s = scheduler;
      scheduler = null;
    }
    if (s != null) {
      s.shutdownNow();
      try {
        s.awaitTermination(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private Summary run() {
    long start = System.nanoTime();
    Instant now = clock.instant();
    Map<String, GroupState> states = new HashMap<>();
    for (Group g : groups.values()) {
      states.put(Long.toString(g.value()), new GroupState(g, windows.size(), capacity));
    }
    long[] windowCutoffs = new long[windows.size()];
    Optional<Instant> scanCutoff = Optional.of(Instant.MAX);
    for (int w = 0; w < windows.size(); w++) {
      Optional<Instant> c = windows.get(w).cutoff(now);
      windowCutoffs[w] = c.map(ListingSort::micros).orElse(Long.MIN_VALUE);
      if (c.isEmpty()) {
        scanCutoff = Optional.empty();
      } else if (scanCutoff.isPresent() && c.get().isBefore(scanCutoff.get())) {
        scanCutoff = c;
      }
    }
    String t = type.name();
    Map<Long, GroupState> byValue = new HashMap<>();
    for (GroupState g : states.values()) {
      byValue.put(g.group.value(), g);
    }
    ThingScan scan =
        ThingScan.of(type)
            .where(groupProp, byValue.keySet())
            .from(readDataSource)
            .fetchSize(fetchSize);
    if (scanCutoff.isPresent()) {
      scan = scan.since(scanCutoff.get());
    }
    long scanned =
        db.scan(
            scan,
            row -> {
              GroupState g = byValue.get(row.get(groupProp));
              g.scanned++;
              long id = row.id();
              long ups = row.ups();
              long downs = row.downs();
              long micros = ListingSort.micros(row.date());
              long version = row.version();
              double top = Sorts.normalize(Sorts.score(ups, downs));
              double controversy = Sorts.normalize(Sorts.controversy(ups, downs));
              for (int w = 0; w < windowCutoffs.length; w++) {
                if (micros >= windowCutoffs[w]) {
                  g.heaps[w][0].offer(id, version, top);
                  g.heaps[w][1].offer(id, version, controversy);
                }
              }
            });
    int written = 0;
    for (GroupState g : states.values()) {
      long groupStart = System.nanoTime();
      for (int w = 0; w < windows.size(); w++) {
        for (int s = 0; s < SORTS.length; s++) {
          TopHeap heap = g.heaps[w][s];
          Listing listing = Listing.create(capacity);
          listing.replaceAll(heap.sorted(), heap.seen <= heap.limit);
          store.put(key(g.group.prefix(), SORTS[s], windows.get(w)), listing);
          written++;
        }
      }
      log.info(
          "listing recompute of {}: group {} ({}={}): {} things, {} listings, written in {} ms",
          t,
          g.group.prefix(),
          groupProp.name(),
          g.group.value(),
          g.scanned,
          windows.size() * SORTS.length,
          (System.nanoTime() - groupStart) / 1_000_000);
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    Summary summary = new Summary(states.size(), scanned, written, took);
    log.info(
        "listing recompute of {} done: {} groups, {} things scanned, {} listings written in {} ms",
        t,
        summary.groups(),
        summary.thingsScanned(),
        summary.listingsWritten(),
        took.toMillis());
    return summary;
  }

  /**
   * A listing group: the key prefix of its listings and the value of the group prop its things
   * hold. Immutable and thread-safe.
   *
   * @param prefix the listing key prefix, for example {@code sr:5}
   * @param value the group prop value, for example the subreddit id 5
   */
  public record Group(String prefix, long value) {
    /**
     * Creates a group.
     *
     * @param prefix the listing key prefix, for example {@code sr:5}
     * @param value the group prop value
     * @throws NullPointerException if {@code prefix} is null
     * @throws IllegalArgumentException if {@code prefix} is empty
     */
    public Group {
      Objects.requireNonNull(prefix, "group prefix must not be null");
      if (prefix.isEmpty()) {
        throw new IllegalArgumentException("group prefix must not be empty (value=" + value + ")");
      }
    }
  }

  /**
   * What one run did. Immutable and thread-safe.
   *
   * @param groups the groups recomputed
   * @param thingsScanned the live things of the largest window read for those groups
   * @param listingsWritten the listings replaced
   * @param duration how long the run took
   */
  public record Summary(int groups, long thingsScanned, int listingsWritten, Duration duration) {}

  private static final class GroupState {
    final Group group;
    final TopHeap[][] heaps;
    long scanned;

    GroupState(Group group, int windows, int capacity) {
      this.group = group;
      this.heaps = new TopHeap[windows][SORTS.length];
      int keep = Listing.maxSizeFor(capacity);
      for (int w = 0; w < windows; w++) {
        for (int s = 0; s < SORTS.length; s++) {
          heaps[w][s] = new TopHeap(keep);
        }
      }
    }
  }

  /**
   * The first {@code limit} entries offered, in the total order, as a binary heap whose root is the
   * entry that sorts last. Arrays grow on demand so that small groups stay small.
   */
  static final class TopHeap {
    final int limit;
    long seen;
    private int size;
    private double[] values = new double[16];
    private long[] ids = new long[16];
    private long[] versions = new long[16];

    TopHeap(int limit) {
      this.limit = limit;
    }

    /** Whether entry i sorts after entry j (is worse). */
    private boolean after(int i, int j) {
      return Sorts.compare(values[i], ids[i], values[j], ids[j]) > 0;
    }

    void offer(long id, long version, double value) {
      seen++;
      if (size < limit) {
        if (size == values.length) {
          int n = Math.min(limit, size * 2);
          values = java.util.Arrays.copyOf(values, n);
          ids = java.util.Arrays.copyOf(ids, n);
          versions = java.util.Arrays.copyOf(versions, n);
        }
        set(size, id, version, value);
        int i = size++;
        while (i > 0) {
          int parent = (i - 1) / 2;
          if (!after(i, parent)) {
            break;
          }
          swap(i, parent);
          i = parent;
        }
        return;
      }
      if (Sorts.compare(value, id, values[0], ids[0]) >= 0) {
        return; // sorts after the worst kept entry
      }
      set(0, id, version, value);
      int i = 0;
      while (true) {
        int l = 2 * i + 1;
        int r = l + 1;
        int worst = i;
        if (l < size && after(l, worst)) {
          worst = l;
        }
        if (r < size && after(r, worst)) {
          worst = r;
        }
        if (worst == i) {
          break;
        }
        swap(i, worst);
        i = worst;
      }
    }

    private void set(int i, long id, long version, double value) {
      values[i] = value;
      ids[i] = id;
      versions[i] = version;
    }

    private void swap(int i, int j) {
      double v = values[i];
      values[i] = values[j];
      values[j] = v;
      long x = ids[i];
      ids[i] = ids[j];
      ids[j] = x;
      x = versions[i];
      versions[i] = versions[j];
      versions[j] = x;
    }

    /** The kept entries in listing order. */
    List<Listing.Entry> sorted() {
      List<Listing.Entry> out = new ArrayList<>(size);
      for (int i = 0; i < size; i++) {
        out.add(new Listing.Entry(ids[i], versions[i], values[i]));
      }
      out.sort((a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id()));
      return out;
    }
  }

  /** Configures a {@link ListingRecompute}. Not thread-safe. */
  public static final class Builder {
    private final ThingDb db;
    private final DataSource readDataSource;
    private final ListingStore store;
    private final ThingType type;
    private final Prop<Long> groupProp;
    private final Map<String, Group> groups = new LinkedHashMap<>();
    private final Map<Long, String> prefixByValue = new HashMap<>();
    private Set<TimeWindow> windows =
        EnumSet.of(
            TimeWindow.HOUR, TimeWindow.DAY, TimeWindow.WEEK, TimeWindow.MONTH, TimeWindow.YEAR);
    private int capacity = Listing.DEFAULT_CAPACITY;
    private Clock clock = Clock.systemUTC();
    private Duration interval = Duration.ofMinutes(5);
    private int fetchSize = 10_000;

    private Builder(
        ThingDb db,
        DataSource readDataSource,
        ListingStore store,
        ThingType type,
        Prop<Long> groupProp) {
      this.db = Objects.requireNonNull(db, "db must not be null");
      this.readDataSource =
          Objects.requireNonNull(readDataSource, "readDataSource must not be null");
      this.store = Objects.requireNonNull(store, "store must not be null");
      this.type = Objects.requireNonNull(type, "type must not be null");
      this.groupProp = Objects.requireNonNull(groupProp, "groupProp must not be null");
      if (!type.prop(groupProp.name()).equals(groupProp)) {
        throw new IllegalArgumentException(
            "group prop "
                + groupProp
                + " differs from the prop '"
                + groupProp.name()
                + "' declared on type "
                + type.name());
      }
      if (!TYPE_NAME.matcher(type.name()).matches()) {
        throw new IllegalArgumentException(
            "thing type name '" + type.name() + "' is not a plain table name");
      }
    }

    /**
     * Declares a group.
     *
     * @param group the group
     * @return this builder
     * @throws NullPointerException if {@code group} is null
     * @throws IllegalArgumentException if its prefix makes a listing key the store rejects, or
     *     another group has the same prefix or value
     */
    public Builder group(Group group) {
      Objects.requireNonNull(group, "group must not be null");
      for (ListingSort s : SORTS) {
        for (TimeWindow w : TimeWindow.values()) {
          store.checkKey(key(group.prefix(), s, w));
        }
      }
      if (groups.containsKey(group.prefix())) {
        throw new IllegalArgumentException("group prefix " + group.prefix() + " is declared twice");
      }
      String other = prefixByValue.putIfAbsent(group.value(), group.prefix());
      if (other != null) {
        throw new IllegalArgumentException(
            "groups "
                + other
                + " and "
                + group.prefix()
                + " have the same "
                + groupProp.name()
                + " value "
                + group.value());
      }
      groups.put(group.prefix(), group);
      return this;
    }

    /**
     * Declares a group: {@code group(new Group(prefix, value))}.
     *
     * @param prefix the listing key prefix
     * @param value the group prop value
     * @return this builder
     */
    public Builder group(String prefix, long value) {
      return group(new Group(prefix, value));
    }

    /**
     * The windows to recompute (default hour, day, week, month and year). With {@link
     * TimeWindow#ALL} the pass reads every live thing.
     *
     * @param windows the windows
     * @return this builder
     * @throws NullPointerException if {@code windows} or an element is null
     * @throws IllegalArgumentException if {@code windows} is empty
     */
    public Builder windows(Set<TimeWindow> windows) {
      Objects.requireNonNull(windows, "windows must not be null");
      if (windows.isEmpty()) {
        throw new IllegalArgumentException("windows must not be empty");
      }
      for (TimeWindow w : windows) {
        Objects.requireNonNull(w, "windows must not contain null");
      }
      this.windows = EnumSet.copyOf(windows);
      return this;
    }

    /**
     * The visible capacity of each listing (default {@link Listing#DEFAULT_CAPACITY}).
     *
     * @param capacity the visible capacity
     * @return this builder
     * @throws IllegalArgumentException if {@code capacity} is below 1 or above {@link
     *     Listing#MAX_CAPACITY}
     */
    public Builder capacity(int capacity) {
      if (capacity < 1 || capacity > Listing.MAX_CAPACITY) {
        throw new IllegalArgumentException(
            "listing capacity must be between 1 and "
                + Listing.MAX_CAPACITY
                + " (capacity="
                + capacity
                + ")");
      }
      this.capacity = capacity;
      return this;
    }

    /**
     * The clock that gives "now" for the windows (default UTC system clock).
     *
     * @param clock the clock
     * @return this builder
     */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    /**
     * The delay between the end of a scheduled run and the start of the next (default 5 minutes).
     *
     * @param interval the delay
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder interval(Duration interval) {
      Objects.requireNonNull(interval, "interval must not be null");
      if (interval.isNegative() || interval.isZero()) {
        throw new IllegalArgumentException(
            "recompute interval must be positive (interval=" + interval + ")");
      }
      this.interval = interval;
      return this;
    }

    /**
     * Builds the recompute; {@link #start()} schedules it.
     *
     * @return the recompute
     * @throws IllegalStateException if no group is declared
     */
    public ListingRecompute build() {
      if (groups.isEmpty()) {
        throw new IllegalStateException(
            "listing recompute of " + type.name() + " needs at least one group");
      }
      return new ListingRecompute(this);
    }
  }
}

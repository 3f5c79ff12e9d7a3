package io.thingdb.cache;

import com.google.code.yanf4j.core.impl.StandardSocketOption;
import io.thingdb.cache.internal.BytesTranscoder;
import io.thingdb.cache.internal.Expiry;
import io.thingdb.cache.internal.Frames;
import io.thingdb.cache.internal.KetamaRing;
import io.thingdb.cache.internal.KeyCodec;
import io.thingdb.cache.internal.Node;
import io.thingdb.cache.internal.RingLocator;
import io.thingdb.cache.internal.ServerSettings;
import io.thingdb.cache.internal.Topology;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import net.rubyeye.xmemcached.GetsResponse;
import net.rubyeye.xmemcached.MemcachedClient;
import net.rubyeye.xmemcached.MemcachedClientStateListener;
import net.rubyeye.xmemcached.XMemcachedClientBuilder;
import net.rubyeye.xmemcached.command.TextCommandFactory;
import net.rubyeye.xmemcached.exception.MemcachedClientException;
import net.rubyeye.xmemcached.exception.MemcachedException;
import net.rubyeye.xmemcached.exception.MemcachedServerException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memcached {@link Cache} backend: xmemcached underneath, keys placed on a ketama ring that
 * agrees with libmemcached's classic {@code ketama_weighted} for the same server list (so services
 * in other languages share the cluster), never modulo.
 *
 * <h2>Reads</h2>
 *
 * A read never fails because of a server: a dead, hung or slow server is a miss within one deadline
 * ({@link Builder#readDeadline}, default 100 ms) that covers one retry. The retry exists because
 * xmemcached stalls about one operation in 10<sup>4</sup>–10<sup>5</sup> for its whole timeout even
 * on a healthy server. A server that fails {@link Builder#suspectAfter} operations in a row (or
 * drops its connection) is <em>suspect</em>: its keys are misses at once, without waiting for a
 * timeout, until a probe finds it answering again. A dead server's keys are never rehashed onto
 * other servers.
 *
 * <h2>Writes that cannot reach their server</h2>
 *
 * A write that times out, fails, or is skipped because its server is suspect returns {@link
 * Outcome#UNCONFIRMED}, and its key is remembered as <em>dirty</em> for that server. Reads of a
 * dirty key are misses. When the server answers again, the client's reconciler deletes every dirty
 * key from it (or flushes the server when more than {@link Builder#maxPendingInvalidations} keys
 * are dirty) <em>before</em> any other read or write of those keys is sent to it; only then is the
 * server trusted again ({@link #status}). Lease and lock keys ({@code thingdb-lease:}, {@code
 * thingdb-lock:}) are the exception: they expire on their own, and deleting one after a waiter's
 * unconfirmed {@code add} would remove the current holder's.
 *
 * <p><b>Guarantee.</b> Once this client has reported a server reconciled, no value written before
 * an unconfirmed write of this client survives on that server. <b>Window.</b> Another client that
 * did not write can read such an older value between the moment the server comes back and the
 * moment this client has reconciled it: about one {@link Builder#probeInterval} (default 100 ms)
 * plus the time to send the deletes (about 1 ms per 1,000 keys on a LAN). A writer that crashes
 * before reconciling loses its dirty set; thingdb-core's durable outbox covers that case.
 *
 * <h2>Changing the servers at runtime</h2>
 *
 * {@link #reconfigure} replaces the server list while the client runs. Ketama moves only the keys
 * whose points changed owner: adding a fourth server to three moves about a quarter of the keys to
 * it, removing one of four moves its quarter to the others. Without a warm-up each moved key is a
 * miss on its new server, and every one of those misses is a database read: the storm that makes
 * operators afraid of adding a node. With a warm-up ({@link Builder#warmUp}, default 1 minute), for
 * that period after a change:
 *
 * <ul>
 *   <li>A read ({@link #get}, {@link #getAll}) of a moved key that misses on its new server reads
 *       the server that held it before and, if the value is there, copies it to the new server with
 *       {@code add}, which never replaces what the new server holds. memcached's text protocol does
 *       not tell the remaining TTL, so a copied value expires one warm-up period after the copy: a
 *       raw value may outlive its original TTL by up to that. {@link #gets} reads the new server
 *       only (a compare-and-set applies there). Lease and lock keys are never read from the
 *       previous server: a lease or a {@link MemcachedLocks} lock held on a key's previous server
 *       is not seen on its new one, so while instances disagree on the ring, and for locks held
 *       across the change, two holders are possible (for leases, a second load); {@link
 *       PostgresLocks} do not depend on the ring.
 *   <li>A {@link VersionedCache} over this client reads a moved key from both servers, keeps the
 *       newer version by its rules (a tombstone refuses older values) and republishes it to the new
 *       server with its remaining TTL, by the same add-or-compare-and-set as a fill.
 *   <li>Every write of a moved key (set, add, compare-and-set, delete, append, quiet append, touch,
 *       incr, decr) first deletes the key on its previous server, without waiting for the answer;
 *       if that server cannot take the delete, the key is marked dirty there, so it is a miss on
 *       that server until reconciled.
 *   <li>A removed server stays connected, and is read as a previous server, until the warm-up ends;
 *       then it is closed.
 * </ul>
 *
 * Keys that did not move cost one ring lookup more during a warm-up (the key is hashed once for
 * both rings) and nothing after it.
 *
 * <p><b>No superseded value is copied back</b> (P3) among clients that have applied the change: a
 * write through such a client removes the key from the previous server before it writes the new
 * one, and a copy is an {@code add}, which cannot replace what a later write put on the new server.
 * For raw values the window is the one any fill after a miss has: a copy whose read of the previous
 * server comes before a concurrent delete and whose {@code add} lands after it puts the deleted
 * value back. {@link VersionedCache#invalidate} leaves a tombstone that such an {@code add} cannot
 * replace, so versioned values have no such window.
 *
 * <p><b>Skew between instances.</b> Application instances apply a change at different moments (the
 * example blog polls its server file every second). An instance still on the old ring writes a
 * moved key to the old server, after which an instance on the new ring may already have copied, or
 * written, the older value on the new server. For raw {@link Cache} users nothing detects this: the
 * older value stays on the new server until it is overwritten or expires (a copy within one warm-up
 * period). A {@link VersionedCache} reads both servers on every read of a moved key during the
 * warm-up and republishes the newer version, so the old-ring write is found by the first read after
 * it, provided the warm-up outlasts the skew. What remains: a moved key that is written on the old
 * server during the skew and then not read by any instance before the warm-ups end keeps the older
 * version on its new server until its next write or its TTL. Hot keys, the ones a storm is made of,
 * are read many times per warm-up; without a warm-up the same case is not caught at all. Keep the
 * skew short and the warm-up long compared with it.
 *
 * <h2>Logging</h2>
 *
 * An expected fault costs one line per change of a server's state, on logger {@code
 * io.thingdb.cache.MemcachedCache}, however many operations fail meanwhile: WARN {@code memcached
 * server H:P is suspect (why)} (operations failing, connection up), WARN {@code ... is down
 * (connection lost)}, INFO {@code ... is back after N ms} (answering again) and INFO {@code ...
 * reconciled: deleted K unconfirmed keys} (trusted again). Single failed operations are DEBUG.
 *
 * <p>xmemcached logs through slf4j under its own names, and a library cannot set another library's
 * levels through slf4j. This client therefore keeps xmemcached off its noisy paths: it reconnects a
 * lost server itself, and only once the server answers {@code version} on a connection of its own,
 * so xmemcached never retries a dead server (its own healing logs each refused attempt at ERROR
 * with two stack traces, about three lines a second per dead server). What remains is one ERROR
 * with a stack trace when a connection is reset under operations in flight (logger {@code
 * net.rubyeye.xmemcached.impl.MemcachedHandler}, "XMemcached network layout exception"), and INFO
 * lines of connects. To silence or restore them, configure these loggers in the application's slf4j
 * backend: {@code net.rubyeye.xmemcached}, {@code com.google.code.yanf4j} and {@code remoting}
 * (xmemcached's reactor). For example {@code <logger
 * name="net.rubyeye.xmemcached.impl.MemcachedHandler" level="OFF"/>} in logback, or {@code
 * org.slf4j.simpleLogger.log.net.rubyeye.xmemcached=warn} for slf4j-simple; set them to DEBUG to
 * see everything xmemcached reports.
 *
 * <h2>Threads and lifecycle</h2>
 *
 * Thread-safe. The client owns xmemcached's connections and threads, one maintenance thread
 * (probes, reconciliation and the end of warm-ups) and a small pool for multi-gets spanning several
 * servers and for reconnect attempts. {@link #close()} stops them all and is idempotent; any other
 * call afterwards throws {@link IllegalStateException}.
 */
public final class MemcachedCache implements Cache {
  private static final Logger log = LoggerFactory.getLogger(MemcachedCache.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  /** Where keys live; replaced as one by {@link #reconfigure} and at the end of a warm-up. */
  private volatile Topology topo;

  private final RingLocator locator;
  private final Object reconfiguring = new Object();
  private final long warmUpNanos;
  private final Duration connectTimeout;
  private final String probeKey;
  private final LongAdder warmUpCopies = new LongAdder();
  private final List<Runnable> serverListeners = new CopyOnWriteArrayList<>();
  private final KeyCodec keys;
  private final MemcachedClient client;
  private final Clock clock;
  private final long readDeadlineNanos;
  private final long writeTimeoutMillis;
  private final int suspectAfter;
  private final int maxPending;
  private final int itemSizeMax;
  private final BytesTranscoder transcoder;
  private final int connectTimeoutMillis;
  private final long reconnectIntervalNanos;
  private final ScheduledExecutorService maintenance;
  private final ExecutorService fanout;
  private final AtomicBoolean reconcileQueued = new AtomicBoolean();
  private final String name;
  private volatile boolean closed;

  /** Where a test may interleave with reconciliation ({@link #seam}). */
  enum ReconcileStep {
    /** The server has run a flush; the client has not yet recorded it. */
    FLUSHED,
    /** The server has run a batch of deletes; the client has not yet forgotten those keys. */
    DELETED
  }

  /** A test seam: called on the maintenance thread at each {@link ReconcileStep}. */
  @FunctionalInterface
  interface ReconcileSeam {
    void reached(ReconcileStep step, String server);
  }

  /**
   * Package-private test seam (a no-op in production): lets a concurrency test run writers at
   * exactly the points where a mark could be lost, which a natural race hits too rarely to test.
   */
  volatile ReconcileSeam seam = (step, server) -> {};

  private MemcachedCache(Builder b) throws IOException {
    this.name = "thingdb-memcached-" + INSTANCES.incrementAndGet();
    KetamaRing ring = KetamaRing.of(b.servers);
    this.warmUpNanos = b.warmUp.toNanos();
    this.connectTimeout = b.connectTimeout;
    this.keys = KeyCodec.of(b.namespace, KeyCodec.CURRENT_VERSION);
    this.clock = b.clock;
    this.readDeadlineNanos = b.readDeadline.toNanos();
    this.writeTimeoutMillis = Math.max(1, b.writeTimeout.toMillis());
    this.suspectAfter = b.suspectAfter;
    this.maxPending = b.maxPendingInvalidations;
    this.itemSizeMax = b.itemSizeMax;
    this.transcoder = new BytesTranscoder(b.itemSizeMax);
    this.connectTimeoutMillis = (int) b.connectTimeout.toMillis();
    this.reconnectIntervalNanos = b.reconnectInterval.toNanos();
    // Every command is pinned to its node (RingLocator.pin), so one probe key serves every node.
    this.probeKey = keys.encode("thingdb-probe:0");

    List<Node> list = new ArrayList<>();
    List<InetSocketAddress> addresses = new ArrayList<>();
    for (int i = 0; i < ring.servers().size(); i++) {
      String server = ring.servers().get(i);
      Node node = new Node(server, resolve(server));
      node.probeKey = probeKey;
      requireOwnAddress(list, server, node);
      list.add(node);
      addresses.add(node.address);
    }
    for (Node n : list) {
      ServerSettings.checkItemSize(n.name, n.address, itemSizeMax, b.connectTimeout);
    }
    Topology initial = Topology.of(ring, list);
    this.topo = initial;
    this.locator = new RingLocator(initial);
    XMemcachedClientBuilder xb = new XMemcachedClientBuilder(addresses);
    xb.setName(name);
    xb.setSessionLocator(locator);
    xb.setCommandFactory(new TextCommandFactory());
    // One connection per server: reconciliation relies on a server seeing this client's
    // commands in the order they were sent (an old write queued before the delete that undoes it).
    xb.setConnectionPoolSize(1);
    xb.setConnectTimeout(b.connectTimeout.toMillis());
    xb.setOpTimeout(Math.max(1, b.readDeadline.toMillis()));
    xb.setFailureMode(false);
    // We reconnect lost servers ourselves (reconnect()): xmemcached's own healing retries a
    // dead server blindly and logs every refused attempt at ERROR with two stack traces.
    xb.setEnableHealSession(false);
    xb.setSanitizeKeys(false);
    // No default transcoder override: xmemcached's incr-with-initial stores its initial value as a
    // String through the default transcoder. Every byte[] call passes BytesTranscoder explicitly.
    // xmemcached's default 32 KiB send buffer makes a 1 MiB set take about 660 ms on loopback
    // (measured here); 256 KiB brings it to about 2.5 ms, within the write timeout.
    xb.setSocketOption(StandardSocketOption.SO_SNDBUF, 256 * 1024);
    xb.addStateListener(new Listener());
    // The listener may fire from xmemcached's reactor during build(): executors must exist first.
    this.maintenance = Executors.newSingleThreadScheduledExecutor(daemon(name + "-maintenance"));
    this.fanout = Executors.newCachedThreadPool(daemon(name + "-multiget"));
    MemcachedClient built;
    try {
      built = xb.build();
    } catch (IOException | RuntimeException e) {
      maintenance.shutdownNow();
      fanout.shutdownNow();
      throw e;
    }
    this.client = built;
    for (Node n : list) {
      if (n.session == null) {
        markDown(n); // not reachable at start: reconnect() brings it in once it answers
      }
    }
    long probeMillis = b.probeInterval.toMillis();
    maintenance.scheduleWithFixedDelay(
        this::maintain, probeMillis, probeMillis, TimeUnit.MILLISECONDS);
  }

  /** A builder; at least one server is required. */
  public static Builder builder() {
    return new Builder();
  }

  private static InetSocketAddress resolve(String server) {
    int colon = server.lastIndexOf(':');
    String host = server.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = Integer.parseInt(server.substring(colon + 1));
    InetSocketAddress address = new InetSocketAddress(host, port);
    if (address.isUnresolved()) {
      throw new IllegalArgumentException("cannot resolve memcached server host: " + server);
    }
    return address;
  }

  private static ThreadFactory daemon(String prefix) {
    AtomicInteger count = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + count.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  // ---------------------------------------------------------------- reads

  private String wire(String key) {
    Objects.requireNonNull(key, "key must not be null");
    if (closed) {
      throw new IllegalStateException("MemcachedCache is closed");
    }
    return keys.encode(key);
  }

  private Node nodeOf(String wire) {
    return topo.ownerOf(wire);
  }

  /** A call to xmemcached, sent to the node pinned around it. */
  @FunctionalInterface
  private interface Call<T> {
    T run() throws TimeoutException, InterruptedException, MemcachedException;
  }

  /**
   * Runs {@code call} with its commands sent to {@code node}: xmemcached looks the session up on
   * the calling thread, through {@link RingLocator}, which returns the pinned node's.
   */
  private <T> T on(Node node, Call<T> call)
      throws TimeoutException, InterruptedException, MemcachedException {
    locator.pin(node);
    try {
      return call.run();
    } finally {
      locator.unpin();
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>A stalled write on a healthy server (about one operation in 10^4 to 10^5 with xmemcached) is
   * the case this is for: its reconcile is requested when the write times out and usually lands
   * within a few milliseconds, so a writer that waits for it returns only once no other client can
   * read the value it replaced. A server that has been suspect for longer than {@code timeout} is
   * treated as down and not waited for.
   */
  @Override
  public boolean awaitReconciled(String key, Duration timeout) {
    Objects.requireNonNull(timeout, "timeout must not be null");
    String wire = wire(key);
    Node node = nodeOf(wire);
    long deadline = System.nanoTime() + timeout.toNanos();
    long timeoutMillis = timeout.toMillis();
    while (node.isDirty(wire)) {
      // A node that turned suspect just now may be a stall that is about to be reconciled; one
      // that has been suspect for longer than the wait is an outage, and waiting only delays.
      boolean outage = node.suspect && clock.millis() - node.suspectSinceMillis > timeoutMillis;
      if (outage || closed || System.nanoTime() - deadline >= 0) {
        return false;
      }
      java.util.concurrent.locks.LockSupport.parkNanos(200_000);
    }
    return true;
  }

  /**
   * {@inheritDoc}
   *
   * <p>During a warm-up ({@link Builder#warmUp}), a miss on a key that moved in the last change of
   * servers reads the server that held it before and copies a value found there to the key's server
   * with {@code add} (never replacing what the server has), expiring one warm-up period after the
   * copy; see the class comment.
   */
  @Override
  public byte[] get(String key) {
    return get(key, copyOnMiss);
  }

  /**
   * How a read of a key that moved in the last change of servers is answered while the warm-up
   * lasts: the raw backend copies on a miss ({@link #copyOnMiss}); {@link VersionedCache} reads
   * both servers and keeps the newer version.
   */
  interface Moved {
    /** Whether the previous server is read even when the key's server has the key. */
    boolean readsPreviousOnHit();

    /**
     * Returns what the read returns, given the value (without its format byte) at the key's server
     * and at its previous server, either null; may write to the key's server.
     */
    byte[] resolve(String key, byte[] atOwner, byte[] atPrevious);
  }

  private final Moved copyOnMiss =
      new Moved() {
        @Override
        public boolean readsPreviousOnHit() {
          return false;
        }

        @Override
        public byte[] resolve(String key, byte[] atOwner, byte[] atPrevious) {
          if (atOwner != null || atPrevious == null) {
            return atOwner;
          }
          if (add(key, atPrevious, Duration.ofNanos(warmUpNanos)) == Outcome.APPLIED) {
            warmUpCopies.increment();
          }
          return atPrevious;
        }
      };

  /** {@link #get(String)} with {@code moved} deciding the reads of keys that moved. */
  byte[] get(String key, Moved moved) {
    String wire = wire(key);
    Topology t = topo;
    if (t.previousRing == null) {
      return readCounted(t.ownerOf(wire), wire);
    }
    int hash = t.ring.hash(wire);
    Node node = t.ownerOfHash(hash);
    Node before = previousOwner(t, hash, node, key);
    byte[] value = readCounted(node, wire);
    return before == null ? value : warmRead(key, wire, before, value, moved);
  }

  private byte[] readCounted(Node node, String wire) {
    byte[] stored = readOne(node, wire, false) instanceof byte[] bytes ? bytes : null;
    byte[] value = stored == null ? null : Frames.unwrap(stored);
    (value == null ? node.counters.misses : node.counters.hits).increment();
    return value;
  }

  /**
   * The node that held a key of {@code hash} before the last change, if the change moved it and the
   * warm-up still lasts; else null. Lease and lock keys are never read there: they expire on their
   * own and are taken afresh on the key's server.
   */
  private static Node previousOwner(Topology t, int hash, Node owner, String key) {
    if (t.previousRing == null
        || System.nanoTime() - t.warmUntilNanos >= 0
        || isCoordinationKey(key)) {
      return null;
    }
    Node before = t.previousOwnerOfHash(hash);
    return before == owner ? null : before;
  }

  /**
   * The server a write of {@code key} goes to; during a warm-up that moved the key, also removes it
   * from its previous server first, so that a later copy cannot bring back what the write
   * supersedes.
   */
  private Node ownerForWrite(String key, String wire) {
    Topology t = topo;
    if (t.previousRing == null) {
      return t.ownerOf(wire);
    }
    int hash = t.ring.hash(wire);
    Node node = t.ownerOfHash(hash);
    Node before = previousOwner(t, hash, node, key);
    if (before != null) {
      forgetAtPrevious(before, wire);
    }
    return node;
  }

  private byte[] warmRead(String key, String wire, Node before, byte[] atOwner, Moved moved) {
    if (atOwner != null && !moved.readsPreviousOnHit()) {
      return atOwner;
    }
    byte[] stored = readOne(before, wire, false) instanceof byte[] bytes ? bytes : null;
    byte[] atPrevious = stored == null ? null : Frames.unwrap(stored);
    return moved.resolve(key, atOwner, atPrevious);
  }

  /** Refuses {@code server} if its node resolves to the address of one of {@code others}. */
  private static void requireOwnAddress(List<Node> others, String server, Node n) {
    for (Node other : others) {
      if (other.address.equals(n.address)) {
        throw new IllegalArgumentException(
            "servers "
                + other.name
                + " and "
                + server
                + " resolve to the same address "
                + n.address);
      }
    }
  }

  /** Counts a value copied to its new server during a warm-up. */
  void countWarmUpCopy() {
    warmUpCopies.increment();
  }

  /**
   * {@inheritDoc}
   *
   * <p>Reads only the key's server, also during a warm-up: a compare-and-set applies there.
   */
  @Override
  public CasValue gets(String key) {
    String wire = wire(key);
    Node node = nodeOf(wire);
    Object r = readOne(node, wire, true);
    if (r instanceof GetsResponse<?> g && g.getValue() instanceof byte[] stored) {
      byte[] value = Frames.unwrap(stored);
      if (value != null) {
        node.counters.hits.increment();
        return new CasValue(value, g.getCas());
      }
    }
    node.counters.misses.increment();
    return null;
  }

  /** One read with the deadline and one retry; returns null for any failure. */
  private Object readOne(Node node, String wire, boolean withCas) {
    if (!node.readable(wire)) {
      return null;
    }
    long deadline = System.nanoTime() + readDeadlineNanos;
    for (int attempt = 0; attempt < 2; attempt++) {
      long remaining = deadline - System.nanoTime();
      long timeout = attempt == 0 ? remaining / 2 : remaining;
      long millis = TimeUnit.NANOSECONDS.toMillis(timeout);
      if (millis < 1) {
        break;
      }
      long started = System.nanoTime();
      try {
        Object r =
            on(
                node,
                () ->
                    withCas
                        ? client.gets(wire, millis, transcoder)
                        : client.get(wire, millis, transcoder));
        succeeded(node);
        return r;
      } catch (TimeoutException e) {
        node.counters.timeouts.increment();
        failed(node, e, started);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (MemcachedClientException e) {
        throw new CacheException(
            "memcached refused a read (server="
                + node.name
                + ", key="
                + wire
                + "): "
                + e.getMessage(),
            e);
      } catch (MemcachedException | RuntimeException e) {
        failed(node, e, started);
        return null;
      }
    }
    return null;
  }

  /**
   * {@inheritDoc}
   *
   * <p>During a warm-up, keys that moved in the last change are read one by one as {@link
   * #get(String)} reads them (a bounded cost, for the warm-up only).
   */
  @Override
  public Map<String, byte[]> getAll(Collection<String> keyList) {
    return getAll(keyList, copyOnMiss);
  }

  /** {@link #getAll(Collection)} with {@code moved} deciding the reads of keys that moved. */
  Map<String, byte[]> getAll(Collection<String> keyList, Moved moved) {
    Objects.requireNonNull(keyList, "keys must not be null");
    if (closed) {
      throw new IllegalStateException("MemcachedCache is closed");
    }
    Topology t = topo;
    if (t.previousRing != null) {
      List<String> stay = new ArrayList<>(keyList.size());
      Map<String, byte[]> movedOut = new HashMap<>();
      for (String key : keyList) {
        String wire = wire(key);
        int hash = t.ring.hash(wire);
        Node node = t.ownerOfHash(hash);
        Node before = previousOwner(t, hash, node, key);
        if (before == null) {
          stay.add(key);
        } else {
          byte[] v = warmRead(key, wire, before, readCounted(node, wire), moved);
          if (v != null) {
            movedOut.put(key, v);
          }
        }
      }
      Map<String, byte[]> out = getAll(t, stay);
      out.putAll(movedOut);
      return out;
    }
    return getAll(t, keyList);
  }

  private Map<String, byte[]> getAll(Topology t, Collection<String> keyList) {
    Map<Node, Map<String, String>> groups = new LinkedHashMap<>();
    for (String key : keyList) {
      String wire = wire(key);
      Node node = t.ownerOf(wire);
      if (!node.readable(wire)) {
        node.counters.misses.increment();
        continue;
      }
      groups.computeIfAbsent(node, n -> new HashMap<>()).put(wire, key);
    }
    Map<String, byte[]> out = new HashMap<>(keyList.size() * 2);
    if (groups.isEmpty()) {
      return out;
    }
    long deadline = System.nanoTime() + readDeadlineNanos;
    List<Map.Entry<Node, Map<String, String>>> entries = new ArrayList<>(groups.entrySet());
    List<Future<Map<String, byte[]>>> futures = new ArrayList<>();
    // Each server's multi-get runs on its own thread so that a hung server costs only its own
    // keys; the first group runs on the caller's thread, so a single-server call never hops.
    for (int i = 1; i < entries.size(); i++) {
      Map.Entry<Node, Map<String, String>> e = entries.get(i);
      futures.add(fanout.submit(() -> readMany(e.getKey(), e.getValue().keySet(), deadline)));
    }
    merge(
        out,
        entries.get(0),
        readMany(entries.get(0).getKey(), entries.get(0).getValue().keySet(), deadline));
    for (int i = 1; i < entries.size(); i++) {
      Map<String, byte[]> got = null;
      try {
        long wait = Math.max(0, deadline - System.nanoTime()) + TimeUnit.MILLISECONDS.toNanos(5);
        got = futures.get(i - 1).get(wait, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof CacheException ce) {
          throw ce;
        }
        throw new CacheException(
            "multi-get failed on " + entries.get(i).getKey().name, e.getCause());
      } catch (TimeoutException e) {
        futures.get(i - 1).cancel(true);
        entries.get(i).getKey().counters.timeouts.increment();
      }
      merge(out, entries.get(i), got);
    }
    return out;
  }

  private static void merge(
      Map<String, byte[]> out,
      Map.Entry<Node, Map<String, String>> group,
      Map<String, byte[]> got) {
    Node node = group.getKey();
    for (Map.Entry<String, String> wk : group.getValue().entrySet()) {
      byte[] stored = got == null ? null : got.get(wk.getKey());
      byte[] value = stored == null ? null : Frames.unwrap(stored);
      if (value == null) {
        node.counters.misses.increment();
      } else {
        node.counters.hits.increment();
        out.put(wk.getValue(), value);
      }
    }
  }

  /**
   * The positional multi-get: one wire key per position, no grouping map and no result map of our
   * own (xmemcached's is the only one), and each value handed over in place, behind its format
   * byte, instead of copied. With one server, or every key on one server, the multi-get runs on the
   * calling thread; otherwise as {@link #getAll(Collection)}.
   */
  @Override
  public void getAll(List<String> keyList, Hits hits) {
    getAll(keyList, hits, copyOnMiss);
  }

  /** {@link #getAll(List, Hits)} with {@code moved} deciding the reads of keys that moved. */
  void getAll(List<String> keyList, Hits hits, Moved moved) {
    Objects.requireNonNull(keyList, "keys must not be null");
    Objects.requireNonNull(hits, "hits must not be null");
    if (closed) {
      throw new IllegalStateException("MemcachedCache is closed");
    }
    Topology t = topo;
    if (t.previousRing == null) {
      getAll(t, keyList, hits);
      return;
    }
    List<String> stay = new ArrayList<>(keyList.size());
    List<Integer> stayIndex = new ArrayList<>(keyList.size());
    for (int i = 0; i < keyList.size(); i++) {
      String key = keyList.get(i);
      String wire = wire(key);
      int hash = t.ring.hash(wire);
      Node node = t.ownerOfHash(hash);
      Node before = previousOwner(t, hash, node, key);
      if (before == null) {
        stay.add(key);
        stayIndex.add(i);
      } else {
        byte[] v = warmRead(key, wire, before, readCounted(node, wire), moved);
        if (v != null) {
          hits.hit(i, v, 0, v.length);
        }
      }
    }
    if (!stay.isEmpty()) {
      getAll(
          t,
          stay,
          (i, buffer, offset, length) -> hits.hit(stayIndex.get(i), buffer, offset, length));
    }
  }

  private void getAll(Topology t, List<String> keyList, Hits hits) {
    int n = keyList.size();
    String[] wires = new String[n];
    int[] owner = new int[n];
    int first = -1;
    boolean spread = false;
    int readable = 0;
    for (int i = 0; i < n; i++) {
      String wire = wire(keyList.get(i));
      int index = t.ring.indexFor(wire);
      Node node = t.owner(index);
      if (!node.readable(wire)) {
        node.counters.misses.increment();
        owner[i] = -1;
        continue;
      }
      wires[i] = wire;
      owner[i] = index;
      readable++;
      if (first < 0) {
        first = index;
      } else if (index != first) {
        spread = true;
      }
    }
    if (readable == 0) {
      return;
    }
    long deadline = System.nanoTime() + readDeadlineNanos;
    if (!spread) {
      Node node = t.owner(first);
      List<String> batch =
          readable == n ? Arrays.asList(wires) : group(wires, owner, first, readable);
      deliver(node, first, wires, owner, readMany(node, batch, deadline), hits);
      return;
    }
    int[] perNode = new int[t.size()];
    for (int i = 0; i < n; i++) {
      if (owner[i] >= 0) {
        perNode[owner[i]]++;
      }
    }
    List<Integer> others = new ArrayList<>();
    List<Future<Map<String, byte[]>>> futures = new ArrayList<>();
    for (int index = 0; index < t.size(); index++) {
      if (index != first && perNode[index] > 0) {
        List<String> batch = group(wires, owner, index, perNode[index]);
        Node node = t.owner(index);
        others.add(index);
        futures.add(fanout.submit(() -> readMany(node, batch, deadline)));
      }
    }
    Node mine = t.owner(first);
    deliver(
        mine,
        first,
        wires,
        owner,
        readMany(mine, group(wires, owner, first, perNode[first]), deadline),
        hits);
    for (int g = 0; g < others.size(); g++) {
      int index = others.get(g);
      Node node = t.owner(index);
      Map<String, byte[]> got = null;
      try {
        long wait = Math.max(0, deadline - System.nanoTime()) + TimeUnit.MILLISECONDS.toNanos(5);
        got = futures.get(g).get(wait, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof CacheException ce) {
          throw ce;
        }
        throw new CacheException("multi-get failed on " + node.name, e.getCause());
      } catch (TimeoutException e) {
        futures.get(g).cancel(true);
        node.counters.timeouts.increment();
      }
      deliver(node, index, wires, owner, got, hits);
    }
  }

  private static List<String> group(String[] wires, int[] owner, int node, int size) {
    List<String> out = new ArrayList<>(size);
    for (int i = 0; i < wires.length; i++) {
      if (owner[i] == node) {
        out.add(wires[i]);
      }
    }
    return out;
  }

  /**
   * Hands the hits of {@code node}, at ring index {@code index}, to {@code hits} by position; a
   * null {@code got} is all misses.
   */
  private static void deliver(
      Node node, int index, String[] wires, int[] owner, Map<String, byte[]> got, Hits hits) {
    int hit = 0;
    int miss = 0;
    for (int i = 0; i < wires.length; i++) {
      if (owner[i] != index) {
        continue;
      }
      byte[] stored = got == null ? null : got.get(wires[i]);
      if (stored != null && stored.length > 0 && stored[0] == Frames.PLAIN) {
        hits.hit(i, stored, 1, stored.length - 1);
        hit++;
        continue;
      }
      byte[] value =
          stored == null ? null : Frames.unwrap(stored); // a counter's digits, or unknown
      if (value == null) {
        miss++;
      } else {
        hits.hit(i, value, 0, value.length);
        hit++;
      }
    }
    node.counters.hits.add(hit);
    node.counters.misses.add(miss);
  }

  private Map<String, byte[]> readMany(Node node, Collection<String> wires, long deadline) {
    for (int attempt = 0; attempt < 2; attempt++) {
      long remaining = deadline - System.nanoTime();
      long millis = TimeUnit.NANOSECONDS.toMillis(attempt == 0 ? remaining / 2 : remaining);
      if (millis < 1) {
        break;
      }
      long started = System.nanoTime();
      try {
        Map<String, byte[]> r = on(node, () -> client.get(wires, millis, transcoder));
        succeeded(node);
        return r;
      } catch (TimeoutException e) {
        node.counters.timeouts.increment();
        failed(node, e, started);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (MemcachedClientException e) {
        throw new CacheException(
            "memcached refused a multi-get (server="
                + node.name
                + ", keys="
                + wires.size()
                + "): "
                + e.getMessage(),
            e);
      } catch (MemcachedException | RuntimeException e) {
        failed(node, e, started);
        return null;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- writes

  /** A write against xmemcached returning its boolean answer. */
  @FunctionalInterface
  private interface Write {
    boolean run(String wire, long timeoutMillis)
        throws TimeoutException, InterruptedException, MemcachedException;
  }

  /**
   * Lease and lock keys coordinate writers and expire on their own. Deleting one after an
   * unconfirmed write would remove whoever holds it now (the write that timed out was a waiter's
   * add), so failures on these keys are reported but not reconciled.
   */
  static boolean isCoordinationKey(String key) {
    return key.startsWith("thingdb-lock:") || key.startsWith("thingdb-lease:");
  }

  private Outcome write(String op, String key, String wire, Write w) {
    return write(op, key, wire, -1, w);
  }

  /** A write of a value of {@code size} bytes (-1 for writes without a value). */
  private Outcome write(String op, String key, String wire, int size, Write w) {
    Node node = ownerForWrite(key, wire);
    boolean reconcile = !isCoordinationKey(key);
    if (!node.writable()) {
      if (reconcile) {
        markDirty(node, wire);
      } else {
        node.counters.unconfirmedWrites.increment();
      }
      return Outcome.UNCONFIRMED;
    }
    long started = System.nanoTime();
    try {
      boolean ok = on(node, () -> w.run(wire, writeTimeoutMillis));
      succeeded(node);
      return ok ? Outcome.APPLIED : Outcome.NOT_APPLIED;
    } catch (MemcachedClientException e) {
      // The server parsed the command and refused it: a bug or misuse, not an outage.
      throw new CacheException(
          "memcached refused "
              + op
              + " (server="
              + node.name
              + ", key="
              + key
              + "): "
              + e.getMessage(),
          e);
    } catch (TimeoutException e) {
      node.counters.timeouts.increment();
      failed(node, e, started);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (MemcachedException | RuntimeException e) {
      if (size >= 0 && e instanceof MemcachedServerException && isTooLarge(e)) {
        throw refusedAsTooLarge(node, key, wire, size, reconcile);
      }
      failed(node, e, started);
    }
    if (reconcile) {
      markDirty(node, wire);
    } else {
      node.counters.unconfirmedWrites.increment();
    }
    return Outcome.UNCONFIRMED;
  }

  /**
   * A write of a moved key during a warm-up removes the key from its previous server first, so that
   * no later warm-up read can copy the value this write supersedes back to the key's server. Sent
   * without waiting for an answer (memcached answers a connection's commands in order, so it runs
   * before anything this client sends that server later); if the server is not writable, or the
   * delete cannot be sent, the key is marked dirty there, so it is a miss on that server until
   * reconciled.
   */
  private void forgetAtPrevious(Node before, String wire) {
    if (!before.writable()) {
      markDirty(before, wire);
      return;
    }
    try {
      on(
          before,
          () -> {
            client.deleteWithNoReply(wire);
            return null;
          });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      markDirty(before, wire);
    } catch (TimeoutException | MemcachedException | RuntimeException e) {
      failed(before, e);
      markDirty(before, wire);
    }
  }

  private static boolean isTooLarge(Exception e) {
    return e.getMessage() != null && e.getMessage().contains("object too large for cache");
  }

  /**
   * A server with a smaller item size limit than this client's refused a value. It answered, so it
   * is healthy; the key is invalidated on it (memcached drops the old item only on a refused set,
   * not on a refused compare-and-set), so that no older value stays readable after the write.
   */
  private ValueTooLargeException refusedAsTooLarge(
      Node node, String key, String wire, int size, boolean reconcile) {
    succeeded(node);
    if (reconcile) {
      markDirty(node, wire);
    }
    return new ValueTooLargeException(key, size - 1, node.name);
  }

  private byte[] frame(String key, String wire, byte[] value) {
    return Frames.wrap(Frames.checkValue(key, value, itemSizeMax, wire.length()));
  }

  @Override
  public Outcome set(String key, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    int exp = Expiry.toMemcached(ttl, clock, key);
    return write(
        "set", key, wire, stored.length, (w, t) -> client.set(w, exp, stored, transcoder, t));
  }

  @Override
  public Outcome add(String key, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    int exp = Expiry.toMemcached(ttl, clock, key);
    return write(
        "add", key, wire, stored.length, (w, t) -> client.add(w, exp, stored, transcoder, t));
  }

  @Override
  public void addAll(Map<String, byte[]> values, Duration ttl) {
    Objects.requireNonNull(values, "values must not be null");
    List<String> wires = new ArrayList<>(values.size());
    List<byte[]> frames = new ArrayList<>(values.size());
    int exp = 0;
    for (Map.Entry<String, byte[]> e : values.entrySet()) {
      String wire = wire(e.getKey());
      wires.add(wire);
      frames.add(frame(e.getKey(), wire, e.getValue()));
      exp = Expiry.toMemcached(ttl, clock, e.getKey());
    }
    for (int i = 0; i < wires.size(); i++) {
      String wire = wires.get(i);
      Node node = nodeOf(wire);
      if (!node.writable() || !node.readable(wire)) {
        continue;
      }
      byte[] frame = frames.get(i);
      int expiry = exp;
      try {
        on(
            node,
            () -> {
              client.addWithNoReply(wire, expiry, frame, transcoder);
              return null;
            });
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (TimeoutException | MemcachedException | RuntimeException e) {
        failed(node, e);
      }
    }
  }

  @Override
  public Outcome compareAndSet(String key, long cas, byte[] value, Duration ttl) {
    String wire = wire(key);
    byte[] stored = frame(key, wire, value);
    int exp = Expiry.toMemcached(ttl, clock, key);
    return write(
        "cas", key, wire, stored.length, (w, t) -> client.cas(w, exp, stored, transcoder, t, cas));
  }

  @Override
  public Outcome append(String key, byte[] suffix) {
    String wire = wire(key);
    Appends.check(key, suffix);
    // Framing is a prefix, so appended bytes extend the caller's value. xmemcached's append takes
    // the client's default transcoder, which sends a byte[] under its 16 KiB compression threshold
    // as is (Appends.check bounds suffixes far below it). A server refuses an append that would
    // outgrow the item: that is an answer (NOT_APPLIED), not a failure of the server.
    return write(
        "append",
        key,
        wire,
        (w, t) -> {
          try {
            return client.append(w, suffix, t);
          } catch (MemcachedServerException e) {
            if (isTooLarge(e) || String.valueOf(e.getMessage()).contains("out of memory")) {
              return false;
            }
            throw e;
          }
        });
  }

  @Override
  public void appendQuietly(String key, byte[] suffix) {
    String wire = wire(key);
    Appends.check(key, suffix);
    // The previous server's copy would miss this record: ownerForWrite removes it there.
    Node node = ownerForWrite(key, wire);
    if (!node.writable()) {
      node.counters.unconfirmedWrites.increment();
      return;
    }
    try {
      // xmemcached queues the command and returns; a full queue (a server that stopped reading)
      // refuses it after a few tries rather than blocking the caller.
      on(
          node,
          () -> {
            client.appendWithNoReply(wire, suffix);
            return null;
          });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      node.counters.unconfirmedWrites.increment();
    } catch (TimeoutException | MemcachedException | RuntimeException e) {
      node.counters.unconfirmedWrites.increment();
      log.debug("quiet append to {} on {} not sent: {}", key, node.name, e.toString());
    }
  }

  @Override
  public Outcome delete(String key) {
    String wire = wire(key);
    return write("delete", key, wire, (w, t) -> client.delete(w, t));
  }

  @Override
  public Outcome touch(String key, Duration ttl) {
    String wire = wire(key);
    int exp = Expiry.toMemcached(ttl, clock, key);
    return write("touch", key, wire, (w, t) -> client.touch(w, exp, t));
  }

  @Override
  public OptionalLong incr(String key, long delta, long initial, Duration ttl) {
    return counter("incr", key, delta, initial, ttl);
  }

  @Override
  public OptionalLong decr(String key, long delta, long initial, Duration ttl) {
    return counter("decr", key, delta, initial, ttl);
  }

  private OptionalLong counter(String op, String key, long delta, long initial, Duration ttl) {
    String wire = wire(key);
    int exp = Expiry.toMemcached(ttl, clock, key);
    if (delta < 0) {
      throw new IllegalArgumentException(
          "delta must not be negative: " + delta + " (key=" + key + ")");
    }
    if (initial < 0) {
      throw new IllegalArgumentException(
          "initial must not be negative: " + initial + " (key=" + key + ")");
    }
    long[] result = new long[1];
    Outcome o =
        write(
            op,
            key,
            wire,
            (w, t) -> {
              result[0] =
                  op.equals("incr")
                      ? client.incr(w, delta, initial, t, exp)
                      : client.decr(w, delta, initial, t, exp);
              return true;
            });
    return o == Outcome.APPLIED ? OptionalLong.of(result[0]) : OptionalLong.empty();
  }

  // ---------------------------------------------------------------- health and reconciliation

  private void succeeded(Node node) {
    if (node.consecutiveFailures.get() != 0) {
      node.consecutiveFailures.set(0);
    }
  }

  private void failed(Node node, Exception e) {
    failed(node, e, System.nanoTime());
  }

  /**
   * Counts a failure of an operation sent at {@code startedNanos}. xmemcached's stalls time out
   * every operation in flight on the connection at once, so only a failure of an operation sent
   * after the previous counted failure was seen counts: {@code suspectAfter} failures in a row then
   * mean the server failed that many operations one after another (about 150 ms of silence with the
   * default deadline), not one stall seen by several threads.
   */
  private void failed(Node node, Exception e, long startedNanos) {
    long now = System.nanoTime();
    int n;
    synchronized (node) {
      if (node.consecutiveFailures.get() > 0 && startedNanos - node.firstFailureNanos < 0) {
        log.debug(
            "memcached operation failed together with others (server={}): {}",
            node.name,
            e.toString());
        return;
      }
      n = node.consecutiveFailures.incrementAndGet();
      node.firstFailureNanos =
          now; // the last counted failure: later operations must start after it
    }
    if (n >= suspectAfter && !node.suspect) {
      markSuspect(node, n + " consecutive failures, last: " + e);
    } else if (log.isDebugEnabled()) {
      log.debug(
          "memcached operation failed (server={}, consecutive={}): {}", node.name, n, e.toString());
    }
  }

  private void markSuspect(Node node, String why) {
    if (closed || node.retired) {
      return;
    }
    distrust(node);
    if (node.report(Node.Reported.SUSPECT)) {
      log.warn(
          "memcached server {} is suspect ({}); its keys are misses until it answers and is reconciled",
          node.name,
          why);
    }
  }

  private void markDown(Node node) {
    if (closed || node.retired) {
      return;
    }
    distrust(node);
    if (node.report(Node.Reported.DOWN)) {
      log.warn(
          "memcached server {} is down (connection lost); its keys are misses until it is back and"
              + " reconciled",
          node.name);
    }
  }

  private void distrust(Node node) {
    if (!node.suspect) {
      node.suspectSinceMillis = clock.millis();
      node.suspect = true;
      requestReconcile(); // probe at once rather than at the next tick
    }
  }

  private void markDirty(Node node, String wire) {
    node.counters.unconfirmedWrites.increment();
    if (node.markDirty(wire, maxPending) == Node.Mark.OVERFLOWED) {
      log.warn(
          "memcached server {}: more than {} unconfirmed writes; it will be flushed when it returns",
          node.name,
          maxPending);
    }
    requestReconcile();
  }

  private void requestReconcile() {
    if (!closed && reconcileQueued.compareAndSet(false, true)) {
      try {
        maintenance.execute(this::maintain);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        reconcileQueued.set(false);
      }
    }
  }

  /** Runs on the maintenance thread: probes suspect nodes and reconciles dirty ones. */
  private void maintain() {
    reconcileQueued.set(false);
    for (Node node : topo.connected) {
      if (closed) {
        return;
      }
      try {
        if (node.suspect || node.hasDirty()) {
          reconcile(node);
        }
      } catch (RuntimeException e) {
        log.error("reconciling memcached server {} failed; will retry", node.name, e);
      }
    }
  }

  private void reconcile(Node node) {
    long timeout = Math.max(writeTimeoutMillis, TimeUnit.NANOSECONDS.toMillis(readDeadlineNanos));
    try {
      if (node.session == null) {
        reconnect(node); // nothing can be sent before
        return;
      }
      if (node.suspect) {
        on(node, () -> client.get(node.probeKey, timeout, transcoder));
        if (node.report(Node.Reported.BACK)) {
          log.info(
              "memcached server {} is back after {} ms; reconciling {} unconfirmed keys{}",
              node.name,
              clock.millis() - node.suspectSinceMillis,
              node.pendingInvalidations(),
              node.flushNeeded() ? " and flushing it" : "");
        }
      }
      long started = System.nanoTime();
      int deleted = 0;
      // Marks made while this runs survive it: a flush drops only the marks made before it was
      // sent, a delete forgets a key only if it was not marked again after the delete was sent.
      // Otherwise a write skipped at that moment would be forgotten, and a value older than it
      // (put there meanwhile by another client's fill) would survive the reconcile.
      if (node.beginFlush()) {
        client.flushAll(node.address, timeout);
        seam.reached(ReconcileStep.FLUSHED, node.name);
        node.flushDone();
      }
      Map<String, Long> batch;
      while (!(batch = node.dirtyKeys()).isEmpty()) {
        // Pipelined without replies, then one synchronous round trip: memcached answers commands
        // on a connection in order, so when the probe returns every delete before it has run.
        Map<String, Long> deletes = batch;
        on(
            node,
            () -> {
              for (String wire : deletes.keySet()) {
                client.deleteWithNoReply(wire);
              }
              return client.get(node.probeKey, timeout, transcoder);
            });
        seam.reached(ReconcileStep.DELETED, node.name);
        node.confirmDeleted(batch);
        deleted += batch.size();
        if (node.flushNeeded()) {
          break; // too many new marks meanwhile: flush first
        }
      }
      if (!node.finishReconcile()) {
        requestReconcile(); // marked again meanwhile, or a flush is due
        return;
      }
      node.consecutiveFailures.set(0);
      boolean wasSuspect = node.suspect;
      node.lastReconcileDeleted = deleted;
      node.reconciledAtMillis = clock.millis();
      // A reconcile after a stalled write on a trusted server is no change of state: DEBUG.
      // Logged before the server is trusted, so whoever sees it trusted finds the line written.
      boolean changed = wasSuspect && node.report(Node.Reported.TRUSTED);
      if (changed || (deleted > 0 && log.isDebugEnabled())) {
        String line = "memcached server {} reconciled: deleted {} unconfirmed keys in {} ms{}";
        Object[] args = {
          node.name,
          deleted,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
          wasSuspect ? " after " + (clock.millis() - node.suspectSinceMillis) + " ms suspect" : ""
        };
        if (changed) {
          log.info(line, args);
        } else {
          log.debug(line, args);
        }
      }
      node.suspect = false;
    } catch (TimeoutException | MemcachedException e) {
      markSuspect(node, "reconciliation failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Connects xmemcached to a lost server again once the server answers {@code version} on a
   * connection of our own, tried at most every {@link Builder#reconnectInterval}. Asking first
   * keeps a dead server's refused connects out of xmemcached, which would log each at ERROR.
   */
  private void reconnect(Node node) {
    long now = System.nanoTime();
    if (node.lastReconnectNanos != 0 && now - node.lastReconnectNanos < reconnectIntervalNanos) {
      return;
    }
    if (!node.reconnecting.compareAndSet(false, true)) {
      return;
    }
    node.lastReconnectNanos = now;
    // Off the maintenance thread: a host that drops SYNs holds the attempt for connectTimeout,
    // which would delay the probes and reconciles of every other server.
    try {
      fanout.execute(
          () -> {
            try {
              if (!closed
                  && !node.retired
                  && node.session == null
                  && answersVersion(node.address)) {
                client.addServer(node.address);
              }
            } catch (IOException | RuntimeException e) {
              log.debug("reconnecting to memcached server {} failed; will retry", node.name, e);
            } finally {
              node.reconnecting.set(false);
            }
          });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      node.reconnecting.set(false); // closed
    }
  }

  private boolean answersVersion(InetSocketAddress address) {
    try (java.net.Socket socket = new java.net.Socket()) {
      socket.connect(address, connectTimeoutMillis);
      socket.setSoTimeout(connectTimeoutMillis);
      socket.getOutputStream().write("version\r\n".getBytes(StandardCharsets.US_ASCII));
      byte[] expected = "VERSION ".getBytes(StandardCharsets.US_ASCII);
      java.io.InputStream in = socket.getInputStream();
      for (byte b : expected) {
        if (in.read() != b) {
          return false;
        }
      }
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private final class Listener implements MemcachedClientStateListener {
    @Override
    public void onStarted(MemcachedClient c) {}

    @Override
    public void onShutDown(MemcachedClient c) {}

    @Override
    public void onConnected(MemcachedClient c, InetSocketAddress address) {
      requestReconcile();
    }

    @Override
    public void onDisconnected(MemcachedClient c, InetSocketAddress address) {
      Node n = locator.nodeFor(address);
      if (n != null) {
        markDown(n);
      }
    }

    @Override
    public void onException(MemcachedClient c, Throwable t) {}
  }

  // ---------------------------------------------------------------- reconfiguration

  /**
   * Changes the servers at runtime, with the same validation as {@link Builder#servers(List)}; a
   * list equal to {@link #servers()} changes nothing. Servers in both lists keep their state
   * (unconfirmed keys, reconciliation, suspicion, counters); added servers are connected before any
   * key is placed on them (one that cannot be reached yet is taken as down, logged, and used once
   * it answers, as at build); the new ring then replaces the old one in one step, so every
   * operation sees one placement or the other. One INFO line names the servers added and removed.
   *
   * <p>With a warm-up ({@link Builder#warmUp}, the default), the old ring is kept for that period:
   * reads of keys that moved consult the server that held them (see the class comment), and removed
   * servers stay connected meanwhile and are closed when it ends. A change during a warm-up ends
   * the previous one at once (keys that moved twice are then read from their latest previous server
   * only). Without a warm-up, removed servers are closed at once.
   *
   * <p>A server added must not hold values older than the ones its keys have elsewhere: start it
   * empty (or flush it) rather than re-adding one that was removed long ago with its data.
   *
   * <p>Thread-safe; calls are serialized. Blocks for at most {@link Builder#connectTimeout} per
   * added server.
   *
   * @throws NullPointerException if {@code servers} or one of them is null
   * @throws IllegalArgumentException as {@link Builder#servers(List)}, or if a server cannot be
   *     resolved or two resolve to the same address; nothing is changed
   * @throws CacheException if an added server's item size limit is below {@link
   *     Builder#itemSizeMax}; nothing is changed
   * @throws IllegalStateException if the client is closed
   */
  public void reconfigure(List<String> servers) {
    Objects.requireNonNull(servers, "servers must not be null");
    KetamaRing next = KetamaRing.of(servers);
    synchronized (reconfiguring) {
      if (closed) {
        throw new IllegalStateException("MemcachedCache is closed");
      }
      Topology t = topo;
      if (t.ring.servers().equals(next.servers())) {
        log.debug("memcached servers unchanged: {}", next.servers());
        return;
      }
      Map<String, Node> live = new HashMap<>();
      for (Node n : t.connected) {
        live.put(n.name, n);
      }
      List<Node> owners = new ArrayList<>();
      List<Node> added = new ArrayList<>();
      for (String server : next.servers()) {
        Node n = live.get(server);
        if (n == null) {
          n = new Node(server, resolve(server));
          n.probeKey = probeKey;
          requireOwnAddress(t.connected, server, n);
          added.add(n);
        }
        requireOwnAddress(owners, server, n);
        owners.add(n);
      }
      for (Node n : added) {
        ServerSettings.checkItemSize(n.name, n.address, itemSizeMax, connectTimeout);
      }
      // Connected before they own keys, so that the first reads of their keys find a session.
      install(t.connecting(added));
      for (Node n : added) {
        connect(n);
      }
      boolean warm = warmUpNanos > 0;
      Topology changed = topo.changedTo(next, owners, warm, System.nanoTime() + warmUpNanos);
      install(changed);
      List<String> addedNames = new ArrayList<>();
      for (Node n : added) {
        addedNames.add(n.name);
      }
      List<String> removedNames = new ArrayList<>(t.ring.servers());
      removedNames.removeAll(next.servers());
      log.info(
          "memcached servers changed: added {}, removed {}; now {}{}",
          addedNames,
          removedNames,
          next.servers(),
          warm
              ? "; warm-up for "
                  + TimeUnit.NANOSECONDS.toMillis(warmUpNanos)
                  + " ms (moved keys are copied from their previous servers"
                  + (removedNames.isEmpty() ? "" : ", removed servers stay connected until then")
                  + ")"
              : "");
      closeUnused(t, changed);
      if (warm) {
        long copiedBefore = warmUpCopies.sum();
        maintenance.schedule(
            () -> endWarmUp(changed, copiedBefore), warmUpNanos, TimeUnit.NANOSECONDS);
      }
    }
    serversChanged();
  }

  private void connect(Node n) {
    if (answersVersion(n.address)) {
      try {
        client.addServer(n.address);
      } catch (IOException | RuntimeException e) {
        log.debug("connecting to memcached server {} failed; will retry", n.name, e);
      }
    }
    if (n.session == null) {
      markDown(n); // reconnect() brings it in once it answers
    }
  }

  /** Ends the warm-up of {@code changed} unless another change has replaced it. */
  private void endWarmUp(Topology changed, long copiedBefore) {
    synchronized (reconfiguring) {
      if (closed || topo != changed) {
        return;
      }
      Topology done = changed.warmedUp();
      install(done);
      List<String> closing = retiring(changed);
      log.info(
          "memcached warm-up ended: {} values copied to their new servers{}",
          warmUpCopies.sum() - copiedBefore,
          closing.isEmpty() ? "" : "; closing removed servers " + closing);
      closeUnused(changed, done);
    }
    serversChanged();
  }

  private void install(Topology next) {
    locator.update(next);
    topo = next;
  }

  /** Disconnects the nodes of {@code before} that {@code after} no longer names. */
  private void closeUnused(Topology before, Topology after) {
    for (Node n : before.connected) {
      if (after.connected.contains(n)) {
        continue;
      }
      n.retired = true;
      int pending = n.pendingInvalidations();
      if (pending > 0 || n.flushNeeded()) {
        log.warn(
            "memcached server {} removed with {} unconfirmed keys{}: it is no longer used by this"
                + " client",
            n.name,
            pending,
            n.flushNeeded() ? " (and a pending flush)" : "");
      }
      try {
        client.removeServer(n.address);
      } catch (RuntimeException e) {
        log.warn("disconnecting removed memcached server {} failed", n.name, e);
      }
    }
  }

  /** Registers {@code listener} to run after each change of {@link #servers()} or of warm-up. */
  void onServersChanged(Runnable listener) {
    serverListeners.add(listener);
  }

  private void serversChanged() {
    for (Runnable r : serverListeners) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.error("a listener of memcached server changes failed: {}", r, e);
      }
    }
  }

  // ---------------------------------------------------------------- status and lifecycle

  /** The health of one server as this client sees it. */
  public enum State {
    /** Trusted: reads and writes are sent. */
    HEALTHY,
    /** Answering, but unconfirmed writes are still being deleted; those keys are misses. */
    RECONCILING,
    /** Not trusted: all its keys are misses and writes are recorded, until a probe succeeds. */
    SUSPECT
  }

  /**
   * One server's status.
   *
   * @param server the server as configured
   * @param state its health
   * @param connected whether xmemcached holds a connection to it
   * @param pendingInvalidations keys to delete before it is trusted again
   * @param flushPending whether it will be flushed instead
   * @param lastReconciled when it was last reconciled, or null
   */
  public record ServerStatus(
      String server,
      State state,
      boolean connected,
      int pendingInvalidations,
      boolean flushPending,
      Instant lastReconciled) {}

  /**
   * The status of {@code server} (as configured): one of {@link #servers()}, or a server removed by
   * {@link #reconfigure} whose warm-up still lasts.
   */
  public ServerStatus status(String server) {
    Topology t = topo;
    Node n = t.named(server);
    if (n != null) {
      return statusOf(n);
    }
    throw new IllegalArgumentException(
        "unknown memcached server: "
            + server
            + " (configured: "
            + t.ring.servers()
            + (t.connected.size() > t.size()
                ? ", still read during the warm-up: " + retiring(t)
                : "")
            + ")");
  }

  /** The status of every server of {@link #servers()}, in configuration order. */
  public List<ServerStatus> status() {
    List<ServerStatus> out = new ArrayList<>();
    for (Node n : topo.owners()) {
      out.add(statusOf(n));
    }
    return out;
  }

  /** The servers connected only for the warm-up of the last change (removed from the ring). */
  private static List<String> retiring(Topology t) {
    List<String> out = new ArrayList<>();
    if (t.previousRing != null) {
      for (String server : t.previousRing.servers()) {
        if (!t.ring.servers().contains(server)) {
          out.add(server);
        }
      }
    }
    return out;
  }

  private static ServerStatus statusOf(Node n) {
    int pending = n.pendingInvalidations();
    boolean flush = n.flushNeeded();
    State state =
        n.suspect ? State.SUSPECT : (pending > 0 || flush ? State.RECONCILING : State.HEALTHY);
    long at = n.reconciledAtMillis;
    return new ServerStatus(
        n.name,
        state,
        n.session != null,
        pending,
        flush,
        at == 0 ? null : Instant.ofEpochMilli(at));
  }

  /** The configured servers, in order: those of the last {@link #reconfigure}, or the builder's. */
  public List<String> servers() {
    return topo.ring.servers();
  }

  /**
   * The servers removed by the last {@link #reconfigure} that are still connected and read while
   * its warm-up lasts; empty otherwise.
   */
  public List<String> retiringServers() {
    return retiring(topo);
  }

  /** Whether the warm-up of the last {@link #reconfigure} still lasts. */
  public boolean warmingUp() {
    Topology t = topo;
    return t.previousRing != null && System.nanoTime() - t.warmUntilNanos < 0;
  }

  /** Values copied to their new server by warm-up reads since this client was built. */
  public long warmUpCopies() {
    return warmUpCopies.sum();
  }

  @Override
  public String serverFor(String key) {
    return nodeOf(wire(key)).name;
  }

  @Override
  public int maxValueSize(String key) {
    return Frames.maxValueSize(itemSizeMax, wire(key).length());
  }

  /**
   * {@inheritDoc}
   *
   * <p>Per server of {@link #servers()}, then per server still read during a warm-up ({@link
   * #retiringServers()}).
   */
  @Override
  public CacheStats stats() {
    Map<String, CacheStats.ServerStats> per = new LinkedHashMap<>();
    for (Node n : topo.connected) {
      per.put(n.name, n.counters.snapshot());
    }
    return new CacheStats(per);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    maintenance.shutdownNow();
    fanout.shutdownNow();
    try {
      client.shutdown();
    } catch (IOException e) {
      log.warn("closing the memcached client {} failed", name, e);
    }
    for (Node n : topo.connected) {
      int pending = n.pendingInvalidations();
      if (pending > 0 || n.flushNeeded()) {
        log.warn(
            "memcached client closed with {} unconfirmed keys on {}{}: they may hold stale values",
            pending,
            n.name,
            n.flushNeeded() ? " (and a pending flush)" : "");
      }
    }
  }

  @Override
  public String toString() {
    return "MemcachedCache{servers="
        + topo.ring.servers()
        + ", namespace="
        + keys.namespace()
        + "}";
  }

  /**
   * Builds a {@link MemcachedCache}. Each setter validates its argument at once; {@link #build()}
   * checks combinations. Not thread-safe.
   */
  public static final class Builder {
    private List<String> servers;
    private String namespace = "thingdb";
    private Duration readDeadline = Duration.ofMillis(100);
    private Duration writeTimeout = Duration.ofMillis(100);
    private Duration connectTimeout = Duration.ofSeconds(1);
    private Duration probeInterval = Duration.ofMillis(100);
    private Duration reconnectInterval = Duration.ofMillis(500);
    private int suspectAfter = 3;
    private int maxPendingInvalidations = 10_000;
    private int itemSizeMax = 1024 * 1024;
    private Duration warmUp = Duration.ofMinutes(1);
    private Clock clock = Clock.systemUTC();

    private Builder() {}

    /** The servers as {@code host:port} strings; the ring hashes these strings as given. */
    public Builder servers(List<String> servers) {
      Objects.requireNonNull(servers, "servers must not be null");
      KetamaRing.of(servers); // validates: non-empty, well-formed, no duplicates
      this.servers = List.copyOf(servers);
      return this;
    }

    /** The servers as {@code host:port} strings. */
    public Builder servers(String... servers) {
      return servers(List.of(servers));
    }

    /** The key namespace (default {@code thingdb}). */
    public Builder namespace(String namespace) {
      this.namespace = KeyCodec.checkNamespace(namespace);
      return this;
    }

    /**
     * The longest a read may take, including its one retry (default 100 ms; 2 ms to 10 s). After it
     * the read is a miss.
     */
    public Builder readDeadline(Duration deadline) {
      this.readDeadline =
          checkRange("readDeadline", deadline, Duration.ofMillis(2), Duration.ofSeconds(10));
      return this;
    }

    /** How long a write waits for its answer before it is UNCONFIRMED (default 100 ms). */
    public Builder writeTimeout(Duration timeout) {
      this.writeTimeout =
          checkRange("writeTimeout", timeout, Duration.ofMillis(1), Duration.ofSeconds(10));
      return this;
    }

    /** The TCP connect timeout (default 1 s). */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout =
          checkRange("connectTimeout", timeout, Duration.ofMillis(10), Duration.ofMinutes(1));
      return this;
    }

    /** How often a suspect server is probed (default 100 ms); this bounds the reconcile window. */
    public Builder probeInterval(Duration interval) {
      this.probeInterval =
          checkRange("probeInterval", interval, Duration.ofMillis(5), Duration.ofMinutes(1));
      return this;
    }

    /**
     * How often this client tries to reconnect to a lost server (default 500 ms): it asks the
     * server for its {@code version} on a connection of its own, and hands the server back to
     * xmemcached only once it answers.
     */
    public Builder reconnectInterval(Duration interval) {
      this.reconnectInterval =
          checkRange("reconnectInterval", interval, Duration.ofMillis(50), Duration.ofMinutes(1));
      return this;
    }

    /**
     * Consecutive failed operations after which a server is suspect (default 3, at least 1). A
     * failure counts only if its operation was sent after the previous counted failure was seen, so
     * one xmemcached stall, which times out every operation in flight at once, counts once.
     */
    public Builder suspectAfter(int failures) {
      if (failures < 1) {
        throw new IllegalArgumentException("suspectAfter must be at least 1: " + failures);
      }
      this.suspectAfter = failures;
      return this;
    }

    /**
     * How many unconfirmed keys per server are remembered before the server is flushed instead
     * (default 10,000). A flush removes every key on that server, this application's or not.
     */
    public Builder maxPendingInvalidations(int keys) {
      if (keys < 1) {
        throw new IllegalArgumentException("maxPendingInvalidations must be at least 1: " + keys);
      }
      this.maxPendingInvalidations = keys;
      return this;
    }

    /**
     * The servers' item size limit ({@code -I}; default 1 MiB, memcached's default). {@link #build}
     * reads each reachable server's {@code item_size_max} and refuses a server whose limit is
     * smaller; a larger one is fine (this limit applies).
     */
    public Builder itemSizeMax(int bytes) {
      this.itemSizeMax = Frames.checkItemSizeMax(bytes);
      return this;
    }

    /**
     * How long after a {@link MemcachedCache#reconfigure} keys that moved are still read from the
     * server that held them before (default 1 minute; {@link Duration#ZERO} turns warm-up off; else
     * 100 ms to 1 hour). See the class comment for what it copies and what it guarantees. It must
     * be longer than the time the application's instances take to all apply a change (their skew),
     * and removed servers must keep running until it has passed.
     */
    public Builder warmUp(Duration period) {
      Objects.requireNonNull(period, "warmUp must not be null");
      this.warmUp =
          period.isZero()
              ? period
              : checkRange("warmUp", period, Duration.ofMillis(100), Duration.ofHours(1));
      return this;
    }

    /** The wall clock used for TTLs over 30 days (absolute times) and status times. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    private static Duration checkRange(String name, Duration d, Duration min, Duration max) {
      Objects.requireNonNull(d, name + " must not be null");
      if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
        throw new IllegalArgumentException(
            name
                + " must be between "
                + min.toMillis()
                + " ms and "
                + max.toMillis()
                + " ms: "
                + d.toMillis()
                + " ms");
      }
      return d;
    }

    /**
     * Connects and returns the client. Servers that cannot be reached yet do not fail the build:
     * they start suspect and are used once they answer.
     *
     * @throws IllegalStateException if no servers were set
     * @throws CacheException if xmemcached cannot start, or a server's item size limit is below
     *     {@link #itemSizeMax} (the message names the server and both limits)
     */
    public MemcachedCache build() {
      if (servers == null) {
        throw new IllegalStateException("servers are required: call servers(\"host:port\", ...)");
      }
      try {
        return new MemcachedCache(this);
      } catch (IOException e) {
        throw new CacheException(
            "cannot start the memcached client for " + servers + ": " + e.getMessage(), e);
      }
    }
  }
}

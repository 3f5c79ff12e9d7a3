package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * {@link Locks} kept in a {@link Cache}: a lock is an item added with a unique token and an expiry.
 * Works on any {@code Cache} backend ({@link MemcachedCache}, {@link InProcessCache}), since it
 * uses only {@code add}, {@code gets} and {@code compareAndSet}.
 *
 * <h2>Protocol</h2>
 *
 * The item {@code thingdb-lock:NAME} holds either {@code H <token> <holder>} (held) or {@code R}
 * (released). Acquiring reads the item: if there is none, it adds the held value with a TTL of
 * {@link Builder#holdFor}; if it is the released marker, it replaces it by compare-and-set; either
 * way exactly one of several racing callers wins. A held value is never written over. Releasing
 * reads the item and, only if it still carries this holder's token, swaps it for the released
 * marker (1 s TTL) by compare-and-set. Nobody else can release a lock: a token is 128 random bits,
 * new for every acquisition. (Release is not a {@code delete}: xmemcached's text protocol drops the
 * CAS argument of {@code delete}, so a delete could remove the next holder's item.) A write whose
 * outcome the server could not confirm ({@link Cache.Outcome#UNCONFIRMED}) never counts as
 * acquired: the caller keeps trying until its wait timeout, and the timeout says that the server
 * was unreachable. Threads of one {@code MemcachedLocks} instance queue for a name locally, first
 * come first served, and only the first in line polls the server.
 *
 * <h2>What this lock does not guarantee — use {@link PostgresLocks} when these matter</h2>
 *
 * <ul>
 *   <li><b>Expiry bounds the hold.</b> The item expires {@code holdFor} after the acquisition
 *       (memcached counts whole seconds, so as little as {@code holdFor} − 1 s). A holder that runs
 *       or is paused (GC, swap, a stalled VM) longer than that loses the lock, and another caller
 *       may take it while the first is still inside its guarded section. The former holder learns
 *       it only at release ({@code release()} returns false, {@code close()} throws {@link
 *       LockLostException}). There is no way to extend a hold; choose {@code holdFor} above the
 *       longest guarded section.
 *   <li><b>No fencing tokens.</b> {@link Lock#fencingToken()} is always empty: a counter kept in
 *       memcached dies with its node, so a token drawn from it could go backwards.
 *   <li><b>The lock lives on one node.</b> If the node holding the item dies, restarts or evicts
 *       it, the lock is gone and another caller can take it at once.
 *   <li><b>Unconfirmed writes delete.</b> When a {@link MemcachedCache} cannot confirm a write in
 *       its write timeout, it deletes the key from that server before using the server again (see
 *       {@link MemcachedCache}). For a waiter's write to a lock key that delete can remove the
 *       <em>current</em> holder's item, and a third caller can then take the lock. Waiters write a
 *       lock key only when they have just read it free, and one thread per process at a time, which
 *       makes this rare; the holder learns of it at release. Give the {@code MemcachedCache} used
 *       for locks a write timeout well above the server's worst response time under load ({@link
 *       MemcachedCache.Builder#writeTimeout}; on a starved machine 100 ms is not enough).
 * </ul>
 *
 * <p>Thread-safe. Holds no threads or connections of its own; the {@code Cache} belongs to the
 * caller, who closes it when no lock is in use any more.
 */
public final class MemcachedLocks implements Locks {
  static final String KEY_PREFIX = "thingdb-lock:";
  private static final byte[] RELEASED = {'R'};

  /** The released marker only has to outlive the waiters' compare-and-set; it may vanish early. */
  private static final Duration RELEASED_TTL = Duration.ofSeconds(1);

  private static final Duration MIN_HOLD = Duration.ofSeconds(2);
  private static final Duration MAX_HOLD = Duration.ofDays(30);
  private static final int MAX_OWNER_LENGTH = 200;
  private static final long FIRST_BACKOFF_NANOS = 2_000_000;
  private static final SecureRandom TOKENS = new SecureRandom();

  private final ConcurrentHashMap<String, Gate> gates = new ConcurrentHashMap<>();
  private final Cache cache;
  private final Duration holdFor;
  private final long pollNanos;
  private final String owner;

  private MemcachedLocks(Builder b) {
    this.cache = b.cache;
    this.holdFor = b.holdFor;
    this.pollNanos = b.pollInterval.toNanos();
    this.owner = b.owner != null ? b.owner : DefaultOwner.VALUE;
  }

  /** A builder for locks kept in {@code cache}. */
  public static Builder builder(Cache cache) {
    return new Builder(cache);
  }

  /** Locks kept in {@code cache} with the default settings (30 s hold, 50 ms poll). */
  public static MemcachedLocks create(Cache cache) {
    return builder(cache).build();
  }

  static String keyFor(String name) {
    return KEY_PREFIX + name;
  }

  /** Names with a local gate in use: held, or being acquired. */
  int gatesInUse() {
    return gates.size();
  }

  /**
   * {@inheritDoc}
   *
   * <p>Threads of this instance wait their turn locally in arrival order; the first in line polls
   * the server with exponential backoff (2 ms doubling up to {@link Builder#pollInterval}, with
   * jitter). Across processes there is no queue, so waiters are not served in order. A wait timeout
   * shorter than the remaining hold of a dead holder times out (the lock frees itself only when its
   * item expires). One server operation in progress at the deadline is completed, so the call may
   * return up to one write timeout of the cache late.
   */
  @Override
  public Lock acquire(String name, Duration waitTimeout) {
    LockArguments.checkName(name);
    LockArguments.checkWait(waitTimeout, name);
    long start = System.nanoTime();
    long deadline = LockArguments.deadline(start, waitTimeout);
    Gate gate = enter(name);
    MemcachedLock lock = null;
    boolean passed = false;
    try {
      try {
        passed =
            gate.permit.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw interrupted(name, start, e);
      }
      if (!passed) {
        throw gate.timeout(name, waitTimeout);
      }
      lock = poll(name, gate, start, deadline, waitTimeout);
      return lock;
    } finally {
      if (lock == null) {
        if (passed) {
          gate.permit.release();
        }
        leave(name, gate);
      }
    }
  }

  /** Polls memcached for the lock until {@code deadline}; the caller has passed the local gate. */
  private MemcachedLock poll(
      String name, Gate gate, long start, long deadline, Duration waitTimeout) {
    Attempt attempt = new Attempt(name, gate);
    long backoff = Math.min(FIRST_BACKOFF_NANOS, pollNanos);
    while (true) {
      MemcachedLock lock = attempt.run();
      if (lock != null) {
        return lock;
      }
      long remaining = deadline - System.nanoTime();
      if (remaining <= 0) {
        throw attempt.timeout(waitTimeout);
      }
      // Full jitter between half and all of the backoff, so waiters in other JVMs spread out.
      long sleep =
          Math.min(remaining, backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1));
      sleepNanos(sleep, name, start);
      backoff = Math.min(pollNanos, backoff * 2);
    }
  }

  @Override
  public Optional<Lock> tryAcquire(String name) {
    LockArguments.checkName(name);
    Gate gate = enter(name);
    MemcachedLock lock = null;
    boolean passed = gate.permit.tryAcquire();
    try {
      if (passed) {
        lock = new Attempt(name, gate).run();
      }
      return Optional.ofNullable(lock);
    } finally {
      if (lock == null) {
        if (passed) {
          gate.permit.release();
        }
        leave(name, gate);
      }
    }
  }

  private static void sleepNanos(long nanos, String name, long start) {
    try {
      Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw interrupted(name, start, e);
    }
  }

  private static CacheException interrupted(String name, long start, InterruptedException e) {
    return new CacheException(
        "interrupted while waiting for lock '"
            + ValueTooLargeException.abbreviate(name)
            + "' after "
            + LockArguments.millisSince(start)
            + " ms",
        e);
  }

  /**
   * The local gate of a name: callers in this process queue on it (first come, first served) before
   * they poll memcached, so at most one of them polls and writes the lock's key at a time. Besides
   * sparing the server, this matters for safety: when a write to the key is unconfirmed, a {@link
   * MemcachedCache} later deletes the key, which could remove the holder's item; fewer writers
   * racing for a just-released lock make that rarer. Gates live in {@link #gates} while a caller
   * uses them, so memory does not grow with the number of names ever locked.
   */
  private static final class Gate {
    final Semaphore permit = new Semaphore(1, true);

    /** Callers using the gate; changed only inside {@code gates.compute} for its name. */
    int users;

    /** The holder description while a caller of this process holds the lock, else null. */
    volatile String holder;

    LockTimeoutException timeout(String name, Duration waitTimeout) {
      String h = holder;
      return new LockTimeoutException(
          name,
          h,
          "lock '"
              + ValueTooLargeException.abbreviate(name)
              + "' not acquired within "
              + waitTimeout.toMillis()
              + " ms; "
              + (h != null
                  ? "held by " + h + " (in this process)"
                  : "another thread of this process was still trying to take it"),
          null);
    }
  }

  private Gate enter(String name) {
    return gates.compute(
        name,
        (k, g) -> {
          Gate gate = g != null ? g : new Gate();
          gate.users++;
          return gate;
        });
  }

  private void leave(String name, Gate gate) {
    gates.computeIfPresent(
        name,
        (k, g) -> {
          if (g != gate) {
            throw new IllegalStateException("lock gate of '" + name + "' replaced while in use");
          }
          return --g.users == 0 ? null : g;
        });
  }

  /**
   * True if writes to {@code key}'s server are safe. A {@link MemcachedCache} that reported a write
   * to that server UNCONFIRMED deletes the written keys from it when it answers again; a lock item
   * added before that cleanup ran would be deleted under its holder. So no lock write is sent while
   * the client does not fully trust the server (suspect, or still reconciling). Other backends
   * never report UNCONFIRMED writes that they later undo.
   */
  private boolean trusted(String server) {
    return !(cache instanceof MemcachedCache mc)
        || mc.status(server).state() == MemcachedCache.State.HEALTHY;
  }

  private static String newToken() {
    byte[] bytes = new byte[16];
    TOKENS.nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  /** The holder description in a held value, or null if {@code value} is not a held value. */
  private static String holderIn(byte[] value) {
    if (value.length < 2 || value[0] != 'H' || value[1] != ' ') {
      return null;
    }
    String s = new String(value, UTF_8);
    int space = s.indexOf(' ', 2);
    return space < 0 ? "" : s.substring(space + 1);
  }

  /** The state of one acquire call: its token and what the last attempt saw. */
  private final class Attempt {
    final String name;
    final Gate gate;
    final String key;
    final String server;
    final String holder;
    final byte[] value;
    int attempts;
    int unconfirmed;

    /** Last attempt: the server could not confirm or was not trusted. */
    boolean unreachable;

    /** Last attempt: the holder seen, or null. */
    String seenHolder;

    Attempt(String name, Gate gate) {
      this.name = name;
      this.gate = gate;
      this.key = keyFor(name);
      this.server = cache.serverFor(key);
      this.holder = owner + ":" + Thread.currentThread().getName();
      this.value = ("H " + newToken() + " " + holder).getBytes(UTF_8);
    }

    /** One attempt; the lock if acquired, else null with the fields saying why. */
    MemcachedLock run() {
      unreachable = false;
      seenHolder = null;
      attempts++;
      if (!trusted(server)) {
        unreachable = true;
        unconfirmed++;
        return null;
      }
      // Read first, write only if the lock looks free: a write that times out makes a
      // MemcachedCache delete the key from the server later, which would remove a holder's item.
      // Adding blindly would save a round trip when the lock is free, at that risk whenever not.
      CasValue current = cache.gets(key);
      if (current == null) {
        return acquiredIf(cache.add(key, value, holdFor));
      }
      if (Arrays.equals(current.value(), RELEASED)) {
        return acquiredIf(cache.compareAndSet(key, current.cas(), value, holdFor));
      }
      String h = holderIn(current.value());
      seenHolder = h != null ? h : "an unknown holder (the item does not hold a lock value)";
      return null;
    }

    private MemcachedLock acquiredIf(Cache.Outcome outcome) {
      switch (outcome) {
        case APPLIED:
          gate.holder = holder;
          return new MemcachedLock(name, gate, key, server, value, holder);
        case UNCONFIRMED:
          unreachable = true;
          unconfirmed++;
          return null;
        default:
          return null;
      }
    }

    LockTimeoutException timeout(Duration waitTimeout) {
      StringBuilder m = new StringBuilder();
      m.append("lock '")
          .append(ValueTooLargeException.abbreviate(name))
          .append("' not acquired within ")
          .append(waitTimeout.toMillis())
          .append(" ms; ");
      if (unreachable) {
        m.append("memcached server ")
            .append(server)
            .append(" was unreachable (")
            .append(unconfirmed)
            .append(" of ")
            .append(attempts)
            .append(" attempts unconfirmed), so the lock could not be taken");
      } else if (seenHolder != null) {
        m.append("held by ")
            .append(seenHolder)
            .append(" (memcached server ")
            .append(server)
            .append(')');
      } else {
        m.append("other callers took it first (memcached server ").append(server).append(')');
      }
      if (unconfirmed > 0 && !unreachable) {
        m.append("; ")
            .append(unconfirmed)
            .append(" of ")
            .append(attempts)
            .append(" attempts were unconfirmed by the server");
      }
      return new LockTimeoutException(name, unreachable ? null : seenHolder, m.toString(), null);
    }
  }

  private enum Released {
    RELEASED,
    LOST,
    UNCONFIRMED
  }

  private final class MemcachedLock implements Lock {
    private final String name;
    private final Gate gate;
    private final String key;
    private final String server;
    private final byte[] value;
    private final String holder;
    private final long acquiredNanos = System.nanoTime();
    private Released outcome; // guarded by this
    private String lostDetail; // guarded by this

    MemcachedLock(String name, Gate gate, String key, String server, byte[] value, String holder) {
      this.name = name;
      this.gate = gate;
      this.key = key;
      this.server = server;
      this.value = value;
      this.holder = holder;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public OptionalLong fencingToken() {
      return OptionalLong.empty();
    }

    @Override
    public synchronized boolean release() {
      if (outcome == null) {
        try {
          outcome = releaseOnce();
        } finally {
          if (outcome == null) {
            outcome = Released.UNCONFIRMED; // the cache threw: report the lock as lost
            lostDetail = "the release failed with an exception";
          }
          gate.holder = null;
          gate.permit.release();
          leave(name, gate);
        }
      }
      return outcome == Released.RELEASED;
    }

    private Released releaseOnce() {
      CasValue current = cache.gets(key);
      if (current == null) {
        if (!trusted(server)) {
          // A MemcachedCache reads a key as a miss while the server is suspect or the key awaits
          // cleanup after an unconfirmed write; the item may or may not still be there.
          lostDetail =
              "memcached server "
                  + server
                  + " could not be read (unreachable, or this"
                  + " client is cleaning up after unconfirmed writes), so the hold could not be confirmed";
          return Released.UNCONFIRMED;
        }
        lostDetail =
            "its item on memcached server "
                + server
                + " is gone (expired after holdFor="
                + holdFor.toMillis()
                + " ms, evicted, deleted, or the server restarted)";
        return Released.LOST;
      }
      if (!Arrays.equals(current.value(), value)) {
        String other = holderIn(current.value());
        lostDetail =
            "its item expired (holdFor="
                + holdFor.toMillis()
                + " ms) or was removed, and "
                + (other != null
                    ? "the lock is now held by " + other
                    : "another holder took and released it")
                + " (memcached server "
                + server
                + ")";
        return Released.LOST;
      }
      // Seeing our own token means the item was live all along: nobody else could have added
      // or swapped it in the meantime, so a successful swap proves an unbroken hold.
      switch (cache.compareAndSet(key, current.cas(), RELEASED, RELEASED_TTL)) {
        case APPLIED:
          return Released.RELEASED;
        case NOT_APPLIED:
          lostDetail =
              "its item expired (holdFor="
                  + holdFor.toMillis()
                  + " ms) or was removed"
                  + " just before the release (memcached server "
                  + server
                  + ")";
          return Released.LOST;
        default:
          lostDetail =
              "memcached server "
                  + server
                  + " did not confirm the release; the lock may"
                  + " still be held until its expiry";
          return Released.UNCONFIRMED;
      }
    }

    @Override
    public void close() {
      if (release()) {
        return;
      }
      String detail;
      synchronized (this) {
        detail = lostDetail;
      }
      throw new LockLostException(
          name,
          "lock '"
              + ValueTooLargeException.abbreviate(name)
              + "' was lost before release after "
              + LockArguments.millisSince(acquiredNanos)
              + " ms: "
              + detail
              + "; the guarded section may have overlapped another holder's",
          null);
    }

    @Override
    public String toString() {
      return "MemcachedLock[name=" + name + ", holder=" + holder + ", server=" + server + "]";
    }
  }

  @Override
  public String toString() {
    return "MemcachedLocks[cache="
        + cache
        + ", holdFor="
        + holdFor.toMillis()
        + " ms, owner="
        + owner
        + "]";
  }

  /** The default owner, {@code host:pid}; resolved once, on first use. */
  private static final class DefaultOwner {
    static final String VALUE = host() + ":" + ProcessHandle.current().pid();

    private static String host() {
      try {
        return InetAddress.getLocalHost().getHostName();
      } catch (UnknownHostException e) {
        return "unknown-host";
      }
    }
  }

  /** Builds {@link MemcachedLocks}. Each setter validates its argument at once. Not thread-safe. */
  public static final class Builder {
    private final Cache cache;
    private Duration holdFor = Duration.ofSeconds(30);
    private Duration pollInterval = Duration.ofMillis(50);
    private String owner;

    private Builder(Cache cache) {
      this.cache = Objects.requireNonNull(cache, "cache must not be null");
    }

    /**
     * How long a lock is held at most (default 30 s; from 2 s to 30 days, rounded up to whole
     * seconds). The lock's item expires then, released or not, so a holder that dies frees the lock
     * after at most this long, and a holder that takes longer loses it. memcached counts whole
     * seconds and an item with a 1 s TTL can expire within milliseconds, so a finer or shorter hold
     * is not possible; the real hold may end up to 1 s early.
     */
    public Builder holdFor(Duration holdFor) {
      Objects.requireNonNull(holdFor, "holdFor must not be null");
      if (holdFor.compareTo(MIN_HOLD) < 0) {
        throw new IllegalArgumentException(
            "holdFor must be at least 2000 ms (memcached TTLs are whole seconds and an item with a"
                + " 1 s TTL can expire within milliseconds): "
                + holdFor.toMillis()
                + " ms");
      }
      if (holdFor.compareTo(MAX_HOLD) > 0) {
        throw new IllegalArgumentException(
            "holdFor must be at most 30 days (memcached's longest relative TTL): " + holdFor);
      }
      this.holdFor = holdFor;
      return this;
    }

    /**
     * The longest pause between two attempts of a waiting caller (default 50 ms; 1 ms to 10 s).
     * Waits start at 2 ms and double up to this, with jitter.
     */
    public Builder pollInterval(Duration interval) {
      Objects.requireNonNull(interval, "pollInterval must not be null");
      if (interval.compareTo(Duration.ofMillis(1)) < 0
          || interval.compareTo(Duration.ofSeconds(10)) > 0) {
        throw new IllegalArgumentException(
            "pollInterval must be between 1 ms and 10000 ms: " + interval.toMillis() + " ms");
      }
      this.pollInterval = interval;
      return this;
    }

    /**
     * Who this process is, as shown to callers that time out waiting for its locks (default {@code
     * host:pid}). The acquiring thread's name is appended: {@code owner:thread}. At most 200
     * characters, not blank.
     */
    public Builder owner(String owner) {
      Objects.requireNonNull(owner, "owner must not be null");
      if (owner.isBlank()) {
        throw new IllegalArgumentException("owner must not be blank");
      }
      if (owner.length() > MAX_OWNER_LENGTH) {
        throw new IllegalArgumentException(
            "owner must be at most 200 characters: " + owner.length() + " characters");
      }
      this.owner = owner;
      return this;
    }

    /** Builds the locks. */
    public MemcachedLocks build() {
      return new MemcachedLocks(this);
    }
  }
}

package io.thingdb.cache;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link Locks} backed by PostgreSQL session-level advisory locks ({@code pg_advisory_lock}).
 *
 * <h2>Connections</h2>
 *
 * <b>Every held lock keeps one connection from the {@link DataSource} checked out until it is
 * released</b>: an advisory lock belongs to a database session. Size the pool for the most locks
 * held at once plus the application's other needs, and do not put PgBouncer in transaction or
 * statement pooling mode in front of it (the session would change under the lock). A waiting {@code
 * acquire} holds a connection too. The connection goes back to the pool on release, and on every
 * failure path of {@code acquire}, in the state it came in (auto-commit restored; the lock timeout
 * is only ever set for one transaction). A connection whose state cannot be confirmed is aborted
 * instead of returned, so the pool never gets one back that still holds a lock.
 *
 * <h2>Guarantees</h2>
 *
 * <ul>
 *   <li>The lock is held for as long as the holder's session lives, however long that is, and does
 *       not depend on any cache node. If the session ends (the connection closes or breaks, the
 *       backend is terminated, the holder's process dies), PostgreSQL frees the lock at once — or,
 *       on a network partition, when the server notices the dead connection (TCP keepalive). The
 *       former holder learns it at release: {@code release()} returns false and {@code close()}
 *       throws {@link LockLostException}.
 *   <li>{@link Lock#fencingToken()} is present and strictly larger for every later holder of the
 *       same lock, within one PostgreSQL cluster (see {@link #acquire}).
 *   <li>Waiters are served in the order they started waiting (PostgreSQL's lock queue). The wait
 *       timeout is PostgreSQL's {@code lock_timeout}; it does not count the time to get a
 *       connection from the pool, which is bounded by the pool's own timeout.
 * </ul>
 *
 * <h2>Lock keys</h2>
 *
 * A name maps to the 64-bit key made of the first 8 bytes of SHA-256 of {@code "thingdb-lock\0" +
 * namespace + "\0" + name} (UTF-8). Two different names share a key with probability
 * 2<sup>-64</sup>; with <i>n</i> names in use, some pair does with probability about
 * <i>n</i><sup>2</sup>/2<sup>65</sup> (3&times;10<sup>-8</sup> for a million names). A shared key
 * makes the two locks exclude each other; it never lets two holders of one name in. The keys share
 * PostgreSQL's advisory-lock space with any other advisory locks in the same database; being hash
 * values, they do not meet small hand-picked keys in practice.
 *
 * <p>Requires PostgreSQL 13 or later ({@code pg_current_xact_id}) and a primary (a fencing token
 * needs a transaction id). Each acquisition uses one transaction id, like a small write
 * transaction. Thread-safe; holds no threads, and the {@code DataSource} belongs to the caller.
 */
public final class PostgresLocks implements Locks {
  private static final Logger log = LoggerFactory.getLogger(PostgresLocks.class);
  private static final String LOCK_NOT_AVAILABLE = "55P03";
  private static final String QUERY_CANCELED = "57014";
  private static final int MAX_NAMESPACE_LENGTH = 64;

  private static final String HOLDER_SQL =
      "select a.pid, a.application_name, host(a.client_addr), a.usename,"
          + " (select count(*) from pg_locks w where w.locktype = 'advisory'"
          + "   and w.database is not distinct from l.database and w.classid = l.classid"
          + "   and w.objid = l.objid and w.objsubid = l.objsubid and not w.granted)"
          + " from pg_locks l left join pg_stat_activity a on a.pid = l.pid"
          + " where l.locktype = 'advisory' and l.granted and l.objsubid = 1"
          + " and l.database = (select oid from pg_database where datname = current_database())"
          + " and l.classid::bigint = ? and l.objid::bigint = ?"
          + " order by l.pid limit 1";

  private final DataSource dataSource;
  private final String namespace;

  private PostgresLocks(Builder b) {
    this.dataSource = b.dataSource;
    this.namespace = b.namespace;
  }

  /** Locks on {@code dataSource} in the default namespace {@code thingdb}. */
  public static PostgresLocks create(DataSource dataSource) {
    return builder(dataSource).build();
  }

  /** A builder for locks on {@code dataSource}. */
  public static Builder builder(DataSource dataSource) {
    return new Builder(dataSource);
  }

  /** The advisory-lock key of {@code name} in {@code namespace}; see the class comment. */
  static long keyFor(String namespace, String name) {
    MessageDigest sha256;
    try {
      sha256 = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
    sha256.update(("thingdb-lock\0" + namespace + "\0").getBytes(UTF_8));
    return ByteBuffer.wrap(sha256.digest(name.getBytes(UTF_8))).getLong();
  }

  /**
   * {@inheritDoc}
   *
   * <p>Takes a connection from the data source and waits in {@code pg_advisory_lock} with {@code
   * lock_timeout} set for that one transaction to what remains of {@code waitTimeout} (whole
   * milliseconds, rounded up; waits beyond about 24 days are capped there). The fencing token is
   * the transaction id ({@code pg_current_xact_id()}) of a transaction started after the lock was
   * granted. Transaction ids are handed out from one counter in increasing order and the 64-bit
   * form never wraps, and the next holder's transaction can only start after this holder released
   * the lock, which is after this holder's id was assigned; so every later holder's token is
   * larger. Tokens from before a failover to an asynchronous replica may be issued again after it.
   *
   * <p>Not interruptible: the wait happens in the database and ends within {@code waitTimeout}.
   */
  @Override
  public Lock acquire(String name, Duration waitTimeout) {
    LockArguments.checkName(name);
    LockArguments.checkWait(waitTimeout, name);
    long start = System.nanoTime();
    long deadline = LockArguments.deadline(start, waitTimeout);
    return lock(name, deadline, waitTimeout);
  }

  @Override
  public Optional<Lock> tryAcquire(String name) {
    LockArguments.checkName(name);
    return Optional.ofNullable(lock(name, Long.MIN_VALUE, null));
  }

  /**
   * Acquires {@code name}. With {@code waitTimeout} null, makes one attempt and returns null if the
   * lock is taken; otherwise waits until {@code deadline} and throws {@link LockTimeoutException}.
   */
  private PgLock lock(String name, long deadline, Duration waitTimeout) {
    long key = keyFor(namespace, name);
    Connection connection;
    try {
      connection = dataSource.getConnection();
    } catch (SQLException e) {
      throw new CacheException(
          "cannot get a connection for lock '" + abbreviate(name) + "': " + describe(e), e);
    }
    boolean originalAutoCommit = true;
    boolean mayHold = false;
    PgLock lock = null;
    try {
      originalAutoCommit = connection.getAutoCommit();
      connection.setAutoCommit(false);
      long remainingMillis = waitTimeout == null ? 0 : ceilMillis(deadline - System.nanoTime());
      boolean acquired;
      String timeoutState = null;
      SQLException timeoutCause = null;
      if (remainingMillis <= 0) {
        mayHold = true;
        acquired = queryBoolean(connection, "select pg_try_advisory_lock(?)", key);
      } else {
        // SET LOCAL: the setting ends with this transaction, committed or rolled back, so the
        // connection goes back to the pool with the lock_timeout it came with.
        try (PreparedStatement ps =
            connection.prepareStatement("select set_config('lock_timeout', ?, true)")) {
          ps.setString(1, Math.min(remainingMillis, Integer.MAX_VALUE) + "ms");
          ps.executeQuery().close();
        }
        mayHold = true;
        try {
          try (PreparedStatement ps = connection.prepareStatement("select pg_advisory_lock(?)")) {
            ps.setLong(1, key);
            ps.executeQuery().close();
          }
          acquired = true;
        } catch (SQLException e) {
          if (!LOCK_NOT_AVAILABLE.equals(e.getSQLState())
              && !QUERY_CANCELED.equals(e.getSQLState())) {
            throw e;
          }
          // 55P03: lock_timeout ran out, and the lock was not granted. 57014: a statement_timeout
          // shorter than the wait (or an administrator's cancel) ended it first.
          acquired = false;
          timeoutState = e.getSQLState();
          timeoutCause = e;
        }
      }
      if (!acquired) {
        // A refused pg_try_advisory_lock holds nothing. A wait ended by a timeout or a cancel may
        // have raced with the grant, so giveBack unlocks the key (a no-op if it is not held).
        mayHold = timeoutState != null;
        connection.rollback();
        if (waitTimeout == null) {
          return null;
        }
        throw timeout(name, waitTimeout, holderOf(connection, key), timeoutState, timeoutCause);
      }
      long token;
      try (PreparedStatement ps =
          connection.prepareStatement("select pg_current_xact_id()::text::bigint")) {
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          token = rs.getLong(1);
        }
      }
      connection.commit();
      // Idle in auto-commit while held: an open transaction would hold back vacuum and could be
      // killed by idle_in_transaction_session_timeout.
      connection.setAutoCommit(true);
      lock = new PgLock(name, key, token, connection, originalAutoCommit);
      return lock;
    } catch (SQLException e) {
      throw new CacheException(
          "cannot acquire lock '" + abbreviate(name) + "' in PostgreSQL: " + describe(e), e);
    } finally {
      if (lock == null) {
        giveBack(connection, originalAutoCommit, mayHold ? key : null, name);
      }
    }
  }

  private static boolean queryBoolean(Connection connection, String sql, long key)
      throws SQLException {
    try (PreparedStatement ps = connection.prepareStatement(sql)) {
      ps.setLong(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getBoolean(1);
      }
    }
  }

  private static long ceilMillis(long nanos) {
    return nanos <= 0 ? 0 : (nanos + 999_999) / 1_000_000;
  }

  /**
   * Returns {@code connection} to the pool in the state it came in, first unlocking {@code key} if
   * it is not null (the lock may be held). If any step fails the connection is aborted, which ends
   * its session and with it any lock it still holds.
   */
  private static void giveBack(Connection connection, boolean autoCommit, Long key, String name) {
    try {
      if (!connection.getAutoCommit()) {
        connection.rollback();
      }
      if (key != null) {
        unlockIfHeld(connection, key);
      }
      connection.setAutoCommit(autoCommit);
      connection.close();
    } catch (SQLException | RuntimeException e) {
      log.debug(
          "aborting the connection of lock '{}' instead of returning it: {}", name, e.toString());
      abort(connection);
    }
  }

  /**
   * Unlocks {@code key} if this session holds it. Going through pg_locks avoids the server's "you
   * don't own a lock" warning, which a plain unlock of a lock not held would log.
   */
  private static void unlockIfHeld(Connection connection, long key) throws SQLException {
    try (PreparedStatement ps =
        connection.prepareStatement(
            "select pg_advisory_unlock(?) from pg_locks where locktype = 'advisory'"
                + " and pid = pg_backend_pid() and granted and objsubid = 1"
                + " and classid::bigint = ? and objid::bigint = ?")) {
      ps.setLong(1, key);
      ps.setLong(2, key >>> 32);
      ps.setLong(3, key & 0xFFFF_FFFFL);
      ps.executeQuery().close();
    }
  }

  private static void abort(Connection connection) {
    try {
      connection.abort(Runnable::run);
    } catch (SQLException | RuntimeException e) {
      log.debug("aborting a lock connection failed: {}", e.toString());
    } finally {
      try {
        connection.close();
      } catch (SQLException | RuntimeException e) {
        log.debug("closing an aborted lock connection failed: {}", e.toString());
      }
    }
  }

  /** The session holding a lock, and how many others wait for it. */
  private record Holder(String description, long waiting) {}

  /** Who holds {@code key}, for the timeout message; null if nobody does or the lookup failed. */
  private static Holder holderOf(Connection connection, long key) {
    try (PreparedStatement ps = connection.prepareStatement(HOLDER_SQL)) {
      // pg_advisory_lock(bigint) files its key as classid = high 32 bits, objid = low 32 bits,
      // objsubid = 1 (objsubid 2 is the two-int4 form).
      ps.setLong(1, key >>> 32);
      ps.setLong(2, key & 0xFFFF_FFFFL);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        String app = rs.getString(2);
        String addr = rs.getString(3);
        return new Holder(
            "backend pid "
                + rs.getInt(1)
                + " (application_name="
                + (app == null ? "" : app)
                + ", client_addr="
                + (addr == null ? "local" : addr)
                + ", user="
                + rs.getString(4)
                + ")",
            rs.getLong(5));
      }
    } catch (SQLException e) {
      log.debug("looking up the holder of advisory lock {} failed: {}", key, e.toString());
      return null;
    } finally {
      try {
        if (!connection.getAutoCommit()) {
          connection.rollback();
        }
      } catch (SQLException e) {
        log.debug("rollback after the holder lookup failed: {}", e.toString());
      }
    }
  }

  private static LockTimeoutException timeout(
      String name, Duration waitTimeout, Holder holder, String sqlState, SQLException cause) {
    StringBuilder m =
        new StringBuilder()
            .append("lock '")
            .append(abbreviate(name))
            .append("' not acquired within ")
            .append(waitTimeout.toMillis())
            .append(" ms; held by ");
    if (holder == null) {
      m.append("an unknown holder (it released the lock while we looked)");
    } else {
      m.append(holder.description());
      if (holder.waiting() > 0) {
        m.append("; ").append(holder.waiting()).append(" other session(s) waiting");
      }
    }
    if (QUERY_CANCELED.equals(sqlState)) {
      m.append(
          "; the wait was cancelled by PostgreSQL (57014: statement_timeout shorter than the"
              + " wait, or a cancel request)");
    }
    return new LockTimeoutException(
        name, holder == null ? null : holder.description(), m.toString(), cause);
  }

  private static String describe(SQLException e) {
    return e.getMessage() + " (SQLState " + e.getSQLState() + ")";
  }

  private static String abbreviate(String name) {
    return ValueTooLargeException.abbreviate(name);
  }

  @Override
  public String toString() {
    return "PostgresLocks[namespace=" + namespace + ", dataSource=" + dataSource + "]";
  }

  private final class PgLock implements Lock {
    private final String name;
    private final long key;
    private final long token;
    private final boolean originalAutoCommit;
    private final long acquiredNanos = System.nanoTime();
    private Connection connection; // guarded by this; null once released
    private Boolean outcome; // guarded by this
    private SQLException failure; // guarded by this

    PgLock(String name, long key, long token, Connection connection, boolean originalAutoCommit) {
      this.name = name;
      this.key = key;
      this.token = token;
      this.connection = connection;
      this.originalAutoCommit = originalAutoCommit;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public OptionalLong fencingToken() {
      return OptionalLong.of(token);
    }

    @Override
    public synchronized boolean release() {
      if (outcome != null) {
        return outcome;
      }
      Connection c = connection;
      connection = null;
      boolean released = false;
      try {
        // True only if this session held the lock: after the session ended and was replaced (or
        // the lock was taken by another session) this cannot release anyone else's lock.
        released = queryBoolean(c, "select pg_advisory_unlock(?)", key);
      } catch (SQLException e) {
        failure = e;
      } finally {
        outcome = released;
        if (failure == null) {
          giveBack(c, originalAutoCommit, null, name);
        } else {
          abort(c); // broken: its session, and with it the lock, is gone or going
        }
      }
      return released;
    }

    @Override
    public void close() {
      if (release()) {
        return;
      }
      SQLException cause;
      synchronized (this) {
        cause = failure;
      }
      String why =
          cause != null
              ? "its PostgreSQL session ended (" + describe(cause) + "), which freed the lock"
              : "its PostgreSQL session no longer held it";
      throw new LockLostException(
          name,
          "lock '"
              + abbreviate(name)
              + "' was lost before release after "
              + LockArguments.millisSince(acquiredNanos)
              + " ms: "
              + why
              + "; the guarded section may have overlapped another holder's (fencing token "
              + token
              + ")",
          cause);
    }

    @Override
    public String toString() {
      return "PostgresLock[name=" + name + ", key=" + key + ", fencingToken=" + token + "]";
    }
  }

  /** Builds {@link PostgresLocks}. Each setter validates its argument at once. Not thread-safe. */
  public static final class Builder {
    private final DataSource dataSource;
    private String namespace = "thingdb";

    private Builder(DataSource dataSource) {
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource must not be null");
    }

    /**
     * The namespace hashed into every key (default {@code thingdb}): applications sharing a
     * database lock the same names independently if their namespaces differ. Not blank, at most 64
     * characters.
     */
    public Builder namespace(String namespace) {
      Objects.requireNonNull(namespace, "namespace must not be null");
      if (namespace.isBlank()) {
        throw new IllegalArgumentException("namespace must not be blank");
      }
      if (namespace.length() > MAX_NAMESPACE_LENGTH) {
        throw new IllegalArgumentException(
            "namespace must be at most 64 characters: " + namespace.length() + " characters");
      }
      this.namespace = namespace;
      return this;
    }

    /** Builds the locks; no connection is taken until the first acquisition. */
    public PostgresLocks build() {
      return new PostgresLocks(this);
    }
  }
}

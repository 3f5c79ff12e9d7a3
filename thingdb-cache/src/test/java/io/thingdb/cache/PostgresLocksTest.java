package io.thingdb.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link PostgresLocks} on a real PostgreSQL server, through two separate connection pools. Each
 * pool checks every connection given back to it (auto-commit on, lock_timeout unchanged, no
 * advisory lock held) and every test ends by asserting that none was leaked.
 */
@SuppressWarnings("try") // try-with-resources holds a lock the body need not name
class PostgresLocksTest extends LocksContract {
  private static PostgresFixture pg;

  private final List<CheckingLockPool> pools = new ArrayList<>();
  private final List<PostgresLocks> locks = new ArrayList<>();
  private CheckingLockPool admin;

  @BeforeAll
  static void startPostgres() throws SQLException {
    pg = PostgresFixture.start();
    try (Connection c = pg.dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute("create table lock_counter (name text primary key, n bigint not null)");
    }
  }

  @AfterAll
  static void stopPostgres() {
    if (pg != null) {
      pg.close();
    }
  }

  @BeforeEach
  void createPools() throws SQLException {
    for (String app : List.of("locks-a", "locks-b")) {
      CheckingLockPool pool = new CheckingLockPool(pg.jdbcUrl(), app, 2 * THREADS_PER_CLIENT + 4);
      pools.add(pool);
      locks.add(PostgresLocks.create(pool));
    }
    admin = new CheckingLockPool(pg.jdbcUrl(), "locks-admin", 2);
    try (Connection c = admin.getConnection();
        Statement s = c.createStatement()) {
      s.execute("truncate lock_counter");
    }
  }

  @AfterEach
  void noConnectionLeakedOrReturnedDirty() {
    for (CheckingLockPool pool : pools) {
      assertThat(pool.inUse()).as("connections not given back").isZero();
      assertThat(pool.violations()).as("connections given back dirty").isEmpty();
      pool.close();
    }
    admin.close();
  }

  @Override
  Locks locks(int client) {
    return locks.get(client);
  }

  @Override
  Counter counter(int client, String name) {
    CheckingLockPool pool = pools.get(client);
    return new Counter() {
      @Override
      public long read() throws SQLException {
        try (Connection c = pool.getConnection();
            PreparedStatement ps =
                c.prepareStatement("select n from lock_counter where name = ?")) {
          ps.setString(1, name);
          try (ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
          }
        }
      }

      @Override
      public void write(long value) throws SQLException {
        try (Connection c = pool.getConnection();
            PreparedStatement ps =
                c.prepareStatement(
                    "insert into lock_counter values (?, ?) on conflict (name) do update set n = excluded.n")) {
          ps.setString(1, name);
          ps.setLong(2, value);
          ps.executeUpdate();
        }
      }
    };
  }

  /** The backend pid holding an advisory lock for application {@code app}, seen from outside. */
  private int holderPid(String app) throws SQLException {
    try (Connection c = admin.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select l.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid"
                    + " where l.locktype = 'advisory' and l.granted and a.application_name = ?")) {
      ps.setString(1, app);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("an advisory lock held by " + app).isTrue();
        int pid = rs.getInt(1);
        assertThat(rs.next()).as("only one advisory lock held by " + app).isFalse();
        return pid;
      }
    }
  }

  private void terminate(int pid) throws SQLException {
    try (Connection c = admin.getConnection();
        PreparedStatement ps = c.prepareStatement("select pg_terminate_backend(?)")) {
      ps.setInt(1, pid);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next() && rs.getBoolean(1)).isTrue();
      }
    }
  }

  @Test
  void fencingTokensIncreaseAcrossSuccessiveHoldersOfDifferentPools() {
    long previous = Long.MIN_VALUE;
    for (int i = 0; i < 10; i++) {
      try (Lock lock = locks(i % 2).acquire("orders", Duration.ofSeconds(1))) {
        OptionalLong token = lock.fencingToken();
        assertThat(token).isPresent();
        assertThat(token.getAsLong()).isGreaterThan(previous);
        previous = token.getAsLong();
      }
    }
  }

  @Test
  @Timeout(10)
  void terminatedHolderSessionFreesTheLockAtOnceAndCannotRelease() throws SQLException {
    Lock orphan = locks(0).acquire("orders", Duration.ZERO);
    terminate(holderPid("locks-a"));

    long start = System.nanoTime();
    try (Lock taken = locks(1).acquire("orders", Duration.ofSeconds(2))) {
      assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1000);
      assertThat(taken.fencingToken().getAsLong()).isGreaterThan(orphan.fencingToken().getAsLong());

      assertThat(orphan.release()).isFalse();
      assertThatThrownBy(orphan::close)
          .isInstanceOfSatisfying(
              LockLostException.class, e -> assertThat(e.lockName()).isEqualTo("orders"))
          .hasMessageStartingWith("lock 'orders' was lost before release after ")
          .hasMessageContaining("its PostgreSQL session ended (")
          .hasMessageContaining("the guarded section may have overlapped another holder's");
      // The former holder's release did not touch the new holder's lock.
      assertThat(locks(0).tryAcquire("orders")).isEmpty();
    }
    assertThat(pools.get(0).aborted())
        .as("the broken connection was aborted, not pooled")
        .isEqualTo(1);
  }

  @Test
  void timeoutMessageNamesLockWaitAndHoldingBackend() throws SQLException {
    try (Lock held = locks(0).acquire("orders", Duration.ZERO)) {
      int pid = holderPid("locks-a");
      String holder =
          "backend pid "
              + pid
              + " (application_name=locks-a, client_addr=127.0.0.1,"
              + " user=postgres)";
      long start = System.nanoTime();
      assertThatThrownBy(() -> locks(1).acquire("orders", Duration.ofMillis(250)))
          .isInstanceOfSatisfying(
              LockTimeoutException.class,
              e -> {
                assertThat(e.lockName()).isEqualTo("orders");
                assertThat(e.holder()).contains(holder);
              })
          .hasMessage("lock 'orders' not acquired within 250 ms; held by " + holder);
      assertThat((System.nanoTime() - start) / 1_000_000).isBetween(240L, 1000L);
    }
  }

  @Test
  @Timeout(10)
  void waiterWhoseSessionIsTerminatedFailsWithoutLeakingItsConnection() throws Exception {
    try (Lock held = locks(0).acquire("orders", Duration.ZERO)) {
      ExecutorService waiter = Executors.newSingleThreadExecutor();
      try {
        Future<Lock> waiting =
            waiter.submit(() -> locks(1).acquire("orders", Duration.ofSeconds(8)));
        int pid = waitingPid("locks-b");
        terminate(pid);
        assertThatThrownBy(() -> waiting.get(5, TimeUnit.SECONDS))
            .hasCauseInstanceOf(CacheException.class)
            .cause()
            .hasMessageStartingWith("cannot acquire lock 'orders' in PostgreSQL: ")
            .hasMessageContaining("(SQLState 57P01)");
      } finally {
        waiter.shutdownNow();
      }
      assertThat(pools.get(1).inUse()).isZero();
      assertThat(pools.get(1).aborted()).isEqualTo(1);
      assertThat(held.release()).isTrue();
    }
  }

  /** A backend of the client's pool waits for a lock in PostgreSQL. */
  @Override
  java.util.function.BooleanSupplier waiting(int client) {
    String app = client == 0 ? "locks-a" : "locks-b";
    return () -> {
      try (Connection c = admin.getConnection();
          PreparedStatement ps =
              c.prepareStatement(
                  "select 1 from pg_stat_activity where application_name = ? and wait_event_type = 'Lock'")) {
        ps.setString(1, app);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next();
        }
      } catch (SQLException e) {
        throw new IllegalStateException("cannot read pg_stat_activity", e);
      }
    };
  }

  /** The pid of the backend of {@code app} that waits for a lock, once it waits. */
  private int waitingPid(String app) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline) {
      try (Connection c = admin.getConnection();
          PreparedStatement ps =
              c.prepareStatement(
                  "select pid from pg_stat_activity where application_name = ? and wait_event_type = 'Lock'")) {
        ps.setString(1, app);
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            return rs.getInt(1);
          }
        }
      }
      Thread.sleep(10);
    }
    throw new AssertionError("no backend of " + app + " waits for a lock");
  }

  @Test
  void eachHeldLockKeepsOnePooledConnectionUntilReleased() {
    Lock x = locks(0).acquire("x", Duration.ZERO);
    Lock y = locks(0).acquire("y", Duration.ZERO);
    assertThat(pools.get(0).inUse()).isEqualTo(2);
    x.close();
    assertThat(pools.get(0).inUse()).isEqualTo(1);
    y.close();
    assertThat(pools.get(0).inUse()).isZero();
  }

  @Test
  void connectionIsGivenBackCleanAfterTimeoutAndRefusedTry() {
    try (Lock held = locks(0).acquire("orders", Duration.ZERO)) {
      assertThatThrownBy(() -> locks(1).acquire("orders", Duration.ofMillis(20)))
          .isInstanceOf(LockTimeoutException.class);
      assertThat(locks(1).tryAcquire("orders")).isEmpty();
      assertThat(pools.get(1).inUse()).isZero();
      assertThat(pools.get(1).violations()).isEmpty();
    }
  }

  /**
   * Two applications' locks named "orders" in different namespaces are different advisory locks:
   * both are held at once, by different backends, under each namespace's own key, and each still
   * excludes a second holder in its own namespace.
   */
  @Test
  void namespacesKeepLocksOfTheSameNameApart() throws SQLException {
    PostgresLocks other = PostgresLocks.builder(pools.get(1)).namespace("other-app").build();
    long mineKey = PostgresLocks.keyFor("thingdb", "orders");
    long theirsKey = PostgresLocks.keyFor("other-app", "orders");
    assertThat(theirsKey).isNotEqualTo(mineKey);
    try (Lock mine = locks(0).acquire("orders", Duration.ZERO);
        Lock theirs = other.acquire("orders", Duration.ZERO)) {
      assertThat(heldAdvisoryKey("locks-a")).isEqualTo(mineKey);
      assertThat(heldAdvisoryKey("locks-b")).isEqualTo(theirsKey);
      assertThat(locks(1).tryAcquire("orders")).as("same namespace as mine").isEmpty();
      assertThat(
              PostgresLocks.builder(pools.get(0))
                  .namespace("other-app")
                  .build()
                  .tryAcquire("orders"))
          .as("same namespace as theirs")
          .isEmpty();
    }
  }

  /** The key of the one advisory lock held by application {@code app}, as pg_locks shows it. */
  private long heldAdvisoryKey(String app) throws SQLException {
    try (Connection c = admin.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select (l.classid::bigint << 32) | l.objid::bigint from pg_locks l"
                    + " join pg_stat_activity a on a.pid = l.pid"
                    + " where l.locktype = 'advisory' and l.granted and a.application_name = ?")) {
      ps.setString(1, app);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("an advisory lock held by " + app).isTrue();
        long key = rs.getLong(1);
        assertThat(rs.next()).as("only one advisory lock held by " + app).isFalse();
        return key;
      }
    }
  }

  @Test
  void builderRejectsBadSettings() {
    assertThatThrownBy(() -> PostgresLocks.create(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("dataSource must not be null");
    assertThatThrownBy(() -> PostgresLocks.builder(pools.get(0)).namespace(""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("namespace must not be blank");
    assertThatThrownBy(() -> PostgresLocks.builder(pools.get(0)).namespace("n".repeat(65)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("namespace must be at most 64 characters: 65 characters");
  }

  @Test
  void advisoryKeyIsTheDocumentedHashAsPgLocksShowsIt() throws SQLException {
    long key = expectedKey("thingdb", "orders");
    assertThat(PostgresLocks.keyFor("thingdb", "orders")).isEqualTo(key);
    assertThat(PostgresLocks.keyFor("other", "orders")).isNotEqualTo(key);
    try (Lock held = locks(0).acquire("orders", Duration.ZERO);
        Connection c = admin.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select l.classid::bigint, l.objid::bigint, l.objsubid from pg_locks l"
                    + " join pg_stat_activity a on a.pid = l.pid"
                    + " where l.locktype = 'advisory' and a.application_name = 'locks-a'");
        ResultSet rs = ps.executeQuery()) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getLong(1)).isEqualTo(key >>> 32);
      assertThat(rs.getLong(2)).isEqualTo(key & 0xFFFF_FFFFL);
      assertThat(rs.getInt(3)).isEqualTo(1);
    }
  }

  /** First 8 bytes, big-endian, of SHA-256("thingdb-lock\0" + namespace + "\0" + name). */
  private static long expectedKey(String namespace, String name) {
    try {
      byte[] d =
          java.security.MessageDigest.getInstance("SHA-256")
              .digest(
                  ("thingdb-lock\0" + namespace + "\0" + name)
                      .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      long k = 0;
      for (int i = 0; i < 8; i++) {
        k = (k << 8) | (d[i] & 0xFF);
      }
      return k;
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}

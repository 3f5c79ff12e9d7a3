package io.thingdb.core;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One database transaction of writes, handed to the work of {@link ThingDb#write}: things created,
 * updated and counted, relations set by their pair, and the caller's own statements on its own
 * tables, committed together or not at all. ThingDB's write protocol runs inside it exactly as in
 * ThingDb's single writes: every thing or relation pair written gets a new version and an outbox
 * row in this transaction, and after COMMIT the cache is updated (published, patched or invalidated
 * at the new version) and the outbox rows are confirmed, so a crash between COMMIT and the cache
 * update leaves a stale entry for at most the outbox replay window.
 *
 * <h2>One database</h2>
 *
 * The transaction runs on the primary of the database of the first type or relation type it
 * touches; touching a type placed on another database throws {@link IllegalArgumentException} (the
 * write is then rolled back).
 *
 * <h2>Round trips</h2>
 *
 * Operations that return what they wrote run at once. {@link #addCounts}, the changes of a {@link
 * RelationPair} and {@link #execute} are queued instead and sent together, in ONE round trip, with
 * the next operation that runs at once, when a {@link Deferred} result is first read, or before
 * COMMIT: in the order they were queued, which is also the order their row locks are taken. A vote
 * is therefore three round trips and COMMIT: lock the pair, then the relation change, the counts
 * and the caller's queue rows together.
 *
 * <h2>Caller's statements</h2>
 *
 * {@link #execute} and {@link #query} run SQL on the caller's own tables (a listing queue, say) in
 * this transaction. They must not touch ThingDB's tables ({@code thing_*}, {@code data_*}, {@code
 * rel_*}, {@code relpair_*}, {@code thingdb_outbox}, {@code thingdb_registry}): ThingDB's cache and
 * outbox would not know of the change. Parameters are bound as in JDBC; {@code long[]}, {@code
 * int[]}, {@code boolean[]}, {@code String[]} and {@code Instant[]} become PostgreSQL arrays and
 * {@link Instant} a {@code timestamptz}.
 *
 * <p>Not thread-safe: use it on the thread that runs the work, and only while the work runs. A
 * transient failure before COMMIT (deadlock, serialization failure, lost connection) runs the whole
 * work again in a new transaction, so the work must not have effects outside the transaction other
 * than through {@link #afterCommit}.
 */
public final class WriteTransaction {
  private static final Logger log = LoggerFactory.getLogger(WriteTransaction.class);
  private static final String UNIQUE_VIOLATION = "23505";

  /**
   * Maps one row of a caller's {@link #query}.
   *
   * @param <T> what a row becomes
   */
  @FunctionalInterface
  public interface RowMapper<T> {
    /**
     * Maps the current row; do not move the cursor.
     *
     * @throws SQLException to fail the transaction
     */
    T map(ResultSet rs) throws SQLException;
  }

  /**
   * The result of a queued operation, known once the queue has been sent. Not thread-safe.
   *
   * @param <T> the result
   */
  public static final class Deferred<T> {
    private final WriteTransaction tx;
    private T value;
    private boolean known;

    private Deferred(WriteTransaction tx) {
      this.tx = tx;
    }

    /**
     * The result, sending the transaction's queue first if it has not been sent.
     *
     * @throws ThingDbException if a queued statement fails (the transaction is rolled back)
     */
    public T get() {
      if (!known) {
        tx.flush();
      }
      if (!known) {
        throw new IllegalStateException("the queued operation produced no result");
      }
      return value;
    }

    void set(T v) {
      value = v;
      known = true;
    }
  }

  /**
   * The relations of one (thing1, thing2) pair of a relation type, locked until COMMIT by {@link
   * #lockPair}: no other writer can change the pair meanwhile, so the changes queued here and the
   * pair's new version are exactly what the cache gets after COMMIT. Not thread-safe.
   */
  public final class RelationPair {
    private final RelationHandle h;
    private final long thing1Id;
    private final long thing2Id;
    private final List<Relation> locked;
    private final List<Relation> after;
    private long version;
    private long outboxId;

    private RelationPair(RelationHandle h, long thing1Id, long thing2Id, List<Relation> locked) {
      this.h = h;
      this.thing1Id = thing1Id;
      this.thing2Id = thing2Id;
      this.locked = List.copyOf(locked);
      this.after = new ArrayList<>(locked);
    }

    /** The pair's relations as they were when the pair was locked, by id. */
    public List<Relation> relations() {
      return locked;
    }

    /**
     * The first relation of the pair (by id, as locked) whose name is one of {@code names}, or
     * empty.
     */
    public Optional<Relation> named(java.util.Collection<String> names) {
      for (Relation r : locked) {
        if (names.contains(r.name())) {
          return Optional.of(r);
        }
      }
      return Optional.empty();
    }

    /**
     * Queues a new relation of this pair named {@code name}, dated {@code date} (null: now).
     *
     * @throws IllegalArgumentException if the name is null, too long or contains NUL
     */
    public void add(String name, Instant date) {
      String checked = Relation.checkName(h.type, name);
      Instant at = date != null ? date : db.now();
      int index = after.size();
      after.add(null); // filled in when the insert returns the id
      enqueue(
          new Sql.Piped(
              "insert into "
                  + h.table
                  + " (rel_id, thing1_id, thing2_id, name, date)"
                  + " values (nextval('"
                  + h.idSequence
                  + "'), ?, ?, ?, ?) returning rel_id",
              new Object[] {thing1Id, thing2Id, checked, at},
              rs -> {
                after.set(
                    index,
                    new Relation(
                        h.type,
                        h.id,
                        rs.getLong(1),
                        thing1Id,
                        thing2Id,
                        checked,
                        at,
                        1,
                        new LinkedHashMap<>()));
                return null;
              },
              null),
          this);
    }

    /**
     * Queues renaming {@code relation}, one of this pair's, to {@code name}; its version goes up by
     * one.
     *
     * @throws IllegalArgumentException if {@code relation} is not one of this pair's relations as
     *     locked, or the name is bad
     */
    public void rename(Relation relation, String name) {
      int index = indexOf(relation);
      String checked = Relation.checkName(h.type, name);
      Relation r = after.get(index);
      after.set(
          index,
          new Relation(
              h.type,
              h.id,
              r.id(),
              thing1Id,
              thing2Id,
              checked,
              r.date(),
              r.version() + 1,
              new LinkedHashMap<>(r.storedProps())));
      enqueue(
          new Sql.Piped(
              "update " + h.table + " set name = ?, version = version + 1 where rel_id = ?",
              new Object[] {checked, r.id()},
              null,
              null),
          this);
    }

    /**
     * Queues deleting {@code relation} (and its props), one of this pair's.
     *
     * @throws IllegalArgumentException if {@code relation} is not one of this pair's relations as
     *     locked
     */
    public void remove(Relation relation) {
      int index = indexOf(relation);
      long id = after.get(index).id();
      after.set(index, null);
      enqueue(
          new Sql.Piped(
              "with d as (delete from "
                  + h.table
                  + " where rel_id = ? returning rel_id)"
                  + " delete from "
                  + h.dataTable
                  + " where rel_id in (select rel_id from d)",
              new Object[] {id},
              null,
              null),
          this);
    }

    private int indexOf(Relation relation) {
      Objects.requireNonNull(relation, "relation must not be null");
      for (int i = 0; i < locked.size(); i++) {
        if (locked.get(i).id() == relation.id() && after.get(i) != null) {
          return i;
        }
      }
      throw new IllegalArgumentException(
          "relation "
              + relation.fullname()
              + " is not one of the locked relations of "
              + h.describe(thing1Id, thing2Id)
              + " (or was removed in this transaction)");
    }

    private List<Relation> list() {
      List<Relation> out = new ArrayList<>(after.size());
      for (Relation r : after) {
        if (r != null) {
          out.add(r);
        }
      }
      return out;
    }
  }

  private final Engine db;
  private DbHandle bound;
  private Connection connection;
  private final List<Sql.Piped> queue = new ArrayList<>();

  /** Locked pairs: each has a new version and an outbox row, so each is published after COMMIT. */
  private final List<RelationPair> changedPairs = new ArrayList<>();

  /** Cache work after COMMIT, in the order the writes were made. */
  private final List<Runnable> published = new ArrayList<>();

  private final List<Runnable> hooks = new ArrayList<>();
  private boolean rollbackOnly;

  /** The epoch of the server the connection reaches ({@link Io#connectionEpoch}), once bound. */
  private Epoch connectionEpoch;

  /**
   * The epoch the commit happened on (the connection's): the cache updates after COMMIT use its
   * keys, never the engine's current epoch, which may already be a later one. Null before COMMIT,
   * and when the server's timeline was unknown (the cache is then left to the outbox replay).
   */
  private Epoch commitEpoch;

  /** The epoch of this transaction's commit, or null (see {@code commitEpoch}). */
  Epoch commitEpoch() {
    return commitEpoch;
  }

  private boolean closed;

  /**
   * A statement failed: PostgreSQL has aborted the transaction, and a COMMIT would silently roll it
   * back (pgjdbc reports no error by default) while this side published its writes to the cache.
   */
  private SQLException failed;

  /**
   * What the test hook after COMMIT is told: the first write, as ThingDb's single writes say it.
   */
  private String what;

  WriteTransaction(Engine db) {
    this.db = db;
  }

  // ------------------------------------------------------------------ things

  /**
   * Creates things of types on this transaction's database: per type, one statement draws the ids,
   * one inserts the thing rows and one the data rows, whatever the count. Runs at once.
   *
   * @return the things as created, in input order
   */
  public List<Thing> create(List<NewThing> things) {
    Objects.requireNonNull(things, "things must not be null");
    Map<TypeHandle, List<Integer>> byType = new LinkedHashMap<>();
    for (int i = 0; i < things.size(); i++) {
      NewThing t = Objects.requireNonNull(things.get(i), "things must not contain null");
      TypeHandle h = db.handle(t.type());
      bind(h.db, "type " + h.type.name());
      byType.computeIfAbsent(h, k -> new ArrayList<>()).add(i);
    }
    Thing[] out = new Thing[things.size()];
    run(
        () -> {
          for (Map.Entry<TypeHandle, List<Integer>> e : byType.entrySet()) {
            List<NewThing> batch = new ArrayList<>();
            for (int i : e.getValue()) {
              batch.add(things.get(i));
            }
            TypeHandle h = e.getKey();
            List<Thing> created = ThingWrites.insert(db.io, connection, h, batch);
            for (int i = 0; i < created.size(); i++) {
              out[e.getValue().get(i)] = created.get(i);
            }
            published.add(() -> db.createdCommitted(h, created, commitEpoch));
            describe("create " + h.type.name());
          }
        });
    return List.of(out);
  }

  /** Creates one thing; see {@link #create(List)}. */
  public Thing create(NewThing thing) {
    return create(List.of(Objects.requireNonNull(thing, "thing must not be null"))).get(0);
  }

  /**
   * Writes the changed props and flags of {@code update} (a prop set to its default has its row
   * deleted) and bumps the version; runs at once. An update with no changes writes nothing and
   * returns the snapshot it was made from.
   *
   * @return the thing as this transaction wrote it
   * @throws NotFoundException if the thing no longer exists (the transaction is then rolled back)
   */
  public Thing update(ThingUpdate update) {
    Objects.requireNonNull(update, "update must not be null");
    if (update.isEmpty()) {
      return update.base();
    }
    TypeHandle h = db.handle(update.base().type());
    bind(h.db, "type " + h.type.name());
    ThingWrites.Committed[] done = new ThingWrites.Committed[1];
    run(() -> done[0] = ThingWrites.update(db.io, connection, h, update));
    describe("write " + update.base().fullname());
    published.add(() -> db.thingCommitted(h, done[0], commitEpoch));
    return done[0].thing();
  }

  /**
   * Queues adding {@code upsDelta} and {@code downsDelta} to a live thing's {@code ups} and {@code
   * downs} ({@code x = x + ?} in SQL, with a version bump and the outbox row in the same
   * statement). After COMMIT the cached thing is patched to the new counts.
   *
   * @return the counts as written, or empty if the thing does not exist or is deleted (then nothing
   *     was changed; the caller decides whether to roll back)
   * @throws OutOfRangeException (from {@link Deferred#get} or the operation that sends the queue)
   *     if {@code ups} or {@code downs} would go below 0 or above 2,147,483,647: the transaction is
   *     then rolled back, even if the work catches the exception
   */
  public Deferred<Optional<Counts>> addCounts(
      ThingType type, long id, int upsDelta, int downsDelta) {
    TypeHandle h = db.handle(type);
    Engine.checkId(type, id);
    bind(h.db, "type " + h.type.name());
    Deferred<Optional<Counts>> result = new Deferred<>(this);
    boolean cached = db.cache != null;
    Object[] params =
        cached
            ? new Object[] {upsDelta, downsDelta, id, upsDelta, downsDelta, h.logicalKey(id)}
            : new Object[] {upsDelta, downsDelta, id, upsDelta, downsDelta};
    describe("incr " + h.logicalKey(id));
    enqueue(
        new Sql.Piped(
            h.addCountsSql(cached),
            params,
            rs -> {
              Counts counts = new Counts(rs.getLong(1), rs.getInt(2), rs.getInt(3), rs.getLong(4));
              long outboxId = rs.getLong(5);
              result.set(Optional.of(counts));
              published.add(() -> db.countsCommitted(h, counts, outboxId, commitEpoch));
              return null;
            },
            null),
        null);
    // A statement that updated nothing returns no row: the result is then "no live thing", or
    // the refusal of a count that would leave its range.
    emptyUnlessSet.add(new PendingCounts(result, h, id, upsDelta, downsDelta));
    return result;
  }

  /** A queued {@link #addCounts} whose statement may update no row. */
  private record PendingCounts(
      Deferred<Optional<Counts>> result, TypeHandle h, long id, int upsDelta, int downsDelta) {}

  private final List<PendingCounts> emptyUnlessSet = new ArrayList<>();

  /**
   * The thing as this transaction sees it (its own writes included), read from the database, not
   * the cache, in one statement; runs at once. Takes no lock.
   */
  public Optional<Thing> get(ThingType type, long id) {
    TypeHandle h = db.handle(type);
    Engine.checkId(type, id);
    bind(h.db, "type " + h.type.name());
    Map<Long, Thing> found = new LinkedHashMap<>();
    run(() -> found.putAll(ThingReads.fetch(db.io, connection, h, new long[] {id})));
    return Optional.ofNullable(found.get(id));
  }

  /**
   * Queues reading a thing as this transaction sees it (its own writes included), from the
   * database, not the cache, in one statement sent with the transaction's next round trip: a read
   * queued before {@link #lockPair} costs no round trip of its own. Takes no lock.
   *
   * @return the thing (deleted or not), or empty if it does not exist
   */
  public Deferred<Optional<Thing>> read(ThingType type, long id) {
    TypeHandle h = db.handle(type);
    Engine.checkId(type, id);
    bind(h.db, "type " + h.type.name());
    Deferred<Optional<Thing>> result = new Deferred<>(this);
    ThingReads.Fetched fetched = new ThingReads.Fetched(h);
    queue.add(new Sql.Piped(ThingReads.fetchSql(h, 1), new Object[] {id}, fetched::row, null));
    afterFlush.add(() -> result.set(Optional.ofNullable(fetched.things().get(id))));
    return result;
  }

  /** Results to settle once the queue they were sent with has run. */
  private final List<Runnable> afterFlush = new ArrayList<>();

  /**
   * The counts of a live (not deleted) thing as this transaction sees them, read from the database
   * in one statement; runs at once. Takes no lock. Cheaper than {@link #get} when only the counts
   * matter (a repeated vote's answer).
   *
   * @return the counts, or empty if the thing does not exist or is deleted
   */
  public Optional<Counts> counts(ThingType type, long id) {
    TypeHandle h = db.handle(type);
    Engine.checkId(type, id);
    bind(h.db, "type " + h.type.name());
    List<Counts> found = new ArrayList<>(1);
    queue.add(
        new Sql.Piped(
            "select thing_id, ups, downs, version from thing_"
                + h.type.name()
                + " where thing_id = ? and not deleted",
            new Object[] {id},
            rs -> found.add(new Counts(rs.getLong(1), rs.getInt(2), rs.getInt(3), rs.getLong(4))),
            null));
    flush();
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  // ------------------------------------------------------------------ relations

  /**
   * Locks the (thing1, thing2) pair of relation {@code type} until COMMIT, draws the pair's next
   * version, records its outbox row and reads its relations, locking them too: one round trip, sent
   * with whatever was queued before. Changes made through the returned pair are published to the
   * cache (the pair's whole list at its new version) after COMMIT. The endpoints are not checked to
   * exist.
   *
   * @throws IllegalArgumentException if an id is below 1 or the type is not registered
   */
  public RelationPair lockPair(RelationType type, long thing1Id, long thing2Id) {
    RelationHandle h = db.relationHandle(type);
    if (thing1Id < 1 || thing2Id < 1) {
      throw new IllegalArgumentException(
          "relation "
              + type.name()
              + ": ids start at 1 (thing1="
              + thing1Id
              + ", thing2="
              + thing2Id
              + ")");
    }
    bind(h.db, "relation type " + type.name());
    describe("write relation " + h.logicalKey(thing1Id, thing2Id));
    List<Relation> relations = new ArrayList<>();
    long[] pair = new long[2];
    boolean cached = db.cache != null;
    queue.add(
        new Sql.Piped(
            RelationWrites.lockPairSql(h, cached),
            RelationWrites.lockPairParams(h, cached, thing1Id, thing2Id),
            rs -> pair(pair, rs),
            null));
    queue.add(
        new Sql.Piped(
            RelationReads.select(h)
                + " where r.thing1_id = ? and r.thing2_id = ? order by r.rel_id"
                + " for update of r",
            new Object[] {thing1Id, thing2Id},
            rs -> relations.add(RelationReads.map(h, rs)),
            null));
    flush();
    RelationPair p = new RelationPair(h, thing1Id, thing2Id, relations);
    p.version = pair[0];
    p.outboxId = pair[1];
    changedPairs.add(p);
    return p;
  }

  private static Object pair(long[] pair, ResultSet rs) throws SQLException {
    pair[0] = rs.getLong(1);
    pair[1] = rs.getLong(2);
    return null;
  }

  // ------------------------------------------------------------------ the caller's own tables

  /**
   * Queues a statement on the caller's own tables; it runs with the next round trip (see the class
   * comment), in order with the rest of the queue.
   *
   * @param sql one statement, without a trailing semicolon
   * @param params its parameters
   */
  public void execute(String sql, Object... params) {
    Objects.requireNonNull(sql, "sql must not be null");
    requireBound("execute");
    queue.add(new Sql.Piped(sql, params.clone(), null, null));
  }

  /**
   * Runs a query (or a statement with {@code returning}) on the caller's own tables at once, after
   * whatever was queued, in the same round trip.
   *
   * @return the mapped rows
   */
  public <T> List<T> query(String sql, RowMapper<T> mapper, Object... params) {
    Objects.requireNonNull(sql, "sql must not be null");
    Objects.requireNonNull(mapper, "mapper must not be null");
    requireBound("query");
    List<T> out = new ArrayList<>();
    queue.add(new Sql.Piped(sql, params.clone(), rs -> out.add(mapper.map(rs)), null));
    flush();
    return out;
  }

  /**
   * Runs {@code hook} after COMMIT, once ThingDB's own cache work for this transaction is done
   * (never if the transaction rolls back). A hook that throws is logged; the write stays committed
   * and later hooks still run.
   */
  public void afterCommit(Runnable hook) {
    hooks.add(Objects.requireNonNull(hook, "hook must not be null"));
  }

  /**
   * Rolls the transaction back when the work returns, instead of committing it: nothing it wrote
   * happens and no after-commit work runs; {@link ThingDb#write} still returns the work's result.
   */
  public void rollbackOnly() {
    rollbackOnly = true;
  }

  // ------------------------------------------------------------------ driven by ThingDb.write

  private void enqueue(Sql.Piped statement, RelationPair changed) {
    checkUsable();
    queue.add(statement);
    if (changed != null) {
      lastChanged = changed;
    }
  }

  /** The pair whose change was queued last: a unique violation names it. */
  private RelationPair lastChanged;

  private void describe(String write) {
    if (what == null) {
      what = write;
    }
  }

  /** The database this transaction is bound to, or null before its first write. */
  DbHandle database() {
    return bound;
  }

  /** "write on main": for messages about the whole transaction. */
  String describe() {
    return bound == null ? "write transaction" : "write on " + bound.name;
  }

  /**
   * Binds the transaction to {@code database} on first use; refuses another database after that.
   */
  private void bind(DbHandle database, String what) {
    checkUsable();
    if (bound == null) {
      bound = database; // before connecting: a refused connection's message names the database
      try {
        Connection c = database.circuit.connect();
        try {
          connectionEpoch = db.io.connectionEpoch(database, c);
          c.setAutoCommit(false);
        } catch (SQLException e) {
          try {
            c.close();
          } catch (SQLException suppressed) {
            e.addSuppressed(suppressed);
          }
          throw e;
        }
        connection = c;
      } catch (SQLException e) {
        throw new Failure(e);
      }
    } else if (bound != database) {
      throw new IllegalArgumentException(
          what
              + " is placed on database "
              + database.name
              + ", but this transaction"
              + " runs on database "
              + bound.name
              + " (its first write); a transaction spans one database");
    }
  }

  private void requireBound(String what) {
    checkUsable();
    if (bound == null) {
      throw new IllegalStateException(
          what
              + " needs the transaction's database: write a thing or relation of it"
              + " first (a transaction runs on the database of the first type it touches)");
    }
  }

  private void checkUsable() {
    if (closed) {
      throw new IllegalStateException(
          "this WriteTransaction is finished: use it only inside the work of ThingDb.write");
    }
  }

  /**
   * Runs the engine's own multi-statement write {@code work} on this transaction's connection,
   * bound to {@code database}, after whatever was queued: so that ThingDb's single writes commit
   * through the same code as a {@link ThingDb#write}.
   */
  <T> T onConnection(DbHandle database, Engine.TxWork<T> work) {
    bind(database, "database " + database.name);
    flush();
    try {
      return work.run(connection);
    } catch (SQLException e) {
      throw fail(e);
    }
  }

  /** Work on the transaction's connection, after the queue has been sent. */
  @FunctionalInterface
  private interface Step {
    void run() throws SQLException;
  }

  private void run(Step step) {
    flush();
    try {
      step.run();
    } catch (SQLException e) {
      throw fail(e);
    }
  }

  private Failure fail(SQLException e) {
    failed = e;
    return new Failure(e);
  }

  /** Sends the queue in one round trip. */
  void flush() {
    checkUsable();
    if (queue.isEmpty()) {
      return;
    }
    List<Sql.Piped> sending = new ArrayList<>(queue);
    queue.clear();
    List<PendingCounts> counted = new ArrayList<>(emptyUnlessSet);
    emptyUnlessSet.clear();
    List<Runnable> settle = new ArrayList<>(afterFlush);
    afterFlush.clear();
    try {
      db.sql.pipeline(connection, sending);
    } catch (SQLException e) {
      if (UNIQUE_VIOLATION.equals(e.getSQLState())
          && lastChanged != null
          && String.valueOf(e.getMessage()).contains(lastChanged.h.table)) {
        RelationPair p = lastChanged;
        failed = e;
        throw new DuplicateRelationException(
            "relation "
                + p.h.describe(p.thing1Id, p.thing2Id)
                + ": the new name is"
                + " taken in this pair ((thing1, thing2, name) is unique); nothing was written",
            e);
      }
      throw fail(e);
    }
    for (Runnable r : settle) {
      r.run();
    }
    for (PendingCounts p : counted) {
      if (!p.result().known) {
        // No row: the thing is missing or deleted, or a count would leave 0..MAX_COUNT. Only
        // this rare path reads the row to tell which.
        int[] now;
        try {
          now = ThingWrites.currentCounts(db.io, connection, p.h(), p.id(), true);
        } catch (SQLException e) {
          throw fail(e);
        }
        if (now != null) {
          refused = ThingWrites.countsOutOfRange(p.h(), p.id(), p.upsDelta(), p.downsDelta(), now);
          throw refused;
        }
        p.result().set(Optional.empty());
      }
    }
  }

  /**
   * A counts change this transaction refused: the transaction must not commit even if the work
   * caught the exception (the statements queued with it already ran).
   */
  private OutOfRangeException refused;

  /** Before COMMIT: sends what is still queued (nothing, if the work asked for a rollback). */
  void finish() {
    if (refused != null && !rollbackOnly) {
      throw new OutOfRangeException(
          describe()
              + ": the work went on after a refused counts change (it caught the exception);"
              + " the transaction was rolled back and nothing was written: "
              + refused.getMessage(),
          refused);
    }
    if (failed != null) {
      throw new ThingDbException(
          describe()
              + ": a statement of this transaction failed and the work went on (it"
              + " caught the exception); PostgreSQL aborted the transaction, so it was rolled back and nothing was"
              + " written: "
              + failed.getMessage(),
          failed);
    }
    if (!rollbackOnly && connection != null) {
      flush();
    }
  }

  /**
   * Commits (or, after {@link #rollbackOnly}, rolls back) and closes the connection. A lost
   * connection during COMMIT is {@link OutcomeUnknownException}. Never throws SQLException after
   * COMMIT: the caller's retry would run a committed write again.
   *
   * @return whether anything was committed
   */
  boolean commit(Session session) throws SQLException {
    closed = true;
    if (connection == null) {
      return false;
    }
    Connection c = connection;
    try {
      if (rollbackOnly) {
        c.rollback();
      } else {
        try {
          db.sql.commit(c);
        } catch (SQLException e) {
          if (Retry.isConnectionFailure(e)) {
            throw new OutcomeUnknownException(
                "the connection to database "
                    + bound.name
                    + " failed during COMMIT;"
                    + " the write may or may not have been committed: "
                    + e.getMessage(),
                e);
          }
          throw e;
        }
      }
    } catch (SQLException | RuntimeException e) {
      try {
        c.close();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    if (!rollbackOnly) {
      commitEpoch = connectionEpoch;
      db.recordPosition(bound, session, c);
    }
    try (Connection closing = c) {
      closing.setAutoCommit(true);
    } catch (SQLException e) {
      log.warn(
          "closing the connection to database {} after COMMIT failed; the write is committed: {}",
          bound.name,
          e.getMessage());
    }
    return !rollbackOnly;
  }

  /** After a failure before COMMIT: rolls back and closes, keeping {@code cause} as the failure. */
  void abandon(Exception cause) {
    closed = true;
    if (connection == null) {
      return;
    }
    try (Connection c = connection) {
      c.rollback();
    } catch (SQLException e) {
      cause.addSuppressed(e);
    }
  }

  /** After COMMIT: ThingDB's cache work, then the caller's hooks. Never throws. */
  void afterCommit() {
    if (what != null) { // the engine's own writes (onConnection) tell the hook themselves
      db.afterCommit(what);
    }
    for (RelationPair p : changedPairs) {
      published.add(
          () ->
              db.pairCommitted(
                  p.h,
                  p.thing1Id,
                  p.thing2Id,
                  p.version,
                  p.list(),
                  p.outboxId,
                  p.locked.isEmpty(),
                  commitEpoch));
    }
    for (Runnable r : published) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.warn(
            "cache update after a committed write on {} failed; the outbox replay covers it",
            bound.name,
            e);
      }
    }
    for (Runnable hook : hooks) {
      try {
        hook.run();
      } catch (RuntimeException e) {
        log.warn("after-commit hook {} failed; the write is committed", hook, e);
      }
    }
  }

  /**
   * A SQLException inside the work, carried out of it unchecked so that ThingDb.write can retry it.
   */
  static final class Failure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Failure(SQLException cause) {
      super(cause.getMessage(), cause, false, false);
    }

    SQLException sqlCause() {
      return (SQLException) getCause();
    }
  }
}

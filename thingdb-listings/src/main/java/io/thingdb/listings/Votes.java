package io.thingdb.listings;

import io.thingdb.core.CacheEpoch;
import io.thingdb.core.Counts;
import io.thingdb.core.NewThing;
import io.thingdb.core.NotFoundException;
import io.thingdb.core.OutcomeUnknownException;
import io.thingdb.core.Relation;
import io.thingdb.core.RelationType;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingType;
import io.thingdb.core.ThingUpdate;
import io.thingdb.core.WriteTransaction;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * Records votes: one relation per (account, thing) of the vote {@link RelationType} (account type
 * to voted type), whose {@code name} holds the direction {@code "1"}, {@code "0"} or {@code "-1"}.
 *
 * <p>{@link #cast} is one of thingdb-core's write transactions ({@link ThingDb#write}) on the voted
 * type's database: it reads the thing (from the database, in the same round trip as the pair lock),
 * locks the (account, thing) pair and its relations ({@link WriteTransaction#lockPair}), changes
 * the relation, applies the difference to the thing's {@code ups}/{@code downs} exactly once (+1 to
 * -1 is ups-1, downs+1; a repeated vote changes nothing and writes nothing) and enqueues one
 * listing-update job per listing the vote can change ({@link ListingDefinition#movesWithVotes}: the
 * hot, top and controversial listings of the thing; not its new listings, where the vote changes
 * nothing). Core writes its own tables and cache keys: the pair's and the thing's versions, their
 * outbox rows and, after COMMIT, the cache (the thing patched to its new counts, the pair's list
 * published at its new version; the outbox replay of any ThingDb instance on that database covers a
 * crash in between).
 *
 * <p>Then, still in the voter's thread, the vote is shown at once: the thing is moved in the cached
 * listings by appending its new sort value at its new version to each ({@link ListingStore},
 * "moves"), in one unanswered append per listing. Readers apply a move only to an entry the listing
 * holds at an older version, so a move that lands late, twice, or on a newer listing changes
 * nothing wrongly; a move that is lost (a cache node down, the voter's process killed after COMMIT)
 * only waits for the queue, whose jobs committed with the vote: {@link ListingProcessors} apply
 * them to the stored listings and publish those, carrying over the moves they do not yet reflect. A
 * changed vote is two SQL round trips and COMMIT (the thing with the pair lock and its relations;
 * then the relation change, the counts and the listing jobs together) and, with a cache, two or
 * three answered cache round trips after COMMIT plus the unanswered moves.
 *
 * <p>{@link #submit}, {@link #setDeleted}, {@link #markSpam} and {@link #update} write through a
 * core write transaction too and enqueue the thing's listing jobs in it, so a write and its jobs
 * commit together or not at all.
 *
 * <p>Every write takes the caller's {@link Session} (null for none), as core's writes do through
 * {@link ThingDb#withSession}: the commit's WAL position is recorded in it (read-your-writes
 * through replicas), and the written thing is remembered in it ({@link Session#wrote}) so that the
 * writer's own listing pages ({@link ListingReader#withSession}) show the write before the queue
 * has applied it.
 *
 * <p>The vote relation, the voted type and the listing queue must live on one database, and so must
 * the listing store that the processors write in the same transaction as they consume jobs: {@link
 * Builder#build()} refuses any other layout. Each database that holds voted types has its own queue
 * (its own Votes, store and processors). Listing keys in the format {@link ListingRecompute} writes
 * ({@code <prefix>:top:<window>}, {@code <prefix>:controversial:<window>}) belong to the recompute;
 * a routing that sends a write to one is refused.
 *
 * <p>Thread-safe. Does not own the ThingDb, DataSource or cache.
 */
public final class Votes implements AutoCloseable {
  /** The relation names of a vote: its direction. */
  private static final List<String> DIRECTIONS = List.of("1", "0", "-1");

  private final ThingDb db;
  private final DataSource dataSource;
  private final RelationType relation;
  private final ThingType voted;
  private final ListingRouting routing;
  private final ListingStore store;
  private final Clock clock;
  private final String queueDatabase;
  private final Runnable committedHook;

  /** Per thing type name: whether ThingDb places the type on the queue's database. */
  private final Map<String, Boolean> onQueueDatabase = new ConcurrentHashMap<>();

  /**
   * The outcome of a vote.
   *
   * @param previous the direction before, 0 if none
   * @param direction the direction now
   * @param ups the thing's ups after the vote
   * @param downs the thing's downs after the vote
   * @param version the thing's version after the vote
   * @param changed whether anything was written (false for a repeated vote); immutable
   */
  public record Vote(
      int previous, int direction, int ups, int downs, long version, boolean changed) {}

  private Votes(Builder b, String queueDatabase) {
    this.queueDatabase = queueDatabase;
    this.db = b.db;
    this.dataSource = b.dataSource;
    this.relation = b.relation;
    this.voted = b.relation.thing2();
    this.routing = b.routing;
    this.store = b.store;
    this.clock = b.clock;
    this.committedHook = b.committedHook;
  }

  /**
   * Returns a builder.
   *
   * @param db the application's ThingDb (reads the voted things for routing)
   * @param dataSource the primary of the database holding the vote relation, the voted type and the
   *     listing queue
   * @param relation the vote relation type, registered with {@code db}: account type to voted type
   * @param routing the thing-to-listings routing
   * @param store the listing store (its key rules check the routing's keys)
   */
  public static Builder builder(
      ThingDb db,
      DataSource dataSource,
      RelationType relation,
      ListingRouting routing,
      ListingStore store) {
    return new Builder(db, dataSource, relation, routing, store);
  }

  /**
   * Casts, changes or clears ({@code 0}) the vote of an account on a thing of the voted type.
   * Atomic: the relation, the counts, the cache outbox rows and the listing jobs commit together or
   * not at all. Repeating the current direction writes nothing.
   *
   * <p>With a session, the vote's commit position is recorded in it (read-your-writes through
   * replicas: the voter's next reads through the session see the new counts and direction at once)
   * and the voted thing is remembered in it ({@link Session#wrote}), so the voter's own listing
   * pages read through {@link ListingReader#withSession} show the thing at its new score before the
   * queue has moved it.
   *
   * @param session the voter's session; null for none
   * @param accountId the voting account's id
   * @param thingId the voted thing's id
   * @param direction -1, 0 or +1
   * @return the outcome
   * @throws IllegalArgumentException if {@code direction} is not -1, 0 or +1, or an id is below 1
   * @throws NotFoundException if the thing does not exist
   * @throws VoteRejectedException if the thing is deleted
   * @throws io.thingdb.core.OutOfRangeException if the vote would take the thing's ups or downs
   *     past 2^31-1; nothing is written
   * @throws OutcomeUnknownException if the connection broke during COMMIT: the vote may or may not
   *     be recorded, and casting it again is safe (a repeated vote changes nothing)
   * @throws ThingDbException if the database fails otherwise; the vote is then not recorded
   */
  public Vote cast(Session session, long accountId, long thingId, int direction) {
    if (direction < -1 || direction > 1) {
      throw new IllegalArgumentException(
          "vote direction must be -1, 0 or +1 (direction="
              + direction
              + ", "
              + describe(accountId, thingId)
              + "); nothing was written");
    }
    if (accountId < 1 || thingId < 1) {
      throw new IllegalArgumentException(
          "ids start at 1 (" + describe(accountId, thingId) + "); nothing was written");
    }
    ThingDb view = db.withSession(session);
    try {
      Thing[] voted = new Thing[1];
      Vote v = view.write(tx -> vote(tx, thingId, accountId, direction, voted));
      if (session != null && v.changed()) {
        session.wrote(voted[0], clock.instant());
      }
      return v;
    } catch (OutcomeUnknownException e) {
      throw new OutcomeUnknownException(
          "vote ("
              + describe(accountId, thingId)
              + ", direction="
              + direction
              + "): the connection failed during COMMIT, so the vote may or may not be recorded; casting it"
              + " again is safe (a repeated vote changes nothing): "
              + e.getMessage(),
          e);
    } catch (ThingDbException e) {
      if (e.getClass() != ThingDbException.class) {
        throw e; // NotFoundException, VoteRejectedException: their messages say it
      }
      throw new ThingDbException(
          "vote failed ("
              + describe(accountId, thingId)
              + ", direction="
              + direction
              + "): "
              + e.getMessage()
              + "; nothing was written",
          e);
    }
  }

  /** {@link #cast(Session, long, long, int)} without a session. */
  public Vote cast(long accountId, long thingId, int direction) {
    return cast(null, accountId, thingId, direction);
  }

  /**
   * The vote inside core's transaction. Two round trips and COMMIT: the thing's row and props (read
   * from the database, not the cache: it names the listings and gives the date of the sort values)
   * together with the pair lock and its relation rows; then the relation change, the counts and the
   * listing jobs. Lock order, the same for every vote: pair row and its relation rows (lockPair),
   * thing row (the counts update). Core's relation writes take the pair row first too; its counter
   * increments take only the thing row; jobs are inserts, which lock nothing shared; processors
   * never lock things.
   *
   * @param voted receives the thing as read (for the session)
   */
  private Vote vote(
      WriteTransaction tx, long thingId, long accountId, int direction, Thing[] voted) {
    WriteTransaction.Deferred<Optional<Thing>> read = tx.read(this.voted, thingId);
    WriteTransaction.RelationPair pair = tx.lockPair(relation, accountId, thingId);
    Thing thing =
        read.get()
            .orElseThrow(
                () ->
                    new NotFoundException(
                        "no "
                            + this.voted.name()
                            + " with id "
                            + thingId
                            + " to vote on ("
                            + describe(accountId, thingId)
                            + "); nothing was written"));
    if (thing.deleted()) {
      throw deleted(accountId, thingId);
    }
    voted[0] = thing;
    Optional<Relation> current = pair.named(DIRECTIONS);
    int previous = current.map(r -> Integer.parseInt(r.name())).orElse(0);
    if (previous == direction) {
      // Nothing to change: roll back the pair-version bump and its outbox row too. The counts
      // are those read with the pair lock.
      tx.rollbackOnly();
      return new Vote(previous, previous, thing.ups(), thing.downs(), thing.version(), false);
    }
    Moving moving = moving(routedKeys(thing));
    int dUps = (direction == 1 ? 1 : 0) - (previous == 1 ? 1 : 0);
    int dDowns = (direction == -1 ? 1 : 0) - (previous == -1 ? 1 : 0);
    if (current.isPresent()) {
      pair.rename(current.get(), Integer.toString(direction));
    } else {
      pair.add(Integer.toString(direction), clock.instant());
    }
    WriteTransaction.Deferred<Optional<Counts>> counts =
        tx.addCounts(this.voted, thingId, dUps, dDowns);
    ListingQueue.enqueue(tx, moving.keys, thingId);
    // One round trip for the relation change, the counts and the jobs; a thing deleted meanwhile
    // updates nothing, and throwing rolls the vote back.
    Counts c = counts.get().orElseThrow(() -> missingOrDeleted(tx, accountId, thingId));
    if (moving.keys.length > 0) {
      // Before COMMIT: a move sent under a later epoch could show a vote the promotion lost.
      CacheEpoch epoch = store.epochNow();
      tx.afterCommit(() -> moveCached(epoch, thing, moving, c));
    }
    return new Vote(previous, direction, c.ups(), c.downs(), c.version(), true);
  }

  /** The listings a vote moves a thing in (sorted), and their sorts. */
  private record Moving(String[] keys, ListingSort[] sorts) {}

  /**
   * Of a thing's listings, those a vote can change ({@link ListingDefinition#movesWithVotes}): the
   * others ({@code new} listings) hold the same sort value after the vote, so they get no job.
   */
  private Moving moving(List<String> routed) {
    String[] sorted = ListingQueue.sortedKeys(routed);
    List<String> keys = new ArrayList<>(sorted.length);
    List<ListingSort> sorts = new ArrayList<>(sorted.length);
    for (String key : sorted) {
      ListingDefinition def = routing.definition(key);
      if (def == null) {
        throw new IllegalStateException(
            "listing routing "
                + routing
                + " returned no definition for "
                + key
                + "; nothing was written");
      }
      if (def.movesWithVotes()) {
        keys.add(key);
        sorts.add(def.sort());
      }
    }
    return new Moving(keys.toArray(new String[0]), sorts.toArray(new ListingSort[0]));
  }

  /**
   * After a vote's COMMIT, in the voter's thread: moves the thing in the cached listings at once
   * ({@link ListingStore#move}), so that readers see the vote without waiting for the queue. The
   * queue's jobs, committed with the vote, apply the same change to the stored listings and
   * republish them; if this process dies before or during the move, they are what makes the
   * listings right.
   */
  private void moveCached(CacheEpoch epoch, Thing thing, Moving moving, Counts c) {
    committedHook.run();
    double[] values = new double[moving.keys.length];
    for (int i = 0; i < values.length; i++) {
      values[i] = moving.sorts[i].value(c.ups(), c.downs(), thing.date());
    }
    store.move(epoch, List.of(moving.keys), thing.id(), c.version(), values);
  }

  /**
   * Enqueues listing-update jobs for a thing after a write made through ThingDb, in a transaction
   * of its own: call it after that write returned. This is not atomic with the write; a crash in
   * between leaves the listings without that change until the thing's next job. Prefer {@link
   * #submit}, {@link #setDeleted}, {@link #markSpam} and {@link #update}, which enqueue in the
   * write's own transaction.
   *
   * @param thing the thing as written (its props route it)
   * @throws IllegalStateException if the routing returns a bad key
   * @throws ThingDbException if the database fails
   */
  public void touched(Thing thing) {
    Objects.requireNonNull(thing, "thing must not be null");
    List<String> keys = routedKeys(thing);
    try (Connection c = dataSource.getConnection()) {
      c.setAutoCommit(false);
      try {
        ListingQueue.enqueue(c, ListingQueue.sortedKeys(keys), thing.id());
        c.commit();
      } catch (SQLException | RuntimeException e) {
        c.rollback();
        throw e;
      }
    } catch (SQLException e) {
      throw new ThingDbException(
          "enqueueing listing jobs for " + thing.fullname() + " failed: " + e.getMessage(), e);
    }
  }

  /**
   * Creates a thing and, in the same transaction, enqueues the jobs of the listings it belongs to.
   *
   * @param session records the commit for read-your-writes and remembers the thing for the writer's
   *     own listing pages ({@link ListingReader#withSession}); may be null
   * @param thing the new thing, of a type ThingDb places on this queue's database
   * @return the thing as created
   * @throws IllegalArgumentException if the type lives on another database; nothing is written
   * @throws IllegalStateException if the routing returns null, a bad key or a key that {@link
   *     ListingRecompute} owns; nothing is written
   * @throws ThingDbException if the database fails; nothing is written (or, for {@link
   *     io.thingdb.core.OutcomeUnknownException}, both or neither are)
   */
  public Thing submit(Session session, NewThing thing) {
    Objects.requireNonNull(thing, "thing must not be null");
    return submitAll(session, List.of(thing)).get(0);
  }

  /** {@link #submit(Session, NewThing)} without a session. */
  public Thing submit(NewThing thing) {
    return submit(null, thing);
  }

  /**
   * Creates things in one transaction (ThingDb's {@link ThingDb#createAll}) with their listing
   * jobs: one statement for all jobs, whatever the count.
   *
   * @param session records the commit and remembers the things for the writer's own listing pages
   *     ({@link ListingReader#withSession}); may be null
   * @param things the new things, of types on this queue's database
   * @return the things as created, in input order
   * @throws IllegalArgumentException if a type lives on another database; nothing is written
   * @throws IllegalStateException if the routing fails for a thing; nothing is written
   */
  public List<Thing> submitAll(Session session, List<NewThing> things) {
    Objects.requireNonNull(things, "things must not be null");
    for (NewThing t : things) {
      checkOnQueueDatabase(
          Objects.requireNonNull(t, "things must not contain null").type(), "submit");
    }
    List<Thing> created =
        db.withSession(session)
            .write(
                tx -> {
                  List<Thing> written = tx.create(things);
                  Map<Long, List<String>> keys = new LinkedHashMap<>();
                  for (Thing t : written) {
                    keys.put(t.id(), routedKeys(t));
                  }
                  ListingQueue.enqueueAll(tx, keys);
                  return written;
                });
    remember(session, created);
    return created;
  }

  /**
   * Remembers written things in the writer's session, so that its own listing pages merge them
   * until the queue has applied them (see {@link ListingReader#withSession}).
   */
  private void remember(Session session, List<Thing> things) {
    if (session != null) {
      Instant now = clock.instant();
      for (Thing t : things) {
        session.wrote(t, now);
      }
    }
  }

  /**
   * Soft-deletes (or restores) a thing and enqueues its listing jobs in the same transaction.
   * Deleting a thing that is already deleted writes nothing.
   *
   * @throws NotFoundException if the thing no longer exists; nothing is written
   * @throws IllegalArgumentException if its type lives on another database; nothing is written
   * @see #update
   */
  public Thing setDeleted(Session session, Thing thing, boolean deleted) {
    Objects.requireNonNull(thing, "thing must not be null");
    return update(session, thing.edit().deleted(deleted));
  }

  /**
   * Marks (or unmarks) a thing as spam and enqueues its listing jobs in the same transaction.
   *
   * @throws NotFoundException if the thing no longer exists; nothing is written
   * @throws IllegalArgumentException if its type lives on another database; nothing is written
   * @see #update
   */
  public Thing markSpam(Session session, Thing thing, boolean spam) {
    Objects.requireNonNull(thing, "thing must not be null");
    return update(session, thing.edit().spam(spam));
  }

  /**
   * Applies an edit through ThingDb and, in the same transaction, enqueues jobs for the listings of
   * the edited snapshot and of the result (an edit that moves a thing to another group leaves the
   * old group's listings and joins the new ones). An edit with no changes writes nothing.
   *
   * @param session records the commit and remembers the thing for the writer's own listing pages
   *     ({@link ListingReader#withSession}); may be null
   * @param update the edit
   * @return the thing as committed
   * @throws NotFoundException if the thing no longer exists; nothing is written
   * @throws IllegalArgumentException if its type lives on another database; nothing is written
   * @throws IllegalStateException if the routing fails; nothing is written
   */
  public Thing update(Session session, ThingUpdate update) {
    Objects.requireNonNull(update, "update must not be null");
    Thing base = update.base();
    checkOnQueueDatabase(base.type(), "update");
    if (update.isEmpty()) {
      return base;
    }
    Thing updated =
        db.withSession(session)
            .write(
                tx -> {
                  Thing t = tx.update(update);
                  LinkedHashSet<String> keys = new LinkedHashSet<>(routedKeys(base));
                  keys.addAll(routedKeys(t));
                  ListingQueue.enqueue(tx, ListingQueue.sortedKeys(keys), t.id());
                  return t;
                });
    remember(session, List.of(updated));
    return updated;
  }

  private void checkOnQueueDatabase(ThingType type, String what) {
    boolean on =
        onQueueDatabase.computeIfAbsent(
            type.name(),
            n ->
                queueDatabase.equals(
                    DatabaseIdentity.of(
                        db.databaseOf(type).primary(), "the primary of type " + n)));
    if (!on) {
      throw new IllegalArgumentException(
          what
              + " of a "
              + type.name()
              + ": ThingDb places type "
              + type.name()
              + " on another database than this listing queue ("
              + voted.name()
              + "'s), so the write and its"
              + " listing jobs could not commit in one transaction; build a Votes, ListingStore and"
              + " ListingProcessors on that database's primary for it; nothing was written");
    }
  }

  private List<String> routedKeys(Thing thing) {
    List<String> keys = new ArrayList<>();
    Collection<String> routed = routing.listingsOf(thing);
    if (routed == null) {
      throw new IllegalStateException(
          "listing routing " + routing + " returned null for " + thing.fullname());
    }
    for (String key : routed) {
      try {
        keys.add(store.checkKey(key));
      } catch (IllegalArgumentException | NullPointerException e) {
        throw new IllegalStateException(
            "listing routing "
                + routing
                + " returned a bad key for "
                + thing.fullname()
                + ": "
                + e.getMessage()
                + "; nothing was written",
            e);
      }
      if (ListingKeys.isRecomputed(key)) {
        throw new IllegalStateException(
            "listing routing "
                + routing
                + " returned "
                + key
                + " for "
                + thing.fullname()
                + ": keys <prefix>:top|controversial:<window> belong to ListingRecompute,"
                + " which replaces those listings whole; route per-write updates to other keys (such as"
                + " <prefix>:top for all-time top); nothing was written");
      }
    }
    return keys;
  }

  /**
   * The current direction of an account's vote on a thing (0 if none): the pair's relations through
   * core's cached {@link ThingDb#lookup} (published after every vote's COMMIT), else the database
   * as any read without a session.
   */
  public int direction(long accountId, long thingId) {
    return direction(null, accountId, thingId);
  }

  /**
   * {@link #direction(long, long)} read through {@code session} (null for none): a replica serves
   * it only once it has replayed the session's writes, so a voter reads back their own vote.
   */
  public int direction(Session session, long accountId, long thingId) {
    if (accountId < 1 || thingId < 1) {
      throw new IllegalArgumentException("ids start at 1 (" + describe(accountId, thingId) + ")");
    }
    Relation.Pair pair = new Relation.Pair(accountId, thingId);
    for (Relation r : db.withSession(session).lookup(relation, List.of(pair)).get(pair)) {
      if (DIRECTIONS.contains(r.name())) {
        return Integer.parseInt(r.name());
      }
    }
    return 0;
  }

  /** Why the thing could not be voted on: it is gone, or deleted. */
  private RuntimeException missingOrDeleted(WriteTransaction tx, long accountId, long thingId) {
    if (tx.get(voted, thingId).isPresent()) {
      return deleted(accountId, thingId);
    }
    return new NotFoundException(
        "no "
            + voted.name()
            + " with id "
            + thingId
            + " to vote on ("
            + describe(accountId, thingId)
            + "); nothing was written");
  }

  private VoteRejectedException deleted(long accountId, long thingId) {
    return new VoteRejectedException(
        "cannot vote on deleted "
            + voted.name()
            + " "
            + thingId
            + " ("
            + describe(accountId, thingId)
            + "); nothing was written");
  }

  private String describe(long accountId, long thingId) {
    return relation.name()
        + ": "
        + relation.thing1().name()
        + " "
        + accountId
        + " -> "
        + voted.name()
        + " "
        + thingId;
  }

  /**
   * Holds nothing of its own to close (core owns the cache work); kept for try-with-resources.
   * Idempotent.
   */
  @Override
  public void close() {}

  /** Builds {@link Votes}. Not thread-safe. */
  public static final class Builder {
    private final ThingDb db;
    private final DataSource dataSource;
    private final RelationType relation;
    private final ListingRouting routing;
    private final ListingStore store;
    private Clock clock = Clock.systemUTC();
    private Runnable committedHook = () -> {};

    private Builder(
        ThingDb db,
        DataSource dataSource,
        RelationType relation,
        ListingRouting routing,
        ListingStore store) {
      this.db = Objects.requireNonNull(db, "db must not be null");
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource must not be null");
      this.relation = Objects.requireNonNull(relation, "vote relation type must not be null");
      this.routing = Objects.requireNonNull(routing, "routing must not be null");
      this.store = Objects.requireNonNull(store, "store must not be null");
    }

    /** The clock that dates new vote relations. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    /**
     * A test seam run after a vote's COMMIT, before the voter moves the thing in the cached
     * listings: a test that halts the JVM here leaves the move to the queue.
     */
    Builder committedHook(Runnable hook) {
      this.committedHook = Objects.requireNonNull(hook, "hook");
      return this;
    }

    /**
     * Creates the queue tables if missing and returns the service.
     *
     * @throws ThingDbException if the database fails
     */
    public Votes build() {
      String queueDatabase = checkLayout();
      ListingQueue.createTables(dataSource);
      return new Votes(this, queueDatabase);
    }

    /**
     * The vote transaction is only real if the relation, the voted type and the queue share a
     * database, and a processor's batch only if the store is there too: refuse a DataSource that
     * does not hold the tables ThingDb created for them, or that holds same-named tables of another
     * database. Returns the queue database's identity.
     */
    private String checkLayout() {
      String rel = relation.name();
      String votedName = relation.thing2().name();
      String typeDb =
          DatabaseIdentity.of(
              db.databaseOf(relation.thing2()).primary(), "the primary of voted type " + votedName);
      String relationDb =
          DatabaseIdentity.of(
              db.databaseOf(relation).primary(), "the primary of vote relation " + rel);
      if (!typeDb.equals(relationDb)) {
        throw new IllegalArgumentException(
            "vote relation "
                + rel
                + " and voted type "
                + votedName
                + " are placed on different databases (ThingDb.builder().relation/.type): a vote's relation"
                + " row and the thing's ups/downs must commit in one transaction, so place them on one database");
      }
      List<String> missing =
          db.tablesMissingFrom(dataSource, List.of(relation.thing2()), List.of(relation));
      if (!missing.isEmpty()) {
        throw new IllegalArgumentException(
            "the vote database does not hold "
                + missing
                + ": the vote relation "
                + rel
                + " and the voted type "
                + relation.thing2().name()
                + " must be placed (ThingDb.builder()"
                + ".relation/.type) on the database whose DataSource is passed to Votes.builder, so that a vote,"
                + " its counts and its listing jobs commit in one transaction");
      }
      String queueDb = DatabaseIdentity.of(dataSource, "the DataSource passed to Votes.builder");
      if (!queueDb.equals(typeDb)) {
        throw new IllegalArgumentException(
            "the DataSource passed to Votes.builder reaches another database than"
                + " the one ThingDb places voted type "
                + votedName
                + " and vote relation "
                + rel
                + " on (it has"
                + " tables of the same names, not the same rows): pass that database's primary, so that a vote,"
                + " its counts and its listing jobs commit in one transaction; each database that holds voted"
                + " types has its own queue");
      }
      String storeDb = DatabaseIdentity.of(store.dataSource(), "the listing store's DataSource");
      if (!storeDb.equals(queueDb)) {
        throw new IllegalArgumentException(
            "the listing store is on another database than the vote queue of "
                + votedName
                + ": processors write a listing in the same transaction as they consume its jobs,"
                + " so build the ListingStore on the vote database's primary (each database that holds voted"
                + " types has its own queue, store and processors)");
      }
      return queueDb;
    }
  }
}

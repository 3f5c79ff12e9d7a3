package io.thingdb.core;

import static io.thingdb.core.ThingStoreSupport.count;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.InProcessCache;
import io.thingdb.core.ThingStoreFaultyDataSource.Moment;
import io.thingdb.testing.PostgresFixture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A {@link ThingDb#createAll} over three databases (links on one PostgreSQL server, comments on a
 * second, tags in another database of the first) commits one transaction per database, in that
 * order. When the comments database fails after the links committed, the caller learns exactly what
 * exists: the committed links, the comments rolled back or in doubt, the tags not attempted; and a
 * retry of what the exception says was not committed creates no duplicate.
 */
class PartialCommitTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
  static final ThingType COMMENT = ThingType.named("comment").props(TITLE).build();
  static final ThingType TAG = ThingType.named("tag").props(TITLE).build();

  static PostgresFixture first;
  static PostgresFixture second;
  static HikariDataSource links;
  static HikariDataSource tags;
  static HikariDataSource comments;
  static HikariDataSource commentsAdmin;
  static ThingStoreFaultyDataSource faultyComments;
  final List<AutoCloseable> open = new ArrayList<>();

  @BeforeAll
  static void startServers() {
    // Durable: the comments server is crashed, and must keep its tables across the crash.
    CompletableFuture<PostgresFixture> other =
        CompletableFuture.supplyAsync(PostgresFixture::durable);
    first = PostgresFixture.start();
    second = other.join();
    first.createDatabase("tags");
    links = ThingStoreSupport.pool(first.jdbcUrl());
    tags = ThingStoreSupport.pool(first.jdbcUrl("tags"));
    // A short acquire timeout: while the comments server is down, each attempt fails within 1 s.
    comments = ThingStoreSupport.pool(second.jdbcUrl(), 4, Duration.ofSeconds(1));
    commentsAdmin = ThingStoreSupport.pool(second.jdbcUrl(), 2, Duration.ofSeconds(30));
    faultyComments = new ThingStoreFaultyDataSource(comments, commentsAdmin);
  }

  @AfterAll
  static void stopServers() throws Exception {
    for (AutoCloseable c :
        new AutoCloseable[] {links, tags, comments, commentsAdmin, first, second}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @AfterEach
  void closeAndRestart() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
    open.clear();
    faultyComments.arm(null, null);
    faultyComments.killed.set(0);
    if (!second.isRunning()) {
      second.startAgain();
    }
    awaitConnectable(comments);
    for (HikariDataSource ds : List.of(links, comments, tags)) {
      for (String table : List.of("thing_link", "thing_comment", "thing_tag")) {
        ThingStoreSupport.execute(ds, "drop table if exists " + table.replace("thing_", "data_"));
        ThingStoreSupport.execute(ds, "drop table if exists " + table);
      }
    }
  }

  ThingDb db(java.util.function.Consumer<String> afterCommit) {
    InProcessCache cache = InProcessCache.create();
    open.add(cache);
    ThingDbBuilder b =
        ThingDb.builder()
            .database("links", Database.of(links))
            .database("comments", Database.of(faultyComments))
            .database("tags", Database.of(tags))
            .type(LINK, "links")
            .type(COMMENT, "comments")
            .type(TAG, "tags")
            .cache(cache);
    if (afterCommit != null) {
      b.afterCommitHook(afterCommit);
    }
    ThingDb db = b.build();
    open.add(0, db);
    return db;
  }

  /** Links, comments and tags interleaved: the databases are written links, comments, tags. */
  static List<NewThing> batch(ThingDb db, String round) {
    List<NewThing> out = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      out.add(db.newThing(LINK).set(TITLE, round + " link " + i));
      out.add(db.newThing(COMMENT).set(TITLE, round + " comment " + i));
      out.add(db.newThing(TAG).set(TITLE, round + " tag " + i));
    }
    return out;
  }

  /**
   * Polls (deadline 20 s) until the pool hands out a connection again: after the server came back,
   * HikariCP refills an emptied pool in the background, with its own backoff.
   */
  static void awaitConnectable(HikariDataSource ds) throws java.sql.SQLException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (true) {
      try (java.sql.Connection c = ds.getConnection()) {
        return;
      } catch (java.sql.SQLException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
      }
    }
  }

  static long rows(HikariDataSource ds, String type) {
    return count(ds, "select count(*) from thing_" + type);
  }

  @Test
  void aSecondDatabaseDownAfterTheFirstCommittedReportsWhatCommittedAndWhatToRetry()
      throws Exception {
    AtomicBoolean stopComments = new AtomicBoolean(true);
    ThingDb db =
        db(
            what -> {
              // Runs on the caller's thread after the links' COMMIT, before the comments' turn.
              if (what.equals("create link") && stopComments.compareAndSet(true, false)) {
                second.stopImmediate();
              }
            });
    List<NewThing> input = batch(db, "down");

    PartialCommitException e =
        catchThrowableOfType(PartialCommitException.class, () -> db.createAll(input));

    assertThat(e).as("createAll must report the committed part").isNotNull();
    assertThat(stopComments).as("the comments server was stopped").isFalse();
    assertThat(e.failedDatabase()).isEqualTo("comments");
    assertThat(e.outcomeUnknown()).isFalse();
    assertThat(e.committed()).containsOnlyKeys("links");
    List<Thing> committedLinks = e.committed().get("links");
    assertThat(committedLinks)
        .extracting(t -> t.get(TITLE))
        .containsExactly("down link 0", "down link 1");
    // the comments (rolled back) and the tags (never attempted), in input order
    assertThat(e.notCommitted())
        .containsExactly(input.get(1), input.get(2), input.get(4), input.get(5));
    assertThat(e.inDoubt()).isEmpty();
    assertThat(e)
        .hasMessageContaining("committed 2 things on database links")
        .hasMessageContaining("database comments failed and rolled back")
        .hasMessageContaining("4 things were certainly not created")
        .hasMessageContaining("never the whole batch");
    assertThat(e.getCause()).isInstanceOf(ThingDbException.class);

    second.startAgain();
    awaitConnectable(comments);
    // The failures above may have opened the circuit of comments; its probe (every 250 ms, each
    // waiting for the pool up to its 1 s timeout) closes it once the pool hands it a connection,
    // which can be just after awaitConnectable got one. Until then a retry fails fast by design.
    long closedBy = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (db.unavailable("comments").isPresent()) {
      assertThat(System.nanoTime() - closedBy).as("circuit of comments still open").isNegative();
      Thread.sleep(20); // polling with a deadline
    }
    assertThat(rows(links, "link")).isEqualTo(2);
    assertThat(rows(comments, "comment")).isZero();
    assertThat(rows(tags, "tag")).isZero();
    for (Thing link : committedLinks) {
      assertThat(db.get(LINK, link.id())).contains(link);
    }

    // The retry the Javadoc prescribes creates the rest, and nothing twice.
    List<Thing> rest = db.createAll(e.notCommitted());
    assertThat(rest)
        .extracting(t -> t.get(TITLE))
        .containsExactly("down comment 0", "down tag 0", "down comment 1", "down tag 1");
    assertThat(rows(links, "link")).isEqualTo(2);
    assertThat(rows(comments, "comment")).isEqualTo(2);
    assertThat(rows(tags, "tag")).isEqualTo(2);
  }

  @Test
  void aSecondDatabaseLostAtCommitLeavesItsPartInDoubtAndTheRestNotCommitted() {
    ThingDb db = db(null);
    List<NewThing> input = batch(db, "commit");
    faultyComments.arm(Moment.BEFORE_COMMIT, null);

    PartialCommitException e =
        catchThrowableOfType(PartialCommitException.class, () -> db.createAll(input));

    assertThat(e).as("createAll must report the committed part").isNotNull();
    assertThat(faultyComments.killed.get()).as("the comments' connection was killed").isEqualTo(1);
    assertThat(e.failedDatabase()).isEqualTo("comments");
    assertThat(e.outcomeUnknown()).isTrue();
    assertThat(e.getCause()).isInstanceOf(OutcomeUnknownException.class);
    assertThat(e.committed().get("links"))
        .extracting(t -> t.get(TITLE))
        .containsExactly("commit link 0", "commit link 1");
    assertThat(e.inDoubt()).containsExactly(input.get(1), input.get(4));
    assertThat(e.notCommitted()).containsExactly(input.get(2), input.get(5));
    assertThat(e)
        .hasMessageContaining("database comments failed during COMMIT")
        .hasMessageContaining("its 2 things may or may not have been created")
        .hasMessageContaining("check inDoubt() first");
    // The backend died before COMMIT reached it: in truth the comments were not created.
    assertThat(rows(links, "link")).isEqualTo(2);
    assertThat(rows(commentsAdmin, "comment")).isZero();
    assertThat(rows(tags, "tag")).isZero();
  }

  @Test
  void aFailureOfTheFirstDatabaseIsReportedAsItselfWithNothingCommitted() {
    ThingDb db = db(null);
    List<NewThing> input = new ArrayList<>(batch(db, "first"));
    input.add(0, input.remove(1)); // a comment first: the comments database is written first
    faultyComments.arm(Moment.BEFORE_COMMIT, null);

    OutcomeUnknownException e =
        catchThrowableOfType(OutcomeUnknownException.class, () -> db.createAll(input));

    assertThat(e).isNotNull().isNotInstanceOf(PartialCommitException.class);
    assertThat(e).hasMessageContaining("database comments");
    assertThat(rows(links, "link")).isZero();
    assertThat(rows(tags, "tag")).isZero();
  }
}

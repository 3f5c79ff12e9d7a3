package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.core.Database;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbException;
import io.thingdb.core.ThingType;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The configuration refuses layouts in which a write and its listing jobs, or a processor's batch
 * and its listing row, could not commit in one transaction; windowed top/controversial listings
 * belong to the recompute and are never fed per write; bad input gets a clear error.
 */
class ListingLayoutTest {
  static final ThingType COMMENT = ThingType.named("comment").build();
  static PostgresFixture pg;
  static DataSource a;
  static DataSource b;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    a = pg.createDatabase("layout_a");
    b = pg.createDatabase("layout_b");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @Test
  void aVoteRelationOnAnotherDatabaseThanTheVotedTypeIsRefused() {
    DataSource links = pg.createDatabase("layout_links");
    DataSource votes = pg.createDatabase("layout_votes");
    try (ThingDb db =
            ThingDb.builder()
                .database("links", Database.of(links))
                .database("votes", Database.of(votes))
                .type(VoteWorld.ACCOUNT, "links")
                .type(VoteWorld.LINK, "links")
                .relation(VoteWorld.VOTE, "votes")
                .noCache()
                .build();
        ListingStore store = ListingStore.builder(links).build()) {
      for (DataSource ds : List.of(links, votes)) {
        assertThatThrownBy(
                () ->
                    Votes.builder(db, ds, VoteWorld.VOTE, new VoteWorld.Routing(10), store).build())
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage(
                "vote relation vote and voted type link are placed on different databases"
                    + " (ThingDb.builder().relation/.type): a vote's relation row and the thing's ups/downs"
                    + " must commit in one transaction, so place them on one database");
      }
    }
  }

  @Test
  void aDataSourceOfAnotherDatabaseHoldingTablesOfTheSameNamesIsRefused() {
    try (VoteWorld wa = new VoteWorld(a, 10);
        VoteWorld wb = new VoteWorld(b, 10)) {
      assertThatThrownBy(
              () -> Votes.builder(wa.db, b, VoteWorld.VOTE, wa.routing, wb.store).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "the DataSource passed to Votes.builder reaches another database than the one ThingDb"
                  + " places voted type link and vote relation vote on (it has tables of the same names, not"
                  + " the same rows): pass that database's primary, so that a vote, its counts and its listing"
                  + " jobs commit in one transaction; each database that holds voted types has its own queue");
    }
  }

  @Test
  void aListingStoreOnAnotherDatabaseThanTheQueueIsRefusedByVotesAndProcessors() {
    try (VoteWorld wa = new VoteWorld(a, 10);
        VoteWorld wb = new VoteWorld(b, 10)) {
      assertThatThrownBy(
              () -> Votes.builder(wa.db, a, VoteWorld.VOTE, wa.routing, wb.store).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "the listing store is on another database than the vote queue of link: processors"
                  + " write a listing in the same transaction as they consume its jobs, so build the"
                  + " ListingStore on the vote database's primary (each database that holds voted types has"
                  + " its own queue, store and processors)");
      assertThatThrownBy(() -> ListingProcessors.builder(wa.db, a, wb.store, wa.routing).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "the listing store is on another database than the queue the processors consume: a"
                  + " batch writes the listing in the same transaction as it deletes the jobs, so build the"
                  + " ListingStore and the ListingProcessors on the same database's primary");
    }
  }

  @Test
  void anotherPoolOverTheSameDatabaseIsAccepted() throws Exception {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.jdbcUrl("layout_a"));
    config.setMaximumPoolSize(2);
    config.setPoolName("layout-a-second");
    try (HikariDataSource pool = new HikariDataSource(config);
        VoteWorld wa = new VoteWorld(a, 10);
        Votes votes = Votes.builder(wa.db, pool, VoteWorld.VOTE, wa.routing, wa.store).build();
        ListingProcessors p =
            ListingProcessors.builder(wa.db, pool, wa.store, wa.routing).build()) {
      Thing link =
          votes.submit(
              wa.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 31L).set(VoteWorld.AUTHOR, 1L));
      Thing account = wa.db.create(wa.db.newThing(VoteWorld.ACCOUNT));
      assertThat(votes.cast(account.id(), link.id(), 1).ups()).isEqualTo(1);
      p.drain();
      assertThat(wa.store.get("sr:31:top").orElseThrow().visible())
          .extracting(Listing.Entry::id)
          .containsExactly(link.id());
    }
  }

  @Test
  void aSubmitOfATypeOnAnotherDatabaseIsRefusedAndWritesNothing() throws Exception {
    DataSource main = pg.createDatabase("layout_main");
    DataSource comments = pg.createDatabase("layout_comments");
    try (ThingDb db =
            ThingDb.builder()
                .database("main", Database.of(main))
                .database("comments", Database.of(comments))
                .type(VoteWorld.ACCOUNT, "main")
                .type(VoteWorld.LINK, "main")
                .type(COMMENT, "comments")
                .relation(VoteWorld.VOTE, "main")
                .noCache()
                .build();
        ListingStore store = ListingStore.builder(main).build();
        Votes votes =
            Votes.builder(db, main, VoteWorld.VOTE, new VoteWorld.Routing(10), store).build()) {
      assertThatThrownBy(() -> votes.submit(db.newThing(COMMENT)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "submit of a comment: ThingDb places type comment on another database than this listing"
                  + " queue (link's), so the write and its listing jobs could not commit in one transaction;"
                  + " build a Votes, ListingStore and ListingProcessors on that database's primary for it;"
                  + " nothing was written");
      try (Connection c = comments.getConnection();
          Statement st = c.createStatement();
          var rs = st.executeQuery("select count(*) from thing_comment")) {
        rs.next();
        assertThat(rs.getLong(1)).isZero();
      }
      Thing comment = db.create(db.newThing(COMMENT));
      assertThatThrownBy(() -> votes.setDeleted(null, comment, true))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith(
              "update of a comment: ThingDb places type comment on another database");
      assertThat(db.get(COMMENT, comment.id()).orElseThrow().deleted()).isFalse();
    }
  }

  /** The VoteWorld routing plus {@code sr:<sr>:top:day}, a key the recompute owns. */
  static final class WindowedRouting implements ListingRouting {
    final VoteWorld.Routing base = new VoteWorld.Routing(10);

    @Override
    public Collection<String> listingsOf(Thing thing) {
      List<String> keys = new ArrayList<>(base.listingsOf(thing));
      keys.add("sr:" + thing.get(VoteWorld.SR) + ":top:day");
      return keys;
    }

    @Override
    public ListingDefinition definition(String key) {
      return base.definition(key);
    }

    @Override
    public String toString() {
      return "windowed routing";
    }
  }

  @Test
  void aRoutingThatFeedsAWindowedListingPerWriteIsRefusedAndNothingIsWritten() throws Exception {
    try (VoteWorld w = new VoteWorld(a, 10);
        Votes windowed =
            Votes.builder(w.db, a, VoteWorld.VOTE, new WindowedRouting(), w.store).build()) {
      long links = w.count("select count(*) from thing_link");
      assertThatThrownBy(
              () -> windowed.submit(w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 41L)))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("listing routing windowed routing returned sr:41:top:day for t")
          .hasMessageEndingWith(
              ": keys <prefix>:top|controversial:<window> belong to ListingRecompute, which"
                  + " replaces those listings whole; route per-write updates to other keys (such as <prefix>:top"
                  + " for all-time top); nothing was written");
      assertThat(w.count("select count(*) from thing_link")).isEqualTo(links);

      Thing link =
          w.votes.submit(
              w.db.newThing(VoteWorld.LINK).set(VoteWorld.SR, 41L).set(VoteWorld.AUTHOR, 1L));
      Thing account = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
      long jobs = w.count("select count(*) from thingdb_listing_job");
      assertThatThrownBy(() -> windowed.cast(account.id(), link.id(), 1))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("returned sr:41:top:day for " + link.fullname());
      assertThat(w.count("select count(*) from rel_vote where thing2_id = " + link.id())).isZero();
      assertThat(w.rows().get(link.id()).ups()).isZero();
      assertThat(w.count("select count(*) from thingdb_listing_job")).isEqualTo(jobs);
    }
  }

  @Test
  void aProcessorRefusesJobsForAListingTheRecomputeOwnsAndKeepsThem() throws Exception {
    try (VoteWorld w = new VoteWorld(pg.createDatabase("layout_refuse"), 10);
        ListingProcessors p = w.processors().build()) {
      try (Connection c = w.ds.getConnection();
          Statement st = c.createStatement()) {
        st.execute(
            "insert into thingdb_listing_job (listing_key, thing_id) values ('sr:9:controversial:week', 1)");
      }
      assertThatThrownBy(p::processOne)
          .isInstanceOf(ThingDbException.class)
          .hasMessage(
              "listing batch for sr:9:controversial:week failed and was rolled back; its jobs stay"
                  + " queued: listing sr:9:controversial:week has jobs, but keys <prefix>:top|controversial:"
                  + "<window> belong to ListingRecompute, which replaces them whole; Votes refuses to route"
                  + " writes to them, so these jobs were inserted some other way");
      assertThat(p.queueDepth()).isEqualTo(1);
    }
  }

  @Test
  void votesAndProcessorsNeverWriteTheListingsTheRecomputeOwns() throws Exception {
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    try (VoteWorld w = new VoteWorld(pg.createDatabase("layout_owned"), 10);
        ListingProcessors p = w.processors().build()) {
      List<Thing> links = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        links.add(
            w.votes.submit(
                w.db
                    .newThing(VoteWorld.LINK)
                    .set(VoteWorld.SR, 1L)
                    .set(VoteWorld.AUTHOR, 2L)
                    .date(now.minus(i, ChronoUnit.HOURS))));
      }
      p.drain();
      ListingRecompute recompute =
          ListingRecompute.builder(w.db, w.ds, w.store, VoteWorld.LINK, VoteWorld.SR)
              .capacity(10)
              .windows(EnumSet.of(TimeWindow.DAY, TimeWindow.HOUR))
              .group("sr:1", 1)
              .build();
      recompute.runOnce();
      recompute.close();
      long dayVersion = w.count("select version from thingdb_listing where key = 'sr:1:top:day'");
      long topVersion = w.count("select version from thingdb_listing where key = 'sr:1:top'");
      Thing account = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
      for (Thing t : links) {
        w.votes.cast(account.id(), t.id(), 1);
      }
      w.votes.setDeleted(null, links.get(0), true);
      p.drain();
      assertThat(w.count("select version from thingdb_listing where key = 'sr:1:top:day'"))
          .isEqualTo(dayVersion);
      assertThat(w.count("select version from thingdb_listing where key = 'sr:1:top:hour'"))
          .isEqualTo(1);
      assertThat(w.count("select version from thingdb_listing where key = 'sr:1:top'"))
          .isGreaterThan(topVersion);
      assertThat(w.count("select count(*) from thingdb_listing_job")).isZero();
    }
  }

  @Test
  void onlyTheRecomputeKeyFormatCountsAsWindowed() {
    for (String key :
        List.of(
            "sr:5:top:hour",
            "sr:5:top:day",
            "sr:5:controversial:week",
            "x:top:month",
            "user:7:top:year",
            "sr:5:top:all",
            "sr:5:controversial:all")) {
      assertThat(ListingKeys.isRecomputed(key)).as(key).isTrue();
      assertThat(
              ListingKeys.isRecomputed(
                  ListingRecompute.key("sr:5", ListingSort.TOP, TimeWindow.DAY)))
          .isTrue();
    }
    for (String key :
        List.of(
            "sr:5:top",
            "sr:5:hot",
            "sr:5:new",
            "sr:5:controversial",
            "sr:5:hot:day",
            "user:7:submitted:new",
            "top:day",
            "sr:5:top:fortnight",
            "sr:5:stop:day",
            "day")) {
      assertThat(ListingKeys.isRecomputed(key)).as(key).isFalse();
    }
  }

  @Test
  void badConfigurationAndInputGetClearErrors() {
    try (VoteWorld w = new VoteWorld(a, 10)) {
      assertThatThrownBy(() -> new ListingDefinition(VoteWorld.LINK, null, ListingSort.HOT, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing capacity must be between 1 and 1000000 (capacity=0)");
      assertThatThrownBy(() -> new ListingDefinition(VoteWorld.LINK, null, ListingSort.HOT, -3))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing capacity must be between 1 and 1000000 (capacity=-3)");
      assertThatThrownBy(() -> w.processors().threads(0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing processor threads must be between 1 and 64 (threads=0)");
      assertThatThrownBy(() -> w.processors().idleWait(Duration.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("idle wait must be between 1 ms and 1 minute: PT0S");
      ListingReader reader =
          ListingReader.create(
              w.db, w.store, VoteWorld.LINK, VoteWorld.AUTHOR, java.time.Clock.systemUTC());
      assertThatThrownBy(() -> reader.page("forum:1:hot", null, 10, TimeWindow.ALL))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "listing key 'forum:1:hot' does not match the configured listing key pattern"
                  + " (sr|user):\\d+:[a-z:]+");
      assertThatThrownBy(
              () ->
                  reader.page("sr:1:hot", Listing.Cursor.parse("not-a-cursor"), 10, TimeWindow.ALL))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("malformed listing cursor \"not-a-cursor\": expected 22 characters, got 12");
    }
  }
}

package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Fullnames;
import io.thingdb.core.NewThing;
import io.thingdb.core.Thing;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Paging by fullname ({@link ListingReader#pageByFullname}): the {@code after} of a web API. The
 * listings are written by the real pipeline (transactional submits, votes, queue processors, the
 * recompute) over PostgreSQL and memcached.
 */
class ListingReaderFullnameTest {
  static final int CAPACITY = 40;
  static final Instant NOW = Instant.now().truncatedTo(ChronoUnit.MICROS);
  static final AtomicInteger databases = new AtomicInteger();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  static PostgresFixture pg;
  HikariDataSource ds;
  VoteWorld w;
  ListingProcessors processors;
  ListingReader reader;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    // A fresh database per test; the extension has flushed memcached, whose keys would repeat.
    ds = Pools.create(pg, "fullname_" + databases.incrementAndGet(), 8);
    w =
        new VoteWorld(
            ds,
            CAPACITY,
            ds,
            MemcachedCache.builder().servers(memcached.cluster().servers()).build());
    processors = w.processors().build();
    reader =
        ListingReader.create(
            w.db,
            w.store,
            w.routing,
            VoteWorld.LINK,
            VoteWorld.AUTHOR,
            Clock.fixed(NOW, ZoneOffset.UTC));
  }

  @AfterEach
  void close() {
    processors.close();
    w.close();
    ds.close();
  }

  NewThing link(long sr, long author, boolean spam, int minutesAgo, int ups, int downs) {
    return w.db
        .newThing(VoteWorld.LINK)
        .set(VoteWorld.SR, sr)
        .set(VoteWorld.AUTHOR, author)
        .spam(spam)
        .date(NOW.minus(minutesAgo, ChronoUnit.MINUTES))
        .votes(ups, downs);
  }

  static List<Long> ids(List<Thing> things) {
    return things.stream().map(Thing::id).toList();
  }

  /** Every item of a listing, paging with cursors. */
  List<Long> walkByCursor(Long viewer, String key, int limit, TimeWindow window) {
    List<Long> out = new ArrayList<>();
    Listing.Cursor cursor = null;
    for (int pages = 0; pages < 1000; pages++) {
      ListingReader.Page p =
          viewer == null
              ? reader.page(key, cursor, limit, window)
              : reader.pageFor(viewer, key, cursor, limit, window);
      out.addAll(ids(p.items()));
      if (!p.hasNext()) {
        return out;
      }
      cursor = p.next();
    }
    throw new AssertionError("paging " + key + " did not end");
  }

  /** Every item of a listing, paging with the fullname of each page's last item. */
  List<Long> walkByFullname(Long viewer, String key, int limit, TimeWindow window) {
    List<Long> out = new ArrayList<>();
    String after = null;
    for (int pages = 0; pages < 1000; pages++) {
      ListingReader.Page p =
          viewer == null
              ? reader.pageByFullname(key, after, limit, window)
              : reader.pageForByFullname(viewer, key, after, limit, window);
      out.addAll(ids(p.items()));
      if (!p.hasNext()) {
        assertThat(p.after()).isNull();
        return out;
      }
      assertThat(p.after()).isEqualTo(p.items().get(p.items().size() - 1).fullname());
      after = p.after();
    }
    throw new AssertionError("paging " + key + " did not end");
  }

  @Test
  void pagingByFullnameGivesTheSameSequenceAsPagingByCursor() {
    SplittableRandom random = new SplittableRandom(41);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      batch.add(
          link(
              1,
              1 + i % 3,
              i % 10 == 0,
              random.nextInt(3 * 24 * 60),
              random.nextInt(40),
              random.nextInt(40)));
    }
    List<Thing> things = w.votes.submitAll(null, batch);
    for (int i = 1; i < things.size(); i += 11) {
      w.votes.setDeleted(null, things.get(i), true);
    }
    for (int i = 0; i < 200; i++) {
      int j = random.nextInt(things.size());
      if (j % 11 != 1) { // not on the deleted ones
        w.votes.cast(1000 + i, things.get(j).id(), random.nextBoolean() ? 1 : -1);
      }
    }
    processors.drain();
    try (ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(CAPACITY)
            .clock(Clock.fixed(NOW, ZoneOffset.UTC))
            .windows(Set.of(TimeWindow.DAY, TimeWindow.WEEK))
            .group("sr:1", 1)
            .build()) {
      r.runOnce();
    }
    // Marked as spam behind the queue's back (no jobs): the listings still hold these, so pages
    // must skip them for everyone but their author, account 2.
    for (int i = 4; i < things.size(); i += 6) { // author 1 + i % 3 = 2
      if (i % 11 != 1) {
        w.db
            .withSession(w.db.session())
            .markSpam(w.db.get(VoteWorld.LINK, things.get(i).id()).orElseThrow(), true);
      }
    }

    record Case(String key, TimeWindow window) {}
    List<Case> cases = new ArrayList<>();
    for (String sort : VoteWorld.SR_SORTS) {
      cases.add(new Case("sr:1:" + sort, TimeWindow.ALL));
    }
    cases.add(new Case("user:2:submitted:new", TimeWindow.ALL));
    cases.add(new Case("user:3:submitted:new", TimeWindow.ALL));
    cases.add(new Case("sr:1:top:day", TimeWindow.DAY));
    cases.add(new Case("sr:1:controversial:week", TimeWindow.WEEK));
    for (Case c : cases) {
      for (Long viewer : new Long[] {null, 2L}) {
        List<Long> byCursor = walkByCursor(viewer, c.key(), 100, c.window());
        for (int limit : new int[] {1, 7, 25}) {
          assertThat(walkByFullname(viewer, c.key(), limit, c.window()))
              .as("%s, viewer %s, limit %d", c.key(), viewer, limit)
              .isEqualTo(walkByCursor(viewer, c.key(), limit, c.window()))
              .isEqualTo(byCursor);
        }
      }
    }
    // The walks were not trivially short or empty: listings overflow their capacity here.
    assertThat(walkByCursor(2L, "sr:1:hot", 100, TimeWindow.ALL)).hasSize(CAPACITY);
    assertThat(walkByCursor(null, "sr:1:hot", 100, TimeWindow.ALL))
        .hasSizeBetween(20, CAPACITY - 1);
    assertThat(walkByCursor(2L, "user:2:submitted:new", 100, TimeWindow.ALL))
        .hasSizeGreaterThan(25)
        .hasSizeGreaterThan(walkByCursor(null, "user:2:submitted:new", 100, TimeWindow.ALL).size());
    assertThat(walkByCursor(null, "sr:1:top:day", 100, TimeWindow.DAY)).hasSizeGreaterThan(7);
  }

  @Test
  void anItemThatDroppedOutStillContinuesFromItsPosition() {
    // Distinct dates, scores and hotness: every sort orders these 30 links the same way.
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      batch.add(link(2, 1, false, 10 * i, 300 - 10 * i, 0));
    }
    List<Thing> things = w.votes.submitAll(null, batch);
    processors.drain();
    List<Long> all = ids(things);
    for (String key : List.of("sr:2:new", "sr:2:top", "sr:2:hot")) {
      assertThat(walkByFullname(null, key, 100, TimeWindow.ALL)).as(key).isEqualTo(all);
    }

    ListingReader.Page first = reader.pageByFullname("sr:2:new", null, 5, TimeWindow.ALL);
    assertThat(ids(first.items())).isEqualTo(all.subList(0, 5));
    String fifth = first.after();
    assertThat(fifth).isEqualTo(things.get(4).fullname());

    // Deleted: the processors drop it from every listing; a fullname cursor on it continues below
    // it.
    w.votes.setDeleted(null, things.get(4), true);
    processors.drain();
    assertThat(w.store.get("sr:2:new").orElseThrow().entry(things.get(4).id())).isEmpty();
    assertThat(ids(reader.pageByFullname("sr:2:new", fifth, 5, TimeWindow.ALL).items()))
        .isEqualTo(all.subList(5, 10));
    // The same as the cursor taken before it dropped out.
    assertThat(ids(reader.page("sr:2:new", first.next(), 5, TimeWindow.ALL).items()))
        .isEqualTo(all.subList(5, 10));

    // Marked as spam: dropped from top and hot; the position comes from the row's score and
    // hotness.
    String tenth = things.get(9).fullname();
    w.votes.markSpam(null, things.get(9), true);
    processors.drain();
    for (String key : List.of("sr:2:top", "sr:2:hot")) {
      assertThat(w.store.get(key).orElseThrow().entry(things.get(9).id())).as(key).isEmpty();
      assertThat(ids(reader.pageByFullname(key, tenth, 3, TimeWindow.ALL).items()))
          .as(key)
          .isEqualTo(all.subList(10, 13));
      // Its author still sees nothing above it again: the page starts after it, not at the top.
      assertThat(ids(reader.pageForByFullname(1, key, tenth, 3, TimeWindow.ALL).items()))
          .as(key)
          .isEqualTo(all.subList(10, 13));
    }

    // Voted down to the bottom (it stays in the listing, at its new place): the page continues
    // from where it is now.
    Thing third = things.get(2);
    for (int i = 0; i < 300; i++) {
      w.votes.cast(5000 + i, third.id(), -1);
    }
    processors.drain();
    ListingReader.Page afterMoved =
        reader.pageByFullname("sr:2:top", third.fullname(), 5, TimeWindow.ALL);
    assertThat(afterMoved.items()).isEmpty();
    assertThat(afterMoved.hasNext()).isFalse();
  }

  @Test
  void anItemOutsideARecomputedWindowContinuesFromItsScore() {
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      batch.add(link(3, 1, false, 30 + i, 100 - i, 0));
    }
    // Two days old, so never in the day's listing; its score, 95, is that of the 6th link.
    batch.add(link(3, 1, false, 2 * 24 * 60, 95, 0));
    List<Thing> things = w.votes.submitAll(null, batch);
    processors.drain();
    try (ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(CAPACITY)
            .clock(Clock.fixed(NOW, ZoneOffset.UTC))
            .windows(Set.of(TimeWindow.DAY))
            .group("sr:3", 3)
            .build()) {
      r.runOnce();
    }
    Thing old = things.get(12);
    assertThat(w.store.get("sr:3:top:day").orElseThrow().entry(old.id())).isEmpty();
    // Score 95 ties with the 6th link (100 - 5); the tie goes by id, and the old one is the newest
    // id.
    assertThat(
            ids(reader.pageByFullname("sr:3:top:day", old.fullname(), 3, TimeWindow.DAY).items()))
        .isEqualTo(ids(things.subList(5, 8)));
  }

  @Test
  void badFullnamesAreRefusedNamingTheInput() {
    List<Thing> things =
        w.votes.submitAll(null, List.of(link(4, 1, false, 1, 1, 0), link(4, 1, false, 2, 1, 0)));
    processors.drain();
    Thing account = w.db.create(w.db.newThing(VoteWorld.ACCOUNT));
    int linkType = Fullnames.parse(things.get(0).fullname()).typeId();

    for (String bad : List.of("t3_", "banana", "T3_ab", "t3_AB", "t0_1", "t3_-1")) {
      assertThatThrownBy(() -> reader.pageByFullname("sr:4:new", bad, 10, TimeWindow.ALL))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("bad after cursor '" + bad + "' for listing sr:4:new")
          .hasMessageContaining("malformed fullname");
    }
    assertThatThrownBy(
            () -> reader.pageForByFullname(1, "sr:4:new", account.fullname(), 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad after cursor '"
                + account.fullname()
                + "' for listing sr:4:new: it names a thing of"
                + " type account, and the listing holds link things");
    String relation = Fullnames.relation(linkType, 1);
    assertThatThrownBy(() -> reader.pageByFullname("sr:4:new", relation, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad after cursor '"
                + relation
                + "' for listing sr:4:new: it names a relation, not a link");
    String unregistered = Fullnames.thing(linkType + 1000, 1);
    assertThatThrownBy(() -> reader.pageByFullname("sr:4:new", unregistered, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad after cursor '" + unregistered + "'")
        .hasMessageContaining("not registered");
    // A link id that never existed: there is no position, so no page (not the top, not the end).
    String gone = Fullnames.thing(linkType, things.get(1).id() + 1000);
    assertThatThrownBy(() -> reader.pageByFullname("sr:4:new", gone, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "bad after cursor '"
                + gone
                + "' for listing sr:4:new: it names no link that exists"
                + " (ThingDb keeps deleted things, so it never named one), and there is no position to continue from");
    // The key and limit are checked first, as for cursors.
    assertThatThrownBy(
            () -> reader.pageByFullname("sr:4:new", things.get(0).fullname(), 0, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("page limit must be between 1 and 100 (limit=0, key=sr:4:new)");
    // A good one, for contrast.
    assertThat(
            ids(
                reader
                    .pageByFullname("sr:4:new", things.get(0).fullname(), 10, TimeWindow.ALL)
                    .items()))
        .containsExactly(things.get(1).id());
  }

  @Test
  void aReaderWithoutTheRoutingPagesOnlyRecomputeKeysByFullname() {
    List<Thing> things =
        w.votes.submitAll(
            null,
            List.of(
                link(5, 1, false, 1, 3, 0),
                link(5, 1, false, 2, 2, 0),
                link(5, 1, false, 3, 1, 0)));
    processors.drain();
    try (ListingRecompute r =
        ListingRecompute.builder(w.db, ds, w.store, VoteWorld.LINK, VoteWorld.SR)
            .capacity(CAPACITY)
            .clock(Clock.fixed(NOW, ZoneOffset.UTC))
            .windows(Set.of(TimeWindow.HOUR))
            .group("sr:5", 5)
            .build()) {
      r.runOnce();
    }
    ListingReader plain =
        ListingReader.create(
            w.db, w.store, VoteWorld.LINK, VoteWorld.AUTHOR, Clock.fixed(NOW, ZoneOffset.UTC));
    String first = things.get(0).fullname();
    assertThat(ids(plain.pageByFullname("sr:5:top:hour", first, 10, TimeWindow.HOUR).items()))
        .isEqualTo(ids(things.subList(1, 3)));
    // Refused on the first page, not only once an item has dropped out.
    assertThatThrownBy(() -> plain.pageByFullname("sr:5:top", first, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("cannot continue listing sr:5:top after a thing")
        .hasMessageContaining("created without the ListingRouting");
    assertThat(ids(plain.pageByFullname("sr:5:top", null, 10, TimeWindow.ALL).items()))
        .isEqualTo(ids(things));
    // A key of another type's listing is refused by the routing-aware reader.
    ListingReader accounts =
        ListingReader.create(
            w.db, w.store, w.routing, VoteWorld.ACCOUNT, t -> 0L, Clock.fixed(NOW, ZoneOffset.UTC));
    assertThatThrownBy(() -> accounts.pageByFullname("sr:5:top", first, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "listing sr:5:top holds link things (routing test routing), and this reader reads account things");
  }
}

package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.core.NewThing;
import io.thingdb.core.Thing;
import io.thingdb.testing.PostgresFixture;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ListingReaderTest {
  static PostgresFixture pg;
  static DataSource ds;
  static final Instant NOW = Instant.now().truncatedTo(ChronoUnit.MICROS);
  VoteWorld w;
  ListingReader reader;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("reader");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  @BeforeEach
  void open() {
    w = new VoteWorld(ds, 1000);
    reader =
        ListingReader.create(
            w.db, w.store, VoteWorld.LINK, VoteWorld.AUTHOR, Clock.fixed(NOW, ZoneOffset.UTC));
  }

  @AfterEach
  void close() {
    w.close();
  }

  NewThing link(long sr, long author, boolean spam, Instant date) {
    return w.db
        .newThing(VoteWorld.LINK)
        .set(VoteWorld.SR, sr)
        .set(VoteWorld.AUTHOR, author)
        .spam(spam)
        .date(date);
  }

  /** Puts the things into the listing in the given order (first is best). */
  void put(String key, List<Thing> things) {
    List<Listing.Entry> entries = new ArrayList<>();
    for (int i = 0; i < things.size(); i++) {
      entries.add(
          new Listing.Entry(things.get(i).id(), things.get(i).version(), things.size() - i));
    }
    Listing l = Listing.create(1000);
    l.replaceAll(entries, true);
    w.store.put(key, l);
  }

  static List<Long> ids(List<Thing> things) {
    return things.stream().map(Thing::id).toList();
  }

  /** Every item, paging with {@code limit}; checks that every page but the last is full. */
  List<Long> readAll(Long viewer, String key, int limit, TimeWindow window) {
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
      assertThat(p.items()).hasSize(limit);
      cursor = Listing.Cursor.parse(p.next().encode());
    }
    throw new AssertionError("did not end");
  }

  @Test
  void authorSeesOwnSpamOthersDoNotAndDeletedIsHiddenForAll() {
    Instant d = NOW.minusSeconds(60);
    List<Thing> things =
        new ArrayList<>(
            w.db.createAll(
                List.of(
                    link(1, 7, false, d),
                    link(1, 7, true, d),
                    link(1, 8, true, d),
                    link(1, 7, false, d),
                    link(1, 8, false, d))));
    Thing deleted = w.db.withSession(w.db.session()).setDeleted(things.get(3), true);
    Thing deletedSpam = w.db.createAll(List.of(link(1, 7, true, d))).get(0);
    deletedSpam = w.db.withSession(w.db.session()).setDeleted(deletedSpam, true);
    things.add(deletedSpam);
    put("sr:1:new", things);
    long a = things.get(0).id();
    long spam7 = things.get(1).id();
    long spam8 = things.get(2).id();
    long e = things.get(4).id();
    assertThat(deleted.deleted()).isTrue();

    assertThat(ids(reader.page("sr:1:new", null, 10, TimeWindow.ALL).items()))
        .containsExactly(a, e);
    assertThat(ids(reader.pageFor(7, "sr:1:new", null, 10, TimeWindow.ALL).items()))
        .containsExactly(a, spam7, e);
    assertThat(ids(reader.pageFor(8, "sr:1:new", null, 10, TimeWindow.ALL).items()))
        .containsExactly(a, spam8, e);
    assertThat(ids(reader.pageFor(9, "sr:1:new", null, 10, TimeWindow.ALL).items()))
        .containsExactly(a, e);
    assertThat(reader.page("sr:1:new", null, 10, TimeWindow.ALL).hasNext()).isFalse();

    // Marked as spam after the listing was written: hidden at once, except to its author.
    w.db.withSession(w.db.session()).markSpam(w.db.get(VoteWorld.LINK, a).orElseThrow(), true);
    assertThat(ids(reader.page("sr:1:new", null, 10, TimeWindow.ALL).items())).containsExactly(e);
    assertThat(ids(reader.pageFor(7, "sr:1:new", null, 10, TimeWindow.ALL).items()))
        .containsExactly(a, spam7, e);
  }

  @Test
  void pagesWithManyHiddenItemsStillFillUpToTheLimitAndCursorsContinue() {
    Instant d = NOW.minusSeconds(60);
    List<NewThing> batch = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      // 5 of every 6 are spam by author 9; a few of the rest are deleted below.
      batch.add(link(2, i % 6 == 0 ? 3 : 9, i % 6 != 0, d));
    }
    List<Thing> things = new ArrayList<>(w.db.createAll(batch));
    for (int i = 0; i < things.size(); i += 60) {
      things.set(i, w.db.withSession(w.db.session()).setDeleted(things.get(i), true));
    }
    put("sr:2:new", things);
    List<Long> expectedAnon = new ArrayList<>();
    List<Long> expectedAuthor = new ArrayList<>();
    for (Thing t : things) {
      if (!t.deleted()) {
        expectedAuthor.add(t.id());
        if (!t.spam()) {
          expectedAnon.add(t.id());
        }
      }
    }
    assertThat(expectedAnon).hasSize(90);
    for (int limit : new int[] {1, 7, 10, 25, 100}) {
      assertThat(readAll(null, "sr:2:new", limit, TimeWindow.ALL))
          .as("limit %d", limit)
          .isEqualTo(expectedAnon);
      assertThat(readAll(3L, "sr:2:new", limit, TimeWindow.ALL))
          .as("limit %d", limit)
          .isEqualTo(expectedAnon);
      assertThat(readAll(9L, "sr:2:new", limit, TimeWindow.ALL))
          .as("limit %d", limit)
          .isEqualTo(expectedAuthor);
    }
    // A first page of 10 visible things needs 55+ listing entries here (one in six is visible).
    ListingReader.Page first = reader.page("sr:2:new", null, 10, TimeWindow.ALL);
    assertThat(ids(first.items())).isEqualTo(expectedAnon.subList(0, 10));
    ListingReader.Page second = reader.page("sr:2:new", first.next(), 10, TimeWindow.ALL);
    assertThat(ids(second.items())).isEqualTo(expectedAnon.subList(10, 20));
    // A cursor past the end gives an empty last page without a cursor.
    ListingReader.Page tail = reader.page("sr:2:new", new Listing.Cursor(0, 0), 10, TimeWindow.ALL);
    assertThat(tail.items()).isEmpty();
    assertThat(tail.hasNext()).isFalse();
  }

  @Test
  void windowedListingsHideThingsOlderThanTheWindowAtReadTime() {
    List<Thing> things =
        w.db.createAll(
            List.of(
                link(3, 1, false, NOW.minus(Duration.ofMinutes(30))),
                link(3, 1, false, NOW.minus(Duration.ofMinutes(61))),
                link(3, 1, false, NOW.minus(Duration.ofHours(25))),
                link(3, 1, false, NOW.minus(Duration.ofDays(8))),
                link(3, 1, false, NOW.minus(Duration.ofDays(31))),
                link(3, 1, false, NOW.minus(Duration.ofDays(366))),
                link(3, 1, false, NOW.minus(Duration.ofHours(1)))));
    put("sr:3:top:hour", things);
    List<Long> all = ids(things);
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.HOUR).items()))
        .containsExactly(all.get(0), all.get(6));
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.DAY).items()))
        .containsExactly(all.get(0), all.get(1), all.get(6));
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.WEEK).items())).hasSize(4);
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.MONTH).items())).hasSize(5);
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.YEAR).items())).hasSize(6);
    assertThat(ids(reader.page("sr:3:top:hour", null, 10, TimeWindow.ALL).items())).isEqualTo(all);
    // Paging with limit 1 through the hour window skips the old ones and ends.
    assertThat(readAll(null, "sr:3:top:hour", 1, TimeWindow.HOUR))
        .containsExactly(all.get(0), all.get(6));
  }

  @Test
  void aListingNeverWrittenReadsAsAnEmptyLastPage() {
    ListingReader.Page p = reader.pageFor(1, "sr:4:hot", null, 25, TimeWindow.ALL);
    assertThat(p.items()).isEmpty();
    assertThat(p.next()).isNull();
  }

  @Test
  void badInputIsRejectedWithClearMessages() {
    assertThatThrownBy(() -> reader.page("sr:1:new", null, 0, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("page limit must be between 1 and 100 (limit=0, key=sr:1:new)");
    assertThatThrownBy(() -> reader.page("sr:1:new", null, 101, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("page limit must be between 1 and 100 (limit=101, key=sr:1:new)");
    assertThatThrownBy(() -> reader.page("sr:1:new", null, 10, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("window must not be null (use TimeWindow.ALL for an unwindowed listing)");
    assertThatThrownBy(() -> reader.page("bogus", null, 10, TimeWindow.ALL))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> TimeWindow.parse("fortnight"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown time window 'fortnight' (expected one of hour, day, week, month, year, all)");
    assertThat(TimeWindow.parse("Week")).isEqualTo(TimeWindow.WEEK);
    assertThat(TimeWindow.YEAR.duration()).contains(Duration.ofDays(365));
    assertThat(TimeWindow.ALL.duration()).isEmpty();
    assertThatThrownBy(
            () -> ListingReader.create(w.db, w.store, VoteWorld.LINK, VoteWorld.AUTHOR, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("clock must not be null");
  }
}

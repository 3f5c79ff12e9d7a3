package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.cache.InProcessCache;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ListingStoreTest {
  static PostgresFixture pg;
  static DataSource ds;
  static final AtomicInteger KEYS = new AtomicInteger();

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("listing_store");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  static Listing listing(int capacity, int items) {
    Listing l = Listing.create(capacity);
    List<Listing.Entry> entries = new java.util.ArrayList<>();
    for (int i = items; i >= 1; i--) {
      entries.add(new Listing.Entry(i, 1, i * 10.0));
    }
    l.replaceAll(entries, true);
    return l;
  }

  static String key() {
    return "sr:" + KEYS.incrementAndGet() + ":hot";
  }

  @Test
  void putThenPageReadsTheListingBackByCursor() {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      assertThat(store.put(key, listing(10, 8))).isEqualTo(1);
      List<Listing.Entry> first = store.page(key, null, 3);
      assertThat(first).extracting(Listing.Entry::id).containsExactly(8L, 7L, 6L);
      assertThat(store.page(key, first.get(2).cursor(), 3))
          .extracting(Listing.Entry::id)
          .containsExactly(5L, 4L, 3L);
    }
  }

  @Test
  void aSecondPutBumpsTheVersionAndReadersSeeItThroughTheCache() {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      store.put(key, listing(10, 3));
      assertThat(store.page(key, null, 10)).hasSize(3); // now cached
      assertThat(store.put(key, listing(10, 5))).isEqualTo(2);
      assertThat(store.page(key, null, 10)).hasSize(5);
    }
  }

  @Test
  void aListingNeverWrittenReadsAsEmpty() {
    try (ListingStore store = ListingStore.builder(ds).build()) {
      assertThat(store.page(key(), null, 10)).isEmpty();
      assertThat(store.get(key())).isEmpty();
    }
  }

  @Test
  void aMissLoadsTheRowOnceForConcurrentReaders() throws Exception {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore writer = ListingStore.builder(ds).build();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      writer.put(key, listing(10, 4)); // no cache: the reader's cache misses
      List<Thread> threads = new java.util.ArrayList<>();
      java.util.concurrent.ConcurrentLinkedQueue<Integer> sizes =
          new java.util.concurrent.ConcurrentLinkedQueue<>();
      for (int i = 0; i < 8; i++) {
        Thread t = new Thread(() -> sizes.add(store.page(key, null, 10).size()));
        threads.add(t);
        t.start();
      }
      for (Thread t : threads) {
        t.join();
      }
      assertThat(sizes).containsOnly(4).hasSize(8);
    }
  }

  @Test
  void badKeysAreRejectedWithTheReason() {
    try (ListingStore store =
        ListingStore.builder(ds).keyPattern("(sr|user):\\d+:[a-z:]+").build()) {
      assertThatThrownBy(() -> store.page("", null, 10))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("listing key must be 1 to 200 characters (length=0, key='')");
      assertThatThrownBy(() -> store.page("sr:1:" + "a".repeat(200), null, 10))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("listing key must be 1 to 200 characters (length=205,");
      assertThatThrownBy(() -> store.page("sr:1 hot", null, 10))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "listing key must not contain whitespace or control characters (character U+0020 at index 4,"
                  + " key='sr:1 hot')");
      assertThatThrownBy(() -> store.page("sr:1:\u0007", null, 10))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("U+0007 at index 5");
      assertThatThrownBy(() -> store.page("forum:1:hot", null, 10))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "listing key 'forum:1:hot' does not match the configured listing key pattern (sr|user):\\d+:[a-z:]+");
      assertThatThrownBy(() -> store.page(null, null, 10))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("listing key must not be null");
    }
  }

  @Test
  void badLimitsAndPatternsAreRejected() {
    try (ListingStore store = ListingStore.builder(ds).build()) {
      assertThatThrownBy(() -> store.page("sr:1:hot", null, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("page limit must be between 1 and 100 (limit=0, key=sr:1:hot)");
      assertThatThrownBy(() -> store.page("sr:1:hot", null, 101))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("page limit must be between 1 and 100 (limit=101, key=sr:1:hot)");
    }
    assertThatThrownBy(() -> ListingStore.builder(ds).keyPattern("("))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("listing key pattern does not compile:");
    assertThatThrownBy(() -> ListingStore.builder(ds).cacheTtl(java.time.Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cache ttl must be positive: PT0S");
  }

  @Test
  void corruptStoredBytesAreReportedWithTheKey() throws Exception {
    try (ListingStore store = ListingStore.builder(ds).build()) {
      String key = key();
      try (Connection c = ds.getConnection();
          PreparedStatement ps =
              c.prepareStatement(
                  "insert into thingdb_listing (key, version, data) values (?, 1, ?)")) {
        ps.setString(1, key);
        ps.setBytes(2, new byte[] {1, 2, 3});
        ps.executeUpdate();
      }
      assertThatThrownBy(() -> store.page(key, null, 10))
          .isInstanceOf(io.thingdb.core.ThingDbException.class)
          .hasMessageStartingWith("stored listing " + key + " is corrupt: ");
    }
  }

  @Test
  void aMoveShowsAtOnceAndAPublishKeepsOnlyTheMovesItDoesNotReflect() {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      store.put(key, listing(10, 3)); // ids 3, 2, 1 at values 30, 20, 10, version 1
      assertThat(store.get(key)).isPresent(); // cached
      store.move(null, List.of(key), 1, 5, new double[] {99.0});
      assertThat(store.page(key, null, 10))
          .as("moved to the top at once, with the move's version")
          .extracting(Listing.Entry::id, Listing.Entry::version)
          .containsExactly(
              org.assertj.core.groups.Tuple.tuple(1L, 5L),
              org.assertj.core.groups.Tuple.tuple(3L, 1L),
              org.assertj.core.groups.Tuple.tuple(2L, 1L));
      // A publish read before the vote (thing 1 still at version 1): the move is carried over.
      store.put(key, listing(10, 3));
      assertThat(store.page(key, null, 10).get(0).id()).isEqualTo(1L);
      // A publish that reflects a newer change of thing 1 (version 6) drops the older move.
      Listing newer = listing(10, 3);
      newer.upsert(1, 6, 0.5);
      store.put(key, newer);
      assertThat(store.page(key, null, 10))
          .extracting(Listing.Entry::id)
          .containsExactly(3L, 2L, 1L);
      assertThat(store.get(key).orElseThrow().entry(1).orElseThrow().version()).isEqualTo(6);
    }
  }

  @Test
  void aMoveOfAThingTheListingDoesNotHoldOrOfAnUncachedListingChangesNothing() {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      store.put(key, listing(10, 3));
      store.move(
          null,
          List.of(key),
          42,
          9,
          new double[] {1000.0}); // not held: a removed or never-listed thing
      assertThat(store.page(key, null, 10))
          .extracting(Listing.Entry::id)
          .containsExactly(3L, 2L, 1L);
      String uncached = key();
      store.move(null, List.of(uncached), 1, 9, new double[] {1000.0});
      assertThat(store.get(uncached)).isEmpty();
    }
  }

  @Test
  void aDamagedMoveMakesTheCachedListingCorruptNamingTheKey() {
    try (InProcessCache cache = InProcessCache.create();
        ListingStore store = ListingStore.builder(ds).cache(cache).build()) {
      String key = key();
      store.put(key, listing(10, 3));
      assertThat(store.get(key)).isPresent();
      byte[] move = CachedListing.move(1, 5, 99.0);
      move[3] ^= 1;
      io.thingdb.cache.VersionedCache.builder(cache)
          .build()
          .append(ListingStore.CACHE_PREFIX + key, move);
      assertThatThrownBy(() -> store.get(key))
          .isInstanceOf(io.thingdb.core.ThingDbException.class)
          .hasMessageContaining("cached listing " + key + " is corrupt")
          .hasMessageContaining("damaged move");
    }
  }
}

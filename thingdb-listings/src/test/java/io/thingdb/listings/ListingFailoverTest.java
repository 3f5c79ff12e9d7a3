package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Database;
import io.thingdb.core.Prop;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingType;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.ReplicatedPostgres;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Cached listings across a promotion of the listings database's standby (issue 12, DESIGN.md 8):
 * with {@link ListingStore.Builder#cacheEpoch} a listing written by a transaction the promotion
 * lost is not read from memcached once the instance has learned the new epoch, and a listing
 * written after the promotion (which reuses the lost version's number) is read as written.
 *
 * <p>The lost write is made after {@link ReplicatedPostgres#stopStreaming()}: a promotion replays
 * everything the standby received. Window: an instance learns the new epoch within {@link #WINDOW},
 * twice the default epoch check interval (2 s: periodic checks pause for one interval after a
 * connection failure) plus a margin of 13 s for the check on this loaded machine; after that every
 * read is asserted.
 */
class ListingFailoverTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final ThingType LINK = ThingType.named("link").props(TITLE).build();
  static final Duration WINDOW = Duration.ofSeconds(15);

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static HikariDataSource pool(String name, String url) {
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName(name);
    cfg.setJdbcUrl(url);
    cfg.setUsername("postgres");
    cfg.setMaximumPoolSize(4);
    cfg.setConnectionTimeout(2_000);
    return new HikariDataSource(cfg);
  }

  static Listing listing(long... ids) {
    Listing l = Listing.create(10);
    List<Listing.Entry> entries = new ArrayList<>();
    for (int i = 0; i < ids.length; i++) {
      entries.add(new Listing.Entry(ids[i], 1, 100.0 - i));
    }
    l.replaceAll(entries, true);
    return l;
  }

  static List<Long> ids(ListingStore store, String key) {
    return store.page(key, null, 10).stream().map(Listing.Entry::id).toList();
  }

  /** One application instance: its ThingDb (for the epoch), cache client and listing store. */
  record Instance(HikariDataSource pool, MemcachedCache cache, ThingDb db, ListingStore store)
      implements AutoCloseable {
    static Instance open(String name, String url, List<String> servers) {
      HikariDataSource pool = ListingFailoverTest.pool(name, url);
      MemcachedCache cache = MemcachedCache.builder().servers(servers).build();
      ThingDb db =
          ThingDb.builder()
              .database("main", Database.of(pool))
              .type(LINK, "main")
              .cache(cache)
              .build();
      DataSource ds = pool;
      ListingStore store = ListingStore.builder(ds).cache(cache).cacheEpoch(db, "main").build();
      return new Instance(pool, cache, db, store);
    }

    @Override
    public void close() {
      store.close();
      db.close();
      cache.close();
      pool.close();
    }
  }

  static void awaitNewEpoch(ThingDb db, String before, String who) {
    long deadline = System.nanoTime() + WINDOW.toNanos();
    while (db.cacheEpoch("main").token().equals(before)) {
      assertThat(System.nanoTime() - deadline)
          .as("%s still uses cache epoch %s %s after the promotion", who, before, WINDOW)
          .isNegative();
      try {
        Thread.sleep(10); // polling with a deadline
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void aListingLostInAPromotionIsNotReadFromTheCache() {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start(Duration.ZERO)) {
      String url =
          "jdbc:postgresql://localhost:"
              + pg.primaryPort()
              + ",localhost:"
              + pg.standbyPort()
              + "/postgres?user=postgres&targetServerType=primary&hostRecheckSeconds=1";
      List<String> servers = memcached.cluster().servers();
      try (Instance writer = Instance.open("listing-writer", url, servers);
          Instance reader = Instance.open("listing-reader", url, servers)) {
        String key = "sr:1:hot";
        String before = reader.db().cacheEpoch("main").token();
        assertThat(writer.store().put(key, listing(1, 2, 3))).isEqualTo(1);
        pg.awaitCaughtUp(Duration.ofSeconds(30));
        pg.stopStreaming(); // what follows never reaches the standby
        assertThat(writer.store().put(key, listing(9, 8))).isEqualTo(2);
        assertThat(ids(reader.store(), key))
            .as("published: read from the cache")
            .containsExactly(9L, 8L);

        pg.stopPrimaryImmediately();
        pg.promoteStandby();
        awaitNewEpoch(reader.db(), before, "the reader");
        awaitNewEpoch(writer.db(), before, "the writer");
        for (int i = 0; i < 20; i++) {
          assertThat(ids(reader.store(), key))
              .as("read %d by the reader", i)
              .containsExactly(1L, 2L, 3L);
          assertThat(ids(writer.store(), key))
              .as("read %d by the writer", i)
              .containsExactly(1L, 2L, 3L);
        }
        // The new timeline's version 2 holds other entries than the lost version 2.
        assertThat(writer.store().put(key, listing(5))).isEqualTo(2);
        assertThat(ids(reader.store(), key)).containsExactly(5L);
      }
    }
  }
}

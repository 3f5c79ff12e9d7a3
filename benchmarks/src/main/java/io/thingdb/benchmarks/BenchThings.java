package io.thingdb.benchmarks;

import io.thingdb.cache.Cache;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Database;
import io.thingdb.core.NewThing;
import io.thingdb.core.Prop;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbBuilder;
import io.thingdb.core.ThingType;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import net.rubyeye.xmemcached.MemcachedClient;
import net.rubyeye.xmemcached.XMemcachedClientBuilder;
import net.rubyeye.xmemcached.command.TextCommandFactory;

/**
 * The thing type the core benchmarks store, a link with five props of four kinds, and the
 * deterministic inputs both sides of a comparison write. Stateless apart from constants.
 *
 * <p>ThingDB lays a {@code link} out as {@code thing_link} (thing_id, ups, downs, deleted, spam,
 * date, version) and {@code data_link} (thing_id, key, value, kind): one data row per prop that
 * differs from its default. Every generated link sets all five, so a link is 1 + 5 rows; its cache
 * entry is about 210 bytes.
 */
final class BenchThings {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<String> URL = Prop.string("url", "");
  static final Prop<String> AUTHOR = Prop.string("author", "");
  static final Prop<Long> SR_ID = Prop.int64("sr_id", 0);
  static final Prop<Boolean> MEDIA = Prop.bool("media", false);
  static final ThingType LINK =
      ThingType.named("link").props(TITLE, URL, AUTHOR, SR_ID, MEDIA).build();
  static final String DATABASE = "main";

  /** The prop names as stored in {@code data_link.key}, in declaration order. */
  static final String[] KEYS = {"title", "url", "author", "sr_id", "media"};

  /** The kind codes stored in {@code data_link.kind}, parallel to {@link #KEYS}. */
  static final String[] KINDS = {"s", "s", "s", "l", "b"};

  private static final String[] WORDS = {
    "postgres", "cache", "memcached", "vote", "thing", "link", "comment", "listing", "replica",
        "hot",
    "controversial", "front", "page", "java", "benchmark", "latency", "outbox", "write", "through",
        "batch"
  };

  private BenchThings() {}

  /**
   * What one new link holds; the raw baselines write these values directly, ThingDB through {@link
   * NewThing}.
   */
  record Input(String title, String url, String author, long srId, boolean media, Instant date) {}

  /** {@code n} inputs from {@code seed}: titles of 6 to 11 words, urls of about 45 characters. */
  static List<Input> inputs(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    Instant base = Instant.parse("2026-11-01T00:00:00Z");
    List<Input> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      StringBuilder title = new StringBuilder();
      for (int w = 6 + r.nextInt(6); w > 0; w--) {
        title.append(WORDS[r.nextInt(WORDS.length)]).append(w > 1 ? " " : "");
      }
      String url =
          "https://example.com/"
              + WORDS[r.nextInt(WORDS.length)]
              + "/"
              + Long.toString(r.nextLong() >>> 1, 36);
      String author = "user" + r.nextInt(100_000);
      out.add(
          new Input(
              title.toString(),
              url,
              author,
              1 + r.nextInt(5_000),
              true,
              base.plusSeconds(r.nextInt(86_400 * 25)).plusNanos(r.nextInt(1_000_000) * 1_000L)));
    }
    return out;
  }

  /** The input as a ThingDB new thing (all five props differ from their defaults). */
  static NewThing newThing(ThingDb db, Input in) {
    return db.newThing(LINK)
        .set(TITLE, in.title())
        .set(URL, in.url())
        .set(AUTHOR, in.author())
        .set(SR_ID, in.srId())
        .set(MEDIA, in.media())
        .date(in.date());
  }

  /** A ThingDB on {@code ds} with {@link #LINK} registered, with {@code cache} or none (null). */
  static ThingDb thingDb(DataSource ds, Cache cache) {
    ThingDbBuilder b = ThingDb.builder().database(DATABASE, Database.of(ds)).type(LINK, DATABASE);
    return (cache == null ? b.noCache() : b.cache(cache)).build();
  }

  /**
   * Creates {@code count} links through {@code db} in batches of 1,000; returns their ids in order.
   */
  static long[] populate(ThingDb db, int count, long seed) {
    List<Input> inputs = inputs(count, seed);
    long[] ids = new long[count];
    for (int from = 0; from < count; from += 1000) {
      List<NewThing> batch = new ArrayList<>();
      for (Input in : inputs.subList(from, Math.min(count, from + 1000))) {
        batch.add(newThing(db, in));
      }
      List<Thing> created = db.createAll(batch);
      for (int i = 0; i < created.size(); i++) {
        ids[from + i] = created.get(i).id();
      }
    }
    return ids;
  }

  /** MemcachedCache with its defaults on {@code server}, once its connection is healthy. */
  static MemcachedCache memcached(String server) {
    MemcachedCache cache = MemcachedCache.builder().servers(server).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cache.set("bench:ready", new byte[] {1}, Duration.ofSeconds(10)) != Cache.Outcome.APPLIED
        || cache.status(server).state() != MemcachedCache.State.HEALTHY) {
      if (System.nanoTime() - deadline > 0) {
        cache.close();
        throw new IllegalStateException(
            "MemcachedCache did not reach " + server + ": " + cache.status());
      }
      sleep(20);
    }
    return cache;
  }

  /**
   * Raw xmemcached configured as MemcachedCache configures it: one server, text protocol, one
   * connection, no key sanitizing, pass-through byte[] transcoder, 100 ms operation timeout.
   */
  static MemcachedClient rawClient(String server) {
    int colon = server.lastIndexOf(':');
    XMemcachedClientBuilder b =
        new XMemcachedClientBuilder(
            List.of(
                new InetSocketAddress(
                    server.substring(0, colon), Integer.parseInt(server.substring(colon + 1)))));
    b.setName("bench-raw");
    b.setCommandFactory(new TextCommandFactory());
    b.setConnectionPoolSize(1);
    b.setConnectTimeout(1000);
    b.setOpTimeout(100);
    b.setSanitizeKeys(false);
    b.setTranscoder(PassThroughTranscoder.INSTANCE);
    try {
      return b.build();
    } catch (IOException e) {
      throw new IllegalStateException("cannot connect raw xmemcached to " + server, e);
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}

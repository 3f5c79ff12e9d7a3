package io.thingdb.examples.quickstart;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.thingdb.cache.Cache;
import io.thingdb.cache.InProcessCache;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache;
import io.thingdb.cache.VersionedCache.Loaded;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Exercises ThingDB's cache: plain operations, versioned write-through and a stampede of concurrent
 * readers on one key. Runs on the in-process backend unless memcached servers are given: {@code
 * --memcached 127.0.0.1:11211,127.0.0.1:11212}.
 */
public final class Main {
  private Main() {}

  /** Entry point. */
  public static void main(String[] args) throws Exception {
    List<String> argList = Arrays.asList(args);
    int at = argList.indexOf("--memcached");
    try (Cache cache =
            at >= 0 && at + 1 < args.length
                ? MemcachedCache.builder()
                    .servers(args[at + 1].split(","))
                    .namespace("quickstart")
                    .build()
                : InProcessCache.builder().namespace("quickstart").build();
        VersionedCache versioned = VersionedCache.builder(cache).build()) {
      System.out.println("ThingDB quickstart on " + cache);

      cache.set("greeting", "hello".getBytes(UTF_8), Duration.ofMinutes(5));
      System.out.println("get greeting        -> " + new String(cache.get("greeting"), UTF_8));
      System.out.println(
          "incr visits         -> " + cache.incr("visits", 1, 1, Duration.ZERO).getAsLong());

      // Write-through: a reader's fill never overwrites a newer version.
      versioned.publish("post:42", "title v2".getBytes(UTF_8), 2, Duration.ofMinutes(5));
      System.out.println(
          "stale fill of v1    -> "
              + versioned.fill("post:42", "title v1".getBytes(UTF_8), 1, Duration.ofMinutes(5)));
      System.out.println("cached post:42      -> v" + versioned.get("post:42").version());
      // Invalidation leaves a tombstone: an old value read before it cannot come back.
      versioned.invalidate("post:42", 3);
      System.out.println(
          "fill of v2 after v3 -> "
              + versioned.fill("post:42", "title v2".getBytes(UTF_8), 2, Duration.ofMinutes(5)));

      // 32 threads ask for the same missing key at once: the loader runs once.
      AtomicInteger loads = new AtomicInteger();
      ExecutorService pool = Executors.newFixedThreadPool(32);
      for (int i = 0; i < 32; i++) {
        pool.submit(
            () ->
                versioned.load(
                    "front-page",
                    Duration.ofSeconds(30),
                    key -> {
                      loads.incrementAndGet();
                      Thread.sleep(50); // a slow database query
                      return Loaded.of("<html>...</html>".getBytes(UTF_8), 1);
                    }));
      }
      pool.shutdown();
      if (!pool.awaitTermination(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("readers did not finish within 30 s");
      }
      System.out.println("32 concurrent loads -> loader ran " + loads.get() + " time(s)");
      System.out.println("stats               -> " + versioned.stats().total());
    }
  }
}

package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.VersionedCache.Versioned;
import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The cache-fill-vs-write race of the per-pair lookup: several threads on two ThingDb instances
 * (each with its own memcached client, one shared cluster of two real nodes) create, delete, rename
 * and look up relations of a few pairs at random. Once writes stop, no cached list may disagree
 * with the database.
 */
class RelationConcurrencyTest {
  private static final long SEED = 20261126L;
  private static final int THREADS_PER_INSTANCE = 3;
  private static final int OPS_PER_THREAD = 200;
  private static final List<String> NAMES = List.of("1", "-1", "0");

  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final ThingType LINK = ThingType.named("link").build();
  static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
  static final RelationType VOTE =
      RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT).build();

  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(2);

  static PostgresFixture pg;
  static DataSource ds;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresFixture.start();
    ds = pg.createDatabase("relation_races");
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }

  ThingDb open(MemcachedCache client) {
    return ThingDb.builder()
        .database("main", Database.of(ds))
        .type(ACCOUNT, "main")
        .type(LINK, "main")
        .relation(VOTE, "main")
        .cache(client)
        .build();
  }

  @Test
  void concurrentCreateDeleteRenameAndLookupLeaveNoCachedListThatDisagreesWithTheDatabase()
      throws Exception {
    try (MemcachedCache clientA =
            MemcachedCache.builder().servers(memcached.cluster().servers()).build();
        MemcachedCache clientB =
            MemcachedCache.builder().servers(memcached.cluster().servers()).build();
        ThingDb a = open(clientA);
        ThingDb b = open(clientB)) {
      List<Thing> accounts =
          a.createAll(List.of(a.newThing(ACCOUNT), a.newThing(ACCOUNT), a.newThing(ACCOUNT)));
      List<Thing> links =
          a.createAll(
              List.of(a.newThing(LINK), a.newThing(LINK), a.newThing(LINK), a.newThing(LINK)));
      List<Relation.Pair> pairs = new ArrayList<>();
      for (Thing account : accounts) {
        for (Thing link : links) {
          pairs.add(new Relation.Pair(account.id(), link.id()));
        }
      }

      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      LongAdder creates = new LongAdder();
      LongAdder deletes = new LongAdder();
      LongAdder renames = new LongAdder();
      LongAdder duplicates = new LongAdder();
      CountDownLatch start = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 2 * THREADS_PER_INSTANCE; i++) {
        ThingDb db = i % 2 == 0 ? a : b;
        Random random = new Random(SEED + i);
        Thread t =
            new Thread(
                () -> {
                  try {
                    start.await();
                    for (int op = 0; op < OPS_PER_THREAD; op++) {
                      Relation.Pair pair = pairs.get(random.nextInt(pairs.size()));
                      int dice = random.nextInt(100);
                      if (dice < 35) {
                        try {
                          db.create(
                              db.newRelation(
                                      VOTE,
                                      pair.thing1Id(),
                                      pair.thing2Id(),
                                      NAMES.get(random.nextInt(NAMES.size())))
                                  .set(WEIGHT, (long) random.nextInt(3)));
                          creates.increment();
                        } catch (DuplicateRelationException e) {
                          duplicates.increment();
                        }
                      } else if (dice < 75) {
                        List<Relation> current = db.lookup(VOTE, List.of(pair)).get(pair);
                        if (current.isEmpty()) {
                          continue;
                        }
                        Relation r = current.get(random.nextInt(current.size()));
                        if (dice < 60) {
                          if (db.delete(r)) {
                            deletes.increment();
                          }
                        } else {
                          try {
                            db.update(
                                r.edit()
                                    .name(NAMES.get(random.nextInt(NAMES.size())))
                                    .set(WEIGHT, (long) random.nextInt(3)));
                            renames.increment();
                          } catch (DuplicateRelationException | NotFoundException e) {
                            duplicates
                                .increment(); // lost a race with another writer: a clear refusal
                          }
                        }
                      } else {
                        List<Relation.Pair> some = new ArrayList<>();
                        for (Relation.Pair p : pairs) {
                          if (random.nextBoolean()) {
                            some.add(p);
                          }
                        }
                        Map<Relation.Pair, List<Relation>> found = db.lookup(VOTE, some);
                        assertThat(found.keySet()).containsExactlyElementsOf(some);
                      }
                    }
                  } catch (Throwable e) {
                    failures.add(e);
                  }
                },
                "relation-race-" + i);
        threads.add(t);
        t.start();
      }
      start.countDown();
      for (Thread t : threads) {
        t.join(60_000);
        assertThat(t.isAlive()).as("thread %s finished", t.getName()).isFalse();
      }
      assertThat(failures).isEmpty();
      assertThat(creates.sum()).isGreaterThan(50);
      assertThat(deletes.sum()).isGreaterThan(20);
      assertThat(renames.sum()).isGreaterThan(10);

      RelationHandle h = a.engine.relationHandle(VOTE);
      int cachedValues = 0;
      for (Relation.Pair p : pairs) {
        List<Relation> truth;
        try (Connection c = ds.getConnection()) {
          truth = RelationReads.pair(a.engine.io, c, h, p.thing1Id(), p.thing2Id());
        }
        // What the writers and fillers left in memcached, read raw (before any new fill).
        Versioned cached = a.engine.cache.get(h.cacheKey(h.db.epoch(), p.thing1Id(), p.thing2Id()));
        if (cached != null) {
          cachedValues++;
          assertThat(RelationCodec.decode(h, p.thing1Id(), p.thing2Id(), cached.value()))
              .as("cached list of %s", p)
              .isEqualTo(truth);
        }
        assertThat(a.lookup(VOTE, List.of(p)).get(p))
            .as("lookup of %s on instance A", p)
            .isEqualTo(truth);
        assertThat(b.lookup(VOTE, List.of(p)).get(p))
            .as("lookup of %s on instance B", p)
            .isEqualTo(truth);
      }
      assertThat(cachedValues).as("pairs with a cached list").isGreaterThan(pairs.size() / 2);
    }
  }
}

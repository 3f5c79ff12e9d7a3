package io.thingdb.examples.blog;

import io.thingdb.core.NewThing;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingQuery;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * Seeds an empty blog with a few communities, accounts, posts, comments and votes, so the first
 * page does not look empty. Runs only when there is no community yet. Not thread-safe (runs once,
 * at start).
 */
final class Seeder {
  private final Site site;
  private final Config config;

  Seeder(Site site, Config config) {
    this.site = site;
    this.config = config;
  }

  /** Seeds if the database has no community; returns the admin's password if one was generated. */
  String seedIfEmpty() {
    if (!site.db.query(ThingQuery.of(Models.COMMUNITY).limit(1)).things().isEmpty()) {
      return null;
    }
    String password = config.adminPassword;
    String generated = null;
    if (password == null) {
      byte[] b = new byte[9];
      new SecureRandom().nextBytes(b);
      password = HexFormat.of().formatHex(b);
      generated = password;
    }
    Instant now = site.clock.instant();
    List<Thing> accounts = new ArrayList<>();
    accounts.add(
        site.db.create(
            site.db
                .newThing(Models.ACCOUNT)
                .set(Models.NAME, "admin")
                .set(Models.NAME_LOWER, "admin")
                .set(Models.PASSWORD, site.passwords.hash(password))
                .set(Models.ADMIN, true)
                .date(now.minus(Duration.ofDays(30)))));
    List<NewThing> people = new ArrayList<>();
    for (String name : List.of("alice", "bob", "carol", "dave", "erin", "frank")) {
      // No password: these accounts exist to have written and voted, not to log in.
      people.add(
          site.db
              .newThing(Models.ACCOUNT)
              .set(Models.NAME, name)
              .set(Models.NAME_LOWER, name)
              .date(now.minus(Duration.ofDays(20))));
    }
    accounts.addAll(site.db.createAll(people));

    List<Thing> communities =
        site.db.createAll(
            List.of(
                community("programming", "Code, tools and the craft", now),
                community("databases", "PostgreSQL, caches, storage engines", now),
                community("java", "The language, the JVM, the libraries", now),
                community("meta", "About this blog itself", now)));

    String[][] posts = {
      {
        "databases",
        "PostgreSQL 15 release notes",
        "https://www.postgresql.org/docs/15/release-15.html",
        ""
      },
      {
        "databases",
        "memcached: a distributed memory object caching system",
        "https://memcached.org/",
        ""
      },
      {
        "databases",
        "Why the listing queue claims work per listing, not per job",
        "",
        "Processors lock one dirty listing with SKIP LOCKED and apply all of its jobs as one"
            + " read-modify-write. A hot listing is worked on by one processor at a time, so adding"
            + " processors never adds contention on it."
      },
      {"java", "JEP 444: Virtual Threads", "https://openjdk.org/jeps/444", ""},
      {
        "java",
        "HikariCP: a solid, high-performance JDBC connection pool",
        "https://github.com/brettwooldridge/HikariCP",
        ""
      },
      {
        "java",
        "The JDK's built-in HTTP server is enough for a small site",
        "",
        "This blog runs on com.sun.net.httpserver with a fixed thread pool. Remember TCP_NODELAY."
      },
      {
        "programming",
        "How Not To Sort By Average Rating",
        "https://www.evanmiller.org/how-not-to-sort-by-average-rating.html",
        ""
      },
      {
        "programming",
        "Consistent hashing and random trees",
        "https://dl.acm.org/doi/10.1145/258533.258660",
        ""
      },
      {
        "programming",
        "Keyset pagination instead of OFFSET",
        "",
        "Continue after the last item you showed, by its sort value and id: pages never repeat or skip."
      },
      {
        "meta",
        "Welcome to the ThingDB example blog",
        "",
        "Everything here is stored as things and relations in PostgreSQL, cached, and listed through"
            + " precomputed listings. Sign up, submit a link, vote, comment."
      },
      {
        "meta",
        "What runs when you load the front page",
        "",
        "Anonymous visitors get the whole page from the cache. Logged-in users get the listing from"
            + " the cache, the posts from the cache, and their own votes from the cache."
      },
      {"programming", "Mustache: logic-less templates", "https://mustache.github.io/", ""},
    };
    Random random = new Random(42);
    List<NewThing> newLinks = new ArrayList<>();
    for (int i = 0; i < posts.length; i++) {
      String[] p = posts[i];
      Thing community =
          communities.stream()
              .filter(c -> c.get(Models.COMMUNITY_NAME).equals(p[0]))
              .findFirst()
              .orElseThrow();
      Thing author = accounts.get(1 + random.nextInt(accounts.size() - 1));
      newLinks.add(
          site.db
              .newThing(Models.LINK)
              .set(Models.TITLE, p[1])
              .set(Models.URL, p[2])
              .set(Models.BODY, p[3])
              .set(Models.AUTHOR, author.id())
              .set(Models.COMMUNITY_ID, community.id())
              .date(now.minus(Duration.ofMinutes(30L + 97L * i * (i + 1)))));
    }
    // Created with their listing jobs in one transaction, as the submit form does.
    List<Thing> links = site.linkVotes.submitAll(null, newLinks);
    for (Thing link : links) {
      site.linkVotes.cast(link.get(Models.AUTHOR), link.id(), 1);
      for (Thing voter : accounts) {
        int roll = random.nextInt(10);
        if (voter.id() != link.get(Models.AUTHOR) && roll < 7) {
          site.linkVotes.cast(voter.id(), link.id(), roll < 5 ? 1 : -1);
        }
      }
    }
    String[] remarks = {
      "This matches what we saw in production.",
      "Has anyone measured this against a raw JDBC baseline?",
      "Good read. The part about cache invalidation is the important one.",
      "I'd like to see the numbers with fsync on.",
      "Bookmarked.",
    };
    for (int i = 0; i < links.size(); i += 2) {
      Thing link = links.get(i);
      for (int j = 0; j < 2; j++) {
        Thing author = accounts.get(1 + random.nextInt(accounts.size() - 1));
        Thing top = comment(link, 0, author, remarks[random.nextInt(remarks.length)]);
        Thing replier = accounts.get(1 + random.nextInt(accounts.size() - 1));
        comment(
            link,
            top.id(),
            replier,
            "Agreed, and " + remarks[random.nextInt(remarks.length)].toLowerCase());
        for (Thing voter : accounts) {
          if (random.nextInt(3) == 0) {
            site.commentVotes.cast(voter.id(), top.id(), random.nextInt(4) == 0 ? -1 : 1);
          }
        }
      }
    }
    return generated;
  }

  private NewThing community(String name, String description, Instant now) {
    return site.db
        .newThing(Models.COMMUNITY)
        .set(Models.COMMUNITY_NAME, name)
        .set(Models.DESCRIPTION, description)
        .date(now.minus(Duration.ofDays(30)));
  }

  private Thing comment(Thing link, long parent, Thing author, String text) {
    Thing c =
        site.commentVotes.submit(
            site.db
                .newThing(Models.COMMENT)
                .set(Models.TEXT, text)
                .set(Models.LINK_ID, link.id())
                .set(Models.PARENT_ID, parent)
                .set(Models.COMMENT_AUTHOR, author.id()));
    site.commentVotes.cast(author.id(), c.id(), 1);
    site.db.incr(Models.LINK, link.id(), Models.NUM_COMMENTS, 1L);
    return c;
  }
}

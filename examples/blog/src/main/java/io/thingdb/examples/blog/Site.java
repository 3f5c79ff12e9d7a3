package io.thingdb.examples.blog;

import io.thingdb.cache.Locks;
import io.thingdb.core.Filter;
import io.thingdb.core.Fullnames;
import io.thingdb.core.Relation;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingQuery;
import io.thingdb.core.ThingType;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingReader;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.ListingStore;
import io.thingdb.listings.Sorts;
import io.thingdb.listings.TimeWindow;
import io.thingdb.listings.Votes;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the handlers share: the services they call, and the reads that several of them need (listing
 * pages with the shadow ban applied, permalinks with their comments, name lookups). The page cache
 * is the server's, not theirs. Thread-safe: everything it holds is.
 */
final class Site {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Site.class);

  /** Name lookups and the community list change rarely: their id lists are cached this long. */
  static final Duration LOOKUP_TTL = Duration.ofMinutes(10);

  /** A post shows at most this many comments. */
  static final int MAX_COMMENTS = 500;

  final Config config;
  final ThingDb db;
  final Votes linkVotes;
  final Votes commentVotes;
  private final ListingReader linkReader;
  private final ListingReader commentReader;
  final Templates templates = new Templates();
  final SessionCookies cookies;
  final Passwords passwords;
  final Locks locks;
  final Clock clock;

  /** Logins per account name (see {@link Config.Builder#loginAttemptsPerAccount}). */
  final Throttle loginsPerAccount;

  /** Logins and signups per client address. */
  final Throttle attemptsPerAddress;

  /**
   * Password hashes running at once: at most half the request threads hash, so that logins from
   * many addresses together cannot take every thread; more are answered 503 at once.
   */
  final java.util.concurrent.Semaphore hashing;

  /** Comment counts still owed a recount (see {@link #recountComments}). */
  final RecountMarks recountMarks;

  /** Whether the last sweep of recount marks failed (one log line per change). */
  private volatile boolean sweepFailing;

  Site(
      Config config,
      ThingDb db,
      Votes linkVotes,
      Votes commentVotes,
      ListingStore linkStore,
      ListingStore commentStore,
      SessionCookies cookies,
      Locks locks,
      RecountMarks recountMarks,
      Clock clock) {
    this.config = config;
    this.recountMarks = recountMarks;
    this.db = db;
    this.linkVotes = linkVotes;
    this.commentVotes = commentVotes;
    // The readers ask the routing only for each key's sort (to continue after a post that left the
    // listing); sorts do not depend on the capacity, which is BlogApp's business.
    Listings routing = new Listings(Listing.DEFAULT_CAPACITY);
    this.linkReader =
        ListingReader.create(db, linkStore, routing, Models.LINK, Models.AUTHOR, clock);
    this.commentReader =
        ListingReader.create(
            db, commentStore, routing, Models.COMMENT, Models.COMMENT_AUTHOR, clock);
    this.cookies = cookies;
    this.passwords = new Passwords(config.pbkdf2Iterations);
    this.locks = locks;
    this.clock = clock;
    this.loginsPerAccount =
        new Throttle(
            "logins per account",
            config.loginAttemptsPerAccount,
            Duration.ofMinutes(1),
            100_000,
            System::nanoTime);
    this.attemptsPerAddress =
        new Throttle(
            "logins and signups per address",
            config.attemptsPerAddress,
            Duration.ofMinutes(1),
            100_000,
            System::nanoTime);
    this.hashing = new java.util.concurrent.Semaphore(Math.max(1, config.httpThreads / 2));
  }

  /** Whether cookies set for {@code req} get {@code Secure}. */
  boolean secureCookies(Request req) {
    return config.secureCookies || req.https();
  }

  // ------------------------------------------------------------------ lookups

  /** The community named {@code name} (case-insensitive), or empty. */
  Optional<Thing> community(String name) {
    ThingQuery q =
        ThingQuery.of(Models.COMMUNITY)
            .where(Filter.eq(Models.COMMUNITY_NAME, name.toLowerCase(Locale.ROOT)))
            .limit(1)
            .cached(LOOKUP_TTL);
    List<Thing> found = db.query(q).things();
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /** Every community, by name. */
  List<Thing> communities() {
    List<Thing> all =
        new ArrayList<>(
            db.query(ThingQuery.of(Models.COMMUNITY).limit(200).cached(LOOKUP_TTL)).things());
    all.sort(Comparator.comparing((Thing c) -> c.get(Models.COMMUNITY_NAME)));
    return all;
  }

  /** The account named {@code name} (case-insensitive), or empty; cached unless {@code fresh}. */
  Optional<Thing> account(String name, boolean fresh) {
    ThingQuery q =
        ThingQuery.of(Models.ACCOUNT)
            .where(Filter.eq(Models.NAME_LOWER, name.toLowerCase(Locale.ROOT)))
            .limit(1);
    List<Thing> found = db.query(fresh ? q : q.cached(LOOKUP_TTL)).things();
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /**
   * A thing of {@code type} named by {@code fullname}, or empty if there is none or it is another
   * type; read with {@code session} (read-your-writes; null for none).
   */
  Optional<Thing> byFullname(Session session, String fullname, ThingType type) {
    Fullnames.parse(fullname); // IllegalArgumentException names what is malformed
    List<Thing> found;
    try {
      found = db.withSession(session).getByFullnames(List.of(fullname), ThingDb.Missing.SKIP);
    } catch (IllegalArgumentException e) {
      return Optional.empty(); // a type id this blog does not have
    }
    return found.isEmpty() || !found.get(0).type().equals(type)
        ? Optional.empty()
        : Optional.of(found.get(0));
  }

  /**
   * Whether {@code viewer} may see {@code thing}: live, or spam they wrote themselves (the shadow
   * ban).
   */
  static boolean visible(Thing thing, Thing viewer, long authorId) {
    if (thing.deleted()) {
      return false;
    }
    return !thing.spam()
        || (viewer != null && (viewer.id() == authorId || viewer.get(Models.ADMIN)));
  }

  // ------------------------------------------------------------------ listing pages

  /** A page of links and the fullname to continue after (null at the end). */
  record LinkPage(List<Thing> links, String after) {}

  /**
   * One page of a link listing as {@code viewer} sees it. {@code after} is the fullname of the last
   * link of the previous page; the listing reader continues from its position (from its sort value
   * if it has left the listing since), never from the top. Read with the visitor's {@code session}:
   * their own recent posts and votes show at once, before the listing queue has applied them.
   */
  LinkPage links(
      Session session,
      Thing viewer,
      String prefix,
      ListingSort sort,
      TimeWindow window,
      String after,
      int limit) {
    String key = Listings.key(prefix, sort, window);
    ListingReader.Page page = page(session, key, viewer, after, limit, window);
    List<Thing> links = new ArrayList<>(page.items());
    if (viewer != null && viewer.get(Models.SPAMMER) && after == null) {
      links = withOwnSpam(viewer, prefix, sort, window, links, limit);
    }
    return new LinkPage(links, page.after());
  }

  /**
   * An author's submitted links, newest first; with the visitor's {@code session}, an author's post
   * is there right after submitting it.
   */
  LinkPage submitted(Session session, Thing viewer, Thing author, String after, int limit) {
    ListingReader.Page page =
        page(session, Listings.submitted(author.id()), viewer, after, limit, TimeWindow.ALL);
    List<Thing> links = new ArrayList<>(page.items());
    if (viewer != null
        && viewer.id() == author.id()
        && viewer.get(Models.SPAMMER)
        && after == null) {
      links = withOwnSpam(viewer, null, ListingSort.NEW, TimeWindow.ALL, links, limit);
    }
    return new LinkPage(links, page.after());
  }

  /** A page of a link listing after the fullname {@code after}; a bad one is the visitor's 400. */
  private ListingReader.Page page(
      Session session, String key, Thing viewer, String after, int limit, TimeWindow window) {
    ListingReader reader = linkReader.withSession(session);
    try {
      return viewer == null
          ? reader.pageByFullname(key, after, limit, window)
          : reader.pageForByFullname(viewer.id(), key, after, limit, window);
    } catch (IllegalArgumentException e) {
      if (after == null) {
        throw e; // the key and limit are ours to get right
      }
      throw HttpError.badRequest(e.getMessage());
    }
  }

  /** An author's latest comments; with the visitor's session, their own at once. */
  List<Thing> recentComments(Session session, Thing viewer, Thing author, int limit) {
    String key = Listings.comments(author.id());
    ListingReader reader = commentReader.withSession(session);
    return (viewer == null
            ? reader.page(key, null, limit, TimeWindow.ALL)
            : reader.pageFor(viewer.id(), key, null, limit, TimeWindow.ALL))
        .items();
  }

  /** The links an account voted up, most recent vote first. */
  List<Thing> liked(Thing viewer, Thing account, int limit) {
    List<Relation> votes = db.relationsByThing1(Models.VOTE_LINK, account.id(), "1");
    List<Long> ids = new ArrayList<>();
    for (int i = votes.size() - 1; i >= 0 && ids.size() < limit; i--) {
      ids.add(votes.get(i).thing2Id());
    }
    List<Thing> out = new ArrayList<>();
    for (Thing t : db.getMany(Models.LINK, ids, ThingDb.Missing.SKIP)) {
      if (visible(t, viewer, t.get(Models.AUTHOR))) {
        out.add(t);
      }
    }
    return out;
  }

  /**
   * The shadow ban, seen from the banned side: listings never hold spam, so a spammer's own spam
   * links are fetched (one cached query, only for spammers) and merged into their first page by
   * sort value, where they would have been.
   */
  private List<Thing> withOwnSpam(
      Thing viewer,
      String prefix,
      ListingSort sort,
      TimeWindow window,
      List<Thing> links,
      int limit) {
    List<Filter> filters =
        new ArrayList<>(
            List.of(Filter.eq(Models.AUTHOR, viewer.id()), Filter.eq(Filter.Column.SPAM, true)));
    if (prefix != null && prefix.startsWith("sr:")) {
      filters.add(Filter.eq(Models.COMMUNITY_ID, Long.parseLong(prefix.substring(3))));
    }
    List<Thing> own =
        db.query(
                ThingQuery.of(Models.LINK)
                    .where(Filter.and(filters))
                    .includeSpam()
                    .limit(limit)
                    .cached(Duration.ofMinutes(1)))
            .things();
    Set<Long> seen = new LinkedHashSet<>();
    List<Thing> merged = new ArrayList<>();
    for (Thing t : links) {
      seen.add(t.id());
      merged.add(t);
    }
    for (Thing t : own) {
      if (!t.deleted() && seen.add(t.id()) && window.contains(t.date(), clock.instant())) {
        merged.add(t);
      }
    }
    merged.sort(
        Comparator.comparingDouble((Thing t) -> -sort.value(t)).thenComparing(t -> -t.id()));
    return merged.size() > limit ? merged.subList(0, limit) : merged;
  }

  // ------------------------------------------------------------------ writes that must not repeat

  /**
   * The idempotency key of a form: the account, the form's one-time token and a digest of what was
   * sent, or null if the form carried no token (an API client that does not want the check). The
   * same form sent twice (a double click, a reload of the POST, a retry after a lost answer) has
   * the same key; another post written from the same rendered form (the back button) has another.
   */
  static String formKey(long accountId, String token, String... fields) {
    if (token == null || token.isEmpty()) {
      return null;
    }
    if (!token.matches("[0-9a-f]{32}")) {
      throw HttpError.badRequest(
          "the form's token is malformed (was '"
              + Request.abbreviate(token)
              + "'): reload the form");
    }
    try {
      java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
      for (String f : fields) {
        sha.update(f.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        sha.update((byte) 0);
      }
      return accountId
          + ":"
          + token
          + ":"
          + java.util.HexFormat.of().formatHex(sha.digest(), 0, 16);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }

  /** A fresh one-time form token (put into every rendered form that creates something). */
  static String newFormToken() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return java.util.HexFormat.of().formatHex(b);
  }

  private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

  /**
   * The thing of {@code type} created with idempotency key {@code key}, or empty. Read from the
   * database with {@code session} (the creator's own write is visible at once to the same visitor),
   * including deleted and spam things: a resubmission finds what it created whatever became of it.
   */
  Optional<Thing> createdWith(Session session, ThingType type, String key) {
    List<Thing> found =
        db.withSession(session)
            .query(
                ThingQuery.of(type)
                    .where(Filter.eq(Models.FORM_TOKEN, key))
                    .includeDeleted()
                    .includeSpam()
                    .limit(1))
            .things();
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /**
   * Sets a link's {@code num_comments} to the number of its comments, counted on the comments
   * database. Comments and links live on two databases, so no transaction can cover a comment and
   * its count: instead of {@code num_comments + 1} (which a crash between the two commits leaves
   * one short for good) the count is recomputed, under a lock per link so that recounts apply in
   * order, after every comment and whenever a permalink finds it wrong. Before a comment is written
   * its post is marked ({@link RecountMarks}, committed first) and the mark is cleared after this
   * recount: a request that dies in between leaves the mark, and {@link #sweepRecounts} repairs the
   * count without waiting for a reader. Never throws: the comment is already saved, and a failed
   * recount is repaired the same way; it is logged.
   *
   * @return whether the recount ran
   */
  boolean recountComments(Session session, long linkId) {
    try {
      io.thingdb.cache.Lock lock = locks.acquire("num_comments:" + linkId, Duration.ofSeconds(2));
      try {
        recountLocked(session, linkId);
      } finally {
        lock.close();
      }
      return true;
    } catch (RuntimeException e) {
      log.warn(
          "recounting the comments of link {} failed; its mark and its next view repair it: {}",
          linkId,
          e.toString());
      return false;
    }
  }

  /** Clears a recount mark after the recount ran; a failure leaves it to the sweep. */
  void clearRecountMark(long mark) {
    try {
      recountMarks.clear(mark);
    } catch (java.sql.SQLException | RuntimeException e) {
      log.debug("clearing recount mark {} failed; the sweep will", mark, e);
    }
  }

  /**
   * Recounts the posts whose recount marks are older than {@code grace}: comments whose request
   * died between the comment and its count. The recount reads without a session, so {@code grace}
   * must exceed the comments database's replica lag (BlogApp sweeps marks older than 30 s). Never
   * throws; logs one line when sweeping starts failing and one when it works again.
   *
   * @return how many posts were recounted, or -1 if the sweep failed
   */
  int sweepRecounts(Duration grace) {
    try {
      int n = recountMarks.sweep(grace, linkId -> recountComments(null, linkId));
      if (sweepFailing) {
        sweepFailing = false;
        log.info("sweeping comment recount marks works again");
      }
      return n;
    } catch (java.sql.SQLException | RuntimeException e) {
      if (!sweepFailing) {
        sweepFailing = true;
        log.warn("sweeping comment recount marks failed; retrying: {}", e.toString());
      }
      log.debug("sweeping comment recount marks failed", e);
      return -1;
    }
  }

  private void recountLocked(Session session, long linkId) {
    List<Thing> comments =
        db.withSession(session)
            .query(
                ThingQuery.of(Models.COMMENT)
                    .where(Filter.eq(Models.LINK_ID, linkId))
                    .includeSpam()
                    .includeDeleted()
                    .limit(ThingQuery.MAX_LIMIT))
            .things();
    Thing link = db.withSession(session).get(Models.LINK, linkId).orElse(null);
    if (link == null) {
      return;
    }
    // Never lower: comments are never removed (a deleted one still counts, as it always did), so
    // a lower count is a replica that has not replayed the latest comments yet, or a post with
    // more comments than one query returns.
    long count = Math.max(comments.size(), link.get(Models.NUM_COMMENTS));
    if (link.get(Models.NUM_COMMENTS) != count) {
      db.withSession(session).update(link.edit().set(Models.NUM_COMMENTS, count));
    }
  }

  // ------------------------------------------------------------------ permalinks

  /** A top-level comment and its replies, both sorted by confidence ("best"). */
  record Thread(Thing comment, List<Thing> replies) {}

  /**
   * The link with this base-36 id if {@code viewer} may see it, or empty; read with {@code
   * session}, so that its author finds it right after submitting it even through a lagging replica.
   */
  Optional<Thing> link(Session session, String id36, Thing viewer) {
    long id;
    try {
      id = Long.parseLong(id36, 36);
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    if (id < 1) {
      return Optional.empty();
    }
    return db.withSession(session)
        .get(Models.LINK, id)
        .filter(t -> visible(t, viewer, t.get(Models.AUTHOR)));
  }

  /**
   * The comments of a link as {@code viewer} sees them: top-level comments by confidence, each with
   * its replies by confidence. The id list is a cached query (retired by any comment write); the
   * comments themselves come from the write-through cache, so their scores are current. Read with
   * {@code session}: a commenter sees their comment at once. A {@code num_comments} found lower
   * than the comments shown is repaired here.
   */
  List<Thread> comments(Session session, Thing link, Thing viewer) {
    List<Thing> all =
        db.withSession(session)
            .query(
                ThingQuery.of(Models.COMMENT)
                    .where(Filter.eq(Models.LINK_ID, link.id()))
                    .includeSpam()
                    .limit(MAX_COMMENTS)
                    .cached(Duration.ofMinutes(5)))
            .things();
    if (all.size() > link.get(Models.NUM_COMMENTS)) {
      // The count is short: a comment committed and its recount did not (see recountComments).
      recountComments(session, link.id());
    }
    Comparator<Thing> best =
        Comparator.comparingDouble((Thing c) -> -Sorts.confidence(c.ups(), c.downs()))
            .thenComparing(c -> -c.id());
    Map<Long, List<Thing>> replies = new HashMap<>();
    List<Thing> top = new ArrayList<>();
    for (Thing c : all) {
      if (!visible(c, viewer, c.get(Models.COMMENT_AUTHOR))) {
        continue;
      }
      long parent = c.get(Models.PARENT_ID);
      if (parent == 0) {
        top.add(c);
      } else {
        replies.computeIfAbsent(parent, k -> new ArrayList<>()).add(c);
      }
    }
    top.sort(best);
    List<Thread> out = new ArrayList<>();
    for (Thing c : top) {
      List<Thing> r = replies.getOrDefault(c.id(), new ArrayList<>());
      r.sort(best);
      out.add(new Thread(c, r));
    }
    return out;
  }
}

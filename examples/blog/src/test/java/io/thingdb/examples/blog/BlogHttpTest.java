package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.testing.MemcachedExtension;
import io.thingdb.testing.PostgresFixture;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The blog over HTTP, started in-process on a free port against a real PostgreSQL (main and
 * comments on two databases) and a real memcached. Every test uses its own accounts, so the tests
 * share one running app.
 */
class BlogHttpTest {
  @RegisterExtension static final MemcachedExtension memcached = new MemcachedExtension(1);

  static final String ADMIN_PASSWORD = "admin-password-1";
  static final int NOFOLLOW_THRESHOLD = 3;
  static final java.time.Duration PAGE_CACHE_TTL = java.time.Duration.ofSeconds(5);
  private static final AtomicInteger names = new AtomicInteger();
  private static final AtomicInteger bust = new AtomicInteger();

  static PostgresFixture pg;
  static DataSource mainDs;
  static DataSource commentsDs;
  static BlogApp app;
  static URI base;
  static Path accessLog;

  @BeforeAll
  static void start() throws IOException {
    accessLog = Files.createTempFile("blog-access-", ".log");
    pg = PostgresFixture.start();
    mainDs = pg.createDatabase("blog");
    commentsDs = pg.createDatabase("blog_comments");
    Config config =
        Config.builder()
            .port(0)
            .db(pg.jdbcUrl("blog"))
            .commentsDb(pg.jdbcUrl("blog_comments"))
            .memcached(memcached.cluster().servers())
            .pbkdf2Iterations(1000)
            .nofollowThreshold(NOFOLLOW_THRESHOLD)
            .pageCacheTtl(PAGE_CACHE_TTL)
            .adminPassword(ADMIN_PASSWORD)
            .secret("0123456789abcdef0123456789abcdef-test-secret".getBytes(UTF_8))
            .accessLog(accessLog.toString())
            // Every test signs up from this one address: no per-address throttle here
            // (BlogSecurityTest tests it).
            .attemptsPerAddress(100_000)
            .build();
    app = BlogApp.start(config);
    base = app.uri();
  }

  @AfterAll
  static void stop() throws IOException {
    if (app != null) {
      app.close();
    }
    if (pg != null) {
      pg.close();
    }
    Files.deleteIfExists(accessLog);
  }

  // ------------------------------------------------------------------ helpers

  static String newName() {
    return "u" + names.incrementAndGet() + "_" + Long.toString(System.nanoTime() % 100000, 36);
  }

  static Browser user() {
    Browser b = new Browser(base);
    b.signup(newName(), "password-123");
    return b;
  }

  /**
   * {@code path}, dropped from the anonymous page cache so the next GET renders it afresh, with a
   * query parameter no page reads (the page cache ignores it) so that its access-log lines are its
   * own.
   */
  static String fresh(String path) {
    app.forgetPage(path);
    return path + (path.contains("?") ? "&" : "?") + "nocache=" + bust.incrementAndGet();
  }

  static long count(DataSource ds, String sql) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new AssertionError(sql + ": " + e.getMessage(), e);
    }
  }

  /**
   * What a write would change: rows of every table the forms write, and listing jobs ever queued.
   * Jobs are counted by their id sequence, not by the rows in the queue: the background processors
   * delete the rows they apply at any moment, which made "nothing was written" fail at random.
   */
  static List<Long> writes() {
    return List.of(
        count(mainDs, "select count(*) from thing_account"),
        count(mainDs, "select count(*) from thing_link"),
        count(mainDs, "select count(*) from data_link"),
        count(mainDs, "select count(*) from rel_vote_link"),
        count(mainDs, "select coalesce(sum(ups + downs), 0) from thing_link"),
        count(commentsDs, "select count(*) from thing_comment"),
        count(commentsDs, "select count(*) from rel_vote_comment"),
        count(mainDs, JOBS_QUEUED),
        count(commentsDs, JOBS_QUEUED));
  }

  private static final String JOBS_QUEUED =
      "select case when is_called then last_value else 0 end from thingdb_listing_job_id_seq";

  static Map<String, Object> submit(
      Browser b, String community, String title, String url, String text) {
    Map<String, String> form = new LinkedHashMap<>();
    form.put("title", title);
    form.put("url", url);
    form.put("text", text);
    form.put("community", community);
    Browser.Page p = b.postJson("/submit", form);
    assertThat(p.status()).as(p.body()).isEqualTo(201);
    return p.json();
  }

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> children(Map<String, Object> listing) {
    return (List<Map<String, Object>>) ((Map<String, Object>) listing.get("data")).get("children");
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> data(Map<String, Object> child) {
    return (Map<String, Object>) child.get("data");
  }

  static List<String> names(Map<String, Object> listing) {
    List<String> out = new ArrayList<>();
    for (Map<String, Object> c : children(listing)) {
      out.add((String) data(c).get("name"));
    }
    return out;
  }

  static Object after(Map<String, Object> listing) {
    @SuppressWarnings("unchecked")
    Map<String, Object> data = (Map<String, Object>) listing.get("data");
    return data.get("after");
  }

  // ------------------------------------------------------------------ accounts

  @Test
  void signupLogsInWithAnHttpOnlySameSiteCookieAndStoresAPbkdf2Hash() {
    Browser b = new Browser(base);
    String name = newName();
    Browser.Page p = b.post("/signup", Map.of("name", name, "password", "correct horse"));
    assertThat(p.status()).isEqualTo(303);
    String cookie = p.header("Set-Cookie");
    assertThat(cookie)
        .startsWith(SessionCookies.NAME + "=")
        .contains("HttpOnly")
        .contains("SameSite=Lax");
    assertThat(b.get("/").body()).contains("href=\"/user/" + name + "\"");
    String stored =
        (String)
            app.db()
                .query(
                    io.thingdb.core.ThingQuery.of(Models.ACCOUNT)
                        .where(
                            io.thingdb.core.Filter.eq(
                                Models.NAME_LOWER, name.toLowerCase(java.util.Locale.ROOT))))
                .things()
                .get(0)
                .get(Models.PASSWORD);
    assertThat(stored).startsWith("pbkdf2_sha256$1000$").doesNotContain("correct horse");
  }

  @Test
  void loginAcceptsTheRightPasswordAndRefusesAWrongOne() {
    String name = newName();
    new Browser(base).signup(name, "password-abc");
    Browser b = new Browser(base);
    Browser.Page wrong = b.post("/login", Map.of("name", name, "password", "password-abd"));
    assertThat(wrong.status()).isEqualTo(403);
    assertThat(wrong.body()).contains("wrong name or password");
    Browser.Page right = b.post("/login", Map.of("name", name, "password", "password-abc"));
    assertThat(right.status()).isEqualTo(303);
    assertThat(b.get("/").body()).contains("href=\"/user/" + name + "\"");
    // Logging out drops the session.
    assertThat(b.post("/logout", Map.of()).status()).isEqualTo(303);
    assertThat(b.get(fresh("/")).body())
        .contains("log in or sign up")
        .doesNotContain("href=\"/user/" + name + "\"");
  }

  @Test
  void aTakenNameIsRefused() {
    String name = newName();
    new Browser(base).signup(name, "password-abc");
    List<Long> before = writes();
    Browser.Page again =
        new Browser(base)
            .post(
                "/signup",
                Map.of(
                    "name", name.toUpperCase(java.util.Locale.ROOT), "password", "password-xyz"));
    assertThat(again.status()).isEqualTo(409);
    assertThat(again.body()).contains("is taken");
    assertThat(writes()).isEqualTo(before);
  }

  // ------------------------------------------------------------------ posts, votes, comments

  @Test
  void submittedPostsAppearOnTheirPermalinkAndInTheListings() {
    Browser b = user();
    Map<String, Object> link =
        submit(b, "java", "A link post " + newName(), "https://example.com/a", "");
    Map<String, Object> text =
        submit(b, "java", "A text post " + newName(), "", "Some *text* here");
    String permalink = (String) text.get("permalink");
    Browser.Page page = b.get(permalink);
    assertThat(page.status()).isEqualTo(200);
    assertThat(page.body()).contains("Some *text* here");
    app.drainListings();
    List<String> newest = names(new Browser(base).get(fresh("/r/java/new.json")).json());
    assertThat(newest).startsWith((String) text.get("name"), (String) link.get("name"));
    assertThat(names(new Browser(base).get(fresh("/new.json")).json()))
        .contains((String) text.get("name"));
    // The author's own up vote counts at once.
    Map<String, Object> json =
        new Browser(base).get(fresh("/by_id/" + link.get("name") + ".json")).json();
    assertThat(data(children(json).get(0)).get("score")).isEqualTo(1L);
  }

  @Test
  void aVoteChangesTheScoreAtOnceAndTheVoterSeesIt() {
    Browser author = user();
    Map<String, Object> link =
        submit(author, "programming", "Vote on me " + newName(), "https://example.com/v", "");
    String name = (String) link.get("name");
    Browser voter = user();
    Browser.Page up = voter.postJson("/vote", Map.of("id", name, "dir", "1"));
    assertThat(up.status()).isEqualTo(200);
    assertThat(up.json()).containsEntry("score", 2L).containsEntry("dir", 1L);
    // Before any listing job ran, the voter's page shows the new score and the vote as theirs.
    String page = voter.get((String) link.get("permalink")).body();
    assertThat(page).contains("<span class=\"score\">2</span>").contains("class=\"up on\"");
    Browser.Page down = voter.postJson("/vote", Map.of("id", name, "dir", "-1"));
    assertThat(down.json()).containsEntry("score", 0L);
    // A plain form post redirects back to the page it came from.
    Browser.Page form = voter.post("/vote", Map.of("id", name, "dir", "0"));
    assertThat(form.status()).isEqualTo(303);
    assertThat(
            count(
                mainDs,
                "select ups - downs from thing_link where thing_id = "
                    + Long.parseLong(name.substring(name.indexOf('_') + 1), 36)))
        .isEqualTo(1);
  }

  @Test
  void commentsAndOneLevelOfRepliesSortedByConfidence() {
    Browser author = user();
    Map<String, Object> link = submit(author, "databases", "Discuss " + newName(), "", "talk");
    String permalink = (String) link.get("permalink");
    Browser c1 = user();
    Browser.Page first =
        c1.postJson("/comment", Map.of("link", (String) link.get("name"), "text", "first comment"));
    assertThat(first.status()).as(first.body()).isEqualTo(201);
    Browser c2 = user();
    String second =
        (String)
            c2.postJson(
                    "/comment", Map.of("link", (String) link.get("name"), "text", "second comment"))
                .json()
                .get("name");
    // Three more up votes make the second comment the best one.
    for (int i = 0; i < 3; i++) {
      assertThat(user().postJson("/vote", Map.of("id", second, "dir", "1")).status())
          .isEqualTo(200);
    }
    String firstName = (String) first.json().get("name");
    Browser.Page reply =
        c2.postJson(
            "/comment",
            Map.of("link", (String) link.get("name"), "parent", firstName, "text", "a reply"));
    assertThat(reply.status()).isEqualTo(201);
    String replyName = (String) reply.json().get("name");
    List<Long> before = writes();
    Browser.Page tooDeep =
        c1.postJson(
            "/comment",
            Map.of("link", (String) link.get("name"), "parent", replyName, "text", "deeper"));
    assertThat(tooDeep.status()).isEqualTo(400);
    assertThat(tooDeep.json().get("message").toString()).contains("one level");
    assertThat(writes()).isEqualTo(before);

    Object parsed = JsonParser.parse(new Browser(base).get(fresh(permalink + ".json")).body());
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> both = (List<Map<String, Object>>) parsed;
    assertThat(data(children(both.get(0)).get(0))).containsEntry("num_comments", 3L);
    List<Map<String, Object>> threads = children(both.get(1));
    assertThat(threads).extracting(t -> data(t).get("name")).containsExactly(second, firstName);
    @SuppressWarnings("unchecked")
    Map<String, Object> replies = (Map<String, Object>) data(threads.get(1)).get("replies");
    assertThat(names(replies)).containsExactly(replyName);
    String html = new Browser(base).get(fresh(permalink)).body();
    assertThat(html.indexOf("second comment")).isLessThan(html.indexOf("first comment"));
    assertThat(html).contains("a reply");
  }

  @Test
  void pagingWithAfterWalksTheListingWithoutRepeats() {
    Browser b = user();
    String community = "meta";
    for (int i = 0; i < 5; i++) {
      submit(b, community, "Paged post " + i + " " + newName(), "", "");
    }
    app.drainListings();
    Browser anon = new Browser(base);
    List<String> all = names(anon.get(fresh("/r/" + community + "/new.json?limit=100")).json());
    assertThat(all.size()).isGreaterThanOrEqualTo(5);
    List<String> walked = new ArrayList<>();
    String after = null;
    for (int guard = 0; guard < 100; guard++) {
      Map<String, Object> page =
          anon.get(
                  fresh(
                      "/r/"
                          + community
                          + "/new.json?limit=2"
                          + (after == null ? "" : "&after=" + after)))
              .json();
      List<String> got = names(page);
      assertThat(got.size()).isLessThanOrEqualTo(2);
      walked.addAll(got);
      after = (String) after(page);
      if (after == null) {
        break;
      }
      assertThat(after).isEqualTo(got.get(got.size() - 1));
    }
    assertThat(walked).containsExactlyElementsOf(all);
    // The HTML page links to the next page the same way.
    String html = anon.get(fresh("/r/" + community + "/new?limit=2")).body();
    // (mustache escapes '=' too; the browser decodes the attribute)
    assertThat(html)
        .contains("/r/" + community + "/new?after&#61;" + all.get(1) + "&amp;limit&#61;2");
  }

  @Test
  void topByTimeWindowComesFromTheRecompute() {
    Browser b = user();
    Map<String, Object> link =
        submit(b, "programming", "Top of the day " + newName(), "https://example.com/top", "");
    app.drainListings();
    app.recomputeNow();
    assertThat(
            names(new Browser(base).get(fresh("/r/programming/top.json?t=day&limit=100")).json()))
        .contains((String) link.get("name"));
    assertThat(names(new Browser(base).get(fresh("/top.json?t=hour&limit=100")).json()))
        .contains((String) link.get("name"));
    Browser.Page bad = new Browser(base).get(fresh("/top?t=fortnight"));
    assertThat(bad.status()).isEqualTo(400);
    assertThat(bad.body()).contains("unknown time window");
  }

  @Test
  void topOfAllTimeIsKeptByTheQueueWithoutARecompute() {
    Browser author = user();
    Map<String, Object> low = submit(author, "meta", "All-time low " + newName(), "", "one vote");
    Map<String, Object> high =
        submit(author, "meta", "All-time high " + newName(), "", "many votes");
    for (int i = 0; i < 3; i++) {
      assertThat(
              user()
                  .postJson("/vote", Map.of("id", (String) high.get("name"), "dir", "1"))
                  .status())
          .isEqualTo(200);
    }
    app.drainListings(); // and no recomputeNow(): t=all is not a recomputed window
    for (String path : List.of("/r/meta/top.json?t=all&limit=100", "/top.json?t=all&limit=100")) {
      List<String> top = names(new Browser(base).get(fresh(path)).json());
      assertThat(top).as(path).contains((String) high.get("name"), (String) low.get("name"));
      assertThat(top.indexOf((String) high.get("name")))
          .as(path)
          .isLessThan(top.indexOf((String) low.get("name")));
    }
    assertThat(new Browser(base).get(fresh("/r/meta/top?t=all")).body()).contains("All-time high");
    // The all-time listings are the queue's own keys (all:top, sr:<id>:top), never the recompute's
    // <prefix>:top:all, which the queue may not write.
    assertThat(count(mainDs, "select count(*) from thingdb_listing where key like '%:all'"))
        .isZero();
    assertThat(
            count(
                mainDs,
                "select count(*) from thingdb_listing where key in ('all:top', 'all:controversial')"))
        .isEqualTo(2);
  }

  @Test
  void aPostAndACommentAreQueuedForTheirListingsInTheirOwnTransaction() {
    String[] setup = {
      "create table if not exists test_tx_log (tbl text, thing_id bigint, listing_key text, tx bigint)",
      "create or replace function test_log_thing() returns trigger language plpgsql as"
          + " $$ begin insert into test_tx_log values (tg_table_name, new.thing_id, null, txid_current()); return new; end $$",
      "create or replace function test_log_job() returns trigger language plpgsql as"
          + " $$ begin insert into test_tx_log values (tg_table_name, new.thing_id, new.listing_key, txid_current());"
          + " return new; end $$"
    };
    try {
      for (DataSource ds : List.of(mainDs, commentsDs)) {
        for (String sql : setup) {
          execute(ds, sql);
        }
        execute(
            ds,
            "create trigger test_log_job after insert on thingdb_listing_job for each row execute function test_log_job()");
      }
      execute(
          mainDs,
          "create trigger test_log_link after insert on thing_link for each row execute function test_log_thing()");
      execute(
          commentsDs,
          "create trigger test_log_comment after insert on thing_comment for each row execute function test_log_thing()");

      Browser author = user();
      String link =
          (String)
              submit(author, "java", "Listed at once " + newName(), "", "in one transaction")
                  .get("name");
      io.thingdb.core.Thing post =
          app.db().getByFullnames(List.of(link), io.thingdb.core.ThingDb.Missing.FAIL).get(0);
      assertThat(keysQueuedWithTheInsert(mainDs, "thing_link", post.id()))
          .containsExactlyInAnyOrderElementsOf(new Listings(1000).listingsOf(post))
          .hasSize(9);
      Browser.Page reply =
          author.postJson("/comment", Map.of("link", link, "text", "a comment, listed at once"));
      assertThat(reply.status()).as(reply.body()).isEqualTo(201);
      io.thingdb.core.Thing comment =
          app.db()
              .getByFullnames(
                  List.of((String) reply.json().get("name")), io.thingdb.core.ThingDb.Missing.FAIL)
              .get(0);
      assertThat(keysQueuedWithTheInsert(commentsDs, "thing_comment", comment.id()))
          .containsExactly(Listings.comments(comment.get(Models.COMMENT_AUTHOR)));
    } finally {
      execute(mainDs, "drop trigger if exists test_log_link on thing_link");
      execute(commentsDs, "drop trigger if exists test_log_comment on thing_comment");
      for (DataSource ds : List.of(mainDs, commentsDs)) {
        execute(ds, "drop trigger if exists test_log_job on thingdb_listing_job");
      }
    }
  }

  /**
   * The listing keys of the jobs inserted for a thing in the same transaction that inserted its
   * row.
   */
  static List<String> keysQueuedWithTheInsert(DataSource ds, String table, long thingId) {
    String sql =
        "select j.listing_key from test_tx_log t join test_tx_log j on j.tx = t.tx and j.thing_id = t.thing_id"
            + " and j.tbl = 'thingdb_listing_job' where t.tbl = ? and t.thing_id = ?";
    List<String> out = new ArrayList<>();
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, table);
      ps.setLong(2, thingId);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
    } catch (SQLException e) {
      throw new AssertionError(sql + ": " + e.getMessage(), e);
    }
    return out;
  }

  static void execute(DataSource ds, String sql) {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      ps.execute();
    } catch (SQLException e) {
      throw new AssertionError(sql + ": " + e.getMessage(), e);
    }
  }

  @Test
  void aBadAfterIsA400NamingItNeverTheTopOfTheListing() {
    Browser anon = new Browser(base);
    io.thingdb.core.Thing any =
        app.db().query(io.thingdb.core.ThingQuery.of(Models.LINK).limit(1)).things().get(0);
    String prefix = any.fullname().substring(0, any.fullname().indexOf('_') + 1);
    String never = prefix + Long.toString(any.id() + 1_000_000, 36);
    io.thingdb.core.Thing account =
        app.db().query(io.thingdb.core.ThingQuery.of(Models.ACCOUNT).limit(1)).things().get(0);
    record Case(String after, String message) {}
    for (Case c :
        List.of(
            new Case("banana", "malformed fullname 'banana'"),
            new Case(never, "names no link that exists"),
            new Case(account.fullname(), "names a thing of type account"))) {
      for (String path :
          List.of(
              "/new.json?after=", "/r/java/top.json?t=week&after=", "/user/admin.json?after=")) {
        Browser.Page p = anon.get(fresh(path + c.after()));
        assertThat(p.status()).as(path + c.after()).isEqualTo(400);
        assertThat(p.json().get("message").toString())
            .as(path + c.after())
            .contains("bad after cursor '" + c.after() + "'")
            .contains(c.message());
      }
    }
  }

  // ------------------------------------------------------------------ JSON shapes

  @Test
  void everyPageIsAlsoJsonInTheListingShape() {
    Browser b = user();
    Map<String, Object> link =
        submit(b, "java", "JSON shape " + newName(), "https://example.com/json", "");
    app.drainListings();
    Browser anon = new Browser(base);
    for (String path :
        List.of(
            "/.json",
            "/new.json",
            "/r/java/top.json?t=all",
            "/r/java/controversial.json?t=week",
            "/by_id/" + link.get("name") + ".json")) {
      Browser.Page p = anon.get(fresh(path));
      assertThat(p.status()).as(path).isEqualTo(200);
      assertThat(p.header("Content-Type")).startsWith("application/json");
      Map<String, Object> json = p.json();
      assertThat(json).as(path).containsEntry("kind", "Listing").containsKey("data");
      @SuppressWarnings("unchecked")
      Map<String, Object> data = (Map<String, Object>) json.get("data");
      assertThat(data).as(path).containsKeys("after", "limit", "children");
    }
    Map<String, Object> one =
        data(children(anon.get(fresh("/by_id/" + link.get("name") + ".json")).json()).get(0));
    assertThat(one)
        .containsKeys(
            "id",
            "name",
            "title",
            "url",
            "permalink",
            "author",
            "community",
            "score",
            "ups",
            "downs",
            "num_comments",
            "created_utc",
            "is_self",
            "likes");
    assertThat(one.get("url")).isEqualTo("https://example.com/json");
    Map<String, Object> user = anon.get(fresh("/user/" + one.get("author") + ".json")).json();
    assertThat(user).containsKey("user");
    assertThat(names(user)).contains((String) link.get("name"));
    assertThat(anon.get(fresh("/r/nosuchplace.json")).status()).isEqualTo(404);
  }

  // ------------------------------------------------------------------ security

  @Test
  void aPostWithoutTheCsrfTokenIsRefusedAndWritesNothing() {
    Browser b = user();
    String othersToken = user().csrf();
    List<Long> before = writes();
    Map<String, String> form =
        Map.of("title", "csrf " + newName(), "url", "https://example.com/c", "community", "java");
    Browser.Page none = b.postRaw("/submit", form, false);
    assertThat(none.status()).isEqualTo(403);
    assertThat(none.body()).contains("CSRF");
    Map<String, String> wrong = new LinkedHashMap<>(form);
    wrong.put("csrf", "not-the-token");
    assertThat(b.postRaw("/submit", wrong, false).status()).isEqualTo(403);
    // Another visitor's token does not work either.
    Map<String, String> others = new LinkedHashMap<>(form);
    others.put("csrf", othersToken);
    assertThat(b.postRaw("/submit", others, false).status()).isEqualTo(403);
    assertThat(b.postRaw("/vote", Map.of("id", "t3_1", "dir", "1"), true).status()).isEqualTo(403);
    assertThat(writes()).isEqualTo(before);
  }

  @Test
  void aScriptInATitleIsRenderedEscaped() {
    Browser b = user();
    String title = "<script>alert('x')</script> & \"quotes\" " + newName();
    Map<String, Object> link =
        submit(b, "meta", title, "https://example.com/xss?q='onmouseover='alert(1)", "");
    app.drainListings();
    for (String path : List.of((String) link.get("permalink"), "/r/meta/new", "/new")) {
      String html = new Browser(base).get(fresh(path)).body();
      assertThat(html).as(path).doesNotContain("<script>alert").contains("&lt;script&gt;alert(");
      assertThat(html)
          .as(path)
          .doesNotContain("'onmouseover=")
          .contains("&#39;onmouseover&#61;&#39;alert(1)");
    }
    Browser.Page js =
        b.postJson(
            "/submit",
            Map.of("title", "bad link", "url", "javascript:alert(1)", "community", "meta"));
    assertThat(js.status()).isEqualTo(400);
  }

  @Test
  void outboundLinksAreNofollowUntilTheScoreReachesTheThreshold() {
    Browser author = user();
    Map<String, Object> link =
        submit(author, "java", "Nofollow " + newName(), "https://example.com/nofollow", "");
    String permalink = (String) link.get("permalink");
    Pattern anchor =
        Pattern.compile("<a class=\"title\" href=\"https://example.com/nofollow\"([^>]*)>");
    Matcher m = anchor.matcher(new Browser(base).get(fresh(permalink)).body());
    assertThat(m.find()).isTrue();
    assertThat(m.group(1)).isEqualTo(" rel=\"nofollow ugc\"");
    for (int score = 2; score <= NOFOLLOW_THRESHOLD; score++) {
      assertThat(
              user().postJson("/vote", Map.of("id", (String) link.get("name"), "dir", "1")).json())
          .containsEntry("score", (long) score);
    }
    m = anchor.matcher(new Browser(base).get(fresh(permalink)).body());
    assertThat(m.find()).isTrue();
    assertThat(m.group(1)).isEmpty();
  }

  @Test
  void aShadowBannedAuthorSeesTheirPostsAndNobodyElseDoes() {
    String spammerName = newName();
    Browser spammer = new Browser(base);
    spammer.signup(spammerName, "password-spam");
    Browser admin = new Browser(base);
    assertThat(admin.post("/login", Map.of("name", "admin", "password", ADMIN_PASSWORD)).status())
        .isEqualTo(303);
    // Only an admin may mark spammers.
    assertThat(
            user().post("/admin/spammer", Map.of("name", spammerName, "spammer", "true")).status())
        .isEqualTo(403);
    assertThat(
            admin.post("/admin/spammer", Map.of("name", spammerName, "spammer", "true")).status())
        .isEqualTo(303);

    String title = "Buy cheap watches " + newName();
    Map<String, Object> link =
        submit(spammer, "programming", title, "https://spam.example/watches", "");
    String permalink = (String) link.get("permalink");
    app.drainListings();

    assertThat(spammer.get(permalink).body()).contains(title);
    assertThat(spammer.get("/r/programming/new").body()).contains(title);
    assertThat(spammer.get("/new").body()).contains(title);
    assertThat(spammer.get("/user/" + spammerName).body()).contains(title);

    Browser other = user();
    Browser anon = new Browser(base);
    for (Browser viewer : List.of(other, anon)) {
      assertThat(viewer.get(fresh(permalink)).status()).isEqualTo(404);
      for (String path :
          List.of(
              "/new",
              "/r/programming/new",
              "/",
              "/user/" + spammerName,
              "/new.json",
              "/by_id/" + link.get("name") + ".json")) {
        assertThat(viewer.get(fresh(path)).body()).as(path).doesNotContain(title);
      }
    }
    // Comments too: the spammer's comment on someone else's post is theirs alone.
    Map<String, Object> honest = submit(other, "programming", "Honest post " + newName(), "", "hi");
    assertThat(
            spammer
                .postJson(
                    "/comment",
                    Map.of("link", (String) honest.get("name"), "text", "visit spam.example"))
                .status())
        .isEqualTo(201);
    assertThat(spammer.get((String) honest.get("permalink")).body()).contains("visit spam.example");
    assertThat(anon.get(fresh((String) honest.get("permalink"))).body())
        .doesNotContain("visit spam.example");
  }

  @Test
  void withoutReplicasTheCookieCarriesNoWalPosition() {
    Browser b = user();
    Browser.Page p =
        b.postJson(
            "/submit",
            Map.of(
                "title",
                "no replicas here " + newName(),
                "url",
                "https://example.com/nr",
                "community",
                "java"));
    assertThat(p.status()).isEqualTo(201);
    // Every read goes to the primary: there is no WAL position worth carrying (see
    // ReadYourWritesTest). The cookie carries only the post the visitor wrote, for their own
    // listing pages until the queue has applied it (see OwnPostsHttpTest).
    String token =
        new SessionCookies(
                "0123456789abcdef0123456789abcdef-test-secret".getBytes(UTF_8),
                java.time.Clock.systemUTC())
            .decodePositions(b.cookie(SessionCookies.POSITIONS));
    assertThat(token).as("a cookie signed by the blog").isNotNull();
    assertThat(token.split(";"))
        .as("no WAL position, only the written post")
        .containsExactly("~" + p.json().get("name") + token.substring(token.lastIndexOf('.')));
  }

  // ------------------------------------------------------------------ the page cache

  @Test
  void aWarmAnonymousFrontPageRunsNoSqlStatements() throws Exception {
    Browser anon = new Browser(base);
    String front = fresh("/"); // a page-cache key of its own: the first request renders it
    Browser.Page first = anon.get(front);
    assertThat(first.status()).isEqualTo(200);
    assertThat(first.header("X-Page-Cache")).isEqualTo("miss");
    Browser.Page second = anon.get(front);
    assertThat(second.header("X-Page-Cache")).isEqualTo("hit");
    assertThat(second.sql()).isZero();
    assertThat(second.body()).isEqualTo(first.body());
    // The access log has both requests, with their status, time, statements and cache hits.
    assertThat(accessLogLines(front, 2))
        .hasSize(2)
        .anySatisfy(
            line ->
                assertThat(line)
                    .matches(".* 200 \\d+\\.\\d ms sql=\\d+ cache_hits=\\d+ page_cache=miss"))
        .anySatisfy(
            line ->
                assertThat(line).matches(".* 200 \\d+\\.\\d ms sql=0 cache_hits=1 page_cache=hit"));
    // Logged-in users get a fresh page, never the shared copy.
    Browser.Page loggedIn = user().get("/");
    assertThat(loggedIn.header("X-Page-Cache")).isEqualTo("-");
    assertThat(loggedIn.body()).contains("csrf-token");
  }

  @Test
  void concurrentMissesOfOnePageRenderItOnce() throws Exception {
    String page = fresh("/r/java/new"); // cold: nobody asked for this key yet
    int n = 8;
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newFixedThreadPool(n);
    try {
      List<java.util.concurrent.Future<Browser.Page>> answers = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        answers.add(
            pool.submit(
                () -> {
                  Browser anon = new Browser(base);
                  go.await();
                  return anon.get(page);
                }));
      }
      go.countDown();
      List<String> how = new ArrayList<>();
      String body = null;
      for (java.util.concurrent.Future<Browser.Page> f : answers) {
        Browser.Page p = f.get(60, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(p.status()).isEqualTo(200);
        body = body == null ? p.body() : body;
        assertThat(p.body()).isEqualTo(body);
        how.add(p.header("X-Page-Cache"));
        if (!"miss".equals(p.header("X-Page-Cache"))) {
          assertThat(p.sql()).isZero();
        }
      }
      // One request rendered it; the others waited for that render or found it in the cache.
      assertThat(how)
          .containsOnlyOnce("miss")
          .allMatch(
              h ->
                  h.equals(PageCache.MISS)
                      || h.equals(PageCache.SHARED)
                      || h.equals(PageCache.HIT));
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void anExpiredPageIsServedStaleWhileOneBackgroundRenderReplacesIt() throws Exception {
    String page = fresh("/r/java/top");
    Browser.Page first = new Browser(base).get(page);
    assertThat(first.header("X-Page-Cache")).isEqualTo("miss");
    Thread.sleep(
        PAGE_CACHE_TTL.toMillis() + 300); // expired, and still in the cache for one more TTL
    int n = 8;
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newFixedThreadPool(n);
    try {
      List<java.util.concurrent.Future<Browser.Page>> answers = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        answers.add(
            pool.submit(
                () -> {
                  Browser anon = new Browser(base);
                  go.await();
                  return anon.get(page);
                }));
      }
      go.countDown();
      for (java.util.concurrent.Future<Browser.Page> f : answers) {
        Browser.Page p = f.get(60, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(p.status()).isEqualTo(200);
        // Nobody waited for the render or ran it: the expired copy, or the new one once it landed.
        assertThat(p.header("X-Page-Cache")).isIn("stale", "hit");
        assertThat(p.sql()).isZero();
      }
    } finally {
      pool.shutdownNow();
    }
    Browser anon = new Browser(base);
    String how = null;
    for (int i = 0; i < 100 && !"hit".equals(how); i++) {
      Thread.sleep(20);
      how = anon.get(page).header("X-Page-Cache");
    }
    assertThat(how).as("the background render replaced the expired page").isEqualTo("hit");
    // The only request that rendered the page was the first one.
    assertThat(accessLogLines(page, n + 2))
        .filteredOn(l -> !l.endsWith("page_cache=stale") && !l.endsWith("page_cache=hit"))
        .hasSize(1)
        .allMatch(l -> l.endsWith("page_cache=miss"));
  }

  /**
   * The access log's lines for GET {@code path}, waiting (up to 10 s) until there are {@code
   * expected}: the log is written in the background.
   */
  static List<String> accessLogLines(String path, int expected)
      throws IOException, InterruptedException {
    List<String> lines = List.of();
    for (int i = 0; i < 100 && lines.size() < expected; i++) {
      Thread.sleep(100);
      lines =
          Files.readAllLines(accessLog).stream()
              .filter(l -> l.contains(" GET " + path + " "))
              .toList();
    }
    return lines;
  }

  // ------------------------------------------------------------------ bad input

  @Test
  void badInputOnEveryFormIsRefusedWithAReadableMessageAndWritesNothing() {
    Browser b = user();
    List<Long> before = writes();
    record Case(String path, Map<String, String> form, int status, String message) {}
    List<Case> cases =
        List.of(
            new Case(
                "/submit",
                Map.of("title", "  ", "url", "https://example.com", "community", "java"),
                400,
                "title must not be empty"),
            new Case(
                "/submit",
                Map.of("title", "no scheme", "url", "example.com/page", "community", "java"),
                400,
                "http:// or https://"),
            new Case(
                "/submit",
                Map.of("title", "ftp", "url", "ftp://example.com/f", "community", "java"),
                400,
                "http:// or https://"),
            new Case(
                "/submit",
                Map.of(
                    "title", "where", "url", "https://example.com", "community", "nosuchcommunity"),
                400,
                "no community named 'nosuchcommunity'"),
            new Case(
                "/submit",
                Map.of(
                    "title",
                    "both",
                    "url",
                    "https://example.com",
                    "text",
                    "and text",
                    "community",
                    "java"),
                400,
                "not both"),
            new Case(
                "/vote",
                Map.of("id", "t3_zzzzzz", "dir", "1"),
                404,
                "no post or comment t3_zzzzzz"),
            new Case("/vote", Map.of("id", "not-a-name", "dir", "1"), 400, "malformed fullname"),
            new Case("/vote", Map.of("id", "t3_1", "dir", "2"), 400, "dir must be 1, 0 or -1"),
            new Case(
                "/comment", Map.of("link", "t3_zzzzzz", "text", "hello"), 404, "no post t3_zzzzzz"),
            new Case(
                "/comment",
                Map.of("link", "t3_1", "text", "   "),
                400,
                "comment must not be empty"),
            new Case(
                "/signup", Map.of("name", "x", "password", "password-1"), 400, "3 to 20 letters"),
            new Case(
                "/signup",
                Map.of("name", newName(), "password", "short"),
                400,
                "8 to 200 characters"));
    for (Case c : cases) {
      Browser.Page html = b.post(c.path(), c.form());
      assertThat(html.status()).as(c.toString()).isEqualTo(c.status());
      assertThat(html.body()).as(c.toString()).contains(c.message().replace("'", "&#39;"));
      Browser.Page json = b.postJson(c.path(), c.form());
      assertThat(json.status()).as(c.toString()).isEqualTo(c.status());
      assertThat(json.json().get("message").toString()).as(c.toString()).contains(c.message());
    }
    // A 10 MB body: refused before it is parsed.
    byte[] big = new byte[10 * 1024 * 1024];
    java.util.Arrays.fill(big, (byte) 'a');
    byte[] prefix = ("csrf=" + b.csrf() + "&community=java&title=").getBytes(UTF_8);
    System.arraycopy(prefix, 0, big, 0, prefix.length);
    Browser.Page huge = b.postBytes("/submit", big);
    assertThat(huge.status()).isEqualTo(413);
    assertThat(huge.body()).contains("too large").contains("nothing was saved");
    // Anonymous visitors cannot write.
    Browser anon = new Browser(base);
    Browser.Page anonSubmit =
        anon.post(
            "/submit", Map.of("title", "anon", "url", "https://example.com", "community", "java"));
    assertThat(anonSubmit.status()).isEqualTo(401);
    assertThat(anonSubmit.body()).contains("log in to submit a post");
    assertThat(writes()).isEqualTo(before);
  }

  @Test
  void unknownPagesAndCommunitiesAre404WithAMessage() {
    Browser anon = new Browser(base);
    Browser.Page r = anon.get(fresh("/r/nosuchplace"));
    assertThat(r.status()).isEqualTo(404);
    assertThat(r.body()).contains("no community named &#39;nosuchplace&#39;");
    assertThat(anon.get(fresh("/r/java/comments/zzzzzz")).status()).isEqualTo(404);
    assertThat(anon.get(fresh("/user/nobody_here")).status()).isEqualTo(404);
    assertThat(anon.get(fresh("/no/such/page")).status()).isEqualTo(404);
    assertThat(anon.get(fresh("/new.json?limit=1000")).status()).isEqualTo(400);
  }
}

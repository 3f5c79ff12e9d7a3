package io.thingdb.benchmarks;

import io.thingdb.cache.MemcachedCache;
import io.thingdb.core.Database;
import io.thingdb.core.Filter;
import io.thingdb.core.Prop;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingType;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingDefinition;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.ListingStore;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The invariants the cluster workload checks after its run that need the databases: P1 (every
 * post's and comment's ups/downs equal its vote rows), P5 (every queue-maintained listing, as
 * stored and as memcached serves it, equals a from-scratch query), P3 (no thing in memcached older
 * than its row) and the failover loss (acknowledged comments missing on the comments primary).
 *
 * <p>The example blog's types are declared here again with the same names and props (the benchmarks
 * module shares no code with {@code examples/blog}): {@code thing_link}, {@code rel_vote_link} on
 * the links database; {@code thing_comment}, {@code rel_vote_comment} on the comments database;
 * listing keys {@code all:SORT}, {@code sr:ID:SORT}, {@code user:ID:submitted:new} (links) and
 * {@code user:ID:comments:new} (comments), capacity {@link Listing#DEFAULT_CAPACITY}. The windowed
 * top/controversial listings ({@code ...:top:day}) are the batch recompute's and are not checked
 * here. Not thread-safe; one instance per run.
 */
final class ClusterChecks {
  /**
   * A check's outcome.
   *
   * @param name e.g. {@code P1 links}
   * @param checked how many things, listings or writes were checked
   * @param failures how many broke the invariant
   * @param pass whether the check passed
   * @param detail the first offenders, or why the check could not run
   */
  record Check(String name, long checked, long failures, boolean pass, String detail) {
    Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", name);
      m.put("checked", checked);
      m.put("failures", failures);
      m.put("result", pass ? "PASS" : "FAIL");
      m.put("detail", detail);
      return m;
    }

    String line() {
      return String.format(
          Locale.ROOT,
          "%-34s checked %7d  failures %5d  %s%s",
          name,
          checked,
          failures,
          pass ? "PASS" : "FAIL",
          detail.isEmpty() ? "" : "  (" + detail + ")");
    }
  }

  // The blog's types, as examples/blog's Models declares them.
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<String> URL = Prop.string("url", "");
  static final Prop<String> BODY = Prop.string("body", "");
  static final Prop<Long> AUTHOR = Prop.int64("author", 0);
  static final Prop<Long> COMMUNITY_ID = Prop.int64("community", 0);
  static final Prop<Long> NUM_COMMENTS = Prop.int64("num_comments", 0);
  static final Prop<Long> SITE = Prop.int64("site", 0);
  static final Prop<String> FORM_TOKEN = Prop.string("form_token", "");
  static final ThingType LINK =
      ThingType.named("link")
          .props(TITLE, URL, BODY, AUTHOR, COMMUNITY_ID, NUM_COMMENTS, SITE, FORM_TOKEN)
          .build();
  static final Prop<String> TEXT = Prop.string("text", "");
  static final Prop<Long> LINK_ID = Prop.int64("link", 0);
  static final Prop<Long> PARENT_ID = Prop.int64("parent", 0);
  static final ThingType COMMENT =
      ThingType.named("comment").props(TEXT, LINK_ID, PARENT_ID, AUTHOR, FORM_TOKEN).build();

  private final DataSource links;
  private final DataSource comments;
  private final List<String> memcached;

  /**
   * @param linksUrl JDBC URL of the links primary
   * @param commentsUrl JDBC URL of the comments primary (multi-host with targetServerType=primary
   *     finds it after a failover)
   * @param memcached the memcached servers the blog uses now (empty: P3 and the cache side of P5
   *     are skipped)
   */
  ClusterChecks(String linksUrl, String commentsUrl, List<String> memcached) {
    this.links = dataSource(linksUrl);
    this.comments = dataSource(commentsUrl);
    this.memcached = List.copyOf(memcached);
  }

  static DataSource dataSource(String url) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(url);
    ds.setConnectTimeout(5);
    ds.setSocketTimeout(120);
    return ds;
  }

  /** Waits until both listing queues are empty (at most {@code seconds}); the jobs left. */
  long drainQueues(int seconds) throws SQLException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (true) {
      long left = count(links, "select count(*) from thingdb_listing_job");
      if (comments != null) {
        left += countIfTable(comments, "thingdb_listing_job");
      }
      if (left == 0 || System.nanoTime() > deadline) {
        return left;
      }
      TimeUnit.MILLISECONDS.sleep(500);
    }
  }

  private static long countIfTable(DataSource ds, String table) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement("select to_regclass(?) is not null")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        if (!rs.getBoolean(1)) {
          return 0;
        }
      }
    }
    return count(ds, "select count(*) from " + table);
  }

  private static long count(DataSource ds, String sql) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  // ------------------------------------------------------------------ P1

  /** P1 for one type: every thing's ups/downs against its vote rows. */
  Check p1(String label, boolean ofLinks) throws SQLException {
    String type = ofLinks ? "link" : "comment";
    String sql =
        "select t.thing_id, t.ups, t.downs, coalesce(v.u, 0), coalesce(v.d, 0),"
            + " count(*) over ()"
            + " from thing_"
            + type
            + " t left join (select thing2_id, count(*) filter (where name = '1') u,"
            + " count(*) filter (where name = '-1') d from rel_vote_"
            + type
            + " group by thing2_id) v on v.thing2_id = t.thing_id";
    long checked = 0;
    long bad = 0;
    StringBuilder detail = new StringBuilder();
    try (Connection c = (ofLinks ? links : comments).getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        checked++;
        if (rs.getLong(2) != rs.getLong(4) || rs.getLong(3) != rs.getLong(5)) {
          bad++;
          if (bad <= 5) {
            detail.append(
                String.format(
                    "%s %d: ups/downs %d/%d, vote rows %d/%d; ",
                    type,
                    rs.getLong(1),
                    rs.getLong(2),
                    rs.getLong(3),
                    rs.getLong(4),
                    rs.getLong(5)));
          }
        }
      }
    }
    return new Check(label, checked, bad, bad == 0, detail.toString().trim());
  }

  // ------------------------------------------------------------------ P5

  /**
   * P5: every queue-maintained listing key in both databases, stored and (with memcached) cached.
   */
  List<Check> p5() throws Exception {
    List<Check> out = new ArrayList<>();
    try (ThingDb db = thingDb(Optional.empty())) {
      out.add(p5(db, links, "links", null));
      out.add(p5(db, comments, "comments", null));
    }
    if (!memcached.isEmpty()) {
      try (MemcachedCache cache = cache()) {
        try (ThingDb db = thingDb(Optional.empty())) {
          out.add(p5(db, links, "links", cache));
          out.add(p5(db, comments, "comments", cache));
        }
      }
    }
    return out;
  }

  private Check p5(ThingDb db, DataSource ds, String label, MemcachedCache cache)
      throws SQLException {
    java.util.TreeSet<String> keys = new java.util.TreeSet<>();
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement("select key from thingdb_listing order by key");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        keys.add(rs.getString(1));
      }
    }
    if (ds == links) {
      // The site's and every community's listings must exist, not only be right where they do.
      for (ListingSort sort : ListingSort.values()) {
        String name = sort.name().toLowerCase(Locale.ROOT);
        keys.add("all:" + name);
        try (Connection c = ds.getConnection();
            PreparedStatement ps = c.prepareStatement("select thing_id from thing_community");
            ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            keys.add("sr:" + rs.getLong(1) + ":" + name);
          }
        }
      }
    }
    ListingStore.Builder b = ListingStore.builder(ds);
    if (cache != null) {
      b.cache(cache);
    }
    long checked = 0;
    long bad = 0;
    StringBuilder detail = new StringBuilder();
    try (ListingStore store = b.build()) {
      for (String key : keys) {
        ListingDefinition def = definition(key);
        if (def == null) {
          continue; // a windowed listing of the batch recompute
        }
        checked++;
        List<Long> expected = new ArrayList<>();
        for (Thing t : db.query(def.query().limit(def.capacity())).things()) {
          expected.add(t.id());
        }
        List<Long> actual = new ArrayList<>();
        for (Listing.Entry e : store.get(key).map(Listing::visible).orElse(List.of())) {
          actual.add(e.id());
        }
        if (!actual.equals(expected)) {
          bad++;
          if (bad <= 3) {
            detail.append(key).append(": ").append(firstDifference(expected, actual)).append("; ");
          }
        }
      }
    }
    String name = "P5 listings " + label + (cache == null ? " (stored)" : " (via memcached)");
    return new Check(name, checked, bad, bad == 0, detail.toString().trim());
  }

  private static String firstDifference(List<Long> expected, List<Long> actual) {
    int i = 0;
    while (i < expected.size() && i < actual.size() && expected.get(i).equals(actual.get(i))) {
      i++;
    }
    return String.format(
        "recompute has %d entries, listing %d; first difference at %d: %s vs %s",
        expected.size(),
        actual.size(),
        i,
        i < expected.size() ? expected.get(i) : "end",
        i < actual.size() ? actual.get(i) : "end");
  }

  /** The definition of a queue-maintained key, or null for a windowed (recomputed) one. */
  static ListingDefinition definition(String key) {
    String[] p = key.split(":");
    int cap = Listing.DEFAULT_CAPACITY;
    if (p.length == 2 && p[0].equals("all")) {
      return new ListingDefinition(LINK, null, sort(p[1]), cap);
    }
    if (p.length == 3 && p[0].equals("sr")) {
      return new ListingDefinition(
          LINK, Filter.eq(COMMUNITY_ID, Long.parseLong(p[1])), sort(p[2]), cap);
    }
    if (p.length == 4 && p[0].equals("user") && p[2].equals("submitted")) {
      return new ListingDefinition(
          LINK, Filter.eq(AUTHOR, Long.parseLong(p[1])), ListingSort.NEW, cap);
    }
    if (p.length == 4 && p[0].equals("user") && p[2].equals("comments")) {
      return new ListingDefinition(
          COMMENT, Filter.eq(AUTHOR, Long.parseLong(p[1])), ListingSort.NEW, cap);
    }
    return null;
  }

  private static ListingSort sort(String name) {
    return ListingSort.valueOf(name.toUpperCase(Locale.ROOT));
  }

  // ------------------------------------------------------------------ P3

  /** P3: every link and comment as memcached holds it (or loads it) against its row's version. */
  List<Check> p3() throws Exception {
    if (memcached.isEmpty()) {
      return List.of(new Check("P3 cache not older than db", 0, 0, false, "no memcached given"));
    }
    List<Check> out = new ArrayList<>();
    try (MemcachedCache cache = cache();
        ThingDb db = thingDb(Optional.of(cache))) {
      out.add(p3(db, LINK, links));
      out.add(p3(db, COMMENT, comments));
    }
    return out;
  }

  private Check p3(ThingDb db, ThingType type, DataSource ds) throws SQLException {
    Map<Long, long[]> rows = new LinkedHashMap<>();
    try (Connection c = ds.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select thing_id, version, ups, downs from thing_" + type.name() + " order by 1");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        rows.put(rs.getLong(1), new long[] {rs.getLong(2), rs.getLong(3), rs.getLong(4)});
      }
    }
    List<Long> ids = new ArrayList<>(rows.keySet());
    long bad = 0;
    StringBuilder detail = new StringBuilder();
    for (int i = 0; i < ids.size(); i += 500) {
      List<Long> batch = ids.subList(i, Math.min(ids.size(), i + 500));
      for (Thing t : db.getMany(type, batch, ThingDb.Missing.SKIP)) {
        long[] row = rows.get(t.id());
        if (t.version() < row[0]
            || (t.version() == row[0] && (t.ups() != row[1] || t.downs() != row[2]))) {
          bad++;
          if (bad <= 5) {
            detail.append(
                String.format(
                    "%s %d: cached version %d ups/downs %d/%d, row version %d %d/%d; ",
                    type.name(), t.id(), t.version(), t.ups(), t.downs(), row[0], row[1], row[2]));
          }
        }
      }
    }
    return new Check(
        "P3 " + type.name() + "s cache vs db", ids.size(), bad, bad == 0, detail.toString().trim());
  }

  // ------------------------------------------------------------------ failover loss

  /**
   * Which acknowledged comments the comments primary does not have.
   *
   * @return the ids missing
   */
  Set<Long> missingComments(List<Long> acknowledged) throws SQLException {
    Set<Long> found = new HashSet<>();
    try (Connection c = comments.getConnection();
        PreparedStatement ps =
            c.prepareStatement("select thing_id from thing_comment where thing_id = any(?)")) {
      Array arr = c.createArrayOf("bigint", acknowledged.toArray());
      ps.setArray(1, arr);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          found.add(rs.getLong(1));
        }
      }
    }
    Set<Long> missing = new HashSet<>(acknowledged);
    missing.removeAll(found);
    return missing;
  }

  // ------------------------------------------------------------------ helpers

  private MemcachedCache cache() {
    return MemcachedCache.builder().servers(memcached).namespace("blog").build();
  }

  private ThingDb thingDb(Optional<MemcachedCache> cache) {
    var b =
        ThingDb.builder()
            .database("main", Database.of(links))
            .database("comments", Database.of(comments))
            .type(LINK, "main")
            .type(COMMENT, "comments");
    if (cache.isPresent()) {
      b.cache(cache.get());
    } else {
      b.noCache();
    }
    return b.build();
  }
}

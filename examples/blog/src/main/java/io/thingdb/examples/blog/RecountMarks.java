package io.thingdb.examples.blog;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongPredicate;
import javax.sql.DataSource;

/**
 * Durable marks for the comment counts still owed a recount: the blog's own table {@code
 * blog_recount_mark} on the main database. A comment and its post's {@code num_comments} live on
 * two databases, so no transaction covers both; instead a mark is written (and committed) before
 * the comment, and removed only after the post was recounted. A request that dies between the
 * comment's COMMIT and the recount leaves its mark behind, and {@link #sweep} recounts the post
 * later: the count is repaired without waiting for a reader or another comment. A mark whose
 * comment never committed costs one harmless recount. Thread-safe.
 */
final class RecountMarks {
  private final DataSource main;

  private RecountMarks(DataSource main) {
    this.main = main;
  }

  /** Creates the table if needed. */
  static RecountMarks create(DataSource main) {
    Objects.requireNonNull(main, "main must not be null");
    try (Connection c = main.getConnection();
        Statement s = c.createStatement()) {
      s.execute(
          "create table if not exists blog_recount_mark (id bigserial primary key,"
              + " link_id bigint not null, created_at timestamptz not null default now())");
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot create table blog_recount_mark: " + e.getMessage(), e);
    }
    return new RecountMarks(main);
  }

  /**
   * Marks link {@code linkId} as owed a recount, before its comment is written.
   *
   * @return the mark's id, for {@link #clear}
   * @throws IllegalStateException if the mark cannot be written (then the comment must not be)
   */
  long mark(long linkId) {
    try (Connection c = main.getConnection();
        PreparedStatement ps =
            c.prepareStatement("insert into blog_recount_mark (link_id) values (?) returning id")) {
      ps.setLong(1, linkId);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot mark link " + linkId + " for a comment recount: " + e.getMessage(), e);
    }
  }

  /** Removes mark {@code id} after its post was recounted; a failure leaves it for the sweep. */
  void clear(long id) throws SQLException {
    try (Connection c = main.getConnection();
        PreparedStatement ps = c.prepareStatement("delete from blog_recount_mark where id = ?")) {
      ps.setLong(1, id);
      ps.executeUpdate();
    }
  }

  /** How many marks are outstanding (tests). */
  long outstanding() throws SQLException {
    try (Connection c = main.getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("select count(*) from blog_recount_mark")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Recounts every post with a mark older than {@code grace} (younger ones may belong to requests
   * still running, which clear their own) and removes the marks up to the newest seen for it once
   * {@code recount} succeeded for that post.
   *
   * @param recount recounts one post; false if it failed (its marks stay for the next sweep)
   * @return how many posts were recounted
   */
  int sweep(Duration grace, LongPredicate recount) throws SQLException {
    Map<Long, Long> newest = new LinkedHashMap<>();
    try (Connection c = main.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select link_id, max(id) from blog_recount_mark"
                    + " where created_at < now() - ? * interval '1 millisecond'"
                    + " group by link_id order by min(id) limit 1000")) {
      ps.setLong(1, grace.toMillis());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          newest.put(rs.getLong(1), rs.getLong(2));
        }
      }
    }
    int done = 0;
    for (Map.Entry<Long, Long> e : newest.entrySet()) {
      if (!recount.test(e.getKey())) {
        continue;
      }
      try (Connection c = main.getConnection();
          PreparedStatement ps =
              c.prepareStatement("delete from blog_recount_mark where link_id = ? and id <= ?")) {
        ps.setLong(1, e.getKey());
        ps.setLong(2, e.getValue());
        ps.executeUpdate();
      }
      done++;
    }
    return done;
  }
}

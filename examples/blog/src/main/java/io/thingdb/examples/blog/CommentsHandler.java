package io.thingdb.examples.blog;

import io.thingdb.core.Thing;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;

/**
 * Comments: posting a comment or a reply (replies nest one level). Comments live on the comments
 * database, so the post's comment count (on the main database) is recounted in a second step
 * ({@link Site#recountComments}), guarded by a durable mark written before the comment ({@link
 * RecountMarks}). A form carries a one-time token ({@code form_token}): sending the same form again
 * finds the comment it created instead of adding a second one. Thread-safe.
 */
final class CommentsHandler {
  private static final org.slf4j.Logger log =
      org.slf4j.LoggerFactory.getLogger(CommentsHandler.class);
  static final int MAX_TEXT = 10_000;

  private final Site site;

  CommentsHandler(Site site) {
    this.site = site;
  }

  Response post(Request req) throws IOException {
    Thing author = req.requireViewer("comment");
    String linkName = req.formText("link");
    String parentName = req.formText("parent");
    String text = req.formText("text");
    if (text.isEmpty()) {
      throw HttpError.badRequest("the comment must not be empty");
    }
    if (text.length() > MAX_TEXT) {
      throw HttpError.badRequest(
          "the comment is too long (" + text.length() + " characters; at most " + MAX_TEXT + ")");
    }
    if (linkName.isEmpty()) {
      throw HttpError.badRequest("say which post the comment is on (field 'link')");
    }
    Thing link =
        find(req, linkName, Models.LINK, "post")
            .filter(l -> Site.visible(l, author, l.get(Models.AUTHOR)))
            .orElseThrow(
                () -> HttpError.notFound("there is no post " + Request.abbreviate(linkName)));
    long parentId = 0;
    if (!parentName.isEmpty()) {
      Thing parent =
          find(req, parentName, Models.COMMENT, "comment")
              .filter(c -> Site.visible(c, author, c.get(Models.COMMENT_AUTHOR)))
              .orElseThrow(
                  () ->
                      HttpError.notFound(
                          "there is no comment "
                              + Request.abbreviate(parentName)
                              + " to reply to"));
      if (parent.get(Models.LINK_ID) != link.id()) {
        throw HttpError.badRequest("comment " + parent.fullname() + " is on another post");
      }
      if (parent.get(Models.PARENT_ID) != 0) {
        throw HttpError.badRequest(
            "replies nest one level: reply to the top-level comment instead");
      }
      parentId = parent.id();
    }
    String key =
        Site.formKey(author.id(), req.formText("form_token"), link.fullname(), parentName, text);
    // Committed before the comment: if this request dies after the comment's COMMIT and before
    // the recount, the mark survives it and the sweep repairs the count.
    long mark = site.recountMarks.mark(link.id());
    Thing comment =
        key == null
            ? create(req, author, link, parentId, text, null)
            : once(req, key, author, link, parentId, text);
    // After the form's lock is released: a request never holds two lock connections of the main
    // pool at once, so the pool's other connections always serve the work (no starvation).
    if (site.recountComments(req.dbSession(), link.id())) {
      site.clearRecountMark(mark);
    }
    Thing community = site.db.get(Models.COMMUNITY, link.get(Models.COMMUNITY_ID)).orElse(null);
    String permalink = Views.permalink(link, community);
    if (req.wantsJson()) {
      return Response.json(
          201, Json.write(Map.of("name", comment.fullname(), "permalink", permalink)));
    }
    return Response.redirect(permalink + "#" + comment.fullname());
  }

  /**
   * The comment created with form key {@code key}, creating it unless a resubmission of the same
   * form already did: the check and the create run under a lock on the key, so two copies of one
   * form sent at once create one comment.
   */
  private Thing once(
      Request req, String key, Thing author, Thing link, long parentId, String text) {
    io.thingdb.cache.Lock lock = site.locks.acquire("form:" + key, Duration.ofSeconds(5));
    try {
      Thing done = site.createdWith(req.dbSession(), Models.COMMENT, key).orElse(null);
      return done != null ? done : create(req, author, link, parentId, text, key);
    } finally {
      lock.close();
    }
  }

  /**
   * Creates the comment with its listing job (the author's comment listing) in one transaction,
   * then the author's up vote in another; the caller recounts the post ({@link
   * Site#recountComments}). Once the comment is saved the request succeeds: a failure of a later
   * step is logged, not answered 500 (which would invite a resubmission of a comment that exists);
   * a count left short is repaired by the next comment or view of the post.
   */
  private Thing create(
      Request req, Thing author, Thing link, long parentId, String text, String key) {
    Thing comment =
        site.commentVotes.submit(
            req.dbSession(),
            site.db
                .newThing(Models.COMMENT)
                .set(Models.TEXT, text)
                .set(Models.LINK_ID, link.id())
                .set(Models.PARENT_ID, parentId)
                .set(Models.COMMENT_AUTHOR, author.id())
                .set(Models.FORM_TOKEN, key == null ? "" : key)
                .spam(author.get(Models.SPAMMER)));
    try {
      site.commentVotes.cast(req.dbSession(), author.id(), comment.id(), 1);
    } catch (RuntimeException e) {
      log.warn(
          "comment {} is saved, but its author's up vote failed: {}",
          comment.fullname(),
          e.toString());
    }
    return comment;
  }

  private java.util.Optional<Thing> find(
      Request req, String fullname, io.thingdb.core.ThingType type, String what) {
    try {
      return site.byFullname(req.dbSession(), fullname, type);
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("bad " + what + " id: " + e.getMessage());
    }
  }
}

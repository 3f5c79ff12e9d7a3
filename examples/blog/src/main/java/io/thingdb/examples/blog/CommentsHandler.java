package io.thingdb.examples.blog;

import io.thingdb.core.Thing;
import java.io.IOException;
import java.util.Map;

/**
 * Comments: posting a comment or a reply (replies nest one level). Comments live on the comments
 * database, so the post's comment count (on the main database) is incremented in a second step, in
 * SQL ({@code num_comments = num_comments + 1}). Thread-safe.
 */
final class CommentsHandler {
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
    // Created with its listing job (the author's comment listing) in one transaction.
    Thing comment =
        site.commentVotes.submit(
            req.dbSession(),
            site.db
                .newThing(Models.COMMENT)
                .set(Models.TEXT, text)
                .set(Models.LINK_ID, link.id())
                .set(Models.PARENT_ID, parentId)
                .set(Models.COMMENT_AUTHOR, author.id())
                .spam(author.get(Models.SPAMMER)));
    site.commentVotes.cast(req.dbSession(), author.id(), comment.id(), 1);
    site.db.withSession(req.dbSession()).incr(Models.LINK, link.id(), Models.NUM_COMMENTS, 1L);
    Thing community = site.db.get(Models.COMMUNITY, link.get(Models.COMMUNITY_ID)).orElse(null);
    String permalink = Views.permalink(link, community);
    if (req.wantsJson()) {
      return Response.json(
          201, Json.write(Map.of("name", comment.fullname(), "permalink", permalink)));
    }
    return Response.redirect(permalink + "#" + comment.fullname());
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

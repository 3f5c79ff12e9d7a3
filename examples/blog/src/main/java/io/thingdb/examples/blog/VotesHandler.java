package io.thingdb.examples.blog;

import io.thingdb.core.NotFoundException;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.listings.VoteRejectedException;
import io.thingdb.listings.Votes;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Votes on posts and comments: {@code POST /vote} with {@code id} (a fullname) and {@code dir} (1,
 * 0 or -1). {@link Votes#cast} changes the vote relation and the counts in one transaction and
 * queues the listing updates; the answer carries the new score at once, so the voter sees it before
 * the queue has moved the post in any listing. The vote goes through the visitor's session, so
 * their next pages read it back through a lagging replica and show the post where the vote moved
 * it. From a form it redirects back; from JavaScript ({@code Accept: application/json}) it answers
 * JSON. Thread-safe.
 */
final class VotesHandler {
  private final Site site;

  VotesHandler(Site site) {
    this.site = site;
  }

  Response vote(Request req) throws IOException {
    Thing voter = req.requireViewer("vote");
    String id = req.formText("id");
    String dirText = req.formText("dir");
    int dir;
    switch (dirText) {
      case "1" -> dir = 1;
      case "0" -> dir = 0;
      case "-1" -> dir = -1;
      default ->
          throw HttpError.badRequest(
              "dir must be 1, 0 or -1, was '" + Request.abbreviate(dirText) + "'");
    }
    if (id.isEmpty()) {
      throw HttpError.badRequest("say what to vote on (field 'id', a post's or comment's name)");
    }
    Thing target;
    try {
      // The visitor's session: they may vote on the post they submitted a moment ago.
      Session db = req.dbSession();
      target =
          site.byFullname(db, id, Models.LINK)
              .or(() -> site.byFullname(db, id, Models.COMMENT))
              .orElseThrow(
                  () ->
                      HttpError.notFound(
                          "there is no post or comment " + Request.abbreviate(id) + " to vote on"));
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("bad id: " + e.getMessage());
    }
    boolean isLink = target.type().equals(Models.LINK);
    long author = isLink ? target.get(Models.AUTHOR) : target.get(Models.COMMENT_AUTHOR);
    if (!Site.visible(target, voter, author)) {
      throw HttpError.notFound(
          "there is no post or comment " + Request.abbreviate(id) + " to vote on");
    }
    Votes.Vote v;
    try {
      v =
          (isLink ? site.linkVotes : site.commentVotes)
              .cast(req.dbSession(), voter.id(), target.id(), dir);
    } catch (NotFoundException e) {
      throw HttpError.notFound(
          "there is no post or comment " + Request.abbreviate(id) + " to vote on");
    } catch (VoteRejectedException e) {
      throw HttpError.badRequest(e.getMessage());
    }
    if (req.wantsJson()) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("name", target.fullname());
      out.put("dir", v.direction());
      out.put("score", v.ups() - v.downs());
      out.put("ups", v.ups());
      out.put("downs", v.downs());
      return Response.json(200, Json.write(out));
    }
    return Response.redirect(localPath(req.header("Referer")));
  }

  /**
   * The path and query of the page the vote came from, never another site's address (an open
   * redirect would help phishing); "/" when there is none.
   */
  static String localPath(String referer) {
    if (referer == null) {
      return "/";
    }
    try {
      java.net.URI u = java.net.URI.create(referer);
      String path = u.getRawPath();
      if (path == null || !path.startsWith("/") || path.startsWith("//")) {
        return "/";
      }
      return u.getRawQuery() == null ? path : path + "?" + u.getRawQuery();
    } catch (IllegalArgumentException e) {
      return "/";
    }
  }
}

package io.thingdb.examples.blog;

import io.thingdb.core.Thing;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON API: every page also as JSON ({@code /.json}, {@code /new.json}, {@code
 * /r/<name>/top.json?t=day}, a post's {@code .json}, {@code /user/<name>.json}) and {@code
 * /by_id/<fullname>,<fullname>.json}, in the shape {@code {"kind": "Listing", "data": {"after",
 * "children": [{"kind", "data"}]}}}, paged with {@code after} (the last fullname of the previous
 * page) and {@code limit}. Thread-safe.
 */
final class ApiHandler {
  static final int MAX_BY_ID = 100;

  private final Site site;
  private final Views views;
  private final PostsHandler posts;
  private final AccountsHandler accounts;

  ApiHandler(Site site, Views views, PostsHandler posts, AccountsHandler accounts) {
    this.site = site;
    this.views = views;
    this.posts = posts;
    this.accounts = accounts;
  }

  Response listing(Request req) {
    PostsHandler.Query q = posts.query(req);
    Site.LinkPage page =
        site.links(
            req.dbSession(), req.viewer(), q.prefix(), q.sort(), q.window(), q.after(), q.limit());
    return json(
        Views.listing(
            views.linksJson(page.links(), req.viewer(), req.dbSession()), page.after(), q.limit()));
  }

  /** A post and its comments: {@code [Listing of the post, Listing of the comments]}. */
  Response permalink(Request req) {
    Thing link = posts.permalinkTarget(req);
    List<Object> out =
        List.of(
            Views.listing(views.linksJson(List.of(link), req.viewer(), req.dbSession()), null, 1),
            Views.listing(
                views.threadsJson(
                    site.comments(req.dbSession(), link, req.viewer()),
                    req.viewer(),
                    req.dbSession(),
                    link),
                null,
                Site.MAX_COMMENTS));
    return json(out);
  }

  Response byId(Request req) {
    List<String> names = new ArrayList<>(Arrays.asList(req.pathParam(1).split(",")));
    names.removeIf(String::isEmpty);
    if (names.isEmpty() || names.size() > MAX_BY_ID) {
      throw HttpError.badRequest(
          "give 1 to " + MAX_BY_ID + " comma-separated post names, e.g. /by_id/t3_1,t3_2.json");
    }
    List<Thing> links = new ArrayList<>();
    for (String name : names) {
      try {
        site.byFullname(req.dbSession(), name, Models.LINK)
            .filter(l -> Site.visible(l, req.viewer(), l.get(Models.AUTHOR)))
            .ifPresent(links::add);
      } catch (IllegalArgumentException e) {
        throw HttpError.badRequest("bad post name: " + e.getMessage());
      }
    }
    return json(
        Views.listing(views.linksJson(links, req.viewer(), req.dbSession()), null, names.size()));
  }

  Response user(Request req) {
    Thing account = accounts.userTarget(req);
    Site.LinkPage page =
        site.submitted(req.dbSession(), req.viewer(), account, req.after(), req.limit());
    Map<String, Object> out =
        Views.listing(
            views.linksJson(page.links(), req.viewer(), req.dbSession()),
            page.after(),
            req.limit());
    Map<String, Object> about = new LinkedHashMap<>();
    about.put("name", account.get(Models.NAME));
    about.put("created_utc", account.date().getEpochSecond());
    out.put("user", about);
    return json(out);
  }

  private static Response json(Object value) {
    return Response.json(200, Json.write(value));
  }
}

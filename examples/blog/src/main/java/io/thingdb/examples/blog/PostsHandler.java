package io.thingdb.examples.blog;

import io.thingdb.core.NewThing;
import io.thingdb.core.Thing;
import io.thingdb.listings.ListingSort;
import io.thingdb.listings.TimeWindow;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Posts: the listing pages (front page, {@code /new}, {@code /top?t=}, {@code /controversial?t=},
 * and the same under {@code /r/<community>}), a post's permalink with its comments, and submitting.
 * Thread-safe.
 */
final class PostsHandler {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PostsHandler.class);
  static final int MAX_TITLE = 300;
  static final int MAX_URL = 2000;
  static final int MAX_BODY = 10_000;

  private final Site site;
  private final Views views;

  PostsHandler(Site site, Views views) {
    this.site = site;
    this.views = views;
  }

  /** What a listing URL asks for. */
  record Query(
      Thing community,
      String prefix,
      ListingSort sort,
      TimeWindow window,
      String after,
      int limit,
      String path) {}

  /** Reads {@code /r/<name>/<sort>?t=&after=&limit=}; the route's groups are community, sort. */
  Query query(Request req) {
    String name = req.pathParam(1);
    Thing community = null;
    String prefix = Listings.site();
    if (name != null) {
      community =
          site.community(name)
              .orElseThrow(() -> HttpError.notFound("there is no community named '" + name + "'"));
      prefix = Listings.community(community.id());
    }
    String sortName = req.pathParam(2) == null ? "hot" : req.pathParam(2);
    ListingSort sort = ListingSort.valueOf(sortName.toUpperCase(Locale.ROOT));
    TimeWindow window = TimeWindow.ALL;
    if (sort == ListingSort.TOP || sort == ListingSort.CONTROVERSIAL) {
      String t = req.query("t");
      try {
        window = t == null ? TimeWindow.DAY : TimeWindow.parse(t);
      } catch (IllegalArgumentException e) {
        throw HttpError.badRequest(e.getMessage());
      }
    }
    String path =
        (name == null ? "" : "/r/" + community.get(Models.COMMUNITY_NAME))
            + "/"
            + (req.pathParam(2) == null ? "" : sortName);
    return new Query(community, prefix, sort, window, req.after(), req.limit(), path);
  }

  Response listing(Request req) {
    Query q = query(req);
    Site.LinkPage page =
        site.links(
            req.dbSession(), req.viewer(), q.prefix(), q.sort(), q.window(), q.after(), q.limit());
    String title =
        q.community() == null ? "ThingDB blog" : "/r/" + q.community().get(Models.COMMUNITY_NAME);
    Map<String, Object> scope = views.page(req, title);
    scope.put("links", views.links(page.links(), req.viewer(), req.dbSession()));
    scope.put("empty", page.links().isEmpty());
    if (q.community() != null) {
      scope.put("community", q.community().get(Models.COMMUNITY_NAME));
      scope.put("description", q.community().get(Models.DESCRIPTION));
    }
    String base = q.community() == null ? "" : "/r/" + q.community().get(Models.COMMUNITY_NAME);
    List<Map<String, Object>> tabs = new ArrayList<>();
    for (String s : List.of("hot", "new", "top", "controversial")) {
      tabs.add(
          Map.of(
              "name",
              s,
              "href",
              base + "/" + (s.equals("hot") ? "" : s),
              "on",
              q.sort().name().equalsIgnoreCase(s)));
    }
    scope.put("tabs", tabs);
    if (q.sort() == ListingSort.TOP || q.sort() == ListingSort.CONTROVERSIAL) {
      List<Map<String, Object>> windows = new ArrayList<>();
      for (TimeWindow w : TimeWindow.values()) {
        windows.add(
            Map.of("name", w.key(), "href", q.path() + "?t=" + w.key(), "on", w == q.window()));
      }
      scope.put("windows", windows);
      scope.put("windowed", true);
    }
    if (page.after() != null) {
      String sep = "?";
      StringBuilder next = new StringBuilder(q.path());
      if (q.sort() == ListingSort.TOP || q.sort() == ListingSort.CONTROVERSIAL) {
        next.append("?t=").append(q.window().key());
        sep = "&";
      }
      next.append(sep).append("after=").append(page.after());
      if (q.limit() != Request.DEFAULT_LIMIT) {
        next.append("&limit=").append(q.limit());
      }
      scope.put("next", next.toString());
    }
    return Response.html(site.templates.render("listing", scope));
  }

  Response permalink(Request req) {
    Thing link = permalinkTarget(req);
    Thing community = site.db.get(Models.COMMUNITY, link.get(Models.COMMUNITY_ID)).orElse(null);
    String canonical = Views.permalink(link, community);
    if (!req.path().equals(canonical) && !req.path().equals(canonical + "/")) {
      return Response.redirect(canonical);
    }
    Map<String, Object> scope = views.page(req, link.get(Models.TITLE));
    List<Map<String, Object>> one = views.links(List.of(link), req.viewer(), req.dbSession());
    one.get(0).remove("rank");
    scope.put("link", one.get(0));
    scope.put(
        "threads",
        views.threads(
            site.comments(req.dbSession(), link, req.viewer()),
            req.viewer(),
            req.dbSession(),
            link));
    return Response.html(site.templates.render("permalink", scope));
  }

  /** The post a permalink route names (group 2: base-36 id), or 404. */
  Thing permalinkTarget(Request req) {
    return site.link(req.dbSession(), req.pathParam(2), req.viewer())
        .orElseThrow(
            () ->
                HttpError.notFound(
                    "there is no post with id '" + Request.abbreviate(req.pathParam(2)) + "'"));
  }

  Response submitForm(Request req) {
    req.requireViewer("submit a post");
    Map<String, Object> scope = views.page(req, "submit");
    scope.put("communities", views.communityOptions(req.query("r")));
    return Response.html(site.templates.render("submit", scope));
  }

  /**
   * Creates a post: validates everything first (nothing is written for bad input), then creates the
   * link (as spam if the author is shadow-banned) with {@code Votes.submit}, which queues it for
   * its listings in the same transaction: the post is never saved without being listed. The
   * author's own up vote follows as an ordinary vote. The form's one-time token ({@code
   * form_token}) makes a resubmission of the same form answer with the post it created.
   */
  Response submit(Request req) throws IOException {
    Thing author = req.requireViewer("submit a post");
    String title = req.formText("title");
    String url = req.formText("url");
    String body = req.formText("text");
    String communityName = req.formText("community");
    if (title.isEmpty()) {
      throw HttpError.badRequest("the title must not be empty");
    }
    if (title.length() > MAX_TITLE) {
      throw HttpError.badRequest(
          "the title is too long (" + title.length() + " characters; at most " + MAX_TITLE + ")");
    }
    if (!url.isEmpty() && !body.isEmpty()) {
      throw HttpError.badRequest("give either a URL (a link) or a text (a blog post), not both");
    }
    if (!url.isEmpty()) {
      checkUrl(url);
    }
    if (body.length() > MAX_BODY) {
      throw HttpError.badRequest(
          "the text is too long (" + body.length() + " characters; at most " + MAX_BODY + ")");
    }
    if (communityName.isEmpty()) {
      throw HttpError.badRequest("choose a community");
    }
    Thing community =
        site.community(communityName)
            .orElseThrow(
                () ->
                    HttpError.badRequest(
                        "there is no community named '" + Request.abbreviate(communityName) + "'"));
    String key =
        Site.formKey(author.id(), req.formText("form_token"), title, url, body, communityName);
    NewThing post =
        site.db
            .newThing(Models.LINK)
            .set(Models.TITLE, title)
            .set(Models.URL, url)
            .set(Models.BODY, body)
            .set(Models.AUTHOR, author.id())
            .set(Models.COMMUNITY_ID, community.id())
            .set(Models.FORM_TOKEN, key == null ? "" : key)
            .spam(author.get(Models.SPAMMER));
    Thing link;
    if (key == null) {
      link = create(req, author, post);
    } else {
      // The check and the create under a lock on the key: two copies of one form sent at once
      // create one post.
      io.thingdb.cache.Lock lock = site.locks.acquire("form:" + key, Duration.ofSeconds(5));
      try {
        Thing done = site.createdWith(req.dbSession(), Models.LINK, key).orElse(null);
        link = done != null ? done : create(req, author, post);
      } finally {
        lock.close();
      }
    }
    String permalink = Views.permalink(link, community);
    if (req.wantsJson()) {
      return Response.json(
          201, Json.write(Map.of("name", link.fullname(), "permalink", permalink)));
    }
    return Response.redirect(permalink);
  }

  /**
   * Creates the post with its listing jobs in one transaction, then the author's up vote in a
   * second. Once the post is saved the request succeeds: a failed vote is logged, not answered 500
   * (which would invite a resubmission of a post that exists).
   */
  private Thing create(Request req, Thing author, NewThing post) {
    Thing link = site.linkVotes.submit(req.dbSession(), post);
    try {
      site.linkVotes.cast(req.dbSession(), author.id(), link.id(), 1);
    } catch (RuntimeException e) {
      log.warn(
          "post {} is saved, but its author's up vote failed: {}", link.fullname(), e.toString());
    }
    return link;
  }

  static void checkUrl(String url) {
    if (url.length() > MAX_URL) {
      throw HttpError.badRequest(
          "the URL is too long (" + url.length() + " characters; at most " + MAX_URL + ")");
    }
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      throw HttpError.badRequest("the URL is malformed: " + e.getMessage());
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw HttpError.badRequest(
          "the URL must start with http:// or https:// (was '" + Request.abbreviate(url) + "')");
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      throw HttpError.badRequest("the URL must name a host, like https://example.com/page");
    }
  }
}

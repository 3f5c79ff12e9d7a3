package io.thingdb.examples.blog;

import io.thingdb.core.Relation;
import io.thingdb.core.Session;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns things into what the templates and the JSON API show, with what goes around them (authors,
 * communities, the viewer's votes: cache first). Templates get maps (mustache.java reads map keys),
 * the API gets maps in the shape {@code {"kind": "Listing", "data": {...}}}. Stateless apart from
 * its settings; thread-safe.
 */
final class Views {
  private final Site site;

  Views(Site site) {
    this.site = site;
  }

  /**
   * The scope every page starts from: title, the viewer, the communities. The CSRF token is only
   * put in for a logged-in viewer: anonymous pages are shared through the page cache, and a form
   * page for anonymous visitors (login, signup) adds its own token and is never cached.
   */
  Map<String, Object> page(Request req, String title) {
    Map<String, Object> scope = new HashMap<>();
    scope.put("title", title);
    Thing viewer = req.viewer();
    if (viewer != null) {
      scope.put("loggedIn", true);
      scope.put("viewerName", viewer.get(Models.NAME));
      scope.put("admin", viewer.get(Models.ADMIN));
      scope.put("csrf", site.cookies.csrfToken(req.session()));
      scope.put("formToken", Site.newFormToken()); // a logged-in page is never shared
    }
    List<Map<String, Object>> communities = new ArrayList<>();
    for (Thing c : site.communities()) {
      communities.add(Map.of("name", c.get(Models.COMMUNITY_NAME)));
    }
    scope.put("communities", communities);
    return scope;
  }

  /** The community choices of the submit form, {@code selected} preselected. */
  List<Map<String, Object>> communityOptions(String selected) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Thing c : site.communities()) {
      String name = c.get(Models.COMMUNITY_NAME);
      out.add(Map.of("name", name, "selected", name.equals(selected)));
    }
    return out;
  }

  /** {@code /r/<community>/comments/<base36 id>}. */
  static String permalink(Thing link, Thing community) {
    String name = community == null ? "unknown" : community.get(Models.COMMUNITY_NAME);
    return "/r/" + name + "/comments/" + Long.toString(link.id(), 36);
  }

  /** The template view of links, with authors, communities and the viewer's votes filled in. */
  List<Map<String, Object>> links(List<Thing> links, Thing viewer, Session session) {
    List<Long> authorIds = new ArrayList<>();
    List<Long> communityIds = new ArrayList<>();
    for (Thing l : links) {
      authorIds.add(l.get(Models.AUTHOR));
      communityIds.add(l.get(Models.COMMUNITY_ID));
    }
    Map<Long, Thing> authors = accounts(authorIds);
    Map<Long, Thing> communities = communitiesById(communityIds);
    Map<Long, Integer> likes = likes(viewer, session, Models.VOTE_LINK, links);
    List<Map<String, Object>> out = new ArrayList<>();
    int rank = 0;
    for (Thing l : links) {
      Map<String, Object> v =
          link(
              l,
              authors.get(l.get(Models.AUTHOR)),
              communities.get(l.get(Models.COMMUNITY_ID)),
              likes.getOrDefault(l.id(), 0));
      v.put("rank", ++rank);
      out.add(v);
    }
    return out;
  }

  Map<String, Object> link(Thing l, Thing author, Thing community, int likes) {
    Map<String, Object> v = new HashMap<>();
    String url = l.get(Models.URL);
    boolean self = url.isEmpty();
    String permalink = permalink(l, community);
    v.put("fullname", l.fullname());
    v.put("title", l.get(Models.TITLE));
    v.put("href", self ? permalink : url);
    v.put(
        "domain",
        self
            ? "self." + (community == null ? "" : community.get(Models.COMMUNITY_NAME))
            : domain(url));
    v.put("isSelf", self);
    v.put("body", l.get(Models.BODY));
    v.put("score", l.score());
    v.put("numComments", l.get(Models.NUM_COMMENTS));
    v.put("author", author == null ? "[deleted]" : author.get(Models.NAME));
    v.put("community", community == null ? "" : community.get(Models.COMMUNITY_NAME));
    v.put("permalink", permalink);
    v.put("age", age(l.date()));
    v.put("date", l.date().toString());
    v.put("likedUp", likes == 1);
    v.put("likedDown", likes == -1);
    v.put("spam", l.spam());
    // Until enough people vouched for a link, search engines are told not to follow it.
    v.put("nofollow", l.score() < site.config.nofollowThreshold);
    return v;
  }

  /** A comment thread as the permalink template shows it. */
  List<Map<String, Object>> threads(
      List<Site.Thread> threads, Thing viewer, Session session, Thing link) {
    List<Thing> all = new ArrayList<>();
    List<Long> authorIds = new ArrayList<>();
    for (Site.Thread t : threads) {
      all.add(t.comment());
      all.addAll(t.replies());
    }
    for (Thing c : all) {
      authorIds.add(c.get(Models.COMMENT_AUTHOR));
    }
    Map<Long, Thing> authors = accounts(authorIds);
    Map<Long, Integer> likes = likes(viewer, session, Models.VOTE_COMMENT, all);
    List<Map<String, Object>> out = new ArrayList<>();
    for (Site.Thread t : threads) {
      Map<String, Object> v = comment(t.comment(), authors, likes);
      List<Map<String, Object>> replies = new ArrayList<>();
      for (Thing r : t.replies()) {
        replies.add(comment(r, authors, likes));
      }
      v.put("replies", replies);
      v.put("linkFullname", link.fullname());
      out.add(v);
    }
    return out;
  }

  Map<String, Object> comment(Thing c, Map<Long, Thing> authors, Map<Long, Integer> likes) {
    Map<String, Object> v = new HashMap<>();
    Thing author = authors.get(c.get(Models.COMMENT_AUTHOR));
    int like = likes.getOrDefault(c.id(), 0);
    v.put("fullname", c.fullname());
    v.put("text", c.get(Models.TEXT));
    v.put("score", c.score());
    v.put("author", author == null ? "[deleted]" : author.get(Models.NAME));
    v.put("age", age(c.date()));
    v.put("likedUp", like == 1);
    v.put("likedDown", like == -1);
    v.put("spam", c.spam());
    return v;
  }

  // ------------------------------------------------------------------ JSON

  /** {@code {"kind": "Listing", "data": {"after", "limit", "children": [...]}}}. */
  static Map<String, Object> listing(List<Map<String, Object>> children, String after, int limit) {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("after", after);
    data.put("limit", limit);
    data.put("dist", children.size());
    data.put("children", children);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("kind", "Listing");
    out.put("data", data);
    return out;
  }

  /** JSON children for links. */
  List<Map<String, Object>> linksJson(List<Thing> links, Thing viewer, Session session) {
    List<Map<String, Object>> views = links(links, viewer, session);
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < links.size(); i++) {
      Thing l = links.get(i);
      Map<String, Object> v = views.get(i);
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("id", Long.toString(l.id(), 36));
      d.put("name", l.fullname());
      d.put("title", l.get(Models.TITLE));
      d.put("url", l.get(Models.URL).isEmpty() ? v.get("permalink") : l.get(Models.URL));
      d.put("is_self", v.get("isSelf"));
      d.put("selftext", l.get(Models.BODY));
      d.put("domain", v.get("domain"));
      d.put("community", v.get("community"));
      d.put("author", v.get("author"));
      d.put("score", l.score());
      d.put("ups", l.ups());
      d.put("downs", l.downs());
      d.put("num_comments", l.get(Models.NUM_COMMENTS));
      d.put("created_utc", l.date().getEpochSecond());
      d.put("permalink", v.get("permalink"));
      d.put(
          "likes",
          (Boolean) v.get("likedUp")
              ? Boolean.TRUE
              : (Boolean) v.get("likedDown") ? Boolean.FALSE : null);
      d.put("nofollow", v.get("nofollow"));
      out.add(child(l, d));
    }
    return out;
  }

  /** JSON children for comment threads (replies nested under {@code "replies"}). */
  List<Map<String, Object>> threadsJson(
      List<Site.Thread> threads, Thing viewer, Session session, Thing link) {
    List<Map<String, Object>> views = threads(threads, viewer, session, link);
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < threads.size(); i++) {
      Site.Thread t = threads.get(i);
      Map<String, Object> d = commentJson(t.comment(), views.get(i), link);
      List<Map<String, Object>> replies = new ArrayList<>();
      @SuppressWarnings("unchecked")
      List<Map<String, Object>> replyViews =
          (List<Map<String, Object>>) views.get(i).get("replies");
      for (int j = 0; j < t.replies().size(); j++) {
        replies.add(
            child(t.replies().get(j), commentJson(t.replies().get(j), replyViews.get(j), link)));
      }
      d.put("replies", listing(replies, null, replies.size()));
      out.add(child(t.comment(), d));
    }
    return out;
  }

  private static Map<String, Object> commentJson(Thing c, Map<String, Object> v, Thing link) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("id", Long.toString(c.id(), 36));
    d.put("name", c.fullname());
    d.put("body", c.get(Models.TEXT));
    d.put("author", v.get("author"));
    d.put("score", c.score());
    d.put("ups", c.ups());
    d.put("downs", c.downs());
    d.put("link_id", link.fullname());
    d.put("created_utc", c.date().getEpochSecond());
    d.put(
        "likes",
        (Boolean) v.get("likedUp")
            ? Boolean.TRUE
            : (Boolean) v.get("likedDown") ? Boolean.FALSE : null);
    return d;
  }

  private static Map<String, Object> child(Thing t, Map<String, Object> data) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("kind", t.fullname().substring(0, t.fullname().indexOf('_')));
    c.put("data", data);
    return c;
  }

  // ------------------------------------------------------------------ what the views show besides
  // the things

  /** Accounts by id (cache first: one multi-get). */
  private Map<Long, Thing> accounts(Collection<Long> ids) {
    Map<Long, Thing> out = new HashMap<>();
    for (Thing a :
        site.db.getMany(Models.ACCOUNT, new LinkedHashSet<>(ids), ThingDb.Missing.SKIP)) {
      out.put(a.id(), a);
    }
    return out;
  }

  /** Communities by id (cache first). */
  private Map<Long, Thing> communitiesById(Collection<Long> ids) {
    Map<Long, Thing> out = new HashMap<>();
    for (Thing c :
        site.db.getMany(Models.COMMUNITY, new LinkedHashSet<>(ids), ThingDb.Missing.SKIP)) {
      out.put(c.id(), c);
    }
    return out;
  }

  /**
   * The viewer's vote direction on each thing (1, -1; absent means none): one cached lookup of the
   * (viewer, thing) pairs, negative answers cached too, read through the viewer's session so that a
   * vote just cast shows even where a lagging replica answers.
   */
  private Map<Long, Integer> likes(
      Thing viewer, Session session, io.thingdb.core.RelationType vote, Collection<Thing> things) {
    Map<Long, Integer> out = new HashMap<>();
    if (viewer == null || things.isEmpty()) {
      return out;
    }
    List<Relation.Pair> pairs = new ArrayList<>();
    for (Thing t : things) {
      pairs.add(new Relation.Pair(viewer.id(), t.id()));
    }
    for (Map.Entry<Relation.Pair, List<Relation>> e :
        site.db.withSession(session).lookup(vote, pairs).entrySet()) {
      for (Relation r : e.getValue()) {
        int dir = Integer.parseInt(r.name());
        if (dir != 0) {
          out.put(e.getKey().thing2Id(), dir);
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ helpers

  static String domain(String url) {
    try {
      String host = URI.create(url).getHost();
      return host == null ? "" : host.toLowerCase(Locale.ROOT).replaceFirst("^www\\.", "");
    } catch (IllegalArgumentException e) {
      return "";
    }
  }

  String age(Instant date) {
    Duration d = Duration.between(date, site.clock.instant());
    long s = Math.max(0, d.getSeconds());
    if (s < 60) {
      return "just now";
    }
    if (s < 3600) {
      return plural(s / 60, "minute");
    }
    if (s < 86400) {
      return plural(s / 3600, "hour");
    }
    if (s < 86400L * 365) {
      return plural(s / 86400, "day");
    }
    return plural(s / (86400L * 365), "year");
  }

  private static String plural(long n, String unit) {
    return n + " " + unit + (n == 1 ? "" : "s") + " ago";
  }
}

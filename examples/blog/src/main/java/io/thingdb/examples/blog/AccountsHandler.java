package io.thingdb.examples.blog;

import io.thingdb.cache.Lock;
import io.thingdb.core.Thing;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Accounts: signup, login, logout, a user's page ({@code /user/<name>}: submitted, liked,
 * comments), and the admin's shadow ban. Thread-safe.
 */
final class AccountsHandler {
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{3,20}");
  static final int MIN_PASSWORD = 8;
  static final int MAX_PASSWORD = 200;

  private final Site site;
  private final Views views;

  AccountsHandler(Site site, Views views) {
    this.site = site;
    this.views = views;
  }

  Response loginForm(Request req) {
    Map<String, Object> scope = views.page(req, "log in or sign up");
    scope.put("formCsrf", site.cookies.csrfToken(req.ensureSession(site.cookies)));
    return Response.html(site.templates.render("login", scope));
  }

  /**
   * Creates an account. The name check and the insert run under a PostgreSQL advisory lock on the
   * name, so two signups racing for one name across app servers cannot both succeed.
   */
  Response signup(Request req) throws IOException {
    String name = req.formText("name");
    String password = req.form("password") == null ? "" : req.form("password");
    if (!NAME.matcher(name).matches()) {
      throw HttpError.badRequest(
          "a name is 3 to 20 letters, digits, '_' or '-' (was '" + Request.abbreviate(name) + "')");
    }
    if (password.length() < MIN_PASSWORD || password.length() > MAX_PASSWORD) {
      throw HttpError.badRequest(
          "a password is " + MIN_PASSWORD + " to " + MAX_PASSWORD + " characters");
    }
    String hash = site.passwords.hash(password); // slow on purpose: outside the lock
    Thing account;
    Lock lock =
        site.locks.acquire(
            "signup:" + name.toLowerCase(java.util.Locale.ROOT), Duration.ofSeconds(5));
    try {
      if (site.account(name, true).isPresent()) {
        throw new HttpError(409, "the name '" + name + "' is taken");
      }
      account =
          site.db
              .withSession(req.dbSession())
              .create(
                  site.db
                      .newThing(Models.ACCOUNT)
                      .set(Models.NAME, name)
                      .set(Models.NAME_LOWER, name.toLowerCase(java.util.Locale.ROOT))
                      .set(Models.PASSWORD, hash));
    } finally {
      lock.close();
    }
    return loggedIn(req, account);
  }

  Response login(Request req) throws IOException {
    String name = req.formText("name");
    String password = req.form("password") == null ? "" : req.form("password");
    if (name.isEmpty() || password.isEmpty()) {
      throw HttpError.badRequest("give a name and a password");
    }
    Thing account = site.account(name, false).orElse(null);
    if (account == null || !site.passwords.verify(password, account.get(Models.PASSWORD))) {
      throw HttpError.forbidden("wrong name or password");
    }
    return loggedIn(req, account);
  }

  /**
   * A fresh session id at login, so a session id planted before login is worth nothing after it.
   */
  private Response loggedIn(Request req, Thing account) {
    SessionCookies.Session s = site.cookies.newSession(account.id());
    Response r =
        req.wantsJson()
            ? Response.json(200, Json.write(Map.of("name", account.get(Models.NAME))))
            : Response.redirect("/");
    return r.header("Set-Cookie", site.cookies.setCookie(s));
  }

  Response logout(Request req) {
    return Response.redirect("/").header("Set-Cookie", site.cookies.clearCookie());
  }

  /** The user page: submitted links (paged with after), liked links, recent comments. */
  Response user(Request req) {
    Thing account = userTarget(req);
    Site.LinkPage submitted =
        site.submitted(req.dbSession(), req.viewer(), account, req.after(), req.limit());
    Map<String, Object> scope = views.page(req, "/user/" + account.get(Models.NAME));
    scope.put("user", account.get(Models.NAME));
    scope.put("spammer", account.get(Models.SPAMMER));
    scope.put("submitted", views.links(submitted.links(), req.viewer()));
    scope.put("liked", views.links(site.liked(req.viewer(), account, 10), req.viewer()));
    List<Thing> comments = site.recentComments(req.dbSession(), req.viewer(), account, 10);
    Map<Long, Thing> authors = Map.of(account.id(), account);
    scope.put("comments", comments.stream().map(c -> views.comment(c, authors, Map.of())).toList());
    if (submitted.after() != null) {
      scope.put("next", "/user/" + account.get(Models.NAME) + "?after=" + submitted.after());
    }
    return Response.html(site.templates.render("user", scope));
  }

  Thing userTarget(Request req) {
    String name = req.pathParam(1);
    return site.account(name, false)
        .orElseThrow(
            () -> HttpError.notFound("there is no user named '" + Request.abbreviate(name) + "'"));
  }

  /**
   * The shadow ban: an admin marks an account as a spammer (or clears it). From then on its new
   * posts and comments are created as spam: the author still sees them, nobody else does.
   */
  Response markSpammer(Request req) throws IOException {
    Thing admin = req.requireViewer("moderate");
    if (!admin.get(Models.ADMIN)) {
      throw HttpError.forbidden("only admins can mark spammers");
    }
    String name = req.formText("name");
    String value = req.formText("spammer");
    if (!value.equals("true") && !value.equals("false")) {
      throw HttpError.badRequest(
          "spammer must be true or false, was '" + Request.abbreviate(value) + "'");
    }
    Thing account =
        site.account(name, false)
            .orElseThrow(
                () ->
                    HttpError.notFound(
                        "there is no user named '" + Request.abbreviate(name) + "'"));
    site.db
        .withSession(req.dbSession())
        .update(account.edit().set(Models.SPAMMER, Boolean.parseBoolean(value)));
    if (req.wantsJson()) {
      return Response.json(
          200,
          Json.write(
              Map.of("name", account.get(Models.NAME), "spammer", Boolean.parseBoolean(value))));
    }
    return Response.redirect("/user/" + account.get(Models.NAME));
  }
}

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
  static final int MAX_NAME = 20;

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
   * Creates an account. Everything that can refuse it runs before the slow password hash: the
   * name's and password's format, the client address's throttle, and whether the name is taken. The
   * name check and the insert then run again under a PostgreSQL advisory lock on the name, so two
   * signups racing for one name across app servers cannot both succeed.
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
    throttle(site.attemptsPerAddress, "address " + req.clientAddress(), "signups");
    if (site.account(name, true).isPresent()) {
      throw new HttpError(409, "the name '" + name + "' is taken");
    }
    String hash = hash(password); // slow on purpose: outside the lock
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

  /**
   * Logs in. Throttled per client address and per account name (429 with {@code Retry-After})
   * before any hashing; a name without an account runs the same PBKDF2 work as a wrong password
   * ({@link Passwords#verifyUnknown}), so the answer's time does not tell which names exist.
   */
  Response login(Request req) throws IOException {
    String name = req.formText("name");
    String password = req.form("password") == null ? "" : req.form("password");
    if (name.isEmpty() || password.isEmpty()) {
      throw HttpError.badRequest("give a name and a password");
    }
    if (password.length() > MAX_PASSWORD || name.length() > MAX_NAME) {
      throw HttpError.badRequest(
          "a password is at most "
              + MAX_PASSWORD
              + " characters and a name at most "
              + MAX_NAME
              + ": wrong name or password");
    }
    throttle(site.attemptsPerAddress, "address " + req.clientAddress(), "logins");
    throttle(
        site.loginsPerAccount,
        "account " + name.toLowerCase(java.util.Locale.ROOT),
        "logins to this account");
    Thing account = site.account(name, false).orElse(null);
    if (!verify(password, account)) {
      throw HttpError.forbidden("wrong name or password");
    }
    return loggedIn(req, account);
  }

  /**
   * Changes the password: the current one must be given (throttled like a login). The account's
   * session generation goes up first, which revokes every session cookie issued before (other
   * browsers, copies); this browser gets a new cookie at the new generation.
   */
  Response changePassword(Request req) throws IOException {
    Thing account = req.requireViewer("change your password");
    String current = req.form("password") == null ? "" : req.form("password");
    String next = req.form("new_password") == null ? "" : req.form("new_password");
    if (next.length() < MIN_PASSWORD
        || next.length() > MAX_PASSWORD
        || current.length() > MAX_PASSWORD) {
      throw HttpError.badRequest(
          "a password is " + MIN_PASSWORD + " to " + MAX_PASSWORD + " characters");
    }
    throttle(
        site.loginsPerAccount,
        "account " + account.get(Models.NAME_LOWER),
        "password attempts for this account");
    if (!verify(current, account)) {
      throw HttpError.forbidden("the current password is wrong; nothing was changed");
    }
    String hash = hash(next);
    Thing revoked =
        site.db
            .withSession(req.dbSession())
            .incr(Models.ACCOUNT, account.id(), Models.SESSION_GENERATION, 1L);
    Thing changed =
        site.db.withSession(req.dbSession()).update(revoked.edit().set(Models.PASSWORD, hash));
    return loggedIn(req, changed);
  }

  /**
   * Sets the account's privacy preference: {@code show_upvotes} true lets everyone see the links it
   * voted up on its user page; false (the default) shows them to the account alone. Anonymous
   * visitors may see the previous choice for up to one page-cache TTL.
   */
  Response preferences(Request req) throws IOException {
    Thing account = req.requireViewer("change your preferences");
    String value = req.formText("show_upvotes");
    if (!value.equals("true") && !value.equals("false")) {
      throw HttpError.badRequest(
          "show_upvotes must be true or false, was '" + Request.abbreviate(value) + "'");
    }
    boolean show = Boolean.parseBoolean(value);
    site.db.withSession(req.dbSession()).update(account.edit().set(Models.SHOW_UPVOTES, show));
    if (req.wantsJson()) {
      return Response.json(200, Json.write(Map.of("show_upvotes", show)));
    }
    return Response.redirect("/user/" + account.get(Models.NAME));
  }

  private static void throttle(Throttle throttle, String key, String what) {
    Duration wait = throttle.acquire(key);
    if (!wait.isZero()) {
      throw new HttpError(
              429,
              "too many "
                  + what
                  + " from "
                  + key
                  + ": try again in "
                  + wait.toSeconds()
                  + " s; nothing was checked")
          .retryAfter(wait.toSeconds());
    }
  }

  /** A new hash, if a hashing slot is free (see {@link Site#hashing}). */
  private String hash(String password) {
    acquireHashing();
    try {
      return site.passwords.hash(password);
    } finally {
      site.hashing.release();
    }
  }

  /** Whether {@code password} is the account's; the same work when there is no account. */
  private boolean verify(String password, Thing account) {
    acquireHashing();
    try {
      return account == null
          ? site.passwords.verifyUnknown(password)
          : site.passwords.verify(password, account.get(Models.PASSWORD));
    } finally {
      site.hashing.release();
    }
  }

  private void acquireHashing() {
    if (!site.hashing.tryAcquire()) {
      throw new HttpError(503, "too many logins at this moment: try again in a second")
          .retryAfter(1);
    }
  }

  /**
   * A fresh session id at login, so a session id planted before login is worth nothing after it;
   * issued at the account's current session generation.
   */
  private Response loggedIn(Request req, Thing account) {
    SessionCookies.Session s =
        site.cookies.newSession(account.id(), account.get(Models.SESSION_GENERATION));
    Response r =
        req.wantsJson()
            ? Response.json(200, Json.write(Map.of("name", account.get(Models.NAME))))
            : Response.redirect("/");
    return r.header("Set-Cookie", site.cookies.setCookie(s, site.secureCookies(req)));
  }

  /**
   * Logs out everywhere: the account's session generation goes up, so this cookie and every copy of
   * it (and every other session of the account) is refused from now on.
   */
  Response logout(Request req) {
    Thing viewer = req.viewer();
    if (viewer != null) {
      site.db
          .withSession(req.dbSession())
          .incr(Models.ACCOUNT, viewer.id(), Models.SESSION_GENERATION, 1L);
    }
    return Response.redirect("/")
        .header("Set-Cookie", site.cookies.clearCookie(site.secureCookies(req)));
  }

  /**
   * The user page: submitted links (paged with after), liked links (to the account itself, or to
   * everyone if it chose {@link Models#SHOW_UPVOTES}), recent comments.
   */
  Response user(Request req) {
    Thing account = userTarget(req);
    Site.LinkPage submitted =
        site.submitted(req.dbSession(), req.viewer(), account, req.after(), req.limit());
    Map<String, Object> scope = views.page(req, "/user/" + account.get(Models.NAME));
    scope.put("user", account.get(Models.NAME));
    scope.put("spammer", account.get(Models.SPAMMER));
    scope.put("submitted", views.links(submitted.links(), req.viewer(), req.dbSession()));
    boolean own = req.viewer() != null && req.viewer().id() == account.id();
    scope.put("own", own);
    scope.put("showUpvotes", account.get(Models.SHOW_UPVOTES));
    // Up-votes are private unless the account chose to show them: nobody else (anonymous, other
    // users, admins) gets the list, not even an empty one.
    if (own || account.get(Models.SHOW_UPVOTES)) {
      scope.put(
          "liked",
          Map.of(
              "links",
              views.links(site.liked(req.viewer(), account, 10), req.viewer(), req.dbSession())));
    }
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

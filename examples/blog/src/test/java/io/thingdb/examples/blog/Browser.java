package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.net.CookieManager;
import java.net.CookiePolicy;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One visitor for the HTTP tests: its own cookie jar, no automatic redirects. Not thread-safe. */
final class Browser {
  private static final Pattern META_CSRF =
      Pattern.compile("<meta name=\"csrf-token\" content=\"([^\"]+)\">");
  private static final Pattern FORM_CSRF = Pattern.compile("name=\"csrf\" value=\"([^\"]+)\"");

  record Page(int status, String body, Map<String, List<String>> headers) {
    String header(String name) {
      for (Map.Entry<String, List<String>> e : headers.entrySet()) {
        if (e.getKey().equalsIgnoreCase(name)) {
          return e.getValue().get(0);
        }
      }
      return null;
    }

    long sql() {
      return Long.parseLong(header("X-SQL-Statements"));
    }

    Map<String, Object> json() {
      return JsonParser.object(body);
    }
  }

  private final URI base;
  private final CookieManager cookies;
  private final HttpClient client;

  Browser(URI base) {
    this(base, new CookieManager(null, CookiePolicy.ACCEPT_ALL));
  }

  private Browser(URI base, CookieManager cookies) {
    this.base = base;
    this.cookies = cookies;
    this.client =
        HttpClient.newBuilder()
            .cookieHandler(cookies)
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
  }

  /**
   * The same visitor (its cookies for this host) at another address, e.g. after a restart on a new
   * port.
   */
  Browser at(URI other) {
    return new Browser(other, cookies);
  }

  /** The value of this visitor's cookie {@code name}, or null. */
  String cookie(String name) {
    for (java.net.HttpCookie c : cookies.getCookieStore().getCookies()) {
      if (c.getName().equals(name)) {
        return c.getValue();
      }
    }
    return null;
  }

  /** Sets (or replaces) a cookie, as a client that edits its cookies could. */
  void setCookie(String name, String value) {
    java.net.HttpCookie c = new java.net.HttpCookie(name, value);
    c.setPath("/");
    c.setVersion(0);
    cookies.getCookieStore().add(base, c);
  }

  Page get(String path) {
    return send(HttpRequest.newBuilder(base.resolve(path)).GET());
  }

  /** A form POST carrying this visitor's CSRF token. */
  Page post(String path, Map<String, String> form) {
    Map<String, String> withToken = new LinkedHashMap<>(form);
    withToken.putIfAbsent("csrf", csrf());
    return postRaw(path, withToken, false);
  }

  /** A form POST asking for JSON, with the token. */
  Page postJson(String path, Map<String, String> form) {
    Map<String, String> withToken = new LinkedHashMap<>(form);
    withToken.putIfAbsent("csrf", csrf());
    return postRaw(path, withToken, true);
  }

  /** A form POST exactly as given (no token added). */
  Page postRaw(String path, Map<String, String> form, boolean json) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(base.resolve(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(encode(form)));
    if (json) {
      b.header("Accept", "application/json");
    }
    return send(b);
  }

  Page postBytes(String path, byte[] body) {
    return send(
        HttpRequest.newBuilder(base.resolve(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body)));
  }

  /** The visitor's CSRF token, from the page header when logged in, else from the login form. */
  String csrf() {
    Page p = get("/submit");
    Matcher m = META_CSRF.matcher(p.body());
    if (p.status() == 200 && m.find()) {
      return m.group(1);
    }
    Matcher f = FORM_CSRF.matcher(get("/login").body());
    if (!f.find()) {
      throw new AssertionError("no CSRF token on /login");
    }
    return f.group(1);
  }

  void signup(String name, String password) {
    Page p = post("/signup", Map.of("name", name, "password", password));
    if (p.status() != 303) {
      throw new AssertionError("signup of " + name + " answered " + p.status() + ": " + p.body());
    }
  }

  static String encode(Map<String, String> form) {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, String> e : form.entrySet()) {
      if (sb.length() > 0) {
        sb.append('&');
      }
      sb.append(URLEncoder.encode(e.getKey(), UTF_8))
          .append('=')
          .append(URLEncoder.encode(e.getValue(), UTF_8));
    }
    return sb.toString();
  }

  private Page send(HttpRequest.Builder b) {
    try {
      HttpResponse<String> r =
          client.send(
              b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      return new Page(r.statusCode(), r.body(), r.headers().map());
    } catch (IOException e) {
      throw new AssertionError("request failed: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}

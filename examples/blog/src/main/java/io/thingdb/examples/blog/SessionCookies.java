package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The signed session cookie and the CSRF tokens derived from it.
 *
 * <p>Cookie value: {@code <session id>.<account id>.<generation>.<issued, epoch
 * seconds>.<HMAC-SHA256>}; the MAC covers the first four fields, so a client can change neither the
 * account nor the generation, and is compared in constant time ({@link MessageDigest#isEqual}).
 * Account 0 is an anonymous visitor who has been given a session id so that the login and signup
 * forms can carry a CSRF token. The cookie is {@code HttpOnly} (scripts cannot read it), {@code
 * SameSite=Lax} (other sites' forms do not send it with a POST), and {@code Secure} when the caller
 * says the site is served over HTTPS.
 *
 * <p>Revocation is server-side: the generation is the account's session generation ({@link
 * Models#SESSION_GENERATION}) when the cookie was issued. Logging out and changing the password
 * increment the account's generation, so every copy of every cookie issued before is refused from
 * then on ({@link BlogServer} compares the cookie's generation with the account's on each request).
 *
 * <p>The CSRF token is {@code HMAC(secret, "csrf:" + session id)}: every POST must carry it (form
 * field {@code csrf} or header {@code X-CSRF-Token}), and another site cannot compute it.
 * Thread-safe.
 */
public final class SessionCookies {
  /** The cookie's name. */
  public static final String NAME = "blog_session";

  /** The read-your-writes cookie: the visitor's WAL positions (see {@link #encodePositions}). */
  public static final String POSITIONS = "blog_rw";

  private static final Duration MAX_AGE = Duration.ofDays(30);

  /**
   * How long the WAL positions cookie lives. Replicas replay within moments; after this long every
   * replica has replayed the visitor's writes and the positions are worth nothing.
   */
  static final Duration POSITIONS_MAX_AGE = Duration.ofMinutes(5);

  private final byte[] secret;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();

  /** A signer; {@code secret} must be at least 32 bytes. */
  public SessionCookies(byte[] secret, Clock clock) {
    if (secret.length < 32) {
      throw new IllegalArgumentException(
          "the session secret must be at least 32 bytes, was " + secret.length);
    }
    this.secret = secret.clone();
    this.clock = clock;
  }

  /**
   * A verified session: its id (for CSRF), account (0 = anonymous) and the account's session
   * generation when it was issued (0 for anonymous visitors).
   */
  public record Session(String id, long accountId, long generation) {
    /** Whether someone is logged in. */
    public boolean loggedIn() {
      return accountId != 0;
    }
  }

  /**
   * A new session for {@code accountId} (0 for an anonymous visitor) at the account's session
   * {@code generation}, with a fresh random id.
   */
  public Session newSession(long accountId, long generation) {
    byte[] id = new byte[16];
    random.nextBytes(id);
    return new Session(HexFormat.of().formatHex(id), accountId, generation);
  }

  /** The cookie value of {@code session}, signed now. */
  public String encode(Session session) {
    String body =
        session.id()
            + "."
            + session.accountId()
            + "."
            + session.generation()
            + "."
            + clock.instant().getEpochSecond();
    return body + "." + mac(body);
  }

  /**
   * The {@code Set-Cookie} header value that stores {@code session}; with {@code Secure} if {@code
   * secure} (the site is served over HTTPS), so that the browser never sends it over plain HTTP.
   */
  public String setCookie(Session session, boolean secure) {
    return NAME + "=" + encode(session) + attributes(secure) + "; Max-Age=" + MAX_AGE.toSeconds();
  }

  /** The {@code Set-Cookie} header value that removes the cookie. */
  public String clearCookie(boolean secure) {
    return NAME + "=" + attributes(secure) + "; Max-Age=0";
  }

  private static String attributes(boolean secure) {
    return "; Path=/; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "");
  }

  /**
   * The session in a cookie value, or null if it is malformed, its signature is wrong, or it is
   * older than 30 days (the visitor is then treated as new). Whether its generation is still the
   * account's is the caller's check.
   */
  public Session decode(String value) {
    if (value == null) {
      return null;
    }
    int lastDot = value.lastIndexOf('.');
    if (lastDot < 0) {
      return null;
    }
    String body = value.substring(0, lastDot);
    if (!MessageDigest.isEqual(
        mac(body).getBytes(UTF_8), value.substring(lastDot + 1).getBytes(UTF_8))) {
      return null;
    }
    String[] parts = body.split("\\.");
    if (parts.length != 4 || parts[0].length() != 32) {
      return null;
    }
    try {
      long account = Long.parseLong(parts[1]);
      long generation = Long.parseLong(parts[2]);
      long issued = Long.parseLong(parts[3]);
      if (account < 0
          || generation < 0
          || clock.instant().getEpochSecond() - issued > MAX_AGE.toSeconds()) {
        return null;
      }
      return new Session(parts[0], account, generation);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /**
   * The cookie value carrying a ThingDb {@link io.thingdb.core.Session#token() session token} (the
   * WAL position of the visitor's last write on each database): {@code
   * <base64url(token)>.<HMAC-SHA256>}. Signed so that a client cannot invent positions (a position
   * no replica reaches would send all its reads to the primaries); the positions themselves are not
   * secret.
   */
  public String encodePositions(String token) {
    String body = Base64.getUrlEncoder().withoutPadding().encodeToString(token.getBytes(UTF_8));
    return body + "." + mac("rw:" + body);
  }

  /** The {@code Set-Cookie} header value that stores a session token ({@code Secure} if asked). */
  public String setPositionsCookie(String token, boolean secure) {
    return POSITIONS
        + "="
        + encodePositions(token)
        + attributes(secure)
        + "; Max-Age="
        + POSITIONS_MAX_AGE.toSeconds();
  }

  /**
   * The session token in a positions cookie value, or null if it is missing, malformed or not
   * signed by us.
   */
  public String decodePositions(String value) {
    if (value == null) {
      return null;
    }
    int dot = value.lastIndexOf('.');
    if (dot < 0) {
      return null;
    }
    String body = value.substring(0, dot);
    if (!MessageDigest.isEqual(
        mac("rw:" + body).getBytes(UTF_8), value.substring(dot + 1).getBytes(UTF_8))) {
      return null;
    }
    try {
      return new String(Base64.getUrlDecoder().decode(body), UTF_8);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** The CSRF token of a session. */
  public String csrfToken(Session session) {
    return mac("csrf:" + session.id());
  }

  /** Whether {@code token} is the CSRF token of {@code session} (constant-time). */
  public boolean checkCsrf(Session session, String token) {
    return session != null
        && token != null
        && MessageDigest.isEqual(csrfToken(session).getBytes(UTF_8), token.getBytes(UTF_8));
  }

  private String mac(String text) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      return Base64.getUrlEncoder()
          .withoutPadding()
          .encodeToString(mac.doFinal(text.getBytes(UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK lacks HmacSHA256", e);
    }
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import org.junit.jupiter.api.Test;

/** The WAL positions cookie: signed, so a client can neither invent nor edit positions. */
class SessionCookiesTest {
  private final SessionCookies cookies =
      new SessionCookies("0123456789abcdef0123456789abcdef".getBytes(UTF_8), Clock.systemUTC());

  @Test
  void positionsRoundTripAndTheCookieValueHoldsNoCookieSeparators() {
    String token = "comments=16b374d848;main=2a0";
    String value = cookies.encodePositions(token);
    assertThat(value)
        .doesNotContain(";")
        .doesNotContain("=")
        .doesNotContain(",")
        .doesNotContain(" ");
    assertThat(cookies.decodePositions(value)).isEqualTo(token);
    assertThat(cookies.setPositionsCookie(token, false))
        .startsWith(SessionCookies.POSITIONS + "=" + value + ";")
        .contains("HttpOnly")
        .contains("SameSite=Lax")
        .contains("Max-Age=300");
  }

  @Test
  void editedForgedOrForeignPositionsAreRefused() {
    String value = cookies.encodePositions("main=2a0");
    String body = value.substring(0, value.indexOf('.'));
    String mac = value.substring(value.indexOf('.') + 1);
    String edited =
        java.util.Base64.getUrlEncoder()
            .withoutPadding()
            .encodeToString("main=7fffffffffffffff".getBytes(UTF_8));
    assertThat(cookies.decodePositions(edited + "." + mac)).isNull();
    assertThat(cookies.decodePositions(body + ".forged")).isNull();
    assertThat(cookies.decodePositions(body)).isNull();
    assertThat(cookies.decodePositions(null)).isNull();
    SessionCookies other =
        new SessionCookies("another-secret-another-secret-32b".getBytes(UTF_8), Clock.systemUTC());
    assertThat(other.decodePositions(value)).isNull();
  }
}

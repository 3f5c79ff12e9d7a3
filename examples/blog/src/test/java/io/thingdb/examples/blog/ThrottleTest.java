package io.thingdb.examples.blog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The token buckets behind the login throttle, on a ticker the test moves. */
class ThrottleTest {
  private final AtomicLong now = new AtomicLong(1_000_000_000L);

  private Throttle throttle(int capacity, int maxKeys) {
    return new Throttle("test", capacity, Duration.ofMinutes(1), maxKeys, now::get);
  }

  @Test
  void aKeySpendsItsCapacityThenWaitsForTheNextToken() {
    Throttle t = throttle(2, 100);
    assertThat(t.acquire("a")).isZero();
    assertThat(t.acquire("a")).isZero();
    assertThat(t.acquire("a")).isEqualTo(Duration.ofSeconds(30));
    assertThat(t.acquire("b")).as("another key has its own bucket").isZero();
    now.addAndGet(Duration.ofSeconds(29).toNanos());
    assertThat(t.acquire("a")).isEqualTo(Duration.ofSeconds(1));
    now.addAndGet(Duration.ofSeconds(1).toNanos());
    assertThat(t.acquire("a")).isZero();
    assertThat(t.acquire("a")).isEqualTo(Duration.ofSeconds(30));
    now.addAndGet(Duration.ofMinutes(10).toNanos());
    assertThat(t.acquire("a")).isZero();
    assertThat(t.acquire("a")).isZero();
    assertThat(t.acquire("a")).as("refilled to the capacity, never beyond").isPositive();
  }

  @Test
  void theNumberOfKeysKeptIsBounded() {
    Throttle t = throttle(1, 10);
    for (int i = 0; i < 1000; i++) {
      assertThat(t.acquire("key-" + i)).isZero();
    }
    assertThat(t.size()).isLessThanOrEqualTo(10);
  }

  @Test
  void badSettingsAreRefusedNamingTheThrottle() {
    assertThatThrownBy(() -> new Throttle("logins", 0, Duration.ofMinutes(1), 1, now::get))
        .hasMessage("logins: capacity must be at least 1, was 0");
    assertThatThrownBy(() -> new Throttle("logins", 1, Duration.ZERO, 1, now::get))
        .hasMessage("logins: the period must be positive, was PT0S");
    assertThatThrownBy(() -> new Throttle("logins", 1, Duration.ofMinutes(1), 0, now::get))
        .hasMessage("logins: maxKeys must be at least 1, was 0");
  }
}

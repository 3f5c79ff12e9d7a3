package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The arguments {@link ReplicatedPostgres#start} refuses before it starts anything. Streaming, lag,
 * paused replay and a stopped standby are exercised against real servers by thingdb-core's {@code
 * ReplicaRoutingTest}, which needs them for its own assertions.
 */
class ReplicatedPostgresTest {
  @Test
  void startRejectsAnApplyDelayPostgresCannotTake() {
    assertThatThrownBy(() -> ReplicatedPostgres.start(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "applyDelay must be a whole number of milliseconds from 0 to 2147483647 (was PT-0.001S)");
    assertThatThrownBy(() -> ReplicatedPostgres.start(Duration.ofNanos(1_500_000)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("(was PT0.0015S)");
    assertThatThrownBy(() -> ReplicatedPostgres.start(Duration.ofDays(30)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("(was PT720H)");
    assertThatThrownBy(() -> ReplicatedPostgres.start(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("(was null)");
  }
}

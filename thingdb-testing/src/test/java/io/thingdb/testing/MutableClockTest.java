package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class MutableClockTest {
  @Test
  void standsStillUntilAdvanced() {
    MutableClock clock = new MutableClock(1_000);

    assertThat(clock.millis()).isEqualTo(1_000);
    assertThat(clock.instant()).isEqualTo(Instant.ofEpochMilli(1_000));

    clock.advance(Duration.ofSeconds(2));

    assertThat(clock.millis()).isEqualTo(3_000);
    assertThat(clock.instant()).isEqualTo(Instant.ofEpochMilli(3_000));
    assertThat(clock.getZone()).isEqualTo(ZoneOffset.UTC);
  }

  @Test
  void refusesAnotherZone() {
    assertThatThrownBy(() -> new MutableClock().withZone(ZoneId.of("Europe/Paris")))
        .isInstanceOf(UnsupportedOperationException.class)
        .hasMessage("MutableClock is UTC only");
  }
}

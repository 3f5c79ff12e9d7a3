package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The session token carries the remembered written things ({@link Session#wrote}) next to the WAL
 * positions, bounded to {@link Session#MAX_WRITTEN}, most recent kept.
 */
class SessionTokenTest {
  @Test
  void writtenThingsSurviveTheTokenMostRecentFirst() {
    Session s = Session.parse("main=1a2b;~t3_5." + Long.toString(1_000, 36) + ";~t3_7.rs");
    assertThat(s.position("main").lsn()).isEqualTo(0x1a2bL);
    assertThat(s.written())
        .containsExactly(
            new Session.Written("t3_7", Instant.ofEpochMilli(Long.parseLong("rs", 36))),
            new Session.Written("t3_5", Instant.ofEpochMilli(1_000)));
    Session back = Session.parse(s.token());
    assertThat(back.written()).isEqualTo(s.written());
    assertThat(back.token()).isEqualTo(s.token());
  }

  @Test
  void onlyTheMostRecentWrittenThingsAreKept() {
    List<String> parts = new ArrayList<>();
    for (int i = 1; i <= Session.MAX_WRITTEN + 4; i++) {
      parts.add("~t3_" + i + "." + Long.toString(i, 36));
    }
    Session s = Session.parse(String.join(";", parts));
    assertThat(s.written()).hasSize(Session.MAX_WRITTEN);
    assertThat(s.written().get(0).fullname()).isEqualTo("t3_" + (Session.MAX_WRITTEN + 4));
    assertThat(s.written().get(Session.MAX_WRITTEN - 1).fullname()).isEqualTo("t3_5");
  }

  @Test
  void aMalformedWrittenThingIsRefusedNamingIt() {
    assertThatThrownBy(() -> Session.parse("main=1;~t3_5"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad written thing '~t3_5'");
    assertThatThrownBy(() -> Session.parse("~r2_5.1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("it names a relation");
    assertThatThrownBy(() -> Session.parse("~t3_5.zz!"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'~t3_5.zz!'");
  }

  @Test
  void positionsCarryTheirTimelineAndTheOldFormStillReads() {
    Session s = Session.parse("main=2.1a2b;other=ff");
    assertThat(s.position("main")).isEqualTo(new Session.Position(2, 0x1a2b));
    assertThat(s.position("other")).isEqualTo(new Session.Position(0, 0xff)); // timeline unknown
    assertThat(s.token()).isEqualTo("main=2.1a2b;other=ff");
    assertThat(Session.parse(s.token()).token()).isEqualTo(s.token());
    // A later timeline wins over a higher position on an earlier one (it continues that history
    // only up to its switch point); positions never move back.
    s.committed("main", 3, 0x10);
    assertThat(s.position("main")).isEqualTo(new Session.Position(3, 0x10));
    s.committed("main", 2, 0xffff);
    assertThat(s.position("main")).isEqualTo(new Session.Position(3, 0x10));
    assertThat(s.token()).startsWith("main=3.10;");
  }

  @Test
  void aMalformedPositionIsRefusedNamingIt() {
    assertThatThrownBy(() -> Session.parse("main=0.1a"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed session token 'main=0.1a': bad position in 'main=0.1a'");
    assertThatThrownBy(() -> Session.parse("main=2."))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed session token 'main=2.': bad position in 'main=2.'");
    assertThatThrownBy(() -> Session.parse("main=x.1a"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed session token 'main=x.1a': bad position in 'main=x.1a'");
  }
}

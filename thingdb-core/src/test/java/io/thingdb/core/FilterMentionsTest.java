package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.core.Filter.Column;
import org.junit.jupiter.api.Test;

/**
 * {@link Filter#mentions}: what a listing module asks to know whether a vote can change a match.
 */
class FilterMentionsTest {
  private static final Prop<Long> SR = Prop.int64("sr", 0);

  @Test
  void aColumnComparisonMentionsItsColumnOnly() {
    Filter f = Filter.ge(Column.SCORE, 10);
    assertThat(f.mentions(Column.SCORE)).isTrue();
    assertThat(f.mentions(Column.UPS)).isFalse();
    assertThat(Filter.eq(SR, 5L).mentions(Column.SCORE)).isFalse();
  }

  @Test
  void combinationsAreSearchedAtEveryDepth() {
    Filter deep =
        Filter.and(Filter.eq(SR, 1L), Filter.or(Filter.eq(SR, 2L), Filter.gt(Column.DOWNS, 3)));
    assertThat(deep.mentions(Column.DOWNS)).isTrue();
    assertThat(deep.mentions(Column.UPS)).isFalse();
    assertThatThrownBy(() -> deep.mentions(null)).isInstanceOf(NullPointerException.class);
  }
}

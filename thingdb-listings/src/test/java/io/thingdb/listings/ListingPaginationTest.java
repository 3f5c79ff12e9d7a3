package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.listings.Listing.Cursor;
import io.thingdb.listings.Listing.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Page reads by cursor, and the cursor's string form. */
class ListingPaginationTest {

  /** A complete listing with ids 1..n and values n..1: listing order is n, n-1, ..., 1. */
  private static Listing descending(int capacity, int n) {
    List<Entry> entries = new ArrayList<>();
    for (int id = n; id >= 1; id--) {
      entries.add(new Entry(id, 1, id));
    }
    Listing listing = Listing.create(capacity);
    listing.replaceAll(entries, true);
    return listing;
  }

  private static List<Long> ids(List<Entry> entries) {
    return entries.stream().map(Entry::id).toList();
  }

  @ParameterizedTest(name = "limit {0}")
  @ValueSource(ints = {1, 7, 100})
  void walkingPagesWithCursorsYieldsTheVisibleEntriesInOrder(int limit) {
    Listing listing = descending(250, 300);
    List<Entry> walked = new ArrayList<>();

    List<Entry> page = listing.page(limit);
    while (!page.isEmpty()) {
      assertThat(page.size()).isLessThanOrEqualTo(limit);
      walked.addAll(page);
      page = listing.page(page.get(page.size() - 1).cursor(), limit);
    }

    assertThat(walked).isEqualTo(listing.visible()).hasSize(250);
  }

  @Test
  void cursorOfARemovedEntryContinuesFromItsPosition() {
    Listing listing = descending(10, 10);
    List<Entry> first = listing.page(3);
    assertThat(ids(first)).containsExactly(10L, 9L, 8L);

    listing.remove(8);
    listing.remove(9);

    assertThat(ids(listing.page(first.get(2).cursor(), 3))).containsExactly(7L, 6L, 5L);
  }

  @Test
  void cursorOfAnEntryThatMovedContinuesFromItsOldPosition() {
    Listing listing = descending(10, 10);
    Cursor cursor = listing.page(3).get(2).cursor(); // entry 8 at value 8

    listing.upsert(8, 2, 0.5); // 8 drops to the bottom
    listing.upsert(2, 2, 20); // 2 rises to the top, before the cursor

    assertThat(ids(listing.page(cursor, 3))).containsExactly(7L, 6L, 5L);
  }

  @Test
  void cursorBetweenEntriesWithEqualValuesUsesTheIdToBreakTheTie() {
    Listing listing = Listing.create(10);
    listing.replaceAll(
        List.of(new Entry(9, 1, 1.0), new Entry(7, 1, 1.0), new Entry(5, 1, 1.0)), true);

    assertThat(ids(listing.page(new Cursor(1.0, 8), 10))).containsExactly(7L, 5L);
    assertThat(ids(listing.page(new Cursor(1.0, 7), 10))).containsExactly(5L);
  }

  @Test
  void cursorInTheSlackGivesAnEmptyPage() {
    Listing listing = descending(5, 10);

    assertThat(listing.page(new Cursor(5.0, 5), 10)).isEmpty();
    assertThat(listing.page(new Cursor(3.0, 3), 10)).isEmpty();
    assertThat(ids(listing.page(new Cursor(7.0, 7), 10))).containsExactly(6L);
  }

  @Test
  void cursorBeforeEverythingGivesTheFirstPage() {
    Listing listing = descending(5, 10);

    assertThat(listing.page(new Cursor(Double.POSITIVE_INFINITY, Long.MAX_VALUE), 3))
        .isEqualTo(listing.page(3));
  }

  @Test
  void cursorStringIsTwentyTwoUrlSafeCharactersAndParsesBackExactly() {
    SplittableRandom random = new SplittableRandom(42);
    List<Cursor> cursors =
        new ArrayList<>(
            List.of(
                new Cursor(0.0, 0),
                new Cursor(-1.5, -7),
                new Cursor(Double.POSITIVE_INFINITY, Long.MAX_VALUE),
                new Cursor(Double.NEGATIVE_INFINITY, Long.MIN_VALUE),
                new Cursor(Double.MIN_VALUE, 1),
                new Cursor(Sorts.hot(1234, 56, 1_700_000_000_123_456L), 987_654_321L)));
    for (int i = 0; i < 1000; i++) {
      double value = Double.longBitsToDouble(random.nextLong());
      if (!Double.isNaN(value)) {
        cursors.add(new Cursor(value, random.nextLong()));
      }
    }

    for (Cursor cursor : cursors) {
      String text = cursor.encode();
      assertThat(text).hasSize(22).matches("[A-Za-z0-9_-]+");
      assertThat(Cursor.parse(text)).isEqualTo(cursor);
    }
  }

  @Test
  void negativeZeroCursorIsTheZeroCursor() {
    assertThat(new Cursor(-0.0, 3)).isEqualTo(new Cursor(0.0, 3));
    assertThat(new Cursor(-0.0, 3).encode()).isEqualTo(new Cursor(0.0, 3).encode());
  }

  @Test
  void cursorOfWrongLengthIsRejectedNamingTheInput() {
    assertThatThrownBy(() -> Cursor.parse("t3_abc"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed listing cursor \"t3_abc\": expected 22 characters, got 6");
    assertThatThrownBy(() -> Cursor.parse(""))
        .hasMessage("malformed listing cursor \"\": expected 22 characters, got 0");
    assertThatThrownBy(() -> Cursor.parse("x".repeat(500)))
        .hasMessage(
            "malformed listing cursor \""
                + "x".repeat(40)
                + "...\": expected 22 characters, got 500");
  }

  @Test
  void cursorWithCharactersOutsideBase64UrlIsRejected() {
    assertThatThrownBy(() -> Cursor.parse("AAAAAAAAAAAAAAAAAAAA+/"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "malformed listing cursor \"AAAAAAAAAAAAAAAAAAAA+/\": not base64url (A-Z, a-z, 0-9, '-', '_')");
    assertThatThrownBy(() -> Cursor.parse("AAAAAAAAAAAAAAAAAAAA=="))
        .hasMessage(
            "malformed listing cursor \"AAAAAAAAAAAAAAAAAAAA==\": not base64url (A-Z, a-z, 0-9, '-', '_')");
  }

  @Test
  void cursorWithNanValueIsRejected() {
    assertThatThrownBy(() -> Cursor.parse("f_gAAAAAAAAAAAAAAAAAAA"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed listing cursor \"f_gAAAAAAAAAAAAAAAAAAA\": its sort value is NaN");
  }

  @Test
  void cursorInANonCanonicalFormIsRejected() {
    // Same 16 bytes as AAAAAAAAAAAAAAAAAAAAAA, with the unused low bits of the last character set.
    assertThatThrownBy(() -> Cursor.parse("AAAAAAAAAAAAAAAAAAAAAB"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "malformed listing cursor \"AAAAAAAAAAAAAAAAAAAAAB\": not in the canonical form "
                + "Cursor.encode() writes");
    // -0.0, which cursors hold as 0.0.
    assertThatThrownBy(() -> Cursor.parse("gAAAAAAAAAAAAAAAAAAAAA"))
        .hasMessage(
            "malformed listing cursor \"gAAAAAAAAAAAAAAAAAAAAA\": not in the canonical form "
                + "Cursor.encode() writes");
  }

  @Test
  void nullCursorIsRejected() {
    Listing listing = descending(5, 5);

    assertThatThrownBy(() -> listing.page(null, 5))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("after");
    assertThatThrownBy(() -> Cursor.parse(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("text");
  }
}

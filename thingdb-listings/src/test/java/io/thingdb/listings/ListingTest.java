package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thingdb.listings.Listing.Cursor;
import io.thingdb.listings.Listing.Entry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Listing operations one behaviour at a time, and the errors bad input gets. */
class ListingTest {

  /** A complete listing holding the given entries (capacity 3 holds at most 3 + 0 + 10 = 13). */
  private static Listing completeListing(int capacity, Entry... entries) {
    Listing listing = Listing.create(capacity);
    listing.replaceAll(Arrays.asList(entries), true);
    return listing;
  }

  private static List<Long> ids(List<Entry> entries) {
    return entries.stream().map(Entry::id).toList();
  }

  /** Entries with ids 1..n and values n..1, so ids in listing order are n, n-1, ..., 1. */
  private static List<Entry> descending(int n) {
    List<Entry> entries = new ArrayList<>();
    for (int id = n; id >= 1; id--) {
      entries.add(new Entry(id, 1, id));
    }
    return entries;
  }

  @Test
  void defaultCapacityIs1000With260EntriesOfSlack() {
    Listing listing = Listing.create();

    assertThat(listing.capacity()).isEqualTo(1000);
    assertThat(listing.slack()).isEqualTo(260);
    assertThat(listing.maxSize()).isEqualTo(1260);
    assertThat(listing.lowWaterMark()).isEqualTo(1000);
  }

  @Test
  void capacityOneKeepsElevenEntriesOfSlack() {
    Listing listing = Listing.create(1);

    assertThat(listing.slack()).isEqualTo(10);
    assertThat(listing.maxSize()).isEqualTo(11);
  }

  @Test
  void newListingKnowsNothingAndNeedsRefill() {
    Listing listing = Listing.create(10);

    assertThat(listing.needsRefill()).isTrue();
    assertThat(listing.isComplete()).isFalse();
    assertThat(listing.upsert(1, 1, 5.0)).isFalse();
    assertThat(listing.size()).isZero();
    assertThat(listing.toString()).isEqualTo("Listing(capacity=10, size=0, empty until refilled)");
  }

  @Test
  void emptyQueryResultMakesACompleteEmptyListingThatAcceptsInserts() {
    Listing listing = Listing.create(10);
    listing.replaceAll(List.of(), true);

    assertThat(listing.needsRefill()).isFalse();
    assertThat(listing.upsert(1, 1, 5.0)).isTrue();
    assertThat(listing.visible()).containsExactly(new Entry(1, 1, 5.0));
  }

  @Test
  void entriesSortByValueDescendingThenIdDescending() {
    Listing listing = completeListing(10);
    listing.upsert(1, 1, 2.0);
    listing.upsert(2, 1, 3.0);
    listing.upsert(3, 1, 2.0);
    listing.upsert(4, 1, -1.0);
    listing.upsert(5, 1, Double.POSITIVE_INFINITY);

    assertThat(ids(listing.visible())).containsExactly(5L, 2L, 3L, 1L, 4L);
  }

  @Test
  void negativeZeroIsStoredAsZeroAndTiesWithZero() {
    Listing listing = completeListing(10);
    listing.upsert(1, 1, -0.0);
    listing.upsert(2, 1, 0.0);

    assertThat(listing.visible()).containsExactly(new Entry(2, 1, 0.0), new Entry(1, 1, 0.0));
    assertThat(Double.doubleToRawLongBits(listing.visible().get(1).value())).isZero();
  }

  @Test
  void newerVersionMovesEntryToItsNewPosition() {
    Listing listing = completeListing(10, descending(5).toArray(Entry[]::new));

    assertThat(listing.upsert(2, 2, 4.5)).isTrue();
    assertThat(ids(listing.visible())).containsExactly(5L, 2L, 4L, 3L, 1L);
    assertThat(listing.upsert(5, 2, 0.5)).isTrue();
    assertThat(ids(listing.visible())).containsExactly(2L, 4L, 3L, 1L, 5L);
    assertThat(listing.entry(5)).contains(new Entry(5, 2, 0.5));
  }

  @Test
  void newerVersionWithSameValueKeepsPositionAndTakesVersion() {
    Listing listing = completeListing(10, descending(3).toArray(Entry[]::new));

    assertThat(listing.upsert(2, 7, 2.0)).isTrue();
    assertThat(listing.visible())
        .containsExactly(new Entry(3, 1, 3), new Entry(2, 7, 2), new Entry(1, 1, 1));
  }

  @Test
  void olderVersionNeverReplacesNewer() {
    Listing listing = completeListing(10);
    listing.upsert(1, 5, 10.0);

    assertThat(listing.upsert(1, 4, 99.0)).isFalse();
    assertThat(listing.entry(1)).contains(new Entry(1, 5, 10.0));
  }

  @Test
  void equalVersionChangesNothing() {
    Listing listing = completeListing(10);
    listing.upsert(1, 5, 10.0);

    assertThat(listing.upsert(1, 5, 99.0)).isFalse();
    assertThat(listing.entry(1)).contains(new Entry(1, 5, 10.0));
  }

  @Test
  void removeDeletesEntryAndForgetsItsVersion() {
    Listing listing = completeListing(10, descending(3).toArray(Entry[]::new));

    assertThat(listing.remove(2)).isTrue();
    assertThat(listing.remove(2)).isFalse();
    assertThat(ids(listing.visible())).containsExactly(3L, 1L);
    // The listing holds no version for 2 any more, so an update is taken as given.
    assertThat(listing.upsert(2, 0, 2.0)).isTrue();
  }

  @Test
  void visibleShowsOnlyTheFirstCapacityEntriesWhileSlackHoldsTheRest() {
    Listing listing = completeListing(3, descending(8).toArray(Entry[]::new));

    assertThat(ids(listing.visible())).containsExactly(8L, 7L, 6L);
    assertThat(listing.entries()).hasSize(8);
    assertThat(listing.entry(1)).contains(new Entry(1, 1, 1));
    listing.remove(7);
    assertThat(ids(listing.visible())).containsExactly(8L, 6L, 5L);
  }

  @Test
  void insertBeyondMaxSizeDropsTheLastEntryAndTruncates() {
    Listing listing = completeListing(3, descending(13).toArray(Entry[]::new));
    assertThat(listing.isComplete()).isTrue();

    assertThat(listing.upsert(100, 1, 5.5)).isTrue();

    assertThat(listing.size()).isEqualTo(13);
    assertThat(listing.entry(1)).isEmpty();
    assertThat(listing.isComplete()).isFalse();
    assertThat(listing.toString())
        .isEqualTo("Listing(capacity=3, size=13, truncated after Cursor[value=2.0, id=2])");
  }

  @Test
  void upsertAfterTheBoundaryOfATruncatedListingIsDropped() {
    Listing listing = Listing.create(3);
    listing.replaceAll(descending(13).subList(0, 10), false); // ids 13..4, boundary at (4.0, 4)

    assertThat(listing.upsert(100, 1, 3.0)).isFalse();
    assertThat(listing.upsert(3, 1, 4.0))
        .as("same value, smaller id: after the boundary")
        .isFalse();
    assertThat(listing.entry(100)).isEmpty();
    assertThat(listing.size()).isEqualTo(10);
  }

  @Test
  void upsertAtOrBeforeTheBoundaryOfATruncatedListingIsInserted() {
    Listing listing = Listing.create(3);
    listing.replaceAll(descending(13).subList(0, 10), false);
    listing.remove(4);

    // The boundary stays at (4.0, 4) after 4 is deleted: everything before it is still known.
    assertThat(listing.upsert(5, 2, 4.0)).isTrue();
    assertThat(listing.upsert(100, 1, 4.5)).isTrue();
    assertThat(ids(listing.entries()))
        .containsExactly(13L, 12L, 11L, 10L, 9L, 8L, 7L, 6L, 100L, 5L);
  }

  @Test
  void heldEntryThatMovesAfterTheBoundaryLeavesTheListing() {
    Listing listing = Listing.create(3);
    listing.replaceAll(descending(13).subList(0, 10), false);

    assertThat(listing.upsert(12, 2, 1.0)).isTrue();

    assertThat(listing.entry(12)).isEmpty();
    assertThat(listing.size()).isEqualTo(9);
  }

  @Test
  void truncatedListingBelowTheLowWaterMarkNeedsRefill() {
    Listing listing = Listing.create(3);
    listing.replaceAll(descending(13).subList(0, 4), false);
    assertThat(listing.needsRefill()).isFalse();

    listing.remove(12);
    assertThat(listing.needsRefill()).as("3 entries, capacity 3").isFalse();
    listing.remove(11);

    assertThat(listing.needsRefill()).isTrue();
  }

  @Test
  void completeListingNeverNeedsRefillAfterRemoves() {
    Listing listing = completeListing(3, descending(5).toArray(Entry[]::new));

    for (long id = 1; id <= 5; id++) {
      listing.remove(id);
      assertThat(listing.needsRefill()).isFalse();
    }
  }

  @Test
  void replaceAllWithMoreThanMaxSizeKeepsTheFirstAndTruncates() {
    Listing listing = Listing.create(3);

    listing.replaceAll(descending(20), true);

    assertThat(listing.isComplete()).isFalse();
    assertThat(ids(listing.entries()))
        .containsExactly(20L, 19L, 18L, 17L, 16L, 15L, 14L, 13L, 12L, 11L, 10L, 9L, 8L);
    assertThat(listing.upsert(100, 1, 7.5)).as("after the boundary (8.0, 8)").isFalse();
  }

  @Test
  void replaceAllWithIncompleteResultTruncatesAfterItsLastEntry() {
    Listing listing = Listing.create(3);

    listing.replaceAll(descending(5), false);

    assertThat(listing.isComplete()).isFalse();
    assertThat(listing.upsert(100, 1, 0.5)).isFalse();
    assertThat(listing.upsert(100, 1, 1.5)).isTrue();
  }

  @Test
  void replaceAllOfNothingIncompleteKnowsNothing() {
    Listing listing = completeListing(3, descending(5).toArray(Entry[]::new));

    listing.replaceAll(List.of(), false);

    assertThat(listing.needsRefill()).isTrue();
    assertThat(listing.upsert(100, 1, 1e9)).isFalse();
  }

  @Test
  void returnedListsAreSnapshots() {
    Listing listing = completeListing(3, descending(3).toArray(Entry[]::new));
    List<Entry> visible = listing.visible();

    listing.remove(3);

    assertThat(ids(visible)).containsExactly(3L, 2L, 1L);
    assertThatThrownBy(() -> visible.add(new Entry(9, 1, 9)))
        .isInstanceOf(UnsupportedOperationException.class);
  }

  // ---- bad input ----

  @Test
  void capacityBelowOneIsRejected() {
    assertThatThrownBy(() -> Listing.create(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing capacity must be between 1 and 1000000 (capacity=0)");
    assertThatThrownBy(() -> Listing.create(-5))
        .hasMessage("listing capacity must be between 1 and 1000000 (capacity=-5)");
  }

  @Test
  void capacityAboveMaximumIsRejected() {
    assertThatThrownBy(() -> Listing.create(1_000_001))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing capacity must be between 1 and 1000000 (capacity=1000001)");
  }

  @Test
  void pageLimitOutOfRangeIsRejected() {
    Listing listing = completeListing(3);

    assertThatThrownBy(() -> listing.page(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing page limit must be between 1 and 100 (limit=0)");
    assertThatThrownBy(() -> listing.page(new Cursor(1, 1), 101))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing page limit must be between 1 and 100 (limit=101)");
  }

  @Test
  void nanSortValueIsRejectedAndChangesNothing() {
    Listing listing = completeListing(3, new Entry(1, 1, 1.0));

    assertThatThrownBy(() -> listing.upsert(1, 2, Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listing sort value must not be NaN (id=1, version=2)");
    assertThat(listing.entries()).containsExactly(new Entry(1, 1, 1.0));
    assertThatThrownBy(() -> new Entry(4, 5, Double.NaN))
        .hasMessage("listing sort value must not be NaN (id=4, version=5)");
    assertThatThrownBy(() -> new Cursor(Double.NaN, 4))
        .hasMessage("listing cursor sort value must not be NaN (id=4)");
  }

  @Test
  void replaceAllWithUnsortedEntriesIsRejectedAndChangesNothing() {
    Listing listing = completeListing(3, new Entry(1, 1, 1.0));
    List<Entry> unsorted = List.of(new Entry(2, 1, 5.0), new Entry(3, 1, 6.0));

    assertThatThrownBy(() -> listing.replaceAll(unsorted, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "replaceAll needs entries sorted by value descending, then id descending, without "
                + "repeats: entry 1 Entry[id=3, version=1, value=6.0] does not sort after entry 0 "
                + "Entry[id=2, version=1, value=5.0]");
    assertThat(listing.entries()).containsExactly(new Entry(1, 1, 1.0));
    assertThat(listing.isComplete()).isTrue();
  }

  @Test
  void replaceAllWithRepeatedIdIsRejectedAndChangesNothing() {
    Listing listing = completeListing(3, new Entry(1, 1, 1.0));
    List<Entry> repeated = List.of(new Entry(2, 1, 5.0), new Entry(2, 2, 4.0));

    assertThatThrownBy(() -> listing.replaceAll(repeated, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "replaceAll needs distinct ids: entry 1 Entry[id=2, version=2, value=4.0] repeats id 2");
    assertThat(listing.entries()).containsExactly(new Entry(1, 1, 1.0));
  }

  @Test
  void replaceAllWithNullEntryIsRejected() {
    Listing listing = completeListing(3);

    assertThatThrownBy(() -> listing.replaceAll(Arrays.asList(new Entry(2, 1, 5.0), null), true))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("replaceAll entries contain null at index 1");
    assertThatThrownBy(() -> listing.replaceAll(null, true)).hasMessage("entries");
  }
}

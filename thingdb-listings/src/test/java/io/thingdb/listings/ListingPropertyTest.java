package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.listings.Listing.Cursor;
import io.thingdb.listings.Listing.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Listing operations as properties: after any sequence of inserts, updates (newer, older and
 * repeated versions) and deletes, with refills whenever the listing asks for one, the listing
 * equals "sort all live items, take capacity". Fixed seeds, so a failure reproduces; the message
 * names the step and the operation.
 */
class ListingPropertyTest {

  private static final long SEED = 0x7468_696e_6764_62L;

  private static final int OPERATIONS = 12_000;

  @ParameterizedTest(name = "capacity {0}")
  @ValueSource(ints = {1, 7, 50})
  void visibleEntriesEqualSortedLiveItemsAfterEveryOperation(int capacity) {
    Run run = new Run(capacity, new SplittableRandom(SEED + capacity), 6 * capacity + 20);
    run.execute(OPERATIONS);

    // The run must have gone through every regime, or it proves little.
    System.out.println("capacity " + capacity + ": " + run);
    assertThat(run.refills).as("refills").isGreaterThan(20);
    assertThat(run.overflows).as("inserts that overflowed a complete listing").isPositive();
    assertThat(run.droppedAfterBoundary).as("upserts dropped after the boundary").isGreaterThan(50);
    assertThat(run.movedPastBoundary)
        .as("held entries that moved past the boundary")
        .isGreaterThan(20);
    assertThat(run.staleIgnored).as("older or repeated versions ignored").isGreaterThan(500);
    assertThat(run.stepsComplete).as("steps with a complete listing").isPositive();
    assertThat(run.stepsTruncated)
        .as("steps with a truncated listing")
        .isGreaterThan(OPERATIONS / 4);
  }

  @Test
  void listingThatHoldsEveryItemIsCompleteAndNeverNeedsRefill() {
    int capacity = 50;
    // At most 40 items ever live: the first (empty, complete) fill is the only one.
    Run run = new Run(capacity, new SplittableRandom(SEED), 40);
    run.execute(OPERATIONS);

    assertThat(run.refills).as("refills after the first fill").isZero();
    assertThat(run.stepsTruncated).isZero();
  }

  @Test
  void listingFedOnlyByInsertsStaysExactWithoutRefills() {
    // Scores only rise and nothing is deleted, so the held window never shrinks below capacity.
    int capacity = 50;
    SplittableRandom random = new SplittableRandom(SEED);
    ListingModel model = new ListingModel();
    Listing listing = Listing.create(capacity);
    model.refill(listing);
    for (int step = 0; step < OPERATIONS; step++) {
      long id = 1 + random.nextInt(1_000);
      Entry current = model.get(id);
      double value = (current == null ? 0 : current.value()) + random.nextInt(1, 5);
      long version = model.nextVersion(id);
      model.upsert(id, version, value);
      listing.upsert(id, version, value);
      assertThat(listing.needsRefill()).as("step %d", step).isFalse();
      assertThat(listing.visible()).as("step %d", step).isEqualTo(model.top(capacity));
    }
    assertThat(listing.isComplete()).isFalse();
  }

  /** One randomized run against the model, with counters that show which paths it took. */
  private static final class Run {
    private final int capacity;
    private final SplittableRandom random;
    private final int universe;
    private final ListingModel model = new ListingModel();
    private Listing listing;
    private final List<Cursor> pastCursors = new ArrayList<>();

    int refills;
    int overflows;
    int droppedAfterBoundary;
    int movedPastBoundary;
    int staleIgnored;
    int stepsComplete;
    int stepsTruncated;

    @Override
    public String toString() {
      return "refills="
          + refills
          + ", overflows="
          + overflows
          + ", droppedAfterBoundary="
          + droppedAfterBoundary
          + ", movedPastBoundary="
          + movedPastBoundary
          + ", staleIgnored="
          + staleIgnored
          + ", stepsComplete="
          + stepsComplete
          + ", stepsTruncated="
          + stepsTruncated
          + ", live="
          + model.size();
    }

    Run(int capacity, SplittableRandom random, int universe) {
      this.capacity = capacity;
      this.random = random;
      this.universe = universe;
      this.listing = Listing.create(capacity);
    }

    void execute(int operations) {
      assertThat(listing.needsRefill()).as("a new listing needs its first fill").isTrue();
      for (long id = 1; id <= universe / 2; id++) {
        model.upsert(id, model.nextVersion(id), randomValue());
      }
      model.refill(listing);
      for (int step = 0; step < operations; step++) {
        // For 60 of every 400 steps most operations delete or bury items: the held window
        // shrinks, so the listing must ask for refills.
        boolean shrinking = step % 400 >= 340;
        String operation = applyRandomOperation(shrinking);
        String where = "step " + step + " (" + operation + "), " + listing;
        if (listing.needsRefill()) {
          model.refill(listing);
          refills++;
        }
        check(where);
        if (listing.isComplete()) {
          stepsComplete++;
        } else {
          stepsTruncated++;
        }
        if (step % 101 == 0) {
          // Continue from the decoded copy, so the boundary must survive the encoding.
          Listing decoded = Listing.decode(listing.encode());
          assertThat(decoded.entries()).as(where).isEqualTo(listing.entries());
          assertThat(decoded.toString()).as(where).isEqualTo(listing.toString());
          listing = decoded;
        }
        if (step % 37 == 0) {
          checkPages(where);
        }
      }
    }

    private String applyRandomOperation(boolean shrinking) {
      int dice = random.nextInt(100);
      List<Long> liveIds = model.liveIds();
      if (shrinking && dice < 60 && !liveIds.isEmpty()) {
        long id = liveIds.get(random.nextInt(liveIds.size()));
        if (dice < 40) {
          model.remove(id);
          listing.remove(id);
          return "remove " + id;
        }
        return fresh("drop", id, -30 + random.nextInt(10));
      }
      if (dice < 30 && !liveIds.isEmpty()) {
        // A vote: the score moves a little, the entry moves a few places.
        long id = liveIds.get(random.nextInt(liveIds.size()));
        return fresh("vote", id, model.get(id).value() + (random.nextBoolean() ? 1 : -1));
      }
      if (dice < 50) {
        // A new item, or an existing one whose score jumps anywhere.
        return fresh("insert", 1 + random.nextInt(universe), randomValue());
      }
      if (dice < 60 && !liveIds.isEmpty()) {
        long id = liveIds.get(random.nextInt(liveIds.size()));
        return fresh("drop", id, -30 + random.nextInt(10));
      }
      if (dice < 65 && !liveIds.isEmpty()) {
        long id = liveIds.get(random.nextInt(liveIds.size()));
        return fresh("raise", id, 80 + random.nextInt(10));
      }
      if (dice < 73) {
        // Mostly live items, sometimes one that is not there.
        long id =
            random.nextInt(5) == 0 || liveIds.isEmpty()
                ? 1 + random.nextInt(universe)
                : liveIds.get(random.nextInt(liveIds.size()));
        model.remove(id);
        listing.remove(id);
        return "remove " + id;
      }
      if (dice < 88) {
        return stale();
      }
      if (!liveIds.isEmpty()) {
        // At-least-once delivery: the current state applied again changes nothing.
        Entry current = model.get(liveIds.get(random.nextInt(liveIds.size())));
        boolean changed = listing.upsert(current.id(), current.version(), current.value());
        assertThat(changed).as("replay of %s", current).isFalse();
        return "replay " + current;
      }
      return "nothing";
    }

    /** A current update, as the store reads it from the database. */
    private String fresh(String kind, long id, double value) {
      long version = model.nextVersion(id);
      boolean wasComplete = listing.isComplete();
      boolean held = listing.entry(id).isPresent();
      model.upsert(id, version, value);
      boolean changed = listing.upsert(id, version, value);
      if (wasComplete && !listing.isComplete()) {
        overflows++;
      }
      if (!changed) {
        droppedAfterBoundary++;
      } else if (held && listing.entry(id).isEmpty()) {
        movedPastBoundary++;
      }
      return kind + " " + id + " v" + version + " = " + value;
    }

    /**
     * An older or repeated version of an entry the listing holds, which it must ignore. Only held
     * entries: the listing guards versions of what it holds and takes the rest as given (see
     * Listing's class Javadoc), which is the contract the store relies on.
     */
    private String stale() {
      List<Entry> held = listing.entries();
      if (held.isEmpty()) {
        return "nothing";
      }
      Entry entry = held.get(random.nextInt(held.size()));
      long version = entry.version() - random.nextInt(3);
      double value = randomValue();
      assertThat(model.upsert(entry.id(), version, value)).isFalse();
      boolean changed = listing.upsert(entry.id(), version, value);
      assertThat(changed).as("stale update v%d of %s", version, entry).isFalse();
      staleIgnored++;
      return "stale " + entry.id() + " v" + version + " = " + value;
    }

    /** Small integers, so that ties (broken by id) are common; now and then -0.0. */
    private double randomValue() {
      int dice = random.nextInt(20);
      if (dice == 0) {
        return -0.0;
      }
      return -20 + random.nextInt(80) + (dice == 1 ? 0.5 : 0);
    }

    private void check(String where) {
      List<Entry> sorted = model.sorted();
      List<Entry> held = listing.entries();
      assertThat(listing.needsRefill()).as(where).isFalse();
      assertThat(listing.visible())
          .as(where)
          .isEqualTo(sorted.subList(0, Math.min(capacity, sorted.size())));
      // Stronger: everything held, slack included, is an exact prefix of the truth.
      assertThat(held).as(where).isEqualTo(sorted.subList(0, held.size()));
      assertThat(held.size()).as(where).isLessThanOrEqualTo(listing.maxSize());
      if (listing.isComplete()) {
        assertThat(held).as(where).hasSameSizeAs(sorted);
      }
    }

    /**
     * Walks the visible entries page by page, and checks that cursors taken earlier (their entries
     * since moved or deleted) continue from their position.
     */
    private void checkPages(String where) {
      List<Entry> visible = listing.visible();
      List<Entry> walked = new ArrayList<>();
      List<Entry> page = listing.page(1 + random.nextInt(Listing.MAX_PAGE_LIMIT));
      while (!page.isEmpty()) {
        walked.addAll(page);
        pastCursors.add(page.get(page.size() - 1).cursor());
        page =
            listing.page(
                page.get(page.size() - 1).cursor(), 1 + random.nextInt(Listing.MAX_PAGE_LIMIT));
      }
      assertThat(walked).as(where).isEqualTo(visible);

      for (int i = 0; i < 5 && !pastCursors.isEmpty(); i++) {
        Cursor cursor = pastCursors.get(random.nextInt(pastCursors.size()));
        int limit = 1 + random.nextInt(Listing.MAX_PAGE_LIMIT);
        List<Entry> expected =
            visible.stream()
                .filter(e -> Sorts.compare(e.value(), e.id(), cursor.value(), cursor.id()) > 0)
                .limit(limit)
                .toList();
        assertThat(listing.page(cursor, limit))
            .as("%s, page after %s", where, cursor)
            .isEqualTo(expected);
      }
      if (pastCursors.size() > 200) {
        pastCursors.subList(0, 100).clear();
      }
    }
  }
}

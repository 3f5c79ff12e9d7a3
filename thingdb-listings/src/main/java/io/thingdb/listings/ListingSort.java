package io.thingdb.listings;

import io.thingdb.core.Sort;
import io.thingdb.core.Thing;
import java.time.Instant;

/**
 * The sort of a stored listing: the Java sort value of a thing (from {@link Sorts}) and the core
 * {@link Sort} whose SQL ordering refills the listing from the database. Immutable and thread-safe.
 */
public enum ListingSort {
  /** {@link Sorts#hot}; refilled with {@link Sort#HOT}. */
  HOT(Sort.HOT),
  /** {@link Sorts#score} ({@code ups - downs}); refilled with {@link Sort#SCORE}. */
  TOP(Sort.SCORE),
  /** {@link Sorts#newSort} (the date); refilled with {@link Sort#DATE}. */
  NEW(Sort.DATE),
  /** {@link Sorts#controversy}; refilled with {@link Sort#CONTROVERSY}. */
  CONTROVERSIAL(Sort.CONTROVERSY);

  private final Sort coreSort;

  ListingSort(Sort coreSort) {
    this.coreSort = coreSort;
  }

  /** The core query sort that orders the same way as {@link #value}. */
  public Sort coreSort() {
    return coreSort;
  }

  /**
   * The sort value of a thing, normalised ({@code -0.0} becomes {@code 0.0}).
   *
   * @throws NullPointerException if {@code thing} is null
   */
  public double value(Thing thing) {
    return value(thing.ups(), thing.downs(), thing.date());
  }

  /** The sort value of a thing with these counts and date (a vote's new counts). */
  double value(long ups, long downs, Instant date) {
    double v =
        switch (this) {
          case HOT -> Sorts.hot(ups, downs, micros(date));
          case TOP -> Sorts.score(ups, downs);
          case NEW -> Sorts.newSort(micros(date));
          case CONTROVERSIAL -> Sorts.controversy(ups, downs);
        };
    return Sorts.normalize(v);
  }

  /** Whether a vote (new ups and downs) can change a thing's value in this sort. */
  boolean movesWithVotes() {
    return this != NEW;
  }

  static long micros(Instant instant) {
    return Math.addExact(
        Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1000);
  }
}

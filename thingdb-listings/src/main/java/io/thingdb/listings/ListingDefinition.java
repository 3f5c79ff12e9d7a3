package io.thingdb.listings;

import io.thingdb.core.Filter;
import io.thingdb.core.ThingQuery;
import io.thingdb.core.ThingType;
import java.util.Objects;

/**
 * What a listing key stands for: the things of one type matching a filter, ordered by a sort, the
 * first {@code capacity} of them. The queue processors refill a listing from the database with
 * {@link #query()}. Immutable and thread-safe.
 *
 * @param type the listed things' type
 * @param filter the filter of the query, or null for every live thing of the type
 * @param sort the sort
 * @param capacity the number of entries readers see, 1 to {@link Listing#MAX_CAPACITY}
 */
public record ListingDefinition(ThingType type, Filter filter, ListingSort sort, int capacity) {

  /**
   * Checks the parts.
   *
   * @throws NullPointerException if {@code type} or {@code sort} is null
   * @throws IllegalArgumentException if {@code capacity} is out of range
   */
  public ListingDefinition {
    Objects.requireNonNull(type, "listing definition: type must not be null");
    Objects.requireNonNull(sort, "listing definition: sort must not be null");
    Listing.checkCapacity(capacity);
  }

  /**
   * Whether a vote can change this listing: its sort depends on ups and downs ({@code hot}, {@code
   * top}, {@code controversial}), or its filter compares them. A vote changes nothing else of a
   * thing, so {@link Votes#cast} updates only these listings; the others ({@code new} without a
   * count filter) keep the entry they have, whose sort value the vote did not change.
   */
  public boolean movesWithVotes() {
    return sort.movesWithVotes()
        || (filter != null
            && (filter.mentions(Filter.Column.UPS)
                || filter.mentions(Filter.Column.DOWNS)
                || filter.mentions(Filter.Column.SCORE)));
  }

  /** The query of the listing, without limit or cursor; deleted and spam things excluded. */
  public ThingQuery query() {
    ThingQuery q = ThingQuery.of(type).sort(sort.coreSort());
    return filter == null ? q : q.where(filter);
  }
}

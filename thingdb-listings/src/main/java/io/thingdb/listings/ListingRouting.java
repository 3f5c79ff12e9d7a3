package io.thingdb.listings;

import io.thingdb.core.Thing;
import java.util.Collection;

/**
 * The application's map from things to listings: which listing keys a thing belongs to (a link to
 * {@code sr:5:hot}, {@code sr:5:new}, {@code user:7:submitted:new}, ...) and what query each key
 * stands for. Implementations must be thread-safe and deterministic: the listings of a thing may
 * depend only on its props and type, not on its votes, and {@link #definition} must return the same
 * definition for a key every time.
 */
public interface ListingRouting {

  /**
   * The keys of the listings {@code thing} belongs to while it is live (not deleted, not spam).
   *
   * @param thing a thing of a voted or listed type
   * @return the keys; never null
   */
  Collection<String> listingsOf(Thing thing);

  /**
   * The definition behind a key returned by {@link #listingsOf}.
   *
   * @param key a listing key
   * @return the definition; never null
   * @throws IllegalArgumentException if the key is not one this routing produces
   */
  ListingDefinition definition(String key);
}

/**
 * ThingDB listings, for applications: precomputed sorted listings (hot, new, top, controversial) of
 * things, kept current by a durable queue instead of recomputed per request.
 *
 * <p>Entry points: {@link io.thingdb.listings.Votes} casts votes and submits, deletes and updates
 * things, enqueueing listing updates in the same transaction as each write; {@link
 * io.thingdb.listings.ListingProcessors} drain that queue one listing at a time; {@link
 * io.thingdb.listings.ListingRecompute} rebuilds the time-window listings from a replica on a
 * schedule; {@link io.thingdb.listings.ListingReader} serves pages of things in listing order, read
 * from the {@link io.thingdb.listings.ListingStore} (PostgreSQL, fronted by the cache). An
 * application says which listings a thing belongs to with a {@link
 * io.thingdb.listings.ListingRouting} of {@link io.thingdb.listings.ListingDefinition}s; {@link
 * io.thingdb.listings.Sorts} holds the sort formulas and {@link io.thingdb.listings.Listing} the
 * bounded sorted list itself.
 *
 * <p>Listings uses only thingdb-core's public API. Everything public here is API; the queue, the
 * codecs and the key checks are package-private, and what must be public only for another package
 * of this module goes in {@code io.thingdb.listings.internal}.
 */
package io.thingdb.listings;

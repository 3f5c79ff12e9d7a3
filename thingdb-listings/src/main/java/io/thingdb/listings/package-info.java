/**
 * ThingDB listings: precomputed sorted listings ({@link io.thingdb.listings.Listing}, {@link
 * io.thingdb.listings.Sorts}), stored in PostgreSQL and fronted by the cache ({@link
 * io.thingdb.listings.ListingStore}), kept current by a durable queue that {@link
 * io.thingdb.listings.Votes} fills in the same transaction as each vote and {@link
 * io.thingdb.listings.ListingProcessors} drain, one listing at a time.
 */
package io.thingdb.listings;

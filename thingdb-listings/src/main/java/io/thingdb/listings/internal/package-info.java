/**
 * Implementation details of thingdb-listings. Not API.
 *
 * <p>Jdbi's rule: a class here is public only because another package of thingdb-listings uses it,
 * and members nothing outside this package needs are package-private. No other module imports this
 * package (the examples and the benchmarks included): what they need is public API in {@code
 * io.thingdb.listings}. Anything here may change in any release.
 */
package io.thingdb.listings.internal;

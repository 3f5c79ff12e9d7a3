/**
 * Implementation details of thingdb-core. Not API.
 *
 * <p>Jdbi's rule: a class here is public only because another package of thingdb-core uses it, and
 * members nothing outside this package needs are package-private. No other module imports this
 * package (thingdb-listings, the examples and the benchmarks included): what they need from core is
 * public API in {@code io.thingdb.core}. Anything here may change in any release.
 */
package io.thingdb.core.internal;

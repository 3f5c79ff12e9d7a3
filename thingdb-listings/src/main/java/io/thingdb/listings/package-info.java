/**
 * ThingDB listings (work in progress: see the project's open issues).
 */
package io.thingdb.listings;

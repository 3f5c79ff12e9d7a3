/**
 * Implementation details of ThingDB's cache: the ketama ring, key and value encodings, and the
 * per-server state of the memcached client. Not API: anything here may change in any release.
 */
package io.thingdb.cache.internal;

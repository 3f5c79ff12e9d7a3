/**
 * ThingDB's cache: a consistent-hash memcached client ({@code MemcachedCache}) and an in-process
 * backend behind one {@link io.thingdb.cache.Cache} interface, with versioned write-through,
 * stampede-protected loading and locks.
 */
package io.thingdb.cache;

package io.thingdb.core;

/**
 * A thing's vote counters right after an increment committed.
 *
 * @param id the thing id
 * @param ups up votes
 * @param downs down votes
 * @param version the thing's version after the increment
 */
public record Counts(long id, int ups, int downs, long version) {}

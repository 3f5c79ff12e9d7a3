/**
 * Fixtures for tests against real services, for ThingDB's own modules and for applications that
 * embed ThingDB; add this module in test scope.
 *
 * <ul>
 *   <li>{@link io.thingdb.testing.MemcachedCluster} starts real {@code memcached} processes on
 *       loopback ports and injects faults (stop, kill, hang with SIGSTOP, resume, restart on the
 *       same port); {@link io.thingdb.testing.MemcachedExtension} gives a test class one cluster,
 *       reset before each test.
 *   <li>{@link io.thingdb.testing.PostgresFixture} starts an embedded PostgreSQL 15 (zonky), fast
 *       or durable (fsync and synchronous_commit on), that can be crashed and restarted; {@link
 *       io.thingdb.testing.PostgresExtension} gives a test class one server. {@link
 *       io.thingdb.testing.ReplicatedPostgres} is a primary with a streaming hot standby whose
 *       replay can lag, pause and stop.
 *   <li>{@link io.thingdb.testing.MutableClock} is a clock a test moves by hand; {@link
 *       io.thingdb.testing.ThreadLeakExtension} fails a test class that leaves ThingDB threads
 *       running.
 * </ul>
 *
 * <p>Depends on no other ThingDB module. {@code memcached} must be installed (the fixture fails
 * with an install hint when it is not); PostgreSQL comes from Maven.
 */
package io.thingdb.testing;

/** JMH benchmarks of ThingDB against raw baselines measured in the same run. */
package io.thingdb.benchmarks;

package io.thingdb.listings;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters for the listing queue and its processors: the queue's depth (jobs), the
 * listings with jobs, the age of the oldest job (how far behind the stored listings are), and the
 * processors' counters: batches, jobs applied, listing writes, version conflicts, failed batches,
 * refills, publishes the cache could not confirm and listings republished by the replay.
 *
 * <p>Meter names: {@code thingdb.listings.queue.depth}, {@code thingdb.listings.queue.listings},
 * {@code thingdb.listings.queue.oldest} (seconds; 0 when empty) — each one query on the queue's
 * database when the registry asks, NaN if it does not answer — and {@code thingdb.listings.job.age}
 * (a timer: jobs applied, and their total time from enqueue to the batch that applied them), {@code
 * thingdb.listings.batches}, {@code thingdb.listings.jobs}, {@code thingdb.listings.writes}, {@code
 * thingdb.listings.conflicts}, {@code thingdb.listings.failures}, {@code thingdb.listings.refills},
 * {@code thingdb.listings.publishes.unconfirmed}, {@code thingdb.listings.republished}, counted by
 * these processors (in this process).
 *
 * <p>micrometer-core is an optional dependency of this module: add it to use this class. Immutable
 * and thread-safe.
 */
public final class ListingMetrics implements MeterBinder {
  private final ListingProcessors processors;
  private final Tags tags;

  private ListingMetrics(ListingProcessors processors, Iterable<Tag> tags) {
    this.processors = processors;
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags must not be null"));
  }

  /**
   * The meters of {@code processors} and of the queue they consume.
   *
   * @param tags added to every meter
   */
  public static ListingMetrics of(ListingProcessors processors, Iterable<Tag> tags) {
    return new ListingMetrics(
        Objects.requireNonNull(processors, "processors must not be null"), tags);
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry must not be null");
    gauge(registry, "thingdb.listings.queue.depth", "queued listing jobs", p -> p.queueDepth());
    gauge(
        registry,
        "thingdb.listings.queue.listings",
        "listings with queued jobs",
        p -> p.pendingListings());
    Gauge.builder(
            "thingdb.listings.queue.oldest",
            processors,
            p -> safely(p, q -> q.oldestJobAge().map(Duration::toMillis).orElse(0L) / 1000.0))
        .description("age of the oldest queued job")
        .baseUnit("seconds")
        .tags(tags)
        .register(registry);
    FunctionTimer.builder(
            "thingdb.listings.job.age",
            processors,
            ListingProcessors::jobsApplied,
            p -> p.totalJobAge().toNanos(),
            TimeUnit.NANOSECONDS)
        .description("time from a job's enqueue to the batch that applied it")
        .tags(tags)
        .register(registry);
    counter(registry, "thingdb.listings.batches", "batches committed", ListingProcessors::batches);
    counter(
        registry,
        "thingdb.listings.jobs",
        "jobs applied in committed batches",
        ListingProcessors::jobsApplied);
    counter(registry, "thingdb.listings.writes", "listing rows written", p -> p.listingWrites());
    counter(
        registry,
        "thingdb.listings.conflicts",
        "batches abandoned because the listing row's version had moved",
        ListingProcessors::versionConflicts);
    counter(
        registry,
        "thingdb.listings.failures",
        "batches that failed and were rolled back",
        ListingProcessors::failures);
    counter(registry, "thingdb.listings.refills", "refills from the database", p -> p.refills());
    counter(
        registry,
        "thingdb.listings.publishes.unconfirmed",
        "publishes after COMMIT the cache could not confirm",
        ListingProcessors::unconfirmedPublishes);
    counter(
        registry,
        "thingdb.listings.republished",
        "listings the replay republished",
        ListingProcessors::republished);
  }

  private void gauge(
      MeterRegistry registry,
      String name,
      String description,
      ToDoubleFunction<ListingProcessors> read) {
    Gauge.builder(name, processors, p -> safely(p, read))
        .description(description)
        .tags(tags)
        .register(registry);
  }

  /** A gauge read from the database: NaN, not an exception, when the database does not answer. */
  private static double safely(ListingProcessors p, ToDoubleFunction<ListingProcessors> read) {
    try {
      return read.applyAsDouble(p);
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }

  private void counter(
      MeterRegistry registry,
      String name,
      String description,
      java.util.function.ToLongFunction<ListingProcessors> read) {
    FunctionCounter.builder(name, processors, p -> read.applyAsLong(p))
        .description(description)
        .tags(tags)
        .register(registry);
  }
}

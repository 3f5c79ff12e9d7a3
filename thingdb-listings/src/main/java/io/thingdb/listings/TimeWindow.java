package io.thingdb.listings;

import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * The time window of a {@code top} or {@code controversial} listing: only things whose date is
 * within the window before now belong to it. {@link #ALL} has no limit. A month is 30 days and a
 * year 365 days. Immutable and thread-safe.
 */
public enum TimeWindow {
  /** The last hour. */
  HOUR(Duration.ofHours(1)),
  /** The last 24 hours. */
  DAY(Duration.ofDays(1)),
  /** The last 7 days. */
  WEEK(Duration.ofDays(7)),
  /** The last 30 days. */
  MONTH(Duration.ofDays(30)),
  /** The last 365 days. */
  YEAR(Duration.ofDays(365)),
  /** No time limit. */
  ALL(null);

  private final Duration duration;

  TimeWindow(Duration duration) {
    this.duration = duration;
  }

  /**
   * The length of the window.
   *
   * @return the duration, or empty for {@link #ALL}
   */
  public Optional<Duration> duration() {
    return Optional.ofNullable(duration);
  }

  /**
   * The name used in listing keys: {@code hour}, {@code day}, {@code week}, {@code month}, {@code
   * year} or {@code all}.
   *
   * @return the lower-case name
   */
  public String key() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The oldest date inside the window at {@code now}.
   *
   * @param now the current time
   * @return {@code now} minus the duration, or empty for {@link #ALL}
   * @throws NullPointerException if {@code now} is null
   */
  public Optional<Instant> cutoff(Instant now) {
    Objects.requireNonNull(now, "now must not be null");
    return duration == null ? Optional.empty() : Optional.of(now.minus(duration));
  }

  /**
   * Whether a thing dated {@code date} is inside the window at {@code now} (a date exactly at the
   * cutoff is inside).
   *
   * @param date the thing's date
   * @param now the current time
   * @return whether {@code date} is at or after {@code now} minus the duration (always for {@link
   *     #ALL})
   * @throws NullPointerException if an argument is null
   */
  public boolean contains(Instant date, Instant now) {
    Objects.requireNonNull(date, "date must not be null");
    Objects.requireNonNull(now, "now must not be null");
    return duration == null || !date.isBefore(now.minus(duration));
  }

  /**
   * Reads a window from its {@link #key()} (case-insensitive).
   *
   * @param text {@code hour}, {@code day}, {@code week}, {@code month}, {@code year} or {@code all}
   * @return the window
   * @throws NullPointerException if {@code text} is null
   * @throws IllegalArgumentException if {@code text} names no window; the message quotes it
   */
  public static TimeWindow parse(String text) {
    Objects.requireNonNull(text, "time window must not be null");
    for (TimeWindow w : values()) {
      if (w.key().equalsIgnoreCase(text)) {
        return w;
      }
    }
    throw new IllegalArgumentException(
        "unknown time window '" + text + "' (expected one of hour, day, week, month, year, all)");
  }
}

package io.thingdb.testing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

/** A clock that tests move by hand. Thread-safe. */
public final class MutableClock extends Clock {
  private final AtomicLong millis;

  /** A clock at the current wall time. */
  public MutableClock() {
    this(System.currentTimeMillis());
  }

  /** A clock at {@code epochMillis}. */
  public MutableClock(long epochMillis) {
    this.millis = new AtomicLong(epochMillis);
  }

  /** Moves the clock forward. */
  public void advance(Duration d) {
    millis.addAndGet(d.toMillis());
  }

  @Override
  public long millis() {
    return millis.get();
  }

  @Override
  public Instant instant() {
    return Instant.ofEpochMilli(millis.get());
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    throw new UnsupportedOperationException("MutableClock is UTC only");
  }
}

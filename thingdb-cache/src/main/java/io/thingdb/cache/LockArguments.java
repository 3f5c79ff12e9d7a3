package io.thingdb.cache;

import java.time.Duration;
import java.util.Objects;

/** Argument checks shared by the {@link Locks} implementations. Stateless. */
final class LockArguments {
  private LockArguments() {}

  static String checkName(String name) {
    Objects.requireNonNull(name, "lock name must not be null");
    if (name.isBlank()) {
      throw new IllegalArgumentException("lock name must not be blank: '" + name + "'");
    }
    return name;
  }

  static Duration checkWait(Duration waitTimeout, String name) {
    Objects.requireNonNull(waitTimeout, () -> "waitTimeout must not be null (lock '" + name + "')");
    if (waitTimeout.isNegative()) {
      throw new IllegalArgumentException(
          "waitTimeout must not be negative: " + waitTimeout + " (lock '" + name + "')");
    }
    return waitTimeout;
  }

  /** A deadline on the {@link System#nanoTime()} scale; saturates for very long waits. */
  static long deadline(long startNanos, Duration waitTimeout) {
    long nanos;
    try {
      nanos = waitTimeout.toNanos();
    } catch (ArithmeticException e) {
      nanos = Long.MAX_VALUE / 2;
    }
    return startNanos + Math.min(nanos, Long.MAX_VALUE / 2);
  }

  static long millisSince(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}

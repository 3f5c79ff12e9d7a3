package io.thingdb.testing;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class that leaves client threads running: ThingDB's own threads ({@code thingdb-*})
 * and xmemcached's reactors belong to a cache, ThingDb or lock object the test forgot to close.
 * Threads get a few seconds to stop, since close() of an executor does not wait for its threads to
 * exit. {@code @Nested} classes are checked with their enclosing class.
 *
 * <p>This jar registers it in {@code META-INF/services/org.junit.jupiter.api.extension.Extension},
 * so it checks every test class once JUnit's extension auto-detection is on: put {@code
 * junit.jupiter.extensions.autodetection.enabled=true} in {@code
 * src/test/resources/junit-platform.properties} (as every ThingDB module does), or register it on
 * one class with {@code @ExtendWith(ThreadLeakExtension.class)}.
 *
 * <p>Stateless and thread-safe.
 */
public final class ThreadLeakExtension implements AfterAllCallback {
  private static final long GRACE_MILLIS = 5_000;

  @Override
  public void afterAll(ExtensionContext context) throws InterruptedException {
    if (context.getTestClass().map(c -> c.getEnclosingClass() != null).orElse(false)) {
      return; // nested classes share the outer class's resources
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GRACE_MILLIS);
    List<String> leaked = leaked();
    while (!leaked.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(50);
      leaked = leaked();
    }
    if (!leaked.isEmpty()) {
      throw new AssertionError(
          context.getDisplayName()
              + " leaked threads (a cache, ThingDb or pool was not closed): "
              + leaked);
    }
  }

  private static List<String> leaked() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .map(Thread::getName)
        .filter(n -> n.startsWith("thingdb-") || n.startsWith("Xmemcached-Reactor"))
        .sorted()
        .collect(Collectors.toList());
  }
}

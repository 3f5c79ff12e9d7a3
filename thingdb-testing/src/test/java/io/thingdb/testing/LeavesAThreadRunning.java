package io.thingdb.testing;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A test class that leaks a {@code thingdb-} thread, for {@link ThreadLeakExtensionTest}, which
 * runs it and then releases the thread. A top-level class because the leak check leaves nested
 * classes to their enclosing class; not named {@code *Test}, so that Surefire does not run it on
 * its own (run alone, it skips).
 */
class LeavesAThreadRunning {
  static volatile CountDownLatch release;
  static volatile Thread thread;

  @Test
  void startsAThreadAndReturns() {
    CountDownLatch latch = release;
    Assumptions.assumeTrue(latch != null, "run by ThreadLeakExtensionTest only");
    thread =
        new Thread(
            () -> {
              try {
                latch.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "thingdb-leak-probe");
    thread.start();
  }
}

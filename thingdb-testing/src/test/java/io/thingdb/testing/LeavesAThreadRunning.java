package io.thingdb.testing;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * A test class that leaks a {@code thingdb-} thread, for {@link ThreadLeakExtensionTest}, which
 * runs it and then releases the thread. A top-level class because the leak check leaves nested
 * classes to their enclosing class; not named {@code *Test}, so that Surefire does not run it on
 * its own (run alone, from an IDE, it fails saying so: never a silent skip).
 */
class LeavesAThreadRunning {
  static volatile CountDownLatch release;
  static volatile Thread thread;

  @Test
  void startsAThreadAndReturns() {
    CountDownLatch latch = release;
    if (latch == null) {
      throw new IllegalStateException(
          "LeavesAThreadRunning is a probe that only ThreadLeakExtensionTest runs (it sets the"
              + " latch that ends the leaked thread); run ThreadLeakExtensionTest instead");
    }
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

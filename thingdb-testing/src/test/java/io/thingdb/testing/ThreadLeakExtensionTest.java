package io.thingdb.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs a test class that leaks a thread ({@link LeavesAThreadRunning}) through the JUnit launcher,
 * with this module's {@code junit-platform.properties} (auto-detection on) and nothing registered
 * by hand: the class fails only if the {@code META-INF/services} registration reaches JUnit.
 */
class ThreadLeakExtensionTest {
  @Test
  void failsATestClassThatLeavesAThingdbThreadRunning() throws InterruptedException {
    LeavesAThreadRunning.release = new CountDownLatch(1);
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    LauncherDiscoveryRequest request =
        LauncherDiscoveryRequestBuilder.request()
            .selectors(selectClass(LeavesAThreadRunning.class))
            .build();
    try {
      LauncherFactory.create().execute(request, listener);
    } finally {
      LeavesAThreadRunning.release.countDown();
      if (LeavesAThreadRunning.thread != null) {
        LeavesAThreadRunning.thread.join();
      }
      LeavesAThreadRunning.release = null;
    }

    TestExecutionSummary summary = listener.getSummary();
    assertThat(summary.getTestsSucceededCount()).isEqualTo(1);
    assertThat(summary.getFailures())
        .singleElement()
        .satisfies(
            failure ->
                assertThat(failure.getException())
                    .isInstanceOf(AssertionError.class)
                    .hasMessage(
                        "LeavesAThreadRunning leaked threads (a cache, ThingDb or pool was not closed):"
                            + " [thingdb-leak-probe]"));
  }
}

package io.thingdb.core;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/** The background threads of a ThingDb: daemon threads with a name that says what they do. */
final class Daemons {
  private Daemons() {}

  /**
   * A single-thread scheduler whose one daemon thread is named {@code name} (it never keeps the JVM
   * alive; {@link ThingDb#close} stops it).
   */
  static ScheduledExecutorService scheduler(String name) {
    return Executors.newSingleThreadScheduledExecutor(
        r -> {
          Thread t = new Thread(r, name);
          t.setDaemon(true);
          return t;
        });
  }
}

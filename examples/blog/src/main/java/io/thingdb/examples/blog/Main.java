package io.thingdb.examples.blog;

import java.util.concurrent.CountDownLatch;

/**
 * Starts the blog: {@code mvn -B -q -f examples/blog exec:java}, or with flags {@code
 * -Dexec.args="--port 9000 --memcached 127.0.0.1:11211"} (see {@link Config}). Ctrl-C stops it
 * cleanly.
 */
public final class Main {
  private static final java.util.List<String> HIKARI_PER_CONNECTION_LOGGERS =
      java.util.List.of(
          "org.slf4j.simpleLogger.log.com.zaxxer.hikari.pool.ProxyConnection",
          "org.slf4j.simpleLogger.log.com.zaxxer.hikari.pool.PoolBase");

  private Main() {}

  /** Entry point. */
  public static void main(String[] args) throws InterruptedException {
    // Before any HttpServer exists (see BlogServer): Nagle's algorithm off for every response.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    // The blog's own info lines (startup, seeding), also under "mvn -q exec:java" (whose logger
    // otherwise shows errors only); the access log is written separately (AccessLog). A -D on the
    // command line wins.
    if (System.getProperty("org.slf4j.simpleLogger.log.io.thingdb.examples") == null) {
      System.setProperty("org.slf4j.simpleLogger.log.io.thingdb.examples", "info");
    }
    // HikariCP logs every pooled connection it finds broken (ProxyConnection, at WARN with a stack
    // trace) or fails to validate (PoolBase, at WARN): when the database goes down that is each
    // connection of each pool, dozens of lines and stack traces for one outage, which ThingDB's
    // circuit reports in one line. Errors only; -D<property>=warn brings them back.
    for (String logger : HIKARI_PER_CONNECTION_LOGGERS) {
      if (System.getProperty(logger) == null) {
        System.setProperty(logger, "error");
      }
    }
    Config config;
    try {
      config = Config.fromArgs(args, System.getenv());
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println("blog: " + e.getMessage());
      System.exit(2);
      return;
    }
    BlogApp app = BlogApp.start(config);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.out.println("stopping: listing processors, HTTP server, then PostgreSQL");
                  app.close();
                  stopped.countDown();
                  System.out.println("stopped");
                },
                "blog-shutdown"));
    if (app.seededAdminPassword() != null) {
      System.out.println(
          "seeded the blog; log in as 'admin' with password "
              + app.seededAdminPassword()
              + " (shown only this once)");
    }
    System.out.println("ThingDB blog running at " + app.uri() + "  (Ctrl-C to stop)");
    stopped.await();
  }
}

package io.thingdb.benchmarks;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The ceiling the blog's anonymous page path is measured against: the JDK's {@code HttpServer}
 * answering every GET with one page held in memory (the same bytes and content type the blog
 * served, captured by {@code run-blog-benchmarks.sh}), with the same response headers the blog
 * sends on a page-cache hit and nothing else: no routing, no cache lookup, no logging.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.thingdb.benchmarks.PageCeilingServer \
 *     --page FILE [--port N] [--threads N] [--nodelay true|false] [--content-type T]
 * </pre>
 *
 * <p>{@code --nodelay} sets {@code sun.net.httpserver.nodelay} before the first server is created
 * (the JDK reads it once): {@code false} shows what Nagle's algorithm costs a small-response
 * server. {@code --threads 0} uses the JDK's default executor (the dispatcher thread runs every
 * exchange). Prints {@code listening on PORT} once it accepts connections; runs until killed. Not
 * meant to be embedded; thread-safe as the JDK server is.
 */
public final class PageCeilingServer {
  private PageCeilingServer() {}

  /** Entry point; see the class comment for the flags. */
  public static void main(String[] args) throws IOException {
    Path page = null;
    int port = 0;
    int threads = 4;
    boolean nodelay = true;
    String contentType = "text/html; charset=utf-8";
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException("flag " + flag + " needs a value");
      }
      String value = args[++i];
      switch (flag) {
        case "--page" -> page = Path.of(value);
        case "--port" -> port = Integer.parseInt(value);
        case "--threads" -> threads = Integer.parseInt(value);
        case "--nodelay" -> nodelay = parseBoolean(flag, value);
        case "--content-type" -> contentType = value;
        default ->
            throw new IllegalArgumentException(
                "unknown flag "
                    + flag
                    + " (known: --page, --port, --threads, --nodelay, --content-type)");
      }
    }
    if (page == null) {
      throw new IllegalArgumentException("--page FILE is required: the bytes to serve");
    }
    if (threads < 0) {
      throw new IllegalArgumentException(
          "--threads must be 0 (the JDK default) or more, was " + threads);
    }
    byte[] body = Files.readAllBytes(page);
    System.setProperty("sun.net.httpserver.nodelay", Boolean.toString(nodelay));
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 256);
    if (threads > 0) {
      AtomicInteger n = new AtomicInteger();
      ExecutorService pool =
          Executors.newFixedThreadPool(
              threads,
              r -> {
                Thread t = new Thread(r, "ceiling-http-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
              });
      server.setExecutor(pool);
    }
    String type = contentType;
    server.createContext("/", ex -> serve(ex, type, body));
    server.start();
    System.out.println(
        "listening on "
            + server.getAddress().getPort()
            + " ("
            + body.length
            + " bytes, nodelay="
            + nodelay
            + ", threads="
            + (threads == 0 ? "JDK default" : threads)
            + ")");
  }

  private static void serve(HttpExchange ex, String contentType, byte[] body) throws IOException {
    try (ex) {
      ex.getRequestBody().close();
      // The headers the blog sends with a page-cache hit, so both write the same response.
      ex.getResponseHeaders().set("Content-Type", contentType);
      ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
      ex.getResponseHeaders().set("Referrer-Policy", "same-origin");
      ex.getResponseHeaders().set("X-SQL-Statements", "0");
      ex.getResponseHeaders().set("X-Cache-Hits", "1");
      ex.getResponseHeaders().set("X-Page-Cache", "hit");
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  private static boolean parseBoolean(String flag, String value) {
    if (!value.equals("true") && !value.equals("false")) {
      throw new IllegalArgumentException(flag + " must be true or false, was '" + value + "'");
    }
    return Boolean.parseBoolean(value);
  }
}

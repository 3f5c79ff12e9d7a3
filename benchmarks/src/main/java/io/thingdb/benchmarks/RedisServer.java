package io.thingdb.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One {@code redis-server} process of the benchmark's own, for the PostgreSQL + Redis peer of
 * {@link VotePeerComparison}: started in the foreground as a child of this JVM (so that {@link
 * ProcessCpuProfiler#sampleNow} counts its CPU with the cache servers') on a free loopback port
 * with persistence off ({@code --save '' --appendonly no}), and stopped by {@link #close()}, which
 * waits for the process to exit and its port to close.
 *
 * <p>The benchmarks start memcached the same way through thingdb-testing's {@code
 * MemcachedCluster}; Redis is needed by this one benchmark only, so it stays here rather than
 * becoming a fixture. {@code redis-server} is looked up on {@code PATH}; when it is missing, {@link
 * #start()} fails with the install command. A JVM shutdown hook kills the process if the JVM exits
 * without {@link #close()}.
 *
 * <p>Not thread-safe: started and stopped by the harness's main thread.
 */
final class RedisServer implements AutoCloseable {
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

  private final Process process;
  private final int port;
  private final Path output;
  private final Thread hook;
  private boolean closed;

  private RedisServer(Process process, int port, Path output) {
    this.process = process;
    this.port = port;
    this.output = output;
    this.hook = new Thread(process::destroyForcibly, "redis-server-kill");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /**
   * Starts {@code redis-server} on a free loopback port and waits until it answers {@code PING}.
   *
   * @throws IllegalStateException if redis-server is not installed or does not answer within 10 s
   */
  static RedisServer start() {
    Path binary = find();
    int port = freePort();
    Path output;
    try {
      output = Files.createTempFile("redis-" + port + "-", ".log");
    } catch (IOException e) {
      throw new IllegalStateException("cannot create the redis-server log file: " + e, e);
    }
    List<String> command =
        List.of(
            binary.toString(),
            "--port",
            Integer.toString(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            output.getParent().toString());
    Process process;
    try {
      process =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(Redirect.to(output.toFile()))
              .start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot start " + command + ": " + e.getMessage(), e);
    }
    RedisServer server = new RedisServer(process, port, output);
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (!server.answersPing()) {
      if (!process.isAlive() || System.nanoTime() > deadline) {
        String log = server.log();
        server.close();
        throw new IllegalStateException(
            "redis-server on 127.0.0.1:"
                + port
                + " did not answer PING within "
                + READY_TIMEOUT.toSeconds()
                + " s (alive="
                + process.isAlive()
                + "); its output: "
                + log);
      }
      LockSupport.parkNanos(10_000_000);
    }
    return server;
  }

  /** The port on 127.0.0.1. */
  int port() {
    return port;
  }

  /** The process id, for the CPU accounts. */
  long pid() {
    return process.pid();
  }

  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and waits until its port is closed. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    process.destroy();
    try {
      if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
      throw new IllegalStateException("interrupted while stopping redis-server " + pid(), e);
    }
    long deadline = System.nanoTime() + STOP_TIMEOUT.toNanos();
    while (accepts()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "redis-server "
                + pid()
                + " exited but 127.0.0.1:"
                + port
                + " still accepts connections after "
                + STOP_TIMEOUT.toSeconds()
                + " s");
      }
      LockSupport.parkNanos(10_000_000);
    }
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // the JVM is already shutting down; the hook is harmless on an exited process
    }
    try {
      Files.deleteIfExists(output);
    } catch (IOException e) {
      // a log file left in the temp directory
    }
  }

  private boolean answersPing() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      s.setSoTimeout(500);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] reply = in.readNBytes(7);
      return new String(reply, StandardCharsets.US_ASCII).equals("+PONG\r\n");
    } catch (IOException e) {
      return false;
    }
  }

  private boolean accepts() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private String log() {
    try {
      return Files.readString(output).trim();
    } catch (IOException e) {
      return "(cannot read " + output + ": " + e + ")";
    }
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException("cannot find a free loopback port: " + e.getMessage(), e);
    }
  }

  private static Path find() {
    String path = System.getenv("PATH");
    for (String dir : ((path == null ? "" : path) + ":/usr/bin:/usr/local/bin").split(":")) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, "redis-server");
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    throw new IllegalStateException(
        "redis-server not found on PATH; install it with: apt-get install -y redis-server"
            + " (Debian/Ubuntu) or brew install redis (macOS)");
  }
}

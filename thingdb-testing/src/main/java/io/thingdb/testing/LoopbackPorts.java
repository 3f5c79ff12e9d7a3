package io.thingdb.testing;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free TCP ports on the loopback interface for the servers the fixtures start, and waits for a port
 * to open or close. Stateless; safe to use from any thread.
 */
final class LoopbackPorts {
  static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  /** Lowest port handed out; keeps clear of 11211 and 5432 where a system server may listen. */
  private static final int LOWEST_PORT = 15000;

  private static final int ATTEMPTS = 200;
  private static final Duration POLL = Duration.ofMillis(10);

  private LoopbackPorts() {}

  /**
   * Returns a port that was free on 127.0.0.1 (and ::1, when the host has it) a moment ago. Another
   * process may take it before the caller binds it, so callers retry on "address in use".
   *
   * <p>Why not simply bind port 0: the kernel hands out port 0 from the ephemeral range, the same
   * range it uses for the local end of outgoing connections. Fault tests stop a server and restart
   * it on the same port while clients keep reconnecting; with a server port inside the ephemeral
   * range one of those reconnects can be given that very port as its local port and then either
   * block the restart (EADDRINUSE) or connect to itself (TCP simultaneous open), which looks like a
   * server that accepts and never answers. Picking below the ephemeral range rules both out. When
   * the range cannot be read or leaves no room below it, port 0 is the fallback.
   */
  static int pickFree() {
    int ephemeralLow = ephemeralRangeLow();
    if (ephemeralLow - LOWEST_PORT >= 1000) {
      ThreadLocalRandom random = ThreadLocalRandom.current();
      for (int i = 0; i < ATTEMPTS; i++) {
        int port = random.nextInt(LOWEST_PORT, ephemeralLow);
        if (isFree(port)) {
          return port;
        }
      }
    }
    try (ServerSocket socket = new ServerSocket(0, 1, LOOPBACK)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException("cannot find a free port on " + LOOPBACK.getHostAddress(), e);
    }
  }

  /** Whether nothing is bound to {@code port} on 127.0.0.1, nor on ::1 when the host has it. */
  static boolean isFree(int port) {
    try {
      bind("127.0.0.1", port);
    } catch (IOException e) {
      return false;
    }
    // PostgreSQL listens on "localhost", which includes ::1; memcached only on 127.0.0.1.
    try {
      bind("::1", port);
      return true;
    } catch (IOException e) {
      // "Cannot assign requested address": the host has no IPv6 loopback, so nothing holds the
      // port there. Only "Address already in use" means taken.
      return e.getMessage() == null || !e.getMessage().contains("in use");
    }
  }

  private static void bind(String host, int port) throws IOException {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(InetAddress.getByName(host), port), 1);
    }
  }

  /** Whether something accepts TCP connections on 127.0.0.1:{@code port}. */
  static boolean isAccepting(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LOOPBACK, port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Waits until nothing accepts connections on {@code port}. This, not {@code Process.isAlive} or
   * {@code kill -0}, is the test that a killed server is gone: on these machines a killed daemon
   * can linger as an unreaped zombie that still "exists" for a while, but a zombie holds no
   * sockets.
   *
   * @throws IllegalStateException naming {@code what} when the port is still open after the timeout
   */
  static void awaitClosed(int port, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (isAccepting(port)) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            what
                + " still accepts connections on 127.0.0.1:"
                + port
                + " "
                + timeout.toMillis()
                + " ms after it was stopped");
      }
      sleep(POLL, "waiting for port " + port + " to close");
    }
  }

  /** Sleeps; on interrupt restores the flag and throws, naming what was being waited for. */
  static void sleep(Duration duration, String waitingFor) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while " + waitingFor, e);
    }
  }

  private static int ephemeralRangeLow() {
    // Not Files.readString: on JDK 17.0.15 it returns "3" for this file instead of "32768\t60999"
    // (procfs sizes are not real); reading a stream to the end gets it all.
    try (InputStream in = Files.newInputStream(Path.of("/proc/sys/net/ipv4/ip_local_port_range"))) {
      String range = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
      return Integer.parseInt(range.split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 0; // not Linux, or unreadable: fall back to port 0
    }
  }
}

package io.thingdb.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * One {@code memcached} process on a free loopback port, for a benchmark trial.
 *
 * <p>Three layers make sure the process does not outlive the JVM that started it: {@link
 * #close()} from the benchmark's tear-down; a shutdown hook, for a fork that exits after a failed
 * set-up (JMH does not promise to run tear-downs then); and a watchdog shell between us and
 * memcached that kills it when its stdin reaches end-of-file, which happens when this JVM dies in
 * any way, SIGKILL included, where no hook runs.
 *
 * <p>Not thread-safe, except that {@link #close()} may race with the shutdown hook.
 */
final class MemcachedProcess implements AutoCloseable {
  /**
   * Started as {@code sh -c WATCHDOG memcached ARGS...}: runs memcached in the background, prints
   * its pid, and kills it when stdin closes or the shell is signalled.
   */
  private static final String WATCHDOG =
      "\"$0\" \"$@\" 1>&2 & m=$!; echo $m; "
          + "trap 'kill -9 $m 2>/dev/null; exit 1' HUP INT TERM; "
          + "read -r _; kill $m 2>/dev/null; wait $m";

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(10);
  /** A free port can be taken by someone else between our probe and memcached's bind. */
  private static final int PORT_ATTEMPTS = 5;
  private static final List<String> SEARCH_PATH =
      List.of("/usr/bin/memcached", "/usr/local/bin/memcached", "/opt/homebrew/bin/memcached");

  private final Process shell;
  private final long pid;
  private final int port;
  private final Path log;
  private final Thread hook;

  private MemcachedProcess(Process shell, long pid, int port, Path log, Thread hook) {
    this.shell = shell;
    this.pid = pid;
    this.port = port;
    this.log = log;
    this.hook = hook;
  }

  /**
   * Starts {@code memcached -l 127.0.0.1 -p PORT -U 0 -t 2 -m 64} (with {@code -u memcache} when
   * running as root) and returns once it answers on PORT with its own pid.
   *
   * @throws IllegalStateException if memcached is missing or does not come up; the message quotes
   *     its output
   */
  static MemcachedProcess start() {
    String binary = findBinary();
    IllegalStateException last = null;
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      try {
        return launch(binary, freeLoopbackPort());
      } catch (PortTakenException e) {
        last = new IllegalStateException(e.getMessage(), last);
      }
    }
    throw new IllegalStateException(
        "memcached could not bind a free loopback port in " + PORT_ATTEMPTS + " attempts", last);
  }

  /** {@code 127.0.0.1:PORT}. */
  String server() {
    return "127.0.0.1:" + port;
  }

  int port() {
    return port;
  }

  /** Stops memcached and waits until it is gone. Idempotent. */
  @Override
  public void close() {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException | IllegalArgumentException e) {
      // Already shutting down (the hook runs or ran), or already removed.
    }
    try {
      shell.getOutputStream().close(); // EOF: the watchdog kills memcached and waits for it
    } catch (IOException e) {
      // The shell is gone already; the forced kill below still applies.
    }
    try {
      if (!shell.waitFor(5, TimeUnit.SECONDS)) {
        killNow();
      }
    } catch (InterruptedException e) {
      killNow();
      Thread.currentThread().interrupt();
    }
    killNow();
    try {
      Files.deleteIfExists(log);
    } catch (IOException e) {
      // A temp file left behind is harmless.
    }
  }

  private void killNow() {
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    shell.destroyForcibly();
  }

  private static MemcachedProcess launch(String binary, int port) {
    Path log;
    try {
      log = Files.createTempFile("thingdb-bench-memcached-" + port + "-", ".log");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a log file for memcached", e);
    }
    List<String> command = new ArrayList<>(List.of("sh", "-c", WATCHDOG, binary));
    command.addAll(List.of("-l", "127.0.0.1", "-p", Integer.toString(port), "-U", "0"));
    command.addAll(List.of("-t", "2", "-m", "64", "-c", "1024"));
    if ("root".equals(System.getProperty("user.name"))) {
      command.addAll(List.of("-u", "memcache")); // memcached refuses to run as root without -u
    }
    Process shell;
    try {
      shell = new ProcessBuilder(command).redirectError(log.toFile()).start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + String.join(" ", command), e);
    }
    long[] pid = {-1};
    Thread hook =
        new Thread(
            () -> {
              if (pid[0] > 0) {
                ProcessHandle.of(pid[0]).ifPresent(ProcessHandle::destroyForcibly);
              }
              shell.destroyForcibly();
            },
            "memcached-" + port + "-killer");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      pid[0] = readPid(shell);
      MemcachedProcess process = new MemcachedProcess(shell, pid[0], port, log, hook);
      awaitReady(process);
      return process;
    } catch (RuntimeException e) {
      new MemcachedProcess(shell, pid[0], port, log, hook).closeQuietly();
      throw e;
    }
  }

  private void closeQuietly() {
    try {
      close();
    } catch (RuntimeException e) {
      // Already failing; the original exception matters more.
    }
  }

  private static long readPid(Process shell) {
    try {
      BufferedReader out =
          new BufferedReader(new InputStreamReader(shell.getInputStream(), StandardCharsets.US_ASCII));
      String line = out.readLine();
      if (line == null) {
        throw new IllegalStateException("the memcached watchdog shell exited before printing a pid");
      }
      return Long.parseLong(line.trim());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read memcached's pid", e);
    }
  }

  /** Waits until PORT answers {@code stats} with our memcached's pid, not some other process's. */
  private static void awaitReady(MemcachedProcess p) {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      Optional<ProcessHandle> handle = ProcessHandle.of(p.pid);
      if (handle.isEmpty() || !handle.get().isAlive()) {
        String output = p.output();
        if (output.contains("Address already in use")) {
          throw new PortTakenException("port " + p.port + " was taken: " + output);
        }
        throw new IllegalStateException("memcached on port " + p.port + " exited at start: " + output);
      }
      Long answered = statsPid(p.port);
      if (answered != null) {
        if (answered == p.pid) {
          return;
        }
        throw new PortTakenException(
            "port " + p.port + " is served by another memcached (pid " + answered + ")");
      }
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "memcached on port " + p.port + " did not answer within " + READY_TIMEOUT.toMillis()
                + " ms; output: " + p.output());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for memcached on port " + p.port, e);
      }
    }
  }

  /** The pid in {@code stats}, or null if nothing answers yet. */
  private static Long statsPid(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write("stats\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      BufferedReader in =
          new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
      for (String line; (line = in.readLine()) != null && !line.equals("END"); ) {
        if (line.startsWith("STAT pid ")) {
          return Long.parseLong(line.substring("STAT pid ".length()).trim());
        }
      }
      return null;
    } catch (IOException | NumberFormatException e) {
      return null;
    }
  }

  private String output() {
    try (InputStream in = Files.newInputStream(log)) {
      return new String(in.readNBytes(4096), StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  private static int freeLoopbackPort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free loopback port", e);
    }
  }

  private static String findBinary() {
    String path = System.getenv("PATH");
    List<String> candidates = new ArrayList<>();
    if (path != null) {
      for (String dir : path.split(java.io.File.pathSeparator)) {
        if (!dir.isEmpty()) {
          candidates.add(dir + "/memcached");
        }
      }
    }
    candidates.addAll(SEARCH_PATH);
    for (String c : candidates) {
      if (Files.isExecutable(Path.of(c))) {
        return c;
      }
    }
    throw new IllegalStateException(
        "memcached not found on PATH or in " + SEARCH_PATH + "; install it (apt-get install -y"
            + " memcached) or pass -p memcached=host:port to use a running server");
  }

  private static final class PortTakenException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    PortTakenException(String message) {
      super(message);
    }
  }
}

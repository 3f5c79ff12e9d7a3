package io.thingdb.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real {@code memcached} processes on loopback ports for tests, with the faults the cache layer
 * must survive: a node killed, stopped, hung (SIGSTOP) and brought back on the same port.
 *
 * <pre>{@code
 * try (MemcachedCluster cluster = MemcachedCluster.start(3)) {
 *   client = MemcachedCache.builder().servers(cluster.servers()).build();
 *   cluster.kill(1);
 *   ...
 *   cluster.restart(1); // same port, empty cache
 * }
 * }</pre>
 *
 * <p>Nodes are numbered from 0 in the order of {@link #servers()}. Each runs as {@code memcached -l
 * 127.0.0.1 -p PORT -U 0 -t 2 -m MB} (plus {@code -u memcache} when the JVM runs as root, since
 * memcached refuses root without {@code -u}), its output captured to a file that startup errors
 * quote. {@code memcached} is looked up on {@code PATH}, then in {@code /usr/bin}, {@code
 * /usr/local/bin} and {@code /opt/homebrew/bin}; when it is missing, {@link #start} fails with an
 * install hint instead of skipping the test.
 *
 * <p>No node outlives the JVM that started it. {@link #close()} kills them; a JVM shutdown hook
 * kills them if the JVM exits without {@link #close()}, e.g. when a test run is interrupted; and
 * since no hook runs when the JVM itself is killed with SIGKILL (a forked JMH or Surefire JVM that
 * timed out, say) or crashes, each node also has a watchdog: a {@code /bin/sh} that waits for
 * end-of-file on a pipe only this JVM holds open, and kills the node with SIGKILL when the pipe
 * closes, which the kernel does when this JVM dies in any way.
 *
 * <p>{@link #stats} reads a node's counters ({@code cmd_get}, {@code get_hits}, {@code curr_items},
 * ...), e.g. to check what a client sent or to report it per operation.
 *
 * <p>Thread-safe: node control methods ({@link #stop}, {@link #kill}, {@link #hang}, {@link
 * #resume}, {@link #restart}, {@link #flushAll}, {@link #close}) are serialized on the cluster;
 * {@link #rawCommand}, {@link #stats} and the accessors do not take that lock, so a test can talk
 * to a hung node from one thread while another thread resumes it.
 */
public final class MemcachedCluster implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MemcachedCluster.class);
  static final String NOT_FOUND_MESSAGE =
      "memcached not found on PATH; install it with: apt-get install -y memcached (Debian/Ubuntu)"
          + " or brew install memcached (macOS)";

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(2);
  private static final Duration POLL = Duration.ofMillis(10);

  /** How many fresh ports a first start tries when another process wins the race for one. */
  private static final int PORT_ATTEMPTS = 5;

  /** Arguments the fixture owns: ports, addresses, and -d, which would hide the process from us. */
  private static final Set<String> RESERVED_ARGS =
      Set.of(
          "-p",
          "--port",
          "-l",
          "--listen",
          "-U",
          "--udp-port",
          "-d",
          "--daemon",
          "-P",
          "--pidfile");

  /** First words of the lines of a multi-line response; any other line ends the response. */
  private static final Set<String> CONTINUATION_WORDS = Set.of("VALUE", "STAT", "ITEM", "PREFIX");

  private final Path binary;
  private final List<String> options;
  private final Map<Integer, List<String>> nodeOptions;
  private final Path outputDirectory;
  private final List<Node> nodes;
  private final Thread shutdownHook;
  private boolean closed; // guarded by this

  private MemcachedCluster(Builder builder, Path binary) {
    this.binary = binary;
    this.options = builder.options();
    this.nodeOptions = Map.copyOf(builder.nodeArgs);
    try {
      this.outputDirectory = Files.createTempDirectory("thingdb-memcached-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a directory for memcached output", e);
    }
    // Copy-on-write: the shutdown hook may iterate while the constructor still adds nodes.
    this.nodes = new CopyOnWriteArrayList<>();
    this.shutdownHook = new Thread(this::killAllNow, "memcached-cluster-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    try {
      for (int i = 0; i < builder.nodes; i++) {
        nodes.add(startOnFreePort(i));
      }
    } catch (RuntimeException e) {
      try {
        close();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /**
   * Starts {@code nodes} memcached processes with the default options (64 MB each) and waits until
   * each answers {@code version}.
   *
   * @throws IllegalArgumentException if {@code nodes < 1}
   * @throws IllegalStateException if memcached is not installed, or a node does not come up within
   *     10 s (the message names the port and quotes memcached's output)
   */
  public static MemcachedCluster start(int nodes) {
    return builder().nodes(nodes).start();
  }

  /** A builder for a cluster with non-default options. */
  public static Builder builder() {
    return new Builder();
  }

  /** The nodes as {@code "127.0.0.1:PORT"}, in node order, stopped nodes included. */
  public List<String> servers() {
    return nodes.stream().map(node -> "127.0.0.1:" + node.port).toList();
  }

  /** Node {@code i} as {@code "127.0.0.1:PORT"}. */
  public String server(int i) {
    return "127.0.0.1:" + node(i).port;
  }

  /** Node {@code i}'s port; it stays the same across {@link #restart}. */
  public int port(int i) {
    return node(i).port;
  }

  /** The number of nodes. */
  public int size() {
    return nodes.size();
  }

  /**
   * Whether node {@code i}'s process exists: true for a hung node, false after {@link #stop} or
   * {@link #kill}.
   */
  public boolean isRunning(int i) {
    Process process = node(i).process;
    return process != null && process.isAlive();
  }

  /** Whether node {@code i} is stopped by {@link #hang} and not yet resumed. */
  public boolean isHung(int i) {
    return node(i).hung;
  }

  /**
   * Stops node {@code i} gracefully (SIGTERM, resuming it first if hung, since a stopped process
   * only acts on SIGTERM once continued) and returns when its port no longer accepts connections.
   * Does nothing if the node is not running.
   */
  public synchronized void stop(int i) {
    Node node = openNode(i);
    Process process = node.process;
    if (process == null) {
      return;
    }
    if (node.hung) {
      signal(node, process, "CONT");
      node.hung = false;
    }
    LOG.info("memcached node {} on 127.0.0.1:{}: stop (SIGTERM)", i, node.port);
    process.destroy();
    if (!waitFor(process, STOP_TIMEOUT)) {
      process.destroyForcibly();
    }
    awaitGone(node, process);
  }

  /**
   * Kills node {@code i} with SIGKILL (works on a hung node too) and returns when its port no
   * longer accepts connections. Its cached items are lost. Does nothing if the node is not running.
   */
  public synchronized void kill(int i) {
    Node node = openNode(i);
    Process process = node.process;
    if (process == null) {
      return;
    }
    LOG.info("memcached node {} on 127.0.0.1:{}: kill (SIGKILL)", i, node.port);
    process.destroyForcibly();
    awaitGone(node, process);
  }

  /**
   * Freezes node {@code i} with SIGSTOP: its port still accepts connections (the kernel completes
   * the handshake) but nothing is answered until {@link #resume}. Returns once the process is
   * stopped.
   *
   * @throws IllegalStateException if the node is not running
   */
  public synchronized void hang(int i) {
    Node node = openNode(i);
    Process process = requireRunning(node, "hang");
    LOG.info("memcached node {} on 127.0.0.1:{}: hang (SIGSTOP)", i, node.port);
    signal(node, process, "STOP");
    node.hung = true;
    awaitState(process, true);
  }

  /**
   * Continues node {@code i} after {@link #hang} (SIGCONT). Its items are intact. Does nothing if
   * the node is not hung.
   */
  public synchronized void resume(int i) {
    Node node = openNode(i);
    Process process = node.process;
    if (process == null || !node.hung) {
      return;
    }
    LOG.info("memcached node {} on 127.0.0.1:{}: resume (SIGCONT)", i, node.port);
    signal(node, process, "CONT");
    node.hung = false;
    awaitState(process, false);
  }

  /**
   * Starts node {@code i} again on the same port, stopping it first if it is running, and waits
   * until it answers {@code version}. The restarted node's cache is empty.
   *
   * @throws IllegalStateException if the port was taken in the meantime or the node does not come
   *     up within 10 s
   */
  public synchronized void restart(int i) {
    Node node = openNode(i);
    if (node.process != null) {
      stop(i);
    }
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      try {
        node.process = launch(node);
        return;
      } catch (PortTakenException e) {
        // SO_REUSEADDR lets memcached rebind past TIME_WAIT, so this is a live socket; it may be
        // a short-lived client that happened to get the port. Wait a little for it to go away.
        if (System.nanoTime() - deadline > 0) {
          throw new IllegalStateException(
              "cannot restart memcached node "
                  + i
                  + ": port "
                  + node.port
                  + " is in use by"
                  + " another process; output: "
                  + e.getMessage(),
              e);
        }
        LoopbackPorts.sleep(Duration.ofMillis(100), "waiting for port " + node.port);
      }
    }
  }

  /**
   * Sends {@code flush_all} to every running node that is not hung, so each reads as empty.
   *
   * @throws IllegalStateException if a node does not answer {@code OK}
   */
  public synchronized void flushAll() {
    checkOpen();
    for (Node node : nodes) {
      if (isRunning(node.index) && !node.hung) {
        String reply = rawCommand(node.index, "flush_all");
        if (!reply.equals("OK")) {
          throw new IllegalStateException(
              "flush_all on memcached node "
                  + node.index
                  + " (127.0.0.1:"
                  + node.port
                  + ") answered '"
                  + reply
                  + "'");
        }
      }
    }
  }

  /**
   * Sends one text- or meta-protocol command to node {@code i} over a new connection and returns
   * the response up to and including its final line ({@code END}, {@code STORED}, {@code VERSION
   * ...}, a number for {@code incr}, ...), without the trailing {@code \r\n}. Value blocks of
   * {@code get}/{@code mg} are read by their byte count. Include the data block of a storage
   * command after {@code \r\n}: {@code rawCommand(0, "set k 0 0 1\r\nv")}. Commands with {@code
   * noreply} get no response and will time out. Waits at most 2 s for each read.
   *
   * @throws java.io.UncheckedIOException naming the node and command when the connection fails or a
   *     read times out (cause {@link java.net.SocketTimeoutException})
   */
  public String rawCommand(int i, String command) {
    return rawCommand(i, command, DEFAULT_COMMAND_TIMEOUT);
  }

  /**
   * As {@link #rawCommand(int, String)}, waiting at most {@code timeout} to connect and for each
   * read; use a short timeout to show that a hung node does not answer.
   */
  public String rawCommand(int i, String command, Duration timeout) {
    Node node = node(i);
    int millis = Math.toIntExact(Math.max(1, timeout.toMillis()));
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LoopbackPorts.LOOPBACK, node.port), millis);
      socket.setSoTimeout(millis);
      OutputStream out = socket.getOutputStream();
      out.write(
          (command.endsWith("\r\n") ? command : command + "\r\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
      return readResponse(new BufferedInputStream(socket.getInputStream()));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "memcached command '"
              + command.lines().findFirst().orElse("")
              + "' to node "
              + i
              + " (127.0.0.1:"
              + node.port
              + ") failed after "
              + timeout.toMillis()
              + " ms: "
              + e,
          e);
    }
  }

  /**
   * Node {@code i}'s {@code stats}: each {@code STAT name value} line as {@code name -> value}, in
   * memcached's order ({@code pid}, {@code uptime}, ..., {@code cmd_get}, {@code get_hits}, ...,
   * {@code curr_items}, ...). Values are as memcached prints them; counters parse as {@code long}.
   * The returned map is unmodifiable; each call asks the node again.
   *
   * @throws java.io.UncheckedIOException naming the node when it does not answer within 2 s (a
   *     stopped, killed or hung node)
   */
  public Map<String, String> stats(int i) {
    Map<String, String> stats = new LinkedHashMap<>();
    for (String line : rawCommand(i, "stats").split("\r\n")) {
      String[] fields = line.split(" ", 3);
      if (fields.length == 3 && fields[0].equals("STAT")) {
        stats.put(fields[1], fields[2]);
      }
    }
    return Collections.unmodifiableMap(stats);
  }

  /**
   * Resumes hung nodes, kills every node and waits until their ports are closed, then deletes the
   * captured output. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    RuntimeException failure = null;
    for (Node node : nodes) {
      try {
        Process process = node.process;
        if (process != null) {
          if (node.hung) {
            signal(node, process, "CONT");
            node.hung = false;
          }
          process.destroyForcibly();
          awaitGone(node, process);
        }
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // The JVM is already shutting down; the hook is running or has run.
    }
    deleteRecursively(outputDirectory);
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public String toString() {
    return "MemcachedCluster" + servers();
  }

  // ---------------------------------------------------------------------------------------------

  private Node startOnFreePort(int index) {
    PortTakenException lastTaken = null;
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      Node node =
          new Node(
              index, LoopbackPorts.pickFree(), outputDirectory.resolve("node-" + index + ".log"));
      try {
        node.process = launch(node);
        return node;
      } catch (PortTakenException e) {
        lastTaken = e; // another process won the race for the port; pick another
      }
    }
    throw new IllegalStateException(
        "memcached node "
            + index
            + " found no free port in "
            + PORT_ATTEMPTS
            + " attempts; last"
            + " output: "
            + lastTaken.getMessage(),
        lastTaken);
  }

  /** Starts the node's process on its port and waits until it answers; kills it on failure. */
  private Process launch(Node node) throws PortTakenException {
    List<String> command = new ArrayList<>();
    command.add(binary.toString());
    command.addAll(List.of("-l", "127.0.0.1", "-p", Integer.toString(node.port), "-U", "0"));
    command.addAll(options);
    command.addAll(nodeOptions.getOrDefault(node.index, List.of()));
    Process process;
    try {
      process =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(node.output.toFile())
              .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
    }
    try {
      node.watchdog = startWatchdog(node, process);
      awaitReady(node, process);
      LOG.info(
          "memcached node {} started on 127.0.0.1:{} (pid {})",
          node.index,
          node.port,
          process.pid());
      return process;
    } catch (RuntimeException | PortTakenException e) {
      process.destroyForcibly();
      waitFor(process, STOP_TIMEOUT);
      stopWatchdog(node);
      throw e;
    }
  }

  /**
   * Starts the node's watchdog (see the class comment): {@code read} returns at end-of-file, which
   * comes only when this JVM, the one holder of the pipe's write end, is gone. Once the node's
   * process exits, its watchdog is stopped, so that it can never kill an unrelated process that was
   * given the same pid later.
   */
  private static Process startWatchdog(Node node, Process process) {
    String pid = Long.toString(process.pid());
    Process watchdog;
    try {
      watchdog =
          new ProcessBuilder("/bin/sh", "-c", "read -r _; kill -9 \"$0\" 2>/dev/null", pid)
              .redirectOutput(Redirect.DISCARD)
              .redirectError(Redirect.DISCARD)
              .start();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot start the watchdog of memcached node "
              + node.index
              + " on 127.0.0.1:"
              + node.port
              + " (pid "
              + pid
              + ")",
          e);
    }
    process.onExit().thenRun(watchdog::destroy);
    return watchdog;
  }

  /** Stops the node's watchdog (SIGTERM; it then kills nothing). Idempotent. */
  private static void stopWatchdog(Node node) {
    Process watchdog = node.watchdog;
    if (watchdog != null) {
      watchdog.destroy();
      node.watchdog = null;
    }
  }

  private void awaitReady(Node node, Process process) throws PortTakenException {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      if (!process.isAlive()) {
        String output = output(node);
        if (output.contains("Address already in use")) {
          throw new PortTakenException(output);
        }
        throw new IllegalStateException(
            "memcached node "
                + node.index
                + " on 127.0.0.1:"
                + node.port
                + " exited with code "
                + process.exitValue()
                + " during startup; output: "
                + output);
      }
      String pid = answeringPid(node.port);
      if (pid != null) {
        // Another memcached (another test JVM) may hold the port while ours is about to fail to
        // bind it; only a server reporting our pid is ours.
        if (pid.equals(Long.toString(process.pid()))) {
          return;
        }
        throw new PortTakenException("port " + node.port + " is served by memcached pid " + pid);
      }
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            "memcached node "
                + node.index
                + " did not answer 'version' on 127.0.0.1:"
                + node.port
                + " within "
                + READY_TIMEOUT.toMillis()
                + " ms; output: "
                + output(node));
      }
      LoopbackPorts.sleep(POLL, "waiting for memcached on port " + node.port);
    }
  }

  /** The pid of the memcached answering {@code version} on the port, or null if none answers. */
  private static String answeringPid(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LoopbackPorts.LOOPBACK, port), 200);
      socket.setSoTimeout(1000);
      OutputStream out = socket.getOutputStream();
      out.write("version\r\nstats\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = new BufferedInputStream(socket.getInputStream());
      if (!readLine(in).startsWith("VERSION ")) {
        return null;
      }
      for (String line = readLine(in); !line.equals("END"); line = readLine(in)) {
        if (line.startsWith("STAT pid ")) {
          return line.substring("STAT pid ".length());
        }
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }

  /** Waits until the killed or stopped node's port is closed, then forgets its process. */
  private void awaitGone(Node node, Process process) {
    LoopbackPorts.awaitClosed(node.port, STOP_TIMEOUT, "memcached node " + node.index);
    // The port is what matters for a restart; reaping is best effort (see awaitClosed).
    waitFor(process, Duration.ofSeconds(1));
    stopWatchdog(node);
    node.process = null;
    node.hung = false;
  }

  /**
   * Sends a signal Java cannot send itself (STOP, CONT). The shell's built-in kill is used because
   * a separate kill binary (procps) is not installed everywhere.
   */
  private static void signal(Node node, Process process, String signal) {
    String command = "kill -" + signal + " " + process.pid();
    try {
      Process kill = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true).start();
      String output = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (kill.waitFor() != 0) {
        throw new IllegalStateException(
            "'" + command + "' for memcached node " + node.index + " failed: " + output.trim());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run '" + command + "'", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running '" + command + "'", e);
    }
  }

  /**
   * Waits until the process is (or is no longer) in the stopped state, so that {@link #hang}
   * returns only once requests really go unanswered. Signals are delivered asynchronously; without
   * this a request sent right after hang() can still be served. Linux only: elsewhere it returns at
   * once.
   */
  private static void awaitState(Process process, boolean stopped) {
    Path stat = Path.of("/proc", Long.toString(process.pid()), "stat");
    long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
    while (System.nanoTime() - deadline < 0) {
      String content;
      try (InputStream in = Files.newInputStream(stat)) {
        // A stream, not Files.readString, which can truncate procfs files (see LoopbackPorts).
        content = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
      } catch (IOException e) {
        return;
      }
      // Format: "pid (comm) S ...": the state follows the last ')', comm may contain spaces.
      char state = content.charAt(content.lastIndexOf(')') + 2);
      if ((state == 'T') == stopped) {
        return;
      }
      LoopbackPorts.sleep(Duration.ofMillis(2), "waiting for memcached pid " + process.pid());
    }
  }

  private static String readResponse(InputStream in) throws IOException {
    StringBuilder response = new StringBuilder();
    while (true) {
      String line = readLine(in);
      response.append(line);
      String word = line.split(" ", 2)[0];
      if (word.equals("VALUE") || word.equals("VA")) {
        // VALUE <key> <flags> <bytes> [<cas>] / VA <bytes> <flags>*: a data block follows.
        String[] parts = line.split(" ");
        int bytes = Integer.parseInt(word.equals("VALUE") ? parts[3] : parts[1]);
        byte[] data = in.readNBytes(bytes + 2);
        if (data.length < bytes + 2) {
          throw new EOFException("connection closed inside a value block");
        }
        response.append("\r\n").append(new String(data, 0, bytes, StandardCharsets.UTF_8));
        if (word.equals("VA")) {
          return response.toString();
        }
      } else if (!CONTINUATION_WORDS.contains(word) && !line.startsWith("key=")) {
        return response.toString(); // END, STORED, OK, VERSION x, HD, a number, ERROR, ...
      }
      response.append("\r\n");
    }
  }

  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int previous = -1;
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new EOFException(
            "connection closed after '" + line.toString(StandardCharsets.UTF_8) + "'");
      }
      if (previous == '\r' && b == '\n') {
        byte[] bytes = line.toByteArray();
        return new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8);
      }
      line.write(b);
      previous = b;
    }
  }

  private static boolean waitFor(Process process, Duration timeout) {
    try {
      return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for pid " + process.pid(), e);
    }
  }

  private static String output(Node node) {
    try {
      return Files.readString(node.output).trim();
    } catch (IOException e) {
      return "(cannot read " + node.output + ": " + e + ")";
    }
  }

  /** Shutdown hook: no lock, no waiting; SIGKILL works on hung processes too. */
  private void killAllNow() {
    for (Node node : nodes) {
      Process process = node.process;
      if (process != null) {
        process.destroyForcibly();
      }
      Process watchdog = node.watchdog;
      if (watchdog != null) {
        watchdog.destroy();
      }
    }
  }

  private Node node(int i) {
    if (i < 0 || i >= nodes.size()) {
      throw new IndexOutOfBoundsException(
          "node " + i + " does not exist; the cluster has nodes 0.." + (nodes.size() - 1));
    }
    return nodes.get(i);
  }

  private Node openNode(int i) {
    checkOpen();
    return node(i);
  }

  private Process requireRunning(Node node, String action) {
    Process process = node.process;
    if (process == null) {
      throw new IllegalStateException(
          "cannot "
              + action
              + " memcached node "
              + node.index
              + " (127.0.0.1:"
              + node.port
              + "): it is not running; restart("
              + node.index
              + ") it first");
    }
    return process;
  }

  private synchronized void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the memcached cluster is closed");
    }
  }

  private static void deleteRecursively(Path directory) {
    try (Stream<Path> paths = Files.walk(directory)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      // Only log files in a temp directory are left behind.
    }
  }

  static String defaultSearchPath() {
    String path = System.getenv("PATH");
    return (path == null || path.isEmpty() ? "" : path + File.pathSeparator)
        + String.join(File.pathSeparator, "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin");
  }

  /**
   * Finds the memcached executable in the directories of {@code searchPath} (a PATH-style, {@link
   * File#pathSeparator}-separated list).
   *
   * @throws IllegalStateException with {@link #NOT_FOUND_MESSAGE} if none holds it
   */
  static Path findMemcached(String searchPath) {
    for (String directory : searchPath.split(File.pathSeparator)) {
      if (directory.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(directory, "memcached");
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    throw new IllegalStateException(NOT_FOUND_MESSAGE);
  }

  /**
   * memcached refuses to run as root unless told which user to switch to. The Debian package
   * creates "memcache"; a hand-built memcached may have no such user, and root is allowed
   * explicitly.
   */
  private static List<String> userOption() {
    if (!runningAsRoot()) {
      return List.of();
    }
    try (Stream<String> passwd = Files.lines(Path.of("/etc/passwd"))) {
      return List.of(
          "-u", passwd.anyMatch(line -> line.startsWith("memcache:")) ? "memcache" : "root");
    } catch (IOException e) {
      return List.of("-u", "root");
    }
  }

  private static boolean runningAsRoot() {
    try {
      // /proc/self belongs to the process's effective user.
      return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    } catch (IOException | RuntimeException e) {
      return "root".equals(System.getProperty("user.name"));
    }
  }

  /** One node; its port never changes. Fields written under the cluster lock. */
  private static final class Node {
    final int index;
    final int port;
    final Path output;
    volatile Process process; // null when stopped or killed
    volatile Process watchdog; // null when process is
    volatile boolean hung;

    Node(int index, int port, Path output) {
      this.index = index;
      this.port = port;
      this.output = output;
    }
  }

  /** memcached could not bind its port because another process holds it. */
  private static final class PortTakenException extends Exception {
    private static final long serialVersionUID = 1L;

    PortTakenException(String output) {
      super(output);
    }
  }

  /**
   * Options for a {@link MemcachedCluster}. Each setter validates its argument. Not thread-safe;
   * {@link #start()} copies the options, so a builder can start several clusters.
   */
  public static final class Builder {
    private int nodes = 1;
    private int memoryMegabytes = 64;
    private final List<String> extraArgs = new ArrayList<>();
    private final Map<Integer, List<String>> nodeArgs = new HashMap<>();
    private String searchPath = defaultSearchPath();

    private Builder() {}

    /** The number of nodes; default 1. */
    public Builder nodes(int nodes) {
      if (nodes < 1) {
        throw new IllegalArgumentException("nodes must be at least 1 (was " + nodes + ")");
      }
      this.nodes = nodes;
      return this;
    }

    /** Memory for items per node in megabytes ({@code -m}); default 64. */
    public Builder memoryMegabytes(int memoryMegabytes) {
      if (memoryMegabytes < 1) {
        throw new IllegalArgumentException(
            "memoryMegabytes must be at least 1 (was " + memoryMegabytes + ")");
      }
      this.memoryMegabytes = memoryMegabytes;
      return this;
    }

    /**
     * Extra command-line arguments for every node, appended after the fixture's own, e.g. {@code
     * "-I", "2m"} for a larger item size limit or {@code "-o", "modern"}.
     *
     * @throws IllegalArgumentException for options the fixture owns: {@code -p -l -U -d -P} and
     *     their long forms
     */
    public Builder extraArgs(String... args) {
      extraArgs.addAll(checkArgs("extraArgs", args));
      return this;
    }

    /**
     * Extra command-line arguments for node {@code node} only, appended after those of {@link
     * #extraArgs} (memcached takes the last value of a repeated option), and kept when the node is
     * restarted: e.g. {@code nodeArgs(1, "-I", "512k")} for a node whose item size limit differs
     * from the others'.
     *
     * @throws IllegalArgumentException if {@code node} is negative, or for the options {@link
     *     #extraArgs} refuses; {@link #start} refuses a node index beyond {@link #nodes}
     */
    public Builder nodeArgs(int node, String... args) {
      if (node < 0) {
        throw new IllegalArgumentException("nodeArgs node must not be negative (was " + node + ")");
      }
      List<String> checked = checkArgs("nodeArgs", args);
      nodeArgs.computeIfAbsent(node, n -> new ArrayList<>()).addAll(checked);
      return this;
    }

    private static List<String> checkArgs(String what, String... args) {
      for (String arg : args) {
        if (arg == null) {
          throw new IllegalArgumentException(what + " must not contain null");
        }
        if (RESERVED_ARGS.contains(arg.split("=", 2)[0])) {
          throw new IllegalArgumentException(
              what
                  + " must not contain "
                  + arg
                  + ": the fixture chooses ports and addresses and"
                  + " keeps memcached in the foreground");
        }
      }
      return List.of(args);
    }

    /** Replaces the directories searched for memcached (for tests of the missing-binary error). */
    Builder searchPath(String searchPath) {
      this.searchPath = searchPath;
      return this;
    }

    /**
     * Starts the cluster and waits until every node answers.
     *
     * @throws IllegalStateException if memcached is not installed or a node does not start
     */
    public MemcachedCluster start() {
      for (int node : nodeArgs.keySet()) {
        if (node >= nodes) {
          throw new IllegalArgumentException(
              "nodeArgs names node " + node + " but the cluster has " + nodes + " nodes");
        }
      }
      return new MemcachedCluster(this, findMemcached(searchPath));
    }

    private List<String> options() {
      List<String> options = new ArrayList<>();
      options.addAll(List.of("-t", "2", "-m", Integer.toString(memoryMegabytes)));
      options.addAll(userOption());
      options.addAll(extraArgs);
      return List.copyOf(options);
    }
  }
}

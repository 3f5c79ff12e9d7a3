package io.thingdb.examples.blog;

import io.thingdb.cache.CacheException;
import io.thingdb.cache.MemcachedCache;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memcached server list kept in a file ({@code --memcached-file}), and the poll that applies
 * its changes to a running {@link MemcachedCache} through {@link MemcachedCache#reconfigure}.
 *
 * <p>Format: one {@code host:port} per line; blank lines and lines starting with {@code #} are
 * ignored, as is anything after a {@code #} on a line. At start, a file that cannot be read or
 * parsed stops the blog. Afterwards the file is read every {@link #POLL} (about a second): a list
 * that differs from the one applied last is applied; a file that cannot be read or parsed, or a
 * list the cache refuses, is logged as an ERROR naming the file (and the line), once per content of
 * the file, and the servers in use stay as they are until the operator fixes the file.
 *
 * <p>Thread-safe: the poll runs on one thread of its own, stopped by {@link #close}.
 */
final class MemcachedServersFile implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MemcachedServersFile.class);

  /** How often the file is read. */
  static final Duration POLL = Duration.ofSeconds(1);

  private final Path file;
  private final MemcachedCache cache;
  private final ScheduledExecutorService poller;
  private String lastContent; // poll thread only
  private List<String> applied; // poll thread only

  private MemcachedServersFile(Path file, MemcachedCache cache, List<String> applied) {
    this.file = file;
    this.cache = cache;
    this.applied = applied;
    this.poller =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "blog-memcached-file");
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Reads the servers in {@code file}.
   *
   * @throws IllegalArgumentException naming the file, and the line if one is wrong, if the file
   *     cannot be read, holds a line that is not {@code host:port}, or names no server
   */
  static List<String> read(Path file) {
    String content;
    try {
      content = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read the memcached servers file " + file + ": " + e, e);
    }
    return parse(file, content);
  }

  static List<String> parse(Path file, String content) {
    List<String> servers = new ArrayList<>();
    String[] lines = content.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      int hash = line.indexOf('#');
      String s = (hash >= 0 ? line.substring(0, hash) : line).trim();
      if (s.isEmpty()) {
        continue;
      }
      int colon = s.lastIndexOf(':');
      if (s.contains(" ")
          || s.contains(",")
          || colon < 1
          || colon == s.length() - 1
          || !s.substring(colon + 1).chars().allMatch(Character::isDigit)) {
        throw new IllegalArgumentException(
            file + " line " + (i + 1) + ": expected one host:port, found '" + line.trim() + "'");
      }
      if (servers.contains(s)) {
        throw new IllegalArgumentException(
            file + " line " + (i + 1) + ": " + s + " is listed twice");
      }
      servers.add(s);
    }
    if (servers.isEmpty()) {
      throw new IllegalArgumentException(file + " lists no memcached server");
    }
    return List.copyOf(servers);
  }

  /**
   * Starts polling {@code file} for {@code cache}, which was built with {@code servers}, the list
   * {@link #read} returned at start.
   */
  static MemcachedServersFile watch(Path file, MemcachedCache cache, List<String> servers) {
    MemcachedServersFile f = new MemcachedServersFile(file, cache, servers);
    f.poller.scheduleWithFixedDelay(
        f::poll, POLL.toMillis(), POLL.toMillis(), TimeUnit.MILLISECONDS);
    return f;
  }

  private void poll() {
    String content;
    try {
      content = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      String marker = "unreadable: " + e;
      if (!marker.equals(lastContent)) {
        lastContent = marker;
        log.error(
            "cannot read the memcached servers file {} ({}); still using {}", file, e, applied);
      }
      return;
    }
    if (content.equals(lastContent)) {
      return;
    }
    lastContent = content;
    List<String> servers;
    try {
      servers = parse(file, content);
    } catch (IllegalArgumentException e) {
      log.error(
          "{}; the memcached servers stay {} until the file is fixed", e.getMessage(), applied);
      return;
    }
    if (servers.equals(applied)) {
      return;
    }
    try {
      cache.reconfigure(servers);
      applied = servers;
    } catch (IllegalArgumentException | CacheException e) {
      log.error(
          "the memcached servers in {} were refused: {}; the servers stay {} until the file is"
              + " fixed",
          file,
          e.getMessage(),
          applied);
    } catch (RuntimeException e) {
      log.error("applying the memcached servers in {} failed; still using {}", file, applied, e);
    }
  }

  @Override
  public void close() {
    poller.shutdownNow();
    try {
      if (!poller.awaitTermination(10, TimeUnit.SECONDS)) {
        log.warn("the memcached servers file poll did not stop within 10 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "MemcachedServersFile{" + file + "}";
  }
}

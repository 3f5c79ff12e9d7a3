package io.thingdb.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the servers did per operation, for explaining a score rather than measuring it: memcached's
 * own command counters ({@code stats}) and, when the fork runs with {@code
 * -Dthingdb.bench.pgStatements=true}, PostgreSQL's {@code pg_stat_statements}. Read at the end of
 * a trial's set-up and at the start of its tear-down, outside any measurement; {@code
 * pg_stat_statements} costs the server a little on every statement, so runs that use it are for
 * diagnosis, not for the committed scores. Stateless.
 */
final class ServerCounters {
  /** The memcached counters worth dividing by operations. */
  private static final List<String> MEMCACHED = List.of("cmd_get", "get_hits", "get_misses", "cmd_set", "cas_hits",
      "cas_badval", "cas_misses", "incr_hits", "incr_misses", "delete_hits", "bytes_read", "bytes_written");

  private ServerCounters() {}

  /** Whether this fork records PostgreSQL statements (see the class comment). */
  static boolean pgStatements() {
    return Boolean.getBoolean("thingdb.bench.pgStatements");
  }

  /** memcached's {@code stats} on {@code server} ({@code host:port}). */
  static Map<String, Long> memcached(String server) {
    int colon = server.lastIndexOf(':');
    Map<String, Long> out = new LinkedHashMap<>();
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(server.substring(0, colon), Integer.parseInt(server.substring(colon + 1))), 1000);
      s.setSoTimeout(2000);
      OutputStream o = s.getOutputStream();
      o.write("stats\r\n".getBytes(StandardCharsets.US_ASCII));
      o.flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
      for (String line; (line = in.readLine()) != null && !line.equals("END"); ) {
        String[] f = line.split(" ");
        if (f.length == 3 && MEMCACHED.contains(f[1])) {
          out.put(f[1], Long.parseLong(f[2]));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read stats from memcached " + server, e);
    }
    return out;
  }

  /** {@code name=per-op} for every counter that moved between {@code before} and {@code after}. */
  static String perOp(Map<String, Long> before, Map<String, Long> after, long ops) {
    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, Long> e : after.entrySet()) {
      long delta = e.getValue() - before.getOrDefault(e.getKey(), 0L);
      if (delta != 0) {
        out.append(out.length() == 0 ? "" : ", ").append(e.getKey()).append('=')
            .append(String.format("%.2f", delta / (double) Math.max(1, ops)));
      }
    }
    return out.toString();
  }
}

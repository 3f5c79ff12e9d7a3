package io.thingdb.benchmarks;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the cluster workload reads from the cluster's {@code cluster.json} (written by {@code
 * examples/cluster/start}): the primaries' JDBC URLs ({@code jdbc.links_primary}, {@code
 * jdbc.comments_primary}: multi-host, {@code targetServerType=primary}) and every PostgreSQL
 * server's port ({@code postgresql.NAME.port}), each reached as the blog's user with the password
 * of the links URL. Stateless and thread-safe.
 */
final class ClusterConfig {
  private ClusterConfig() {}

  /** {@code jdbc.<vertical>_primary}, or null when the file or entry is missing. */
  static String jdbc(Map<String, Object> cluster, String vertical) {
    Object j = cluster.get("jdbc");
    if (j instanceof Map<?, ?> m && m.get(vertical + "_primary") instanceof String s) {
      return s;
    }
    return null;
  }

  /** Server name to a single-host JDBC URL, for each {@code postgresql} entry. */
  static Map<String, String> pgServers(Map<String, Object> cluster) {
    Map<String, String> out = new LinkedHashMap<>();
    String links = jdbc(cluster, "links");
    if (links == null || !(cluster.get("postgresql") instanceof Map<?, ?> servers)) {
      return out;
    }
    int q = links.indexOf('?');
    String query = q < 0 ? "" : links.substring(q + 1);
    StringBuilder auth = new StringBuilder();
    for (String p : query.split("&")) {
      if (p.startsWith("user=") || p.startsWith("password=")) {
        auth.append(auth.length() == 0 ? "" : "&").append(p);
      }
    }
    for (Map.Entry<?, ?> e : servers.entrySet()) {
      if (e.getValue() instanceof Map<?, ?> server && server.get("port") instanceof Double port) {
        String name = String.valueOf(e.getKey());
        String db = name.startsWith("comments") ? "blog_comments" : "blog";
        out.put(name, "jdbc:postgresql://127.0.0.1:" + port.intValue() + "/" + db + "?" + auth);
      }
    }
    return out;
  }
}

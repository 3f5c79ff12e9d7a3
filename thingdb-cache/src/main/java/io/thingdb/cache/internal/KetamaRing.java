package io.thingdb.cache.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A consistent-hash ring that places every key on the same memcached server as libmemcached 1.x
 * (and so pylibmc, php-memcached and other clients built on it) for the same server list.
 *
 * <p>{@link #of(List)} and {@link #of(Map)} build libmemcached's {@code ketama_weighted} ring
 * ({@code MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED}, MD5): per server, {@code floor(weight /
 * totalWeight * 40 * serverCount) * 4} points (160 with equal weights, but see {@link #of(Map)}),
 * taken four at a time from the MD5 digests of {@code "host:port-i"}, or {@code "host-i"} when the
 * port is 11211. A key's hash is the first four bytes of the MD5 of its UTF-8 bytes, little-endian;
 * the key belongs to the first point at or after its hash, wrapping around. {@link
 * #ofPlainKetama(List)} builds libmemcached's plain {@code ketama} ring instead (100 points per
 * server, Jenkins one-at-a-time), for peers configured that way.
 *
 * <p>A server is identified by its host exactly as configured: there is no DNS lookup, so {@code
 * localhost:11211} and {@code 127.0.0.1:11211} are different servers with different points. An IPv6
 * address is written in brackets ({@code [::1]:11211}) and hashed without them, as pylibmc and
 * php-memcached hand it to libmemcached.
 *
 * <p>Removing a server moves only the keys it held, as long as the other servers keep their point
 * counts. With equal weights they get 160 points at most server counts, but libmemcached's
 * single-precision arithmetic gives 156 at some (25, 47, 50, 55, ...). The ring reproduces that, so
 * going to or from such a count also moves keys between the remaining servers, in every
 * libmemcached client alike.
 *
 * <p>Instances are immutable and thread-safe. Lookups allocate nothing for ASCII keys of up to 256
 * characters.
 */
public final class KetamaRing {
  private static final int MEMCACHED_DEFAULT_PORT = 11211;
  private static final int POINTS_PER_SERVER_WEIGHTED = 160;
  private static final int POINTS_PER_DIGEST = 4;
  private static final int POINTS_PER_SERVER_PLAIN = 100;
  private static final int SCRATCH_BYTES = 256;

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private enum Algorithm {
    KETAMA_WEIGHTED("ketama_weighted"),
    PLAIN_KETAMA("ketama");

    final String label;

    Algorithm(String label) {
      this.label = label;
    }
  }

  private final Algorithm algorithm;
  private final List<String> servers;
  private final int[] weights;

  /**
   * Point values with the sign bit flipped, so that signed order is libmemcached's unsigned order
   * and the hot loop compares plain ints.
   */
  private final int[] points;

  /** The index into {@link #servers} of the server that owns each point. */
  private final int[] owners;

  private KetamaRing(Algorithm algorithm, List<String> servers, int[] weights) {
    this.algorithm = algorithm;
    this.servers = servers;
    this.weights = weights;
    long[] continuum =
        algorithm == Algorithm.KETAMA_WEIGHTED ? weightedContinuum() : plainContinuum();
    // Sorting (point, server index) pairs breaks ties between servers the way libmemcached's
    // continuum_item_cmp does: the lower index first, and lookups take the first of equal points.
    Arrays.sort(continuum);
    this.points = new int[continuum.length];
    this.owners = new int[continuum.length];
    for (int i = 0; i < continuum.length; i++) {
      points[i] = (int) (continuum[i] >> 32);
      owners[i] = (int) continuum[i];
    }
  }

  /**
   * Returns libmemcached's {@code ketama_weighted} ring over {@code servers}, each of weight 1.
   *
   * @param servers {@code host:port} strings, in the order that {@link #indexFor} numbers them
   * @throws NullPointerException if {@code servers} or one of them is null
   * @throws IllegalArgumentException if the list is empty, a server is not {@code host:port} with a
   *     port from 1 to 65535, or a server is listed twice; the message names the server
   */
  public static KetamaRing of(List<String> servers) {
    Objects.requireNonNull(servers, "servers must not be null");
    Map<String, Integer> weights = new LinkedHashMap<>();
    for (String server : checkServers(servers)) {
      weights.put(server, 1);
    }
    return of(weights);
  }

  /**
   * Returns libmemcached's {@code ketama_weighted} ring over the servers of {@code weights}, which
   * are numbered in the map's iteration order (use an ordered map such as {@link LinkedHashMap}:
   * the order decides {@link #indexFor} and, as in libmemcached, which server wins when two servers
   * hash to the same point).
   *
   * <p>A server gets {@code floor(weight / totalWeight * 40 * serverCount) * 4} points, computed in
   * single precision exactly as libmemcached's {@code update_continuum} does, so that rounding
   * agrees with it as well. A server whose share rounds to no points at all is refused.
   *
   * @throws NullPointerException if {@code weights}, a server or a weight is null
   * @throws IllegalArgumentException if the map is empty, a server is not {@code host:port} with a
   *     port from 1 to 65535, a weight is below 1, or a weight is so small relative to the others
   *     that the server would get no points; the message names the server
   */
  static KetamaRing of(Map<String, Integer> weights) {
    Objects.requireNonNull(weights, "weights must not be null");
    List<String> servers = checkServers(new ArrayList<>(weights.keySet()));
    int[] w = new int[servers.size()];
    for (int i = 0; i < w.length; i++) {
      String server = servers.get(i);
      Integer weight = weights.get(server);
      if (weight == null) {
        throw new NullPointerException("weight of server \"" + server + "\" must not be null");
      }
      if (weight < 1) {
        throw new IllegalArgumentException(
            "server \"" + server + "\" has weight " + weight + "; expected 1 or more");
      }
      w[i] = weight;
    }
    return weighted(List.copyOf(servers), w);
  }

  private static KetamaRing weighted(List<String> servers, int[] weights) {
    long totalWeight = 0;
    for (int w : weights) {
      totalWeight += w;
    }
    for (int s = 0; s < weights.length; s++) {
      if (weightedPointCount(weights[s], totalWeight, weights.length) == 0) {
        throw new IllegalArgumentException(
            "server \""
                + servers.get(s)
                + "\" with weight "
                + weights[s]
                + " of "
                + totalWeight
                + " in total gets no points on the ring; raise its weight relative to the others");
      }
    }
    return new KetamaRing(Algorithm.KETAMA_WEIGHTED, servers, weights);
  }

  /**
   * Returns libmemcached's plain {@code ketama} ring (the {@code ketama} behaviour of pylibmc with
   * the default hash): 100 points per server, each the Jenkins one-at-a-time hash of {@code
   * "host:port-i"} (or {@code "host-i"} for port 11211), and keys hashed with one-at-a-time.
   * Weights are not supported: libmemcached switches to its weighted ring when any weight is above
   * 1. ThingDB's own default is {@link #of(List)}; this is for sharing a cluster with clients
   * configured for plain ketama.
   *
   * <p>libmemcached's one-at-a-time reads key bytes as C {@code char}, which is signed on x86 and
   * unsigned on ARM; this ring follows x86 for keys with bytes above 0x7F. Wire keys made by {@link
   * KeyCodec} are ASCII, where the two agree.
   *
   * @throws NullPointerException if {@code servers} or one of them is null
   * @throws IllegalArgumentException as for {@link #of(List)}
   */
  static KetamaRing ofPlainKetama(List<String> servers) {
    Objects.requireNonNull(servers, "servers must not be null");
    List<String> checked = checkServers(servers);
    int[] w = new int[checked.size()];
    Arrays.fill(w, 1);
    return new KetamaRing(Algorithm.PLAIN_KETAMA, List.copyOf(checked), w);
  }

  /** The servers, as configured, in the order that {@link #indexFor} numbers them. Immutable. */
  public List<String> servers() {
    return servers;
  }

  /**
   * Returns the index into {@link #servers()} of the server that holds {@code key}.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public int indexFor(String key) {
    Objects.requireNonNull(key, "key must not be null");
    if (servers.size() == 1) {
      // libmemcached skips hashing for a single server, and every point belongs to it anyway.
      return 0;
    }
    return indexForHash(hash(key));
  }

  /**
   * The hash of {@code key} on this ring's algorithm. A key's hash does not depend on the servers,
   * so one hash places a key on two rings of the same algorithm ({@link #indexForHash}): a client
   * comparing the ring before and after a change of servers hashes each key once.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public int hash(String key) {
    Objects.requireNonNull(key, "key must not be null");
    return algorithm == Algorithm.KETAMA_WEIGHTED ? md5Hash(key) : oneAtATimeHash(key);
  }

  /** The index into {@link #servers()} of the server that holds a key of hash {@code hash}. */
  public int indexForHash(int hash) {
    if (servers.size() == 1) {
      return 0;
    }
    int biased = hash ^ Integer.MIN_VALUE;
    int[] p = points;
    int low = 0;
    int high = p.length;
    while (low < high) {
      int mid = (low + high) >>> 1;
      if (p[mid] < biased) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return owners[low == p.length ? 0 : low];
  }

  /**
   * Returns the server, as configured, that holds {@code key}.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public String serverFor(String key) {
    return servers.get(indexFor(key));
  }

  /**
   * Returns the ring without {@code server}, as libmemcached builds it for the shorter list: the
   * remaining servers keep their order and weights.
   *
   * @throws NullPointerException if {@code server} is null
   * @throws IllegalArgumentException if {@code server} is not in this ring or is its only server,
   *     or if without it a light server's share of the weight would round to no points
   */
  KetamaRing without(String server) {
    Objects.requireNonNull(server, "server must not be null");
    int removed = servers.indexOf(server);
    if (removed < 0) {
      throw new IllegalArgumentException("server \"" + server + "\" is not in the ring " + servers);
    }
    if (servers.size() == 1) {
      throw new IllegalArgumentException(
          "cannot remove server \"" + server + "\": it is the only server in the ring");
    }
    List<String> rest = new ArrayList<>(servers);
    rest.remove(removed);
    int[] restWeights = new int[weights.length - 1];
    System.arraycopy(weights, 0, restWeights, 0, removed);
    System.arraycopy(weights, removed + 1, restWeights, removed, restWeights.length - removed);
    return algorithm == Algorithm.KETAMA_WEIGHTED
        ? weighted(List.copyOf(rest), restWeights)
        : new KetamaRing(algorithm, List.copyOf(rest), restWeights);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("KetamaRing{").append(algorithm.label).append(", ");
    boolean weighted = Arrays.stream(weights).anyMatch(w -> w != 1);
    sb.append(weighted ? weightsAsMap() : servers).append('}');
    return sb.toString();
  }

  private Map<String, Integer> weightsAsMap() {
    Map<String, Integer> m = new LinkedHashMap<>();
    for (int i = 0; i < weights.length; i++) {
      m.put(servers.get(i), weights[i]);
    }
    return m;
  }

  private long[] weightedContinuum() {
    int n = servers.size();
    long totalWeight = 0;
    for (int w : weights) {
      totalWeight += w;
    }
    int[] perServer = new int[n];
    int total = 0;
    for (int s = 0; s < n; s++) {
      perServer[s] = weightedPointCount(weights[s], totalWeight, n);
      total += perServer[s];
    }
    long[] continuum = new long[total];
    MessageDigest md5 = newMd5();
    int c = 0;
    for (int s = 0; s < n; s++) {
      String prefix = pointPrefix(servers.get(s));
      for (int i = 0; i < perServer[s] / POINTS_PER_DIGEST; i++) {
        byte[] digest = md5.digest((prefix + i).getBytes(UTF_8));
        for (int k = 0; k < POINTS_PER_DIGEST; k++) {
          continuum[c++] = entry(littleEndianInt(digest, k * 4), s);
        }
      }
    }
    return continuum;
  }

  /**
   * The number of points of a server in libmemcached's weighted ring. Its update_continuum (1.1.4,
   * src/libmemcached/hosts.cc) computes:
   *
   * <pre>
   * float pct = (float) weight / (float) total_weight;
   * pointer_per_server = (uint32_t) ((::floor((float) (pct * MEMCACHED_POINTS_PER_SERVER_KETAMA / 4
   *     * (float) live_servers + 0.0000000001F))) * 4);
   * </pre>
   *
   * with MEMCACHED_POINTS_PER_SERVER_KETAMA = 160. Every operation is in float, and that matters:
   * with 25 equal servers, 1/25f * 160 / 4 * 25 is 39.999996f, so each server gets 156 points where
   * exact arithmetic gives 160, and weights 1, 12, 3, 4, 5 give 28, 380, 92, 124, 160 points
   * instead of 32, 384, 96, 128, 160. Java float arithmetic is IEEE single precision, as x86-64
   * compilers use for C float, so the same expression yields the same counts.
   */
  static int weightedPointCount(int weight, long totalWeight, int serverCount) {
    float pct = (float) weight / (float) totalWeight;
    float perDigest =
        pct * POINTS_PER_SERVER_WEIGHTED / POINTS_PER_DIGEST * (float) serverCount + 0.0000000001F;
    return (int) Math.floor(perDigest) * POINTS_PER_DIGEST;
  }

  private long[] plainContinuum() {
    long[] continuum = new long[servers.size() * POINTS_PER_SERVER_PLAIN];
    int c = 0;
    for (int s = 0; s < servers.size(); s++) {
      String prefix = pointPrefix(servers.get(s));
      for (int i = 0; i < POINTS_PER_SERVER_PLAIN; i++) {
        byte[] name = (prefix + i).getBytes(UTF_8);
        continuum[c++] = entry(oneAtATime(name, name.length), s);
      }
    }
    return continuum;
  }

  /** Packs a point and its owner so that sorting the longs sorts by (unsigned point, owner). */
  private static long entry(int point, int owner) {
    return ((long) (point ^ Integer.MIN_VALUE) << 32) | owner;
  }

  /** What libmemcached hashes, before the point number, for a server we have already checked. */
  private static String pointPrefix(String server) {
    int colon = server.lastIndexOf(':');
    String host = server.substring(0, colon);
    if (host.startsWith("[")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = Integer.parseInt(server.substring(colon + 1));
    return port == MEMCACHED_DEFAULT_PORT ? host + "-" : host + ":" + port + "-";
  }

  private static List<String> checkServers(List<String> servers) {
    if (servers.isEmpty()) {
      throw new IllegalArgumentException("servers must not be empty");
    }
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < servers.size(); i++) {
      String server = servers.get(i);
      if (server == null) {
        throw new NullPointerException("server " + i + " must not be null");
      }
      checkServer(server);
      if (!seen.add(server)) {
        throw new IllegalArgumentException("server \"" + server + "\" is listed twice");
      }
    }
    return servers;
  }

  private static void checkServer(String server) {
    int colon = server.lastIndexOf(':');
    String host = colon < 0 ? "" : server.substring(0, colon);
    boolean bracketed = host.startsWith("[") && host.endsWith("]") && host.length() > 2;
    String bare = bracketed ? host.substring(1, host.length() - 1) : host;
    if (bare.isEmpty()
        || (!bracketed && bare.indexOf(':') >= 0)
        || bare.indexOf('[') >= 0
        || bare.indexOf(']') >= 0) {
      throw new IllegalArgumentException(
          "server \"" + server + "\" is not host:port (write IPv6 addresses as [::1]:11211)");
    }
    for (int i = 0; i < bare.length(); i++) {
      char ch = bare.charAt(i);
      if (ch <= ' ' || ch == 0x7F) {
        throw new IllegalArgumentException(
            "server \"" + server + "\" has a space or control character in its host");
      }
    }
    String port = server.substring(colon + 1);
    if (!isPort(port)) {
      throw new IllegalArgumentException(
          "server \"" + server + "\" has port \"" + port + "\"; expected 1 to 65535");
    }
  }

  /**
   * True for 1 to 65535 without sign or leading zeros: libmemcached hashes the port as {@code %u},
   * so "h:011211" would hash differently from how it reads.
   */
  private static boolean isPort(String port) {
    if (port.isEmpty() || port.length() > 5 || port.charAt(0) == '0') {
      return false;
    }
    int value = 0;
    for (int i = 0; i < port.length(); i++) {
      char ch = port.charAt(i);
      if (ch < '0' || ch > '9') {
        return false;
      }
      value = value * 10 + (ch - '0');
    }
    return value <= 65535;
  }

  private static int md5Hash(String key) {
    Scratch scratch = SCRATCH.get();
    byte[] bytes = scratch.bytes;
    int length = asciiInto(key, bytes);
    if (length < 0) {
      bytes = key.getBytes(UTF_8);
      length = bytes.length;
    }
    MessageDigest md5 = scratch.md5;
    md5.update(bytes, 0, length);
    try {
      md5.digest(scratch.digest, 0, scratch.digest.length);
    } catch (DigestException e) {
      throw new AssertionError("MD5 digest does not fit in 16 bytes", e);
    }
    return littleEndianInt(scratch.digest, 0);
  }

  private static int oneAtATimeHash(String key) {
    Scratch scratch = SCRATCH.get();
    byte[] bytes = scratch.bytes;
    int length = asciiInto(key, bytes);
    if (length < 0) {
      bytes = key.getBytes(UTF_8);
      length = bytes.length;
    }
    return oneAtATime(bytes, length);
  }

  /**
   * Copies an ASCII key into {@code buffer} and returns its length, or -1 if the key is not ASCII
   * or does not fit, so that common keys are hashed without allocating their UTF-8 bytes.
   */
  private static int asciiInto(String key, byte[] buffer) {
    int length = key.length();
    if (length > buffer.length) {
      return -1;
    }
    for (int i = 0; i < length; i++) {
      char ch = key.charAt(i);
      if (ch >= 0x80) {
        return -1;
      }
      buffer[i] = (byte) ch;
    }
    return length;
  }

  /** libhashkit's hashkit_one_at_a_time; Java bytes are signed like x86 C chars. */
  private static int oneAtATime(byte[] bytes, int length) {
    int value = 0;
    for (int i = 0; i < length; i++) {
      value += bytes[i];
      value += value << 10;
      value ^= value >>> 6;
    }
    value += value << 3;
    value ^= value >>> 11;
    value += value << 15;
    return value;
  }

  private static int littleEndianInt(byte[] b, int offset) {
    return (b[offset] & 0xFF)
        | (b[offset + 1] & 0xFF) << 8
        | (b[offset + 2] & 0xFF) << 16
        | (b[offset + 3] & 0xFF) << 24;
  }

  private static MessageDigest newMd5() {
    try {
      return MessageDigest.getInstance("MD5");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no MD5, which every Java platform must provide", e);
    }
  }

  /**
   * Per-thread MD5 state and buffers, so that a lookup allocates nothing. MessageDigest is not
   * thread-safe, and getInstance costs more than hashing a short key.
   */
  private static final class Scratch {
    final MessageDigest md5 = newMd5();
    final byte[] bytes = new byte[SCRATCH_BYTES];
    final byte[] digest = new byte[16];
  }
}

package io.thingdb.examples.blog;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The blog's settings, from command-line flags or environment variables (flags win). Without a
 * database URL the blog runs on an embedded PostgreSQL whose data stays in {@code --data-dir};
 * without memcached servers it uses the in-process cache. Immutable and thread-safe; built by
 * {@link Builder}, which validates each value as it is set.
 *
 * <pre>
 * --port N                 BLOG_PORT             HTTP port (default 8080; 0 = any free port)
 * --host NAME              BLOG_HOST             address to listen on (default 127.0.0.1)
 * --data-dir DIR           BLOG_DATA_DIR         embedded PostgreSQL data and the session secret (default ./blog-data)
 * --db JDBC_URL            BLOG_DB_URL           main database (accounts, communities, links, their votes and listings)
 * --db-replica JDBC_URL    BLOG_DB_REPLICAS      a read replica of it (repeatable; env: comma-separated)
 * --comments-db JDBC_URL   BLOG_COMMENTS_DB_URL  comments, their votes and listings (default: the main database)
 * --comments-db-replica U  BLOG_COMMENTS_DB_REPLICAS
 * --batch-replica JDBC_URL BLOG_BATCH_REPLICA    the replica of the main database that the windowed recompute
 *                                                reads (default: the first --db-replica, else the primary)
 * --memcached H:P,H:P      BLOG_MEMCACHED        memcached servers (default: in-process cache)
 * --memcached-file PATH    BLOG_MEMCACHED_FILE   memcached servers, one host:port per line (# comments);
 *                                                re-read every second, a changed list applied at runtime
 *                                                (exclusive with --memcached)
 * --pbkdf2-iterations N    BLOG_PBKDF2_ITERATIONS  password hashing rounds (default 600000)
 * --nofollow-threshold N   BLOG_NOFOLLOW_THRESHOLD score from which links lose rel="nofollow ugc" (default 10)
 * --page-cache-ttl SECONDS BLOG_PAGE_CACHE_TTL   anonymous whole-page cache (default 5)
 * --recompute-interval S   BLOG_RECOMPUTE_INTERVAL  top/controversial by time window (default 60)
 * --admin-password PW      BLOG_ADMIN_PASSWORD   the seeded "admin" account's password (default: random, printed once)
 * --no-seed                BLOG_SEED=false       do not seed an empty database
 * --http-threads N         BLOG_HTTP_THREADS     request threads (default 8)
 * --access-log WHERE       BLOG_ACCESS_LOG       stdout (default), off, or a file to append to
 * --secure-cookies         BLOG_SECURE_COOKIES=true  mark cookies Secure (set this behind an HTTPS proxy;
 *                                                requests with X-Forwarded-Proto: https get it anyway)
 * --login-attempts N       BLOG_LOGIN_ATTEMPTS   logins per account per minute (default 10)
 * --address-attempts N     BLOG_ADDRESS_ATTEMPTS logins and signups per client address per minute (default 60)
 * --roles R,R              BLOG_ROLES            what this process does, of web, processors, recompute
 *                                                (default all three; /healthz and /metrics are always served)
 * </pre>
 */
public final class Config {
  /** Request threads unless {@code --http-threads} says otherwise. */
  static final int DEFAULT_HTTP_THREADS = 8;

  final int port;
  final String host;
  final Path dataDir;
  final String dbUrl;
  final List<String> dbReplicas;
  final String commentsDbUrl;
  final List<String> commentsDbReplicas;

  /** The main database's replica kept for the batch recompute, or null. */
  final String batchReplica;

  final List<String> memcached;

  /** The memcached servers file ({@link MemcachedServersFile}), or null. */
  final Path memcachedFile;

  final int pbkdf2Iterations;
  final int nofollowThreshold;
  final Duration pageCacheTtl;
  final Duration recomputeInterval;
  final String adminPassword;
  final boolean seed;
  final byte[] secret;
  final int httpThreads;

  /** "stdout", "off" or a file path. */
  final String accessLog;

  final boolean secureCookies;
  final int loginAttemptsPerAccount;
  final int attemptsPerAddress;

  /** What this process does: {@link #ROLES}, a subset. */
  final java.util.Set<String> roles;

  /**
   * The roles a process can take: {@code web} serves the site's pages and forms, {@code processors}
   * runs the listing-queue workers, {@code recompute} the windowed top/controversial recompute.
   */
  static final List<String> ROLES = List.of("web", "processors", "recompute");

  private Config(Builder b) {
    this.port = b.port;
    this.host = b.host;
    this.dataDir = b.dataDir;
    this.dbUrl = b.dbUrl;
    this.dbReplicas = List.copyOf(b.dbReplicas);
    this.commentsDbUrl = b.commentsDbUrl;
    this.commentsDbReplicas = List.copyOf(b.commentsDbReplicas);
    this.batchReplica = b.batchReplica;
    this.memcached = List.copyOf(b.memcached);
    this.memcachedFile = b.memcachedFile;
    this.pbkdf2Iterations = b.pbkdf2Iterations;
    this.nofollowThreshold = b.nofollowThreshold;
    this.pageCacheTtl = b.pageCacheTtl;
    this.recomputeInterval = b.recomputeInterval;
    this.adminPassword = b.adminPassword;
    this.seed = b.seed;
    this.secret = b.secret == null ? null : b.secret.clone();
    this.httpThreads = b.httpThreads;
    this.accessLog = b.accessLog;
    this.secureCookies = b.secureCookies;
    this.loginAttemptsPerAccount = b.loginAttemptsPerAccount;
    this.attemptsPerAddress = b.attemptsPerAddress;
    this.roles = java.util.Set.copyOf(b.roles);
  }

  /** Whether this process takes {@code role}. */
  boolean has(String role) {
    return roles.contains(role);
  }

  /** A builder with the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** Whether the blog starts its own PostgreSQL (no {@code --db} given). */
  public boolean embedded() {
    return dbUrl == null;
  }

  /**
   * Reads flags, then environment variables for what the flags left unset.
   *
   * @throws IllegalArgumentException naming the flag or variable that is wrong
   */
  public static Config fromArgs(String[] args, Map<String, String> env) {
    Builder b = builder();
    env(env, "BLOG_ROLES", v -> b.roles(split(v)));
    env(env, "BLOG_PORT", v -> b.port(parseInt("BLOG_PORT", v)));
    env(env, "BLOG_HOST", b::host);
    env(env, "BLOG_DATA_DIR", v -> b.dataDir(Path.of(v)));
    env(env, "BLOG_DB_URL", b::db);
    env(env, "BLOG_DB_REPLICAS", v -> split(v).forEach(b::dbReplica));
    env(env, "BLOG_COMMENTS_DB_URL", b::commentsDb);
    env(env, "BLOG_COMMENTS_DB_REPLICAS", v -> split(v).forEach(b::commentsDbReplica));
    env(env, "BLOG_BATCH_REPLICA", b::batchReplica);
    env(env, "BLOG_MEMCACHED", v -> b.memcached(split(v)));
    env(env, "BLOG_MEMCACHED_FILE", v -> b.memcachedFile(Path.of(v)));
    env(
        env,
        "BLOG_PBKDF2_ITERATIONS",
        v -> b.pbkdf2Iterations(parseInt("BLOG_PBKDF2_ITERATIONS", v)));
    env(
        env,
        "BLOG_NOFOLLOW_THRESHOLD",
        v -> b.nofollowThreshold(parseInt("BLOG_NOFOLLOW_THRESHOLD", v)));
    env(
        env,
        "BLOG_PAGE_CACHE_TTL",
        v -> b.pageCacheTtl(Duration.ofSeconds(parseInt("BLOG_PAGE_CACHE_TTL", v))));
    env(
        env,
        "BLOG_RECOMPUTE_INTERVAL",
        v -> b.recomputeInterval(Duration.ofSeconds(parseInt("BLOG_RECOMPUTE_INTERVAL", v))));
    env(env, "BLOG_ADMIN_PASSWORD", b::adminPassword);
    env(env, "BLOG_SEED", v -> b.seed(Boolean.parseBoolean(v)));
    env(env, "BLOG_SECRET", v -> b.secret(v.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    env(env, "BLOG_HTTP_THREADS", v -> b.httpThreads(parseInt("BLOG_HTTP_THREADS", v)));
    env(env, "BLOG_ACCESS_LOG", b::accessLog);
    env(env, "BLOG_SECURE_COOKIES", v -> b.secureCookies(Boolean.parseBoolean(v)));
    env(
        env,
        "BLOG_LOGIN_ATTEMPTS",
        v -> b.loginAttemptsPerAccount(parseInt("BLOG_LOGIN_ATTEMPTS", v)));
    env(
        env,
        "BLOG_ADDRESS_ATTEMPTS",
        v -> b.attemptsPerAddress(parseInt("BLOG_ADDRESS_ATTEMPTS", v)));
    boolean replicasFromFlags = false;
    boolean commentReplicasFromFlags = false;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("--no-seed")) {
        b.seed(false);
        continue;
      }
      if (flag.equals("--secure-cookies")) {
        b.secureCookies(true);
        continue;
      }
      if (flag.equals("--help") || flag.equals("-h")) {
        throw new IllegalArgumentException(
            "usage: see the Config class comment or examples/blog/README.md");
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException("flag " + flag + " needs a value");
      }
      String v = args[++i];
      switch (flag) {
        case "--port" -> b.port(parseInt(flag, v));
        case "--host" -> b.host(v);
        case "--data-dir" -> b.dataDir(Path.of(v));
        case "--db" -> b.db(v);
        case "--db-replica" -> {
          if (!replicasFromFlags) {
            b.dbReplicas.clear();
            replicasFromFlags = true;
          }
          b.dbReplica(v);
        }
        case "--comments-db" -> b.commentsDb(v);
        case "--comments-db-replica" -> {
          if (!commentReplicasFromFlags) {
            b.commentsDbReplicas.clear();
            commentReplicasFromFlags = true;
          }
          b.commentsDbReplica(v);
        }
        case "--batch-replica" -> b.batchReplica(v);
        case "--memcached" -> b.memcached(split(v));
        case "--memcached-file" -> b.memcachedFile(Path.of(v));
        case "--pbkdf2-iterations" -> b.pbkdf2Iterations(parseInt(flag, v));
        case "--nofollow-threshold" -> b.nofollowThreshold(parseInt(flag, v));
        case "--page-cache-ttl" -> b.pageCacheTtl(Duration.ofSeconds(parseInt(flag, v)));
        case "--recompute-interval" -> b.recomputeInterval(Duration.ofSeconds(parseInt(flag, v)));
        case "--admin-password" -> b.adminPassword(v);
        case "--http-threads" -> b.httpThreads(parseInt(flag, v));
        case "--access-log" -> b.accessLog(v);
        case "--login-attempts" -> b.loginAttemptsPerAccount(parseInt(flag, v));
        case "--address-attempts" -> b.attemptsPerAddress(parseInt(flag, v));
        case "--roles" -> b.roles(split(v));
        default ->
            throw new IllegalArgumentException(
                "unknown flag " + flag + " (see examples/blog/README.md)");
      }
    }
    return b.build();
  }

  private static void env(
      Map<String, String> env, String name, java.util.function.Consumer<String> set) {
    String v = env.get(name);
    if (v != null && !v.isBlank()) {
      try {
        set.accept(v.trim());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "environment variable " + name + ": " + e.getMessage(), e);
      }
    }
  }

  private static int parseInt(String name, String v) {
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a whole number, was '" + v + "'", e);
    }
  }

  private static List<String> split(String v) {
    List<String> out = new ArrayList<>();
    for (String s : v.split(",")) {
      if (!s.isBlank()) {
        out.add(s.trim());
      }
    }
    return out;
  }

  /** Builds a {@link Config}; every setter validates. Not thread-safe. */
  public static final class Builder {
    private int port = 8080;
    private String host = "127.0.0.1";
    private Path dataDir = Path.of("blog-data");
    private String dbUrl;
    private final List<String> dbReplicas = new ArrayList<>();
    private String commentsDbUrl;
    private final List<String> commentsDbReplicas = new ArrayList<>();
    private String batchReplica;
    private List<String> memcached = List.of();
    private Path memcachedFile;
    private int pbkdf2Iterations = Passwords.DEFAULT_ITERATIONS;
    private int nofollowThreshold = 10;
    private Duration pageCacheTtl = Duration.ofSeconds(5);
    private Duration recomputeInterval = Duration.ofSeconds(60);
    private String adminPassword;
    private boolean seed = true;
    private byte[] secret;
    private int httpThreads = DEFAULT_HTTP_THREADS;
    private String accessLog = "stdout";
    private boolean secureCookies;
    private int loginAttemptsPerAccount = 10;
    private int attemptsPerAddress = 60;
    private List<String> roles = ROLES;

    private Builder() {}

    /**
     * What this process does, a non-empty subset of {@link #ROLES}. Default: all of them.
     *
     * @throws IllegalArgumentException naming an unknown role, or if none is given
     */
    public Builder roles(List<String> roles) {
      if (roles.isEmpty()) {
        throw new IllegalArgumentException("roles must name at least one of " + ROLES);
      }
      for (String r : roles) {
        if (!ROLES.contains(r)) {
          throw new IllegalArgumentException("unknown role '" + r + "': roles are " + ROLES);
        }
      }
      this.roles = List.copyOf(roles);
      return this;
    }

    /**
     * Whether every cookie is marked {@code Secure} (the site is served over HTTPS by a proxy in
     * front). Requests that arrive with {@code X-Forwarded-Proto: https} get {@code Secure} cookies
     * either way.
     */
    public Builder secureCookies(boolean secure) {
      this.secureCookies = secure;
      return this;
    }

    /**
     * Logins per account name per minute (a token bucket: this many at once, then one more every
     * 60/n seconds); more are answered 429 with {@code Retry-After}, before any password hashing.
     */
    public Builder loginAttemptsPerAccount(int n) {
      if (n < 1 || n > 100_000) {
        throw new IllegalArgumentException("login attempts per account must be 1 to 100000: " + n);
      }
      this.loginAttemptsPerAccount = n;
      return this;
    }

    /** Logins and signups per client address per minute, as {@link #loginAttemptsPerAccount}. */
    public Builder attemptsPerAddress(int n) {
      if (n < 1 || n > 100_000) {
        throw new IllegalArgumentException("attempts per address must be 1 to 100000: " + n);
      }
      this.attemptsPerAddress = n;
      return this;
    }

    /** HTTP port, 0 for any free port. */
    public Builder port(int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port must be 0 to 65535: " + port);
      }
      this.port = port;
      return this;
    }

    /** Address to listen on. */
    public Builder host(String host) {
      this.host = Objects.requireNonNull(host, "host must not be null");
      return this;
    }

    /** Where the embedded PostgreSQL keeps its data and the blog its session secret. */
    public Builder dataDir(Path dir) {
      this.dataDir = Objects.requireNonNull(dir, "data dir must not be null");
      return this;
    }

    /** The main database's JDBC URL (user and password as URL parameters). */
    public Builder db(String jdbcUrl) {
      this.dbUrl = jdbc("--db", jdbcUrl);
      return this;
    }

    /** A replica of the main database. */
    public Builder dbReplica(String jdbcUrl) {
      dbReplicas.add(jdbc("--db-replica", jdbcUrl));
      return this;
    }

    /** The comments database's JDBC URL. */
    public Builder commentsDb(String jdbcUrl) {
      this.commentsDbUrl = jdbc("--comments-db", jdbcUrl);
      return this;
    }

    /** A replica of the comments database. */
    public Builder commentsDbReplica(String jdbcUrl) {
      commentsDbReplicas.add(jdbc("--comments-db-replica", jdbcUrl));
      return this;
    }

    /**
     * The replica of the main database that the windowed recompute reads, so that its bulk scans
     * load neither the primary nor the replicas that serve pages (default: the first {@link
     * #dbReplica}, else the primary).
     */
    public Builder batchReplica(String jdbcUrl) {
      this.batchReplica = jdbc("--batch-replica", jdbcUrl);
      return this;
    }

    /** memcached servers as {@code host:port}. */
    public Builder memcached(List<String> servers) {
      for (String s : servers) {
        int colon = s.lastIndexOf(':');
        if (colon < 1 || colon == s.length() - 1) {
          throw new IllegalArgumentException("memcached server must be host:port, was '" + s + "'");
        }
      }
      this.memcached = List.copyOf(servers);
      return this;
    }

    /**
     * A file listing the memcached servers, one {@code host:port} per line, re-read every second;
     * see {@link MemcachedServersFile}.
     */
    public Builder memcachedFile(Path file) {
      this.memcachedFile = Objects.requireNonNull(file, "memcached file must not be null");
      return this;
    }

    /** PBKDF2 rounds for new password hashes. */
    public Builder pbkdf2Iterations(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("pbkdf2 iterations must be at least 1: " + n);
      }
      this.pbkdf2Iterations = n;
      return this;
    }

    /** The score from which outbound links lose {@code rel="nofollow ugc"}. */
    public Builder nofollowThreshold(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("nofollow threshold must be at least 1: " + n);
      }
      this.nofollowThreshold = n;
      return this;
    }

    /** How long anonymous visitors may get a cached copy of a page (whole seconds, at least 1). */
    public Builder pageCacheTtl(Duration ttl) {
      if (ttl.getSeconds() < 1 || ttl.getNano() != 0) {
        throw new IllegalArgumentException(
            "page cache ttl must be whole seconds, at least 1: " + ttl);
      }
      this.pageCacheTtl = ttl;
      return this;
    }

    /** How often the windowed top/controversial listings are recomputed. */
    public Builder recomputeInterval(Duration interval) {
      if (interval.isNegative() || interval.isZero()) {
        throw new IllegalArgumentException("recompute interval must be positive: " + interval);
      }
      this.recomputeInterval = interval;
      return this;
    }

    /** The seeded admin's password (otherwise a random one, printed once). */
    public Builder adminPassword(String pw) {
      if (pw.length() < 8) {
        throw new IllegalArgumentException("admin password must be at least 8 characters");
      }
      this.adminPassword = pw;
      return this;
    }

    /** Whether to seed an empty database. */
    public Builder seed(boolean seed) {
      this.seed = seed;
      return this;
    }

    /** The session-signing secret (otherwise kept in {@code <data-dir>/session-secret}). */
    public Builder secret(byte[] secret) {
      if (secret.length < 32) {
        throw new IllegalArgumentException(
            "the session secret must be at least 32 bytes, was " + secret.length);
      }
      this.secret = secret.clone();
      return this;
    }

    /**
     * Request threads. A page-cache hit needs no more threads than cores; a logged-in page waits on
     * the cache and the database, so a few more keep the cores busy meanwhile.
     */
    public Builder httpThreads(int n) {
      if (n < 1 || n > 1000) {
        throw new IllegalArgumentException("http threads must be 1 to 1000: " + n);
      }
      this.httpThreads = n;
      return this;
    }

    /** Where the access log goes: {@code stdout}, {@code off}, or a file to append to. */
    public Builder accessLog(String where) {
      Objects.requireNonNull(where, "access log must not be null");
      if (where.isBlank()) {
        throw new IllegalArgumentException(
            "access log must be stdout, off or a file path, was empty");
      }
      this.accessLog = where;
      return this;
    }

    /**
     * The configuration.
     *
     * @throws IllegalStateException if replicas are given without their primary
     */
    public Config build() {
      if (dbUrl == null
          && (!dbReplicas.isEmpty()
              || commentsDbUrl != null
              || !commentsDbReplicas.isEmpty()
              || batchReplica != null)) {
        throw new IllegalStateException(
            "replicas and --comments-db need --db (the embedded default runs one server)");
      }
      if (memcachedFile != null && !memcached.isEmpty()) {
        throw new IllegalStateException(
            "--memcached-file ("
                + memcachedFile
                + ") and --memcached are exclusive: list the servers in the file");
      }
      if (commentsDbUrl == null && !commentsDbReplicas.isEmpty()) {
        throw new IllegalStateException("--comments-db-replica needs --comments-db");
      }
      return new Config(this);
    }

    private static String jdbc(String flag, String url) {
      Objects.requireNonNull(url, flag + " must not be null");
      if (!url.startsWith("jdbc:postgresql:")) {
        throw new IllegalArgumentException(
            flag + " must be a jdbc:postgresql: URL, was '" + url + "'");
      }
      return url;
    }
  }
}

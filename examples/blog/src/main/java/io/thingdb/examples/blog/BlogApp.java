package io.thingdb.examples.blog;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.thingdb.cache.Cache;
import io.thingdb.cache.InProcessCache;
import io.thingdb.cache.MemcachedCache;
import io.thingdb.cache.PostgresLocks;
import io.thingdb.cache.VersionedCache;
import io.thingdb.core.Database;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingDbBuilder;
import io.thingdb.core.ThingDbMetrics;
import io.thingdb.listings.Listing;
import io.thingdb.listings.ListingMetrics;
import io.thingdb.listings.ListingProcessors;
import io.thingdb.listings.ListingRecompute;
import io.thingdb.listings.ListingStore;
import io.thingdb.listings.Votes;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The whole blog, wired and running: databases (embedded PostgreSQL or the configured servers), the
 * cache, the {@link ThingDb}, the listing stores, votes, queue processors and recompute, and the
 * HTTP server. {@link #start} brings it up in that order; {@link #close} takes it down in the
 * reverse one: processors stop claiming work first (jobs not yet applied stay queued in PostgreSQL
 * and resume at the next start), then the HTTP server, then the library objects and pools, and the
 * embedded PostgreSQL last.
 *
 * <p>Thread-safe; {@link #close} is idempotent.
 */
public final class BlogApp implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(BlogApp.class);
  private static final int POOL_SIZE = 12;
  private static final Duration POOL_TIMEOUT = Duration.ofMillis(500);

  /** How long at least an anonymous page outlives its TTL in the page cache; see startAll. */
  private static final Duration PAGE_OUTAGE_GRACE = Duration.ofMinutes(1);

  /** How long an access log line may wait in memory before it is written. */
  private static final Duration ACCESS_LOG_FLUSH = Duration.ofMillis(200);

  private final List<AutoCloseable> resources = new ArrayList<>(); // closed in reverse order
  private EmbeddedPostgres embedded;
  private ThingDb db;
  private Site site;
  private BlogServer server;
  private final List<ListingProcessors> processors = new ArrayList<>();
  private final List<ListingRecompute> recomputes = new ArrayList<>();

  /**
   * Comment recount marks older than this are swept (see {@link Site#sweepRecounts}): longer than
   * any request, and than the comments replica's lag.
   */
  static final Duration RECOUNT_GRACE = Duration.ofSeconds(30);

  static final Duration RECOUNT_SWEEP_EVERY = Duration.ofSeconds(10);

  private final ScheduledExecutorService recountSweep =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "blog-recount-sweep");
            t.setDaemon(true);
            return t;
          });
  private String seededAdminPassword;
  private boolean closed;

  private BlogApp() {}

  /**
   * Starts the blog. On failure, whatever was started is stopped again before the exception
   * propagates.
   */
  public static BlogApp start(Config config) {
    BlogApp app = new BlogApp();
    try {
      app.startAll(config);
      return app;
    } catch (IOException e) {
      app.close();
      throw new UncheckedIOException("the blog did not start: " + e.getMessage(), e);
    } catch (RuntimeException | Error e) {
      app.close(); // above all the embedded PostgreSQL, which would otherwise outlive the JVM
      throw e;
    }
  }

  private void startAll(Config config) throws IOException {
    String mainUrl = config.dbUrl;
    String commentsUrl = config.commentsDbUrl;
    if (config.embedded()) {
      Files.createDirectories(config.dataDir);
      embedded = startEmbedded(config.dataDir.resolve("postgres"));
      resources.add(embedded);
      createDatabase("blog");
      createDatabase("blog_comments");
      mainUrl = embedded.getJdbcUrl("postgres", "blog");
      commentsUrl = embedded.getJdbcUrl("postgres", "blog_comments");
    }
    HikariDataSource main = pool("blog-main", mainUrl);
    Database mainDb =
        Database.of(main)
            .withReplicas(replicas("blog-main-replica", config.dbReplicas))
            .withProbe(probe(mainUrl));
    HikariDataSource comments = commentsUrl == null ? main : pool("blog-comments", commentsUrl);
    Database commentsDb =
        commentsUrl == null
            ? mainDb
            : Database.of(comments)
                .withReplicas(replicas("blog-comments-replica", config.commentsDbReplicas))
                .withProbe(probe(commentsUrl));

    List<String> servers =
        config.memcachedFile == null
            ? config.memcached
            : MemcachedServersFile.read(config.memcachedFile);
    Cache cache =
        servers.isEmpty()
            ? InProcessCache.builder().namespace("blog").maximumBytes(256L * 1024 * 1024).build()
            : MemcachedCache.builder().servers(servers).namespace("blog").build();
    resources.add(cache);
    if (config.memcachedFile != null) {
      // Closed before the cache (resources close in reverse order).
      resources.add(
          MemcachedServersFile.watch(config.memcachedFile, (MemcachedCache) cache, servers));
    }

    ThingDbBuilder b = ThingDb.builder().database("main", mainDb);
    if (comments != main) {
      b.database("comments", commentsDb);
    }
    String commentsName = comments != main ? "comments" : "main";
    db =
        b.type(Models.ACCOUNT, "main")
            .type(Models.COMMUNITY, "main")
            .type(Models.LINK, "main")
            .relation(Models.VOTE_LINK, "main")
            // Vertical partitioning: comments, their votes and their listing queue on their own
            // database.
            .type(Models.COMMENT, commentsName)
            .relation(Models.VOTE_COMMENT, commentsName)
            .cache(cache)
            .build();
    resources.add(db);

    Listings routing = new Listings(Listing.DEFAULT_CAPACITY);
    // The listing classes run plain JDBC: behind ThingDB's circuit, so that they fail fast during
    // an outage as ThingDB does (OutageGuard), and counted per request like ThingDb's own
    // statements.
    DataSource mainGuarded = OutageGuard.wrap(db, "main", main);
    DataSource commentsGuarded =
        comments == main ? mainGuarded : OutageGuard.wrap(db, "comments", comments);
    DataSource mainCounted = SqlCounter.wrap(mainGuarded);
    DataSource commentsCounted = comments == main ? mainCounted : SqlCounter.wrap(commentsGuarded);
    // Cached listings carry their database's cache epoch: none written by a transaction that a
    // promotion lost is read after it.
    ListingStore linkStore =
        ListingStore.builder(mainCounted)
            .cache(cache)
            .cacheEpoch(db, "main")
            .keyPattern(Listings.KEY_PATTERN)
            .build();
    resources.add(linkStore);
    ListingStore commentStore = linkStore;
    if (comments != main) {
      commentStore =
          ListingStore.builder(commentsCounted)
              .cache(cache)
              .cacheEpoch(db, commentsName)
              .keyPattern(Listings.KEY_PATTERN)
              .build();
      resources.add(commentStore);
    }
    Votes linkVotes = Votes.builder(db, mainCounted, Models.VOTE_LINK, routing, linkStore).build();
    resources.add(linkVotes);
    Votes commentVotes =
        Votes.builder(db, commentsCounted, Models.VOTE_COMMENT, routing, commentStore).build();
    resources.add(commentVotes);

    byte[] secret = config.secret != null ? config.secret : secret(config.dataDir);
    site =
        new Site(
            config,
            db,
            linkVotes,
            commentVotes,
            linkStore,
            commentStore,
            new SessionCookies(secret, Clock.systemUTC()),
            PostgresLocks.builder(mainGuarded).namespace("blog").build(),
            RecountMarks.create(mainGuarded),
            Clock.systemUTC());
    // Anonymous pages: an expired page may be served for up to a minute more (at least one TTL)
    // while one render replaces it; and while a database is down, without a render (PageCache),
    // so that the pages visitors were reading outlive an outage of up to a minute. The cost: a
    // page nobody asked for since it expired may be shown once up to a minute old.
    Duration staleGrace =
        config.pageCacheTtl.compareTo(PAGE_OUTAGE_GRACE) > 0
            ? config.pageCacheTtl
            : PAGE_OUTAGE_GRACE;
    VersionedCache pageCache = VersionedCache.builder(cache).staleGrace(staleGrace).build();
    resources.add(pageCache);

    // In-process queue processors, one set per database that holds a queue.
    processors.add(ListingProcessors.builder(db, mainGuarded, linkStore, routing).build());
    if (comments != main) {
      processors.add(ListingProcessors.builder(db, commentsGuarded, commentStore, routing).build());
    }

    if (config.seed) {
      seededAdminPassword = new Seeder(site, config).seedIfEmpty();
      drainListings(); // the first page shows the seed at once
    }

    // Top and controversial of the last hour/day/week/month/year, recomputed in bulk from a replica
    // (or the primary): per community, and for the whole site through the SITE prop (always 0).
    // --batch-replica names a replica kept for it alone, as the original site kept one for batch
    // jobs and crawlers.
    DataSource read =
        config.batchReplica != null
            ? pool("blog-batch-replica", config.batchReplica)
            : mainDb.replicas().isEmpty() ? mainGuarded : mainDb.replicas().get(0);
    ListingRecompute.Builder perCommunity =
        ListingRecompute.builder(db, read, linkStore, Models.LINK, Models.COMMUNITY_ID)
            .interval(config.recomputeInterval);
    int communities = 0;
    for (io.thingdb.core.Thing c : site.communities()) {
      perCommunity.group(Listings.community(c.id()), c.id());
      communities++;
    }
    if (communities > 0) {
      recomputes.add(perCommunity.build());
    }
    recomputes.add(
        ListingRecompute.builder(db, read, linkStore, Models.LINK, Models.SITE)
            .group(Listings.site(), 0)
            .interval(config.recomputeInterval)
            .build());

    if (config.has("processors")) {
      for (ListingProcessors p : processors) {
        p.start();
      }
    }
    if (config.has("recompute")) {
      for (ListingRecompute r : recomputes) {
        r.start();
      }
    }
    PrometheusMeterRegistry metrics = metrics(config);
    recountSweep.scheduleWithFixedDelay(
        () -> site.sweepRecounts(RECOUNT_GRACE),
        RECOUNT_SWEEP_EVERY.toMillis(),
        RECOUNT_SWEEP_EVERY.toMillis(),
        TimeUnit.MILLISECONDS);
    AccessLog accessLog = accessLog(config);
    try {
      server =
          new BlogServer(
              site,
              pageCache,
              config.host,
              config.port,
              config.httpThreads,
              accessLog,
              config.has("web"),
              metrics,
              metrics::scrape);
    } catch (IOException | RuntimeException e) {
      if (accessLog != null) {
        accessLog.close();
      }
      throw e;
    }
    server.start();
  }

  /**
   * The registry behind {@code /metrics}: the library modules' meters (the cache, ThingDb with its
   * replicas, circuits and outbox, each listing queue with its processors) and the JVM's, each
   * tagged with this process's roles.
   */
  private PrometheusMeterRegistry metrics(Config config) {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    resources.add(registry::close);
    Tags tags =
        Tags.of("roles", String.join("+", Config.ROLES.stream().filter(config::has).toList()));
    // ThingDb's meters include its cache's (the backend's counters and ThingDb's loads).
    ThingDbMetrics.of(db, tags).bindTo(registry);
    String[] queues = {"links", "comments"};
    for (int i = 0; i < processors.size(); i++) {
      ListingMetrics.of(processors.get(i), tags.and("queue", queues[i])).bindTo(registry);
    }
    new ClassLoaderMetrics(tags).bindTo(registry);
    new JvmMemoryMetrics(tags).bindTo(registry);
    JvmGcMetrics gc = new JvmGcMetrics(tags);
    resources.add(gc);
    gc.bindTo(registry);
    new JvmThreadMetrics(tags).bindTo(registry);
    new ProcessorMetrics(tags).bindTo(registry);
    new UptimeMetrics(tags).bindTo(registry);
    return registry;
  }

  /** The access log {@code --access-log} asks for, or null for {@code off}. */
  private AccessLog accessLog(Config config) throws IOException {
    OutputStream out;
    switch (config.accessLog) {
      case "off" -> {
        return null;
      }
      case "stdout" -> out = System.out;
      default -> {
        Path file = Path.of(config.accessLog);
        out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        resources.add(out); // closed after the server, which flushes the log into it first
      }
    }
    return new AccessLog(out, Clock.systemUTC(), ACCESS_LOG_FLUSH);
  }

  private EmbeddedPostgres startEmbedded(Path dir) throws IOException {
    Files.createDirectories(dir);
    log.info("starting embedded PostgreSQL with its data in {}", dir.toAbsolutePath());
    return EmbeddedPostgres.builder()
        .setDataDirectory(dir)
        .setCleanDataDirectory(false) // keep the data between runs
        .setRegisterShutdownHook(false) // Main's hook stops it, after the processors and the server
        .setPGStartupWait(Duration.ofSeconds(60))
        // zonky turns fsync off for tests; a blog keeps its data through a power cut. Commits
        // still return before their WAL is flushed: a crash may lose the last moment, never
        // corrupt.
        .setServerConfig("fsync", "on")
        .setServerConfig("full_page_writes", "on")
        .setServerConfig("synchronous_commit", "off")
        .start();
  }

  private void createDatabase(String name) {
    try (Connection c = embedded.getPostgresDatabase().getConnection();
        PreparedStatement ps = c.prepareStatement("select 1 from pg_database where datname = ?")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          return;
        }
      }
      try (Statement st = c.createStatement()) {
        st.execute("create database " + name);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(
          "cannot create database " + name + " on the embedded PostgreSQL: " + e.getMessage(), e);
    }
  }

  private HikariDataSource pool(String name, String url) {
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(url);
    hc.setPoolName(name);
    hc.setMaximumPoolSize(POOL_SIZE);
    // Request threads take their connections here. With the database down, a 10 s acquire
    // timeout held every request thread for 10 s: the whole site went dark, cached pages too.
    // Half a second is ample for a pool as large as the request threads, and bounds what a
    // request can wait before ThingDB's circuit opens (then it waits for nothing).
    hc.setConnectionTimeout(POOL_TIMEOUT.toMillis());
    // A borrowed connection idle for over 500 ms is validated first; on a dead server that must
    // not cost more than HikariCP's minimum.
    hc.setValidationTimeout(250);
    // No idle connections to keep: HikariCP then refills only while a caller waits. With
    // minimumIdle = maximumPoolSize (its default) it retries a dead server on its own, backing
    // off to 5 s between attempts, and the first connection after the outage came up to 5 s late
    // (the first write succeeded 4.9 s after PostgreSQL was back). During an outage nobody
    // waits on the pool at all: ThingDB's circuit and OutageGuard fail callers at once, and the
    // probe connects on its own (probe(url)), so the refill starts without backoff when the
    // server is back.
    hc.setMinimumIdle(0);
    HikariDataSource ds = new HikariDataSource(hc);
    resources.add(ds);
    return ds;
  }

  /**
   * An unpooled DataSource to {@code url} for ThingDB's outage probe ({@link Database#withProbe}):
   * during an outage the probe connects on its own instead of waiting on the pool, so HikariCP's
   * refill is idle (no backoff built up) when the server comes back.
   */
  private static DataSource probe(String url) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(url);
    ds.setConnectTimeout(1);
    ds.setSocketTimeout(2);
    ds.setApplicationName("thingdb-outage-probe");
    return ds;
  }

  private DataSource[] replicas(String name, List<String> urls) {
    DataSource[] out = new DataSource[urls.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = pool(name + "-" + i, urls.get(i));
    }
    return out;
  }

  /** The session secret kept in the data folder, so sessions survive restarts. */
  private static byte[] secret(Path dataDir) throws IOException {
    Files.createDirectories(dataDir);
    Path file = dataDir.resolve("session-secret");
    if (Files.exists(file)) {
      return HexFormat.of().parseHex(Files.readString(file).strip());
    }
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    Files.writeString(file, HexFormat.of().formatHex(secret));
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException e) {
      log.warn("cannot restrict the permissions of {} on this file system", file);
    }
    return secret;
  }

  /** The address the blog serves. */
  public URI uri() {
    return URI.create(
        "http://"
            + (site.config.host.contains(":") ? "[" + site.config.host + "]" : site.config.host)
            + ":"
            + server.port()
            + "/");
  }

  /** The seeded admin's password if this start seeded a random one, else null. */
  public String seededAdminPassword() {
    return seededAdminPassword;
  }

  /** Applies every queued listing job now, on the calling thread (tests; the seed). */
  public long drainListings() {
    long n = 0;
    for (ListingProcessors p : processors) {
      n += p.drain();
    }
    return n;
  }

  /**
   * Drops the anonymous page cache's copies of {@code pathAndQuery} (a path with an optional
   * query), so that the next anonymous GET of it renders afresh (tests).
   */
  void forgetPage(String pathAndQuery) {
    server.forgetPage(pathAndQuery);
  }

  /** Sweeps every comment recount mark now, whatever its age (tests). */
  int sweepRecountsNow() {
    return site.sweepRecounts(Duration.ZERO);
  }

  /** How many comment recount marks are outstanding (tests). */
  long recountMarksOutstanding() throws java.sql.SQLException {
    return site.recountMarks.outstanding();
  }

  /** How many PBKDF2 derivations the blog ran (tests: which requests hashed a password). */
  long passwordHashes() {
    return site.passwords.derivations();
  }

  /**
   * Stops the in-process listing processors' threads (tests that must read while the queue has not
   * applied a write); {@link #drainListings()} still applies the queue on the calling thread.
   */
  public void stopListingProcessors() {
    for (ListingProcessors p : processors) {
      p.close();
    }
  }

  /** Recomputes the windowed listings now, on the calling thread (tests). */
  public void recomputeNow() {
    for (ListingRecompute r : recomputes) {
      r.runOnce();
    }
  }

  /** The embedded PostgreSQL's port, or -1 when the blog runs on configured servers. */
  public int postgresPort() {
    return embedded == null ? -1 : embedded.getPort();
  }

  /** The thing store (tests inspect what was written). */
  public ThingDb db() {
    return db;
  }

  /** Stops everything: processors and recompute, server, library objects and pools, PostgreSQL. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    recountSweep.shutdownNow();
    try {
      if (!recountSweep.awaitTermination(10, TimeUnit.SECONDS)) {
        log.warn("the comment recount sweep did not stop within 10 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (ListingProcessors p : processors) {
      closeQuietly(p);
    }
    for (ListingRecompute r : recomputes) {
      closeQuietly(r);
    }
    if (server != null) {
      closeQuietly(server);
    }
    for (int i = resources.size() - 1; i >= 0; i--) {
      closeQuietly(resources.get(i));
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing {} failed", c, e);
    }
  }
}

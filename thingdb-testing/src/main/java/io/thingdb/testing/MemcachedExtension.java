package io.thingdb.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * JUnit 5 extension that starts a {@link MemcachedCluster} once per test class and closes it after
 * the class. Before each test it resumes hung nodes, restarts stopped or killed ones and flushes
 * every node, so a test that injects faults leaves nothing behind for the next one.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final MemcachedExtension memcached = new MemcachedExtension(3);
 *
 * @Test
 * void survivesNodeLoss() {
 *   MemcachedCluster cluster = memcached.cluster();
 *   ...
 * }
 * }</pre>
 *
 * <p>Register it on a {@code static} field. On an instance field JUnit does not call the before-all
 * callback; the extension then starts a cluster before each test and closes it after.
 * {@code @Nested} classes share the enclosing class's cluster.
 *
 * <p>Thread-safety: the extension's callbacks are invoked by JUnit one at a time; {@link
 * #cluster()} may be called from any thread, and the cluster itself is thread-safe. Do not run the
 * tests of one class concurrently: they share the nodes and the per-test reset.
 */
public final class MemcachedExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
  private final MemcachedCluster.Builder builder;
  private volatile MemcachedCluster cluster;

  /** The unique id of the context that started the cluster and so closes it. */
  private String owner;

  /** An extension for a cluster of {@code nodes} nodes with default options. */
  public MemcachedExtension(int nodes) {
    this(MemcachedCluster.builder().nodes(nodes));
  }

  /**
   * An extension for clusters started by {@code builder}; the builder must not change later.
   *
   * @throws IllegalArgumentException if {@code builder} is null
   */
  public MemcachedExtension(MemcachedCluster.Builder builder) {
    if (builder == null) {
      throw new IllegalArgumentException(
          "builder must not be null; use MemcachedCluster.builder()");
    }
    this.builder = builder;
  }

  /**
   * The running cluster.
   *
   * @throws IllegalStateException outside a test of the class that registered the extension
   */
  public MemcachedCluster cluster() {
    MemcachedCluster current = cluster;
    if (current == null) {
      throw new IllegalStateException(
          "no memcached cluster: cluster() is available from @BeforeAll to @AfterAll of the test"
              + " class that registers the MemcachedExtension");
    }
    return current;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    startIfAbsent(context);
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    if (startIfAbsent(context)) {
      return; // a fresh cluster needs no reset
    }
    MemcachedCluster current = cluster;
    for (int i = 0; i < current.size(); i++) {
      if (current.isHung(i)) {
        current.resume(i);
      }
      if (!current.isRunning(i)) {
        current.restart(i);
      }
    }
    current.flushAll();
  }

  @Override
  public void afterEach(ExtensionContext context) {
    closeIfOwner(context);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    closeIfOwner(context);
  }

  private boolean startIfAbsent(ExtensionContext context) {
    if (cluster != null) {
      return false;
    }
    cluster = builder.start();
    owner = context.getUniqueId();
    return true;
  }

  private void closeIfOwner(ExtensionContext context) {
    if (cluster != null && context.getUniqueId().equals(owner)) {
      try {
        cluster.close();
      } finally {
        cluster = null;
        owner = null;
      }
    }
  }
}

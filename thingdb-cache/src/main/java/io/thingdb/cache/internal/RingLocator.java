package io.thingdb.cache.internal;

import com.google.code.yanf4j.core.Session;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import net.rubyeye.xmemcached.MemcachedSessionLocator;

/**
 * Plugs our {@link KetamaRing} into xmemcached. xmemcached's own ketama locators hash the resolved
 * address and keep the port for 11211, so with host names they disagree with libmemcached; and they
 * rehash a dead node's keys onto its neighbours, which leaves copies behind that go stale when the
 * node returns. This locator returns no session for a dead node, so its keys fail fast (and are
 * misses) instead of moving.
 *
 * <p>The client decides the node of every command itself and <em>pins</em> it on the calling thread
 * ({@link #pin}) around the xmemcached call, which looks the session up on that thread: the command
 * goes to the node the client checked (dirty keys, suspicion) even if the ring changes in between,
 * and a warm-up can read a key from the node that held it before a change. Unpinned lookups route
 * by the current {@link Topology}. Thread-safe: the topology is one volatile snapshot.
 */
public final class RingLocator implements MemcachedSessionLocator {
  private final ThreadLocal<Node> pinned = new ThreadLocal<>();
  private volatile Topology topology;

  public RingLocator(Topology topology) {
    this.topology = topology;
  }

  /** Routes lookups by {@code next} from now on; its connected nodes take sessions. */
  public void update(Topology next) {
    this.topology = next;
  }

  /** Sends this thread's commands to {@code node} until {@link #unpin}. */
  public void pin(Node node) {
    pinned.set(node);
  }

  /** Ends {@link #pin}. */
  public void unpin() {
    pinned.remove();
  }

  @Override
  public Session getSessionByKey(String key) {
    Node n = pinned.get();
    if (n == null) {
      n = topology.ownerOf(key);
    }
    Session s = n.session;
    return s == null || s.isClosed() ? null : s;
  }

  @Override
  public void updateSessions(Collection<Session> sessions) {
    Map<Node, Session> byNode = new HashMap<>();
    for (Session s : sessions) {
      Node n = nodeFor(s.getRemoteSocketAddress());
      if (n != null && !s.isClosed()) {
        byNode.put(n, s);
      }
    }
    for (Node n : topology.connected) {
      n.session = byNode.get(n);
    }
  }

  /** The connected node whose configured address is {@code address}, or null. */
  public Node nodeFor(InetSocketAddress address) {
    if (address == null) {
      return null;
    }
    for (Node n : topology.connected) {
      if (n.address.getPort() == address.getPort()
          && n.address.getAddress() != null
          && n.address.getAddress().equals(address.getAddress())) {
        return n;
      }
    }
    return null;
  }

  @Override
  public void setFailureMode(boolean failureMode) {
    if (failureMode) {
      throw new UnsupportedOperationException(
          "xmemcached's failure mode is not supported: ThingDB treats a dead node's keys as misses");
    }
  }
}

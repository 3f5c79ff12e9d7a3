package io.thingdb.cache.internal;

import com.google.code.yanf4j.core.Session;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.List;
import net.rubyeye.xmemcached.MemcachedSessionLocator;

/**
 * Plugs our {@link KetamaRing} into xmemcached. xmemcached's own ketama locators hash the resolved
 * address and keep the port for 11211, so with host names they disagree with libmemcached; and they
 * rehash a dead node's keys onto its neighbours, which leaves copies behind that go stale when the
 * node returns. This locator routes by the configured host string and returns no session for a dead
 * node, so its keys fail fast (and are misses) instead of moving. Thread-safe: the session table is
 * replaced atomically.
 */
public final class RingLocator implements MemcachedSessionLocator {
  private final KetamaRing ring;
  private final List<Node> nodes;

  public RingLocator(KetamaRing ring, List<Node> nodes) {
    this.ring = ring;
    this.nodes = nodes;
  }

  @Override
  public Session getSessionByKey(String key) {
    Session s = nodes.get(ring.indexFor(key)).session;
    return s == null || s.isClosed() ? null : s;
  }

  @Override
  public void updateSessions(Collection<Session> sessions) {
    Session[] byNode = new Session[nodes.size()];
    for (Session s : sessions) {
      Node n = nodeFor(s.getRemoteSocketAddress());
      if (n != null && !s.isClosed()) {
        byNode[n.index] = s;
      }
    }
    for (Node n : nodes) {
      n.session = byNode[n.index];
    }
  }

  /** The node whose configured address is {@code address}, or null. */
  public Node nodeFor(InetSocketAddress address) {
    if (address == null) {
      return null;
    }
    for (Node n : nodes) {
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

package io.thingdb.cache.internal;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One immutable snapshot of where keys live: the ring, the node behind each of its servers, and
 * during a warm-up the ring before the last change with its nodes. A client reads its topology once
 * per operation from one volatile field, so a change of servers is atomic for every reader: an
 * operation sees the old placement or the new one, never a mix. Immutable and thread-safe.
 */
public final class Topology {
  /** The ring keys are placed on. */
  public final KetamaRing ring;

  private final Node[] owners;

  /** The ring before the last change while its warm-up lasts, else null. */
  public final KetamaRing previousRing;

  private final Node[] previousOwners;

  /** When the warm-up ends ({@link System#nanoTime}); meaningless without a previous ring. */
  public final long warmUntilNanos;

  /** Every node with a connection: the ring's, then those only the previous ring names. */
  public final List<Node> connected;

  private Topology(
      KetamaRing ring,
      Node[] owners,
      KetamaRing previousRing,
      Node[] previousOwners,
      long warmUntilNanos,
      List<Node> extra) {
    this.ring = ring;
    this.owners = owners;
    this.previousRing = previousRing;
    this.previousOwners = previousOwners;
    this.warmUntilNanos = warmUntilNanos;
    Set<Node> all = new LinkedHashSet<>(List.of(owners));
    if (previousOwners != null) {
      all.addAll(List.of(previousOwners));
    }
    all.addAll(extra);
    this.connected = List.copyOf(new ArrayList<>(all));
  }

  /** A topology without warm-up: {@code owners[i]} serves {@code ring.servers().get(i)}. */
  public static Topology of(KetamaRing ring, List<Node> owners) {
    return new Topology(ring, owners.toArray(new Node[0]), null, null, 0, List.of());
  }

  /**
   * This topology with {@code extra} nodes connected but owning no keys yet: they are connected
   * before a change places keys on them.
   */
  public Topology connecting(List<Node> extra) {
    return new Topology(ring, owners, previousRing, previousOwners, warmUntilNanos, extra);
  }

  /**
   * The topology after a change to {@code next}: with a warm-up until {@code warmUntilNanos}, this
   * topology's ring is kept as the previous one; with {@code warm} false there is none.
   */
  public Topology changedTo(KetamaRing next, List<Node> nextOwners, boolean warm, long until) {
    Node[] n = nextOwners.toArray(new Node[0]);
    return warm
        ? new Topology(next, n, ring, owners, until, List.of())
        : new Topology(next, n, null, null, 0, List.of());
  }

  /** This topology with its warm-up over: the previous ring is forgotten. */
  public Topology warmedUp() {
    return new Topology(ring, owners, null, null, 0, List.of());
  }

  /** The node that owns the server at {@code index} of {@link #ring}. */
  public Node owner(int index) {
    return owners[index];
  }

  /** The number of servers on the ring. */
  public int size() {
    return owners.length;
  }

  /** The node that holds a key of ketama hash {@code hash} on the ring. */
  public Node ownerOfHash(int hash) {
    return owners[ring.indexForHash(hash)];
  }

  /** The node that held a key of ketama hash {@code hash} on the previous ring. */
  public Node previousOwnerOfHash(int hash) {
    return previousOwners[previousRing.indexForHash(hash)];
  }

  /** The node that holds {@code wireKey}. */
  public Node ownerOf(String wireKey) {
    return owners[ring.indexFor(wireKey)];
  }

  /** The ring's nodes, in the ring's order. */
  public List<Node> owners() {
    return List.of(owners);
  }

  /** The node configured as {@code server} among the connected ones, or null. */
  public Node named(String server) {
    for (Node n : connected) {
      if (n.name.equals(server)) {
        return n;
      }
    }
    return null;
  }
}

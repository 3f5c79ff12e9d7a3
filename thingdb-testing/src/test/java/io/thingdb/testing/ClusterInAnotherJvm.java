package io.thingdb.testing;

/**
 * Run by {@link MemcachedClusterTest} in a JVM of its own, which the test then kills with SIGKILL:
 * starts a one-node cluster, prints {@code PORT PID} of its node and waits to be killed. It never
 * closes the cluster, on purpose.
 */
final class ClusterInAnotherJvm {
  private ClusterInAnotherJvm() {}

  public static void main(String[] args) throws InterruptedException {
    MemcachedCluster cluster = MemcachedCluster.start(1);
    System.out.println(cluster.port(0) + " " + cluster.stats(0).get("pid"));
    System.out.flush();
    Thread.sleep(60_000); // killed long before; bounded so that nothing can outlive a lost test
  }
}

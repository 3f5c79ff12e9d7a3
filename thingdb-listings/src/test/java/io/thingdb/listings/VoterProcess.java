package io.thingdb.listings;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.thingdb.cache.MemcachedCache;
import java.util.List;

/**
 * A voter in a process of its own, for {@link VoterCrashTest}: casts one vote and halts the JVM
 * right after the vote's COMMIT, after core's own cache work and before the vote's listing moves
 * reach the cache (the {@link Votes.Builder#committedHook} seam), with exit status {@value
 * #HALTED}. Arguments: JDBC URL, memcached servers (comma-separated), listing capacity, account id,
 * link id, direction.
 */
final class VoterProcess {
  static final int HALTED = 77;

  private VoterProcess() {}

  public static void main(String[] args) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(args[0]);
    config.setMaximumPoolSize(4);
    HikariDataSource ds = new HikariDataSource(config);
    MemcachedCache cache = MemcachedCache.builder().servers(List.of(args[1].split(","))).build();
    VoteWorld w = new VoteWorld(ds, Integer.parseInt(args[2]), ds, cache);
    Votes voter =
        Votes.builder(w.db, ds, VoteWorld.VOTE, w.routing, w.store)
            .committedHook(() -> Runtime.getRuntime().halt(HALTED))
            .build();
    voter.cast(Long.parseLong(args[3]), Long.parseLong(args[4]), Integer.parseInt(args[5]));
    // Not reached: the hook halts the JVM after COMMIT.
    System.exit(1);
  }
}

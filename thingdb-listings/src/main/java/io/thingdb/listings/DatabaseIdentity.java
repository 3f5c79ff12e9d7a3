package io.thingdb.listings;

import io.thingdb.core.ThingDbException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * Tells whether two DataSources reach the same PostgreSQL database. Each database gets a random
 * token in a one-row table {@code thingdb_database_id} the first time it is asked; two DataSources
 * are the same database when they read the same token. Comparing URLs or DataSource objects would
 * miss a pool wrapper, a second pool over the same database, or two host names of one server;
 * {@code pg_control_system()} would tell clusters apart but not databases, and may need privileges
 * an application role does not have. Stateless.
 */
final class DatabaseIdentity {
  private DatabaseIdentity() {}

  /**
   * The token of the database {@code dataSource} reaches, created if missing. Runs in autocommit
   * mode (no explicit COMMIT, so a wrapper that intercepts commits is not involved).
   *
   * @param what names the DataSource in an error message
   * @throws ThingDbException if the database fails
   */
  static String of(DataSource dataSource, String what) {
    for (int attempt = 1; ; attempt++) {
      try (Connection c = dataSource.getConnection();
          Statement st = c.createStatement()) {
        st.execute(
            "create table if not exists thingdb_database_id (one boolean primary key default true check (one),"
                + " token text not null)");
        st.execute(
            "insert into thingdb_database_id (token) values (gen_random_uuid()::text) on conflict do nothing");
        try (ResultSet rs = st.executeQuery("select token from thingdb_database_id")) {
          rs.next();
          return rs.getString(1);
        }
      } catch (SQLException e) {
        // Two builders creating the table at once: one gets a unique violation on the catalog
        // (23505) or "already exists" (42P07); the table is there on the second attempt.
        boolean race = "23505".equals(e.getSQLState()) || "42P07".equals(e.getSQLState());
        if (race && attempt < 3) {
          continue;
        }
        throw new ThingDbException(
            "identifying the database of " + what + " failed: " + e.getMessage(), e);
      }
    }
  }
}

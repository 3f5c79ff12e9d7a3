package io.thingdb.listings;

import io.thingdb.cache.Cache;
import io.thingdb.cache.InProcessCache;
import io.thingdb.core.Database;
import io.thingdb.core.Filter;
import io.thingdb.core.Prop;
import io.thingdb.core.RelationType;
import io.thingdb.core.Thing;
import io.thingdb.core.ThingDb;
import io.thingdb.core.ThingType;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.sql.DataSource;

/**
 * A small reddit on one database for the vote and processor tests: accounts, links with a subreddit
 * and an author, the vote relation, and routing to {@code sr:<sr>:<sort>} and {@code
 * user:<author>:submitted:new}. Not thread-safe to build; the opened services are.
 */
final class VoteWorld implements AutoCloseable {
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final Prop<Long> SR = Prop.int64("sr", 0);
  static final Prop<Long> AUTHOR = Prop.int64("author", 0);
  static final ThingType LINK = ThingType.named("link").props(SR, AUTHOR).build();
  static final RelationType VOTE = RelationType.named("vote").between(ACCOUNT, LINK).build();
  static final List<String> SR_SORTS = List.of("hot", "top", "new", "controversial");

  final DataSource ds;
  final Cache cache;
  final ThingDb db;
  final ListingStore store;
  final Routing routing;
  final Votes votes;

  VoteWorld(DataSource ds, int capacity) {
    this(ds, capacity, ds);
  }

  /** {@code voteDs} may be a faulty wrapper around {@code ds} for the vote transaction only. */
  VoteWorld(DataSource ds, int capacity, DataSource voteDs) {
    this(ds, capacity, voteDs, InProcessCache.create());
  }

  /** Takes ownership of {@code cache}. */
  VoteWorld(DataSource ds, int capacity, DataSource voteDs, Cache cache) {
    this.ds = ds;
    this.cache = cache;
    this.db =
        ThingDb.builder()
            .database("main", Database.of(ds))
            .type(ACCOUNT, "main")
            .type(LINK, "main")
            .relation(VOTE, "main")
            .cache(cache)
            .build();
    this.store = ListingStore.builder(ds).cache(cache).keyPattern("(sr|user):\\d+:[a-z:]+").build();
    this.routing = new Routing(capacity);
    this.votes = Votes.builder(db, voteDs, VOTE, routing, store).build();
  }

  ListingProcessors.Builder processors() {
    return ListingProcessors.builder(db, ds, store, routing);
  }

  static final class Routing implements ListingRouting {
    final int capacity;

    Routing(int capacity) {
      this.capacity = capacity;
    }

    @Override
    public Collection<String> listingsOf(Thing thing) {
      List<String> keys = new ArrayList<>();
      long sr = thing.get(SR);
      for (String s : SR_SORTS) {
        keys.add("sr:" + sr + ":" + s);
      }
      keys.add("user:" + thing.get(AUTHOR) + ":submitted:new");
      return keys;
    }

    @Override
    public ListingDefinition definition(String key) {
      String[] parts = key.split(":");
      long id = Long.parseLong(parts[1]);
      if (parts[0].equals("user")) {
        return new ListingDefinition(LINK, Filter.eq(AUTHOR, id), ListingSort.NEW, capacity);
      }
      ListingSort sort =
          switch (parts[2]) {
            case "hot" -> ListingSort.HOT;
            case "top" -> ListingSort.TOP;
            case "new" -> ListingSort.NEW;
            case "controversial" -> ListingSort.CONTROVERSIAL;
            default -> throw new IllegalArgumentException("unknown listing " + key);
          };
      return new ListingDefinition(LINK, Filter.eq(SR, id), sort, capacity);
    }

    @Override
    public String toString() {
      return "test routing";
    }
  }

  /** A link row as the database holds it. */
  record Row(
      long id,
      int ups,
      int downs,
      boolean deleted,
      boolean spam,
      Instant date,
      long sr,
      long author) {}

  Map<Long, Row> rows() throws SQLException {
    Map<Long, Row> out = new TreeMap<>();
    try (Connection c = ds.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "select t.thing_id, ups, downs, deleted, spam, date,"
                    + " coalesce((select value::bigint from data_link d where d.thing_id = t.thing_id and key = 'sr'), 0),"
                    + " coalesce((select value::bigint from data_link d where d.thing_id = t.thing_id and key = 'author'), 0)"
                    + " from thing_link t");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.put(
            rs.getLong(1),
            new Row(
                rs.getLong(1),
                rs.getInt(2),
                rs.getInt(3),
                rs.getBoolean(4),
                rs.getBoolean(5),
                rs.getTimestamp(6).toInstant(),
                rs.getLong(7),
                rs.getLong(8)));
      }
    }
    return out;
  }

  /** From scratch: every live item of the key's query, Java sort values, sorted, first capacity. */
  List<Listing.Entry> recompute(String key, Map<Long, Row> rows) {
    ListingDefinition def = routing.definition(key);
    String[] parts = key.split(":");
    long id = Long.parseLong(parts[1]);
    List<Listing.Entry> all = new ArrayList<>();
    for (Row r : rows.values()) {
      if (r.deleted() || r.spam() || (parts[0].equals("user") ? r.author() != id : r.sr() != id)) {
        continue;
      }
      long micros = ListingSort.micros(r.date());
      double v =
          switch (def.sort()) {
            case HOT -> Sorts.hot(r.ups(), r.downs(), micros);
            case TOP -> Sorts.score(r.ups(), r.downs());
            case NEW -> Sorts.newSort(micros);
            case CONTROVERSIAL -> Sorts.controversy(r.ups(), r.downs());
          };
      all.add(new Listing.Entry(r.id(), 0, Sorts.normalize(v)));
    }
    all.sort((a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id()));
    return all.subList(0, Math.min(def.capacity(), all.size()));
  }

  long count(String sql) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Override
  public void close() {
    votes.close();
    store.close();
    db.close();
    cache.close();
  }
}

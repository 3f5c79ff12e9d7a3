package io.thingdb.core;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A reader's position in each database's write-ahead log, for read-your-writes through replicas.
 * After each of its writes commits, the session records the primary's timeline and WAL insert
 * position; a replica that has not replayed that far is not used for this session's reads (the
 * primary serves them). A position from a timeline older than the database's current one (the
 * session wrote before a promotion) is not waited for beyond the point where the engine learned the
 * new timeline: everything of the old timeline that survived the promotion lies below it, and the
 * rest is lost on every server (see {@link Routing}). A session is an explicit object the
 * application carries (per HTTP request, or as a cookie value via {@link #token()} and {@link
 * ThingDb#session(String)}); it is thread-safe.
 *
 * <p>A session also remembers the last {@value #MAX_WRITTEN} things that modules above core wrote
 * through it and whose effects elsewhere may lag behind the write ({@link #wrote}):
 * thingdb-listings records a submit, an edit or a vote there, so that the writer's own listing
 * pages can merge the change before the listing queue has applied it. Replica positions cover
 * core's own reads; this covers state derived asynchronously from them. Both travel in {@link
 * #token()}.
 */
public final class Session {
  /** How many written things a session remembers; older ones are forgotten first. */
  public static final int MAX_WRITTEN = 16;

  private final ConcurrentHashMap<String, Position> positions = new ConcurrentHashMap<>();

  /**
   * A commit's place in a database's history: its timeline (0: unknown, from a token written before
   * positions carried timelines) and WAL position. Ordered by timeline, then position: a later
   * timeline continues the history of the earlier ones up to its switch point.
   */
  record Position(int timeline, long lsn) implements Comparable<Position> {
    @Override
    public int compareTo(Position o) {
      int c = Integer.compareUnsigned(timeline, o.timeline);
      return c != 0 ? c : Long.compareUnsigned(lsn, o.lsn);
    }

    static Position max(Position a, Position b) {
      return a.compareTo(b) >= 0 ? a : b;
    }
  }

  /** Fullname to the epoch millisecond of its last write, oldest write first; guarded by itself. */
  private final LinkedHashMap<String, Long> written = new LinkedHashMap<>();

  /**
   * A thing written through this session.
   *
   * @param fullname the thing's fullname
   * @param at when it was written, on the writer's clock (millisecond precision)
   */
  public record Written(String fullname, Instant at) {}

  Session() {}

  /** Records a commit at {@code lsn} of an unknown timeline (0) on {@code database}. */
  void committed(String database, long lsn) {
    committed(database, 0, lsn);
  }

  /**
   * Records a commit at {@code lsn} on {@code timeline} of {@code database}; positions only move
   * forward ({@link Position} order).
   */
  void committed(String database, int timeline, long lsn) {
    positions.merge(database, new Position(timeline, lsn), Position::max);
  }

  /** The latest position this session wrote at on {@code database}, or null. */
  Position position(String database) {
    return positions.get(database);
  }

  /**
   * Remembers that {@code thing} was written through this session at {@code at} (a later write of
   * the same thing replaces the entry). Keeps the {@value #MAX_WRITTEN} most recent.
   *
   * @throws NullPointerException if an argument is null
   */
  public void wrote(Thing thing, Instant at) {
    Objects.requireNonNull(thing, "thing must not be null");
    remember(thing.fullname(), Objects.requireNonNull(at, "at must not be null").toEpochMilli());
  }

  private void remember(String fullname, long atMillis) {
    synchronized (written) {
      written.remove(fullname);
      written.put(fullname, atMillis);
      while (written.size() > MAX_WRITTEN) {
        written.remove(written.keySet().iterator().next());
      }
    }
  }

  /**
   * The things remembered by {@link #wrote}, most recent first, at most {@value #MAX_WRITTEN}.
   *
   * @return a copy
   */
  public List<Written> written() {
    List<Written> out = new ArrayList<>();
    synchronized (written) {
      for (Map.Entry<String, Long> e : written.entrySet()) {
        out.add(new Written(e.getKey(), Instant.ofEpochMilli(e.getValue())));
      }
    }
    Collections.reverse(out);
    return out;
  }

  /**
   * The session as a compact string ({@code db=tl.hex;db=tl.hex;~fullname.millis36}: per database
   * the timeline and the WAL position, both hexadecimal) for a cookie; restore it with {@link
   * ThingDb#session(String)}, which also reads the older form {@code db=hex} (timeline unknown). It
   * reveals WAL positions and the fullnames of the things remembered by {@link #wrote}, so hand it
   * only to the session's own user.
   */
  public String token() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, Position> e : new TreeMap<>(positions).entrySet()) {
      if (sb.length() > 0) {
        sb.append(';');
      }
      sb.append(e.getKey()).append('=');
      Position p = e.getValue();
      if (p.timeline() != 0) {
        sb.append(Integer.toHexString(p.timeline())).append('.');
      }
      sb.append(Long.toHexString(p.lsn()));
    }
    synchronized (written) {
      for (Map.Entry<String, Long> e : written.entrySet()) {
        if (sb.length() > 0) {
          sb.append(';');
        }
        sb.append('~').append(e.getKey()).append('.').append(Long.toString(e.getValue(), 36));
      }
    }
    return sb.toString();
  }

  static Session parse(String token) {
    Objects.requireNonNull(token, "session token must not be null");
    Session s = new Session();
    if (token.isEmpty()) {
      return s;
    }
    for (String part : token.split(";")) {
      if (part.startsWith("~")) {
        s.parseWritten(token, part);
        continue;
      }
      int eq = part.indexOf('=');
      if (eq < 1) {
        throw new IllegalArgumentException(
            "malformed session token '" + token + "': expected db=timeline.hexlsn;...");
      }
      String value = part.substring(eq + 1);
      int dot = value.indexOf('.');
      try {
        if (dot < 0) {
          s.committed(part.substring(0, eq), Long.parseUnsignedLong(value, 16));
        } else {
          int timeline = Integer.parseUnsignedInt(value.substring(0, dot), 16);
          if (timeline == 0) {
            throw new NumberFormatException("timeline 0");
          }
          s.committed(
              part.substring(0, eq),
              timeline,
              Long.parseUnsignedLong(value.substring(dot + 1), 16));
        }
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "malformed session token '" + token + "': bad position in '" + part + "'", e);
      }
    }
    return s;
  }

  private void parseWritten(String token, String part) {
    int dot = part.lastIndexOf('.');
    try {
      if (dot < 2) {
        throw new IllegalArgumentException("expected ~fullname.base36millis");
      }
      String fullname = part.substring(1, dot);
      if (Fullnames.parse(fullname).relation()) {
        throw new IllegalArgumentException("it names a relation");
      }
      remember(fullname, Long.parseLong(part.substring(dot + 1), 36));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "malformed session token '"
              + token
              + "': bad written thing '"
              + part
              + "': "
              + e.getMessage(),
          e);
    }
  }

  /** Parses PostgreSQL's {@code pg_lsn} text form ({@code 16/B374D848}). */
  static long parseLsn(String lsn) {
    int slash = lsn.indexOf('/');
    return (Long.parseLong(lsn.substring(0, slash), 16) << 32)
        | Long.parseLong(lsn.substring(slash + 1), 16);
  }

  @Override
  public String toString() {
    return "Session{" + token() + "}";
  }
}

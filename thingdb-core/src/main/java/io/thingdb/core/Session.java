package io.thingdb.core;

import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A reader's position in each database's write-ahead log, for read-your-writes through replicas.
 * After each of its writes commits, the session records the primary's WAL insert position; a
 * replica that has not replayed that far is not used for this session's reads (the primary serves
 * them). A session is an explicit object the application carries (per HTTP request, or as a cookie
 * value via {@link #token()} and {@link ThingDb#session(String)}); it is thread-safe.
 */
public final class Session {
  private final ConcurrentHashMap<String, Long> positions = new ConcurrentHashMap<>();

  Session() {}

  /** Records a commit at {@code lsn} on {@code database}; positions only move forward. */
  void committed(String database, long lsn) {
    positions.merge(database, lsn, Math::max);
  }

  /** The highest WAL position this session wrote at on {@code database}, or 0. */
  long position(String database) {
    return positions.getOrDefault(database, 0L);
  }

  /**
   * The session as a compact string ({@code db=hex;db=hex}) for a cookie; restore it with {@link
   * ThingDb#session(String)}. It reveals only WAL positions.
   */
  public String token() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, Long> e : new TreeMap<>(positions).entrySet()) {
      if (sb.length() > 0) {
        sb.append(';');
      }
      sb.append(e.getKey()).append('=').append(Long.toHexString(e.getValue()));
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
      int eq = part.indexOf('=');
      if (eq < 1) {
        throw new IllegalArgumentException(
            "malformed session token '" + token + "': expected db=hexlsn;...");
      }
      try {
        s.committed(part.substring(0, eq), Long.parseUnsignedLong(part.substring(eq + 1), 16));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "malformed session token '" + token + "': bad position in '" + part + "'", e);
      }
    }
    return s;
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

package io.thingdb.core;

import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the SQL statements (and cache round trips) run by the current thread while the scope is
 * open, so that a web request can log "this request ran N queries". Scopes nest: a statement is
 * counted by every open scope of the thread. Open with {@link ThingDb#scope()}, close on the same
 * thread. The counters may be read from any thread.
 */
public final class Scope implements AutoCloseable {
  private static final ThreadLocal<ArrayDeque<Scope>> OPEN =
      ThreadLocal.withInitial(ArrayDeque::new);

  private final AtomicLong statements = new AtomicLong();
  private final AtomicLong cacheHits = new AtomicLong();
  private final Thread owner = Thread.currentThread();
  private boolean closed;

  Scope() {
    OPEN.get().push(this);
  }

  static void countStatement() {
    ArrayDeque<Scope> open = OPEN.get();
    if (!open.isEmpty()) {
      for (Scope s : open) {
        s.statements.incrementAndGet();
      }
    }
  }

  static void countCacheHits(int hits) {
    ArrayDeque<Scope> open = OPEN.get();
    if (!open.isEmpty() && hits > 0) {
      for (Scope s : open) {
        s.cacheHits.addAndGet(hits);
      }
    }
  }

  /** SQL statements run on this thread since the scope opened. */
  public long statements() {
    return statements.get();
  }

  /** Things and relations served from the cache since the scope opened. */
  public long cacheHits() {
    return cacheHits.get();
  }

  /** Closes the scope; must be called on the thread that opened it. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    if (Thread.currentThread() != owner) {
      throw new IllegalStateException(
          "a Scope must be closed on the thread that opened it (" + owner.getName() + ")");
    }
    closed = true;
    OPEN.get().remove(this);
  }
}

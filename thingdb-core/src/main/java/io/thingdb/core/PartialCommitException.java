package io.thingdb.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link ThingDb#createAll} whose things span several databases failed after the part on at least
 * one database had committed: things of types on different databases commit in one transaction per
 * database, one after the other, so a failure of a later database cannot undo an earlier one. This
 * exception says exactly what is where:
 *
 * <ul>
 *   <li>{@link #committed()}: the things created and committed, per database, as {@code createAll}
 *       would have returned them. They exist; do not create them again.
 *   <li>{@link #failedDatabase()}: the database whose transaction failed, and {@link
 *       #outcomeUnknown()}: whether its part may nevertheless have committed (the connection was
 *       lost during COMMIT, see {@link OutcomeUnknownException}) or was certainly rolled back.
 *   <li>{@link #notCommitted()}: the input things certainly not created: those of the failed
 *       database when it rolled back, and those of the databases after it, which were not
 *       attempted.
 *   <li>{@link #inDoubt()}: the failed database's input things when its outcome is unknown.
 * </ul>
 *
 * <p><b>What a retry must do.</b> Never repeat the whole batch: the committed part would be created
 * a second time (new ids, same content). Retry {@code createAll(e.notCommitted())}, which is safe.
 * The things of {@link #inDoubt()} may or may not exist: find out first (for example by querying
 * for a prop value that identifies them) and create only those that are missing; a blind retry can
 * duplicate them. The cache entries of committed things are filled as after any create; a part
 * whose outcome is unknown is not cached until it is read.
 *
 * <p>The cause is the failed database's exception. Immutable and thread-safe once thrown; the
 * things it carries are not preserved by Java serialization.
 */
public final class PartialCommitException extends ThingDbException {
  private static final long serialVersionUID = 1L;

  private final transient Map<String, List<Thing>> committed;
  private final String failedDatabase;
  private final boolean outcomeUnknown;
  private final transient List<NewThing> notCommitted;
  private final transient List<NewThing> inDoubt;

  PartialCommitException(
      Map<String, List<Thing>> committed,
      String failedDatabase,
      boolean outcomeUnknown,
      List<NewThing> notCommitted,
      List<NewThing> inDoubt,
      RuntimeException cause) {
    super(message(committed, failedDatabase, outcomeUnknown, notCommitted, inDoubt, cause), cause);
    Map<String, List<Thing>> copy = new LinkedHashMap<>();
    committed.forEach((db, things) -> copy.put(db, List.copyOf(things)));
    this.committed = Collections.unmodifiableMap(copy);
    this.failedDatabase = failedDatabase;
    this.outcomeUnknown = outcomeUnknown;
    this.notCommitted = List.copyOf(notCommitted);
    this.inDoubt = List.copyOf(inDoubt);
  }

  private static String message(
      Map<String, List<Thing>> committed,
      String failedDatabase,
      boolean outcomeUnknown,
      List<NewThing> notCommitted,
      List<NewThing> inDoubt,
      RuntimeException cause) {
    StringBuilder m = new StringBuilder("createAll committed ");
    String sep = "";
    for (Map.Entry<String, List<Thing>> e : committed.entrySet()) {
      m.append(sep).append(e.getValue().size()).append(" things on database ").append(e.getKey());
      sep = " and ";
    }
    m.append(", then database ").append(failedDatabase).append(" failed");
    if (outcomeUnknown) {
      m.append(" during COMMIT: its ")
          .append(inDoubt.size())
          .append(" things may or may not have been created");
    } else {
      m.append(" and rolled back");
    }
    m.append("; ")
        .append(notCommitted.size())
        .append(" things were certainly not created. Retry only notCommitted()")
        .append(outcomeUnknown ? " and check inDoubt() first" : "")
        .append(", never the whole batch: ")
        .append(cause.getMessage());
    return m.toString();
  }

  /**
   * The things created and committed, by database name (in the order the databases were written),
   * each list in input order. Unmodifiable.
   */
  public Map<String, List<Thing>> committed() {
    return committed;
  }

  /** The database whose transaction failed. */
  public String failedDatabase() {
    return failedDatabase;
  }

  /**
   * Whether the failed database's part may have committed (the connection was lost during COMMIT):
   * then its things are {@link #inDoubt()}; otherwise it was rolled back and they are in {@link
   * #notCommitted()}.
   */
  public boolean outcomeUnknown() {
    return outcomeUnknown;
  }

  /**
   * The input things that were certainly not created, in input order: safe to pass to {@link
   * ThingDb#createAll} again. Unmodifiable.
   */
  public List<NewThing> notCommitted() {
    return notCommitted;
  }

  /**
   * The input things whose creation is in doubt (the failed database's, when {@link
   * #outcomeUnknown()}), in input order; empty otherwise. Unmodifiable.
   */
  public List<NewThing> inDoubt() {
    return inDoubt;
  }
}

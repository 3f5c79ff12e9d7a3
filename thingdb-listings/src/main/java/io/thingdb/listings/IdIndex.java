package io.thingdb.listings;

/**
 * An open-addressing hash table from thing id to the entry's sort value, so that {@link Listing}
 * can find an entry's position with one binary search on (value, id) instead of keeping an
 * id-to-position map, which every move would have to rewrite for the whole span it shifts (up to a
 * thousand hash updates per vote on a full listing).
 *
 * <p>Linear probing with backward-shift deletion (no tombstones, so a listing that churns through
 * millions of upserts never degrades), load factor at most 1/2. Not thread-safe.
 */
final class IdIndex {

  private static final int MIN_TABLE = 16;

  /** 2^64 / golden ratio: Fibonacci hashing spreads sequential ids over the table. */
  private static final long SPREAD = 0x9E37_79B9_7F4A_7C15L;

  private long[] keys;
  private double[] values;
  private boolean[] used;
  private int shift;
  private int size;

  /** Creates an index sized for {@code expected} ids without resizing. */
  IdIndex(int expected) {
    int table = MIN_TABLE;
    while (table < 2L * expected) {
      table <<= 1;
    }
    allocate(table);
  }

  int size() {
    return size;
  }

  /** Returns the slot of {@code id}, or {@code -1} if it is absent. */
  int find(long id) {
    int mask = keys.length - 1;
    for (int slot = home(id); used[slot]; slot = (slot + 1) & mask) {
      if (keys[slot] == id) {
        return slot;
      }
    }
    return -1;
  }

  double valueAt(int slot) {
    return values[slot];
  }

  void setValueAt(int slot, double value) {
    values[slot] = value;
  }

  /** Adds {@code id}; returns {@code false}, changing nothing, if it is already present. */
  boolean add(long id, double value) {
    if (2 * (size + 1) > keys.length) {
      rehash(keys.length << 1);
    }
    int mask = keys.length - 1;
    int slot = home(id);
    while (used[slot]) {
      if (keys[slot] == id) {
        return false;
      }
      slot = (slot + 1) & mask;
    }
    used[slot] = true;
    keys[slot] = id;
    values[slot] = value;
    size++;
    return true;
  }

  /** Removes {@code id} if present; returns whether it was. */
  boolean remove(long id) {
    int slot = find(id);
    if (slot < 0) {
      return false;
    }
    removeAt(slot);
    return true;
  }

  /** Removes the entry in {@code slot}; other slots found before this call are invalid after it. */
  void removeAt(int slot) {
    int mask = keys.length - 1;
    int hole = slot;
    // Backward-shift: move later members of the probe run into the hole when their home
    // slot does not lie cyclically in (hole, candidate], so every key stays reachable.
    for (int candidate = (hole + 1) & mask; used[candidate]; candidate = (candidate + 1) & mask) {
      int home = home(keys[candidate]);
      boolean stays =
          hole <= candidate ? hole < home && home <= candidate : hole < home || home <= candidate;
      if (!stays) {
        keys[hole] = keys[candidate];
        values[hole] = values[candidate];
        hole = candidate;
      }
    }
    used[hole] = false;
    size--;
  }

  private int home(long id) {
    return (int) ((id * SPREAD) >>> shift);
  }

  private void allocate(int table) {
    keys = new long[table];
    values = new double[table];
    used = new boolean[table];
    shift = Long.SIZE - Integer.numberOfTrailingZeros(table);
    size = 0;
  }

  private void rehash(int table) {
    long[] oldKeys = keys;
    double[] oldValues = values;
    boolean[] oldUsed = used;
    allocate(table);
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldUsed[i]) {
        add(oldKeys[i], oldValues[i]);
      }
    }
  }
}

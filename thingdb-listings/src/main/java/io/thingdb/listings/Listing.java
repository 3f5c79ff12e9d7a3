package io.thingdb.listings;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A bounded sorted list of the things a listing query returns (the hot links of a subreddit, a
 * user's submissions by date, ...): one entry per thing, with the thing's id, the thing version the
 * entry was computed from, and its sort value, in the one total order of listings (sort value
 * descending, then thing id descending, {@code -0.0} equal to {@code 0.0}; see {@link
 * Sorts#compare}).
 *
 * <h2>Visible entries, slack and refills</h2>
 *
 * <p>Readers see the first {@link #capacity()} entries ({@link #visible()}, {@link #page}). The
 * listing holds up to {@link #maxSize()} = capacity + {@link #slack()} entries, so that after a few
 * deletes or score drops the entries that move up into view are already there. A listing fed only
 * by per-item updates cannot know about items beyond what it holds, so it tracks how much of the
 * query it knows:
 *
 * <ul>
 *   <li>A listing is <em>complete</em> when it holds every live item of its query (it was filled
 *       from a query result shorter than {@link #maxSize()}, and has never overflowed since). A
 *       complete listing is always exact.
 *   <li>Otherwise it is <em>truncated</em> at a boundary position: it holds exactly the items that
 *       sort at or before the boundary, and knows nothing of those after it. Upserts of items that
 *       sort after the boundary are dropped, since their true rank among the unknown items cannot
 *       be known. When an insert overflows {@link #maxSize()}, the last entry is dropped and the
 *       boundary moves up to the new last entry.
 *   <li>When a truncated listing holds fewer than {@link #lowWaterMark()} (= capacity) entries, its
 *       visible part may be missing items and {@link #needsRefill()} returns {@code true}: the
 *       owner must re-run the query for {@link #maxSize()} items and call {@link #replaceAll}.
 * </ul>
 *
 * <p>So whenever {@link #needsRefill()} is {@code false}, {@link #visible()} equals "all live items
 * of the query, sorted, first capacity", provided every change to an item was applied. A new
 * listing from {@link #create} knows nothing yet: it is truncated at the top and needs a refill.
 *
 * <h2>Versions</h2>
 *
 * <p>{@link #upsert} ignores an entry whose thing version is older than or equal to the version of
 * the entry it holds for that id, so a late or repeated update never undoes a newer one. The
 * listing remembers versions only of the entries it holds: an entry it does not hold (never seen,
 * {@linkplain #remove removed}, or dropped past the boundary) is taken as given. Callers must
 * therefore pass the thing's current state, as the listing store does by reading the thing while it
 * holds the listing's claim.
 *
 * <h2>Cost</h2>
 *
 * <p>Entries are kept in parallel sorted arrays and an id-to-value hash table: {@link #upsert} and
 * {@link #remove} cost two binary searches and one {@link System#arraycopy} of the entries between
 * the old and the new position; {@link #page} costs one binary search. The compact binary form of
 * {@link #encode} takes about 12 bytes per entry and at most 28 (1,000 entries stay under 28 KiB).
 *
 * <p><b>Not thread-safe.</b> A listing is a mutable value: confine it to one thread, or guard it
 * externally. The listing store decodes a private copy for each batch of updates and writes it back
 * under a version check, so it never shares one between threads.
 */
public final class Listing {

  /** The capacity of {@link #create()}: the original site's listings showed 1,000 things. */
  public static final int DEFAULT_CAPACITY = 1000;

  /**
   * The largest capacity: a listing of this capacity encodes to at most about 35 MB, far more than
   * a cache item or a database row should hold; larger listings need a different design.
   */
  public static final int MAX_CAPACITY = 1_000_000;

  /** The largest page {@link #page} returns. */
  public static final int MAX_PAGE_LIMIT = 100;

  /** Arrays start this long and double up to maxSize + 1, so a small listing stays small. */
  private static final int INITIAL_LENGTH = 16;

  private final int capacity;
  private final int maxSize;
  private double[] values;
  private long[] ids;
  private long[] versions;
  private int size;
  private IdIndex index;
  private boolean complete;
  private boolean hasBoundary;
  private double boundaryValue;
  private long boundaryId;

  private Listing(int capacity, int length, IdIndex index) {
    this.capacity = capacity;
    this.maxSize = maxSizeFor(capacity);
    this.values = new double[length];
    this.ids = new long[length];
    this.versions = new long[length];
    this.index = index;
  }

  /**
   * Returns a new listing with the {@linkplain #DEFAULT_CAPACITY default capacity} that knows
   * nothing of its query yet: it is empty, {@link #needsRefill()} is {@code true}, and it drops
   * every upsert until {@link #replaceAll} fills it.
   *
   * @return a new empty listing of capacity 1,000
   */
  public static Listing create() {
    return create(DEFAULT_CAPACITY);
  }

  /**
   * Returns a new listing of the given capacity that knows nothing of its query yet: it is empty,
   * {@link #needsRefill()} is {@code true}, and it drops every upsert until {@link #replaceAll}
   * fills it.
   *
   * @param capacity the number of entries readers see, 1 to {@link #MAX_CAPACITY}
   * @return a new empty listing
   * @throws IllegalArgumentException if {@code capacity} is out of range
   */
  public static Listing create(int capacity) {
    checkCapacity(capacity);
    return new Listing(
        capacity, Math.min(INITIAL_LENGTH, maxSizeFor(capacity) + 1), new IdIndex(0));
  }

  static void checkCapacity(int capacity) {
    if (capacity < 1 || capacity > MAX_CAPACITY) {
      throw new IllegalArgumentException(
          "listing capacity must be between 1 and "
              + MAX_CAPACITY
              + " (capacity="
              + capacity
              + ")");
    }
  }

  /**
   * The most entries a listing of this capacity holds. A quarter of the capacity absorbs the
   * deletes and score drops between refills (each refill is a query of this many rows), and the 10
   * keeps small listings (a user's few submissions) from refilling after every other delete.
   */
  static int maxSizeFor(int capacity) {
    return capacity + capacity / 4 + 10;
  }

  /**
   * Returns the number of entries readers see.
   *
   * @return the capacity, at least 1
   */
  public int capacity() {
    return capacity;
  }

  /**
   * Returns how many entries the listing keeps beyond its capacity: {@code capacity / 4 + 10}.
   *
   * @return the slack
   */
  public int slack() {
    return maxSize - capacity;
  }

  /**
   * Returns the most entries the listing holds, {@link #capacity()} + {@link #slack()}: the number
   * of items a refill should query. A query that returns fewer is complete.
   *
   * @return the maximum size
   */
  public int maxSize() {
    return maxSize;
  }

  /**
   * Returns the size below which a truncated listing {@linkplain #needsRefill() needs a refill}:
   * its capacity, since below it the visible part may be missing items.
   *
   * @return the low-water mark
   */
  public int lowWaterMark() {
    return capacity;
  }

  /**
   * Returns the number of entries held, visible or in the slack.
   *
   * @return the size, 0 to {@link #maxSize()}
   */
  public int size() {
    return size;
  }

  /**
   * Returns whether the listing holds every live item of its query, so that it never needs a
   * refill.
   *
   * @return {@code true} if complete, {@code false} if truncated
   */
  public boolean isComplete() {
    return complete;
  }

  /**
   * Returns whether the visible entries may be missing items: the listing is truncated and holds
   * fewer than {@link #lowWaterMark()} entries. The owner should then query the first {@link
   * #maxSize()} items and pass them to {@link #replaceAll}.
   *
   * @return {@code true} if a refill is needed
   */
  public boolean needsRefill() {
    return !complete && size < capacity;
  }

  /**
   * Inserts or updates the entry of a thing, moving it to the position of its new sort value.
   *
   * <p>Nothing changes if the listing holds an entry for {@code id} with a version at least {@code
   * version} (an older or repeated update). If the listing is truncated and the new entry sorts
   * after its boundary, where it would rank among items the listing does not hold, the entry is not
   * inserted, and a held entry for {@code id} is removed. An insert that makes the listing exceed
   * {@link #maxSize()} drops the last entry and makes the listing truncated.
   *
   * @param id the thing id
   * @param version the thing version the sort value was computed from
   * @param sortValue the sort value; {@code -0.0} is stored as {@code 0.0}
   * @return {@code true} if the listing changed
   * @throws IllegalArgumentException if {@code sortValue} is NaN; nothing is changed
   */
  public boolean upsert(long id, long version, double sortValue) {
    if (Double.isNaN(sortValue)) {
      throw new IllegalArgumentException(
          "listing sort value must not be NaN (id=" + id + ", version=" + version + ")");
    }
    double value = sortValue == 0 ? 0.0 : sortValue;
    int slot = index.find(id);
    if (slot >= 0) {
      int from = positionOf(index.valueAt(slot), id);
      if (version <= versions[from]) {
        return false;
      }
      if (afterBoundary(value, id)) {
        removeAt(from);
        index.removeAt(slot);
        return true;
      }
      index.setValueAt(slot, value);
      moveTo(from, value, id, version);
      return true;
    }
    if (afterBoundary(value, id)) {
      return false;
    }
    insertAt(lowerBound(value, id), value, id, version);
    index.add(id, value);
    if (size > maxSize) {
      truncateToMaxSize();
    }
    return true;
  }

  /**
   * Removes the entry of a thing, if held. The listing forgets the entry's version, so a later
   * upsert for {@code id} is taken as given.
   *
   * @param id the thing id
   * @return {@code true} if an entry was removed
   */
  public boolean remove(long id) {
    int slot = index.find(id);
    if (slot < 0) {
      return false;
    }
    removeAt(positionOf(index.valueAt(slot), id));
    index.removeAt(slot);
    return true;
  }

  /**
   * Replaces all entries, for a refill or a recompute: {@code entries} are the first items of the
   * listing's query, in the listing order.
   *
   * <p>If there are more than {@link #maxSize()}, the first {@code maxSize()} are kept and the
   * listing is truncated. Otherwise the listing is complete if {@code complete} is {@code true}
   * (the entries are every live item of the query: a query for {@code maxSize()} items that
   * returned fewer), and truncated after the last entry if {@code false}.
   *
   * @param entries the entries, sorted by value descending then id descending, with distinct ids
   *     (checked among the entries kept)
   * @param complete whether {@code entries} are all the live items of the query
   * @throws NullPointerException if {@code entries} or one of its elements is null
   * @throws IllegalArgumentException if the entries are not sorted or repeat an id; the listing is
   *     left unchanged
   */
  public void replaceAll(List<Entry> entries, boolean complete) {
    Objects.requireNonNull(entries, "entries");
    int count = entries.size();
    int keep = Math.min(count, maxSize);
    double[] newValues = new double[Math.max(keep + 1, Math.min(INITIAL_LENGTH, maxSize + 1))];
    long[] newIds = new long[newValues.length];
    long[] newVersions = new long[newValues.length];
    IdIndex newIndex = new IdIndex(keep);
    Entry previous = null;
    int i = 0;
    for (Entry entry : entries) {
      if (entry == null) {
        throw new NullPointerException("replaceAll entries contain null at index " + i);
      }
      if (previous != null
          && Sorts.compare(previous.value(), previous.id(), entry.value(), entry.id()) >= 0) {
        throw new IllegalArgumentException(
            "replaceAll needs entries sorted by value descending, then id "
                + "descending, without repeats: entry "
                + i
                + " "
                + entry
                + " does not sort after entry "
                + (i - 1)
                + " "
                + previous);
      }
      if (i < keep) {
        if (!newIndex.add(entry.id(), entry.value())) {
          throw new IllegalArgumentException(
              "replaceAll needs distinct ids: entry "
                  + i
                  + " "
                  + entry
                  + " repeats id "
                  + entry.id());
        }
        newValues[i] = entry.value();
        newIds[i] = entry.id();
        newVersions[i] = entry.version();
      }
      previous = entry;
      i++;
    }
    boolean truncated = !complete || count > maxSize;
    values = newValues;
    ids = newIds;
    versions = newVersions;
    size = keep;
    index = newIndex;
    this.complete = !truncated;
    if (truncated && keep > 0) {
      setBoundaryAt(keep - 1);
    } else {
      hasBoundary = false;
    }
  }

  /**
   * Returns the held entry of a thing.
   *
   * @param id the thing id
   * @return the entry, visible or in the slack, or empty if the listing does not hold {@code id}
   */
  public Optional<Entry> entry(long id) {
    int slot = index.find(id);
    return slot < 0 ? Optional.empty() : Optional.of(entryAt(positionOf(index.valueAt(slot), id)));
  }

  /**
   * The version of the held entry of a thing, or -1 if the listing does not hold it.
   *
   * @param id the thing id
   */
  long versionOf(long id) {
    int slot = index.find(id);
    return slot < 0 ? -1 : versions[positionOf(index.valueAt(slot), id)];
  }

  /**
   * Returns the first page of the visible entries.
   *
   * @param limit the most entries to return, 1 to {@link #MAX_PAGE_LIMIT}
   * @return up to {@code limit} entries, in listing order; an unmodifiable snapshot
   * @throws IllegalArgumentException if {@code limit} is out of range
   */
  public List<Entry> page(int limit) {
    checkLimit(limit);
    return slice(0, limit, visibleSize());
  }

  /**
   * Returns the visible entries that sort strictly after a cursor. The cursor is a position in the
   * order, not an entry: if the entry it came from has since moved or been removed, the page still
   * continues from where that entry was, so a reader never sees the top of the listing again while
   * paging down. Use {@link Entry#cursor()} of the last entry of a page for the next.
   *
   * @param after the position to continue after
   * @param limit the most entries to return, 1 to {@link #MAX_PAGE_LIMIT}
   * @return up to {@code limit} entries, in listing order, empty past the visible end; an
   *     unmodifiable snapshot
   * @throws NullPointerException if {@code after} is null
   * @throws IllegalArgumentException if {@code limit} is out of range
   */
  public List<Entry> page(Cursor after, int limit) {
    Objects.requireNonNull(after, "after");
    checkLimit(limit);
    return slice(upperBound(after.value(), after.id()), limit, visibleSize());
  }

  /**
   * Returns the visible entries: the first {@link #capacity()} held entries.
   *
   * @return the visible entries in listing order; an unmodifiable snapshot
   */
  public List<Entry> visible() {
    return slice(0, capacity, visibleSize());
  }

  /**
   * Returns every held entry, visible and in the slack.
   *
   * @return all {@link #size()} entries in listing order; an unmodifiable snapshot
   */
  public List<Entry> entries() {
    return slice(0, size, size);
  }

  /**
   * Returns the compact binary form of this listing, which {@link #decode} reads back: its
   * capacity, whether it is complete and where it is truncated, and its entries. About 12 bytes per
   * entry for typical ids and versions, at most 28, plus a CRC-32C checksum.
   *
   * @return a new array
   */
  public byte[] encode() {
    return ListingCodec.encode(this);
  }

  /**
   * Reads a listing from the bytes {@link #encode} wrote. Every byte is checked: a corrupt input is
   * rejected, never returned as a partial or disordered listing.
   *
   * @param bytes an encoded listing
   * @return a new listing equal to the one encoded
   * @throws NullPointerException if {@code bytes} is null
   * @throws CorruptListingException if the bytes are not a valid encoding
   */
  public static Listing decode(byte[] bytes) {
    return ListingCodec.decode(bytes);
  }

  /**
   * Returns a short description: capacity, size and completeness.
   *
   * @return a description, without the entries
   */
  @Override
  public String toString() {
    return "Listing(capacity="
        + capacity
        + ", size="
        + size
        + ", "
        + (complete
            ? "complete"
            : hasBoundary
                ? "truncated after " + new Cursor(boundaryValue, boundaryId)
                : "empty until refilled")
        + ")";
  }

  // ---- package-private access for ListingCodec ----

  /** Creates an empty listing with room for {@code count} entries, for the decoder to fill. */
  static Listing forDecoding(int capacity, int count) {
    return new Listing(
        capacity,
        Math.max(count + 1, Math.min(INITIAL_LENGTH, maxSizeFor(capacity) + 1)),
        new IdIndex(count));
  }

  /** Appends an entry that sorts after the last one; returns {@code false} if the id is held. */
  boolean appendForDecoding(double value, long id, long version) {
    if (!index.add(id, value)) {
      return false;
    }
    values[size] = value;
    ids[size] = id;
    versions[size] = version;
    size++;
    return true;
  }

  void setStateForDecoding(
      boolean complete, boolean hasBoundary, double boundaryValue, long boundaryId) {
    this.complete = complete;
    this.hasBoundary = hasBoundary;
    this.boundaryValue = boundaryValue;
    this.boundaryId = boundaryId;
  }

  boolean hasBoundary() {
    return hasBoundary;
  }

  double boundaryValue() {
    return boundaryValue;
  }

  long boundaryId() {
    return boundaryId;
  }

  double valueAt(int position) {
    return values[position];
  }

  long idAt(int position) {
    return ids[position];
  }

  long versionAt(int position) {
    return versions[position];
  }

  // ---- internals ----

  private static void checkLimit(int limit) {
    if (limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new IllegalArgumentException(
          "listing page limit must be between 1 and " + MAX_PAGE_LIMIT + " (limit=" + limit + ")");
    }
  }

  private int visibleSize() {
    return Math.min(size, capacity);
  }

  /** Entries from {@code from}, at most {@code limit} of them, and none at or after {@code end}. */
  private List<Entry> slice(int from, int limit, int end) {
    int to = (int) Math.min((long) from + limit, end);
    if (from >= to) {
      return List.of();
    }
    Entry[] slice = new Entry[to - from];
    for (int i = from; i < to; i++) {
      slice[i - from] = entryAt(i);
    }
    return Collections.unmodifiableList(Arrays.asList(slice));
  }

  private Entry entryAt(int position) {
    return new Entry(ids[position], versions[position], values[position]);
  }

  /** Whether (value, id), normalised, sorts strictly after the boundary of a truncated listing. */
  private boolean afterBoundary(double value, long id) {
    if (complete) {
      return false;
    }
    if (!hasBoundary) {
      return true;
    }
    return value < boundaryValue || (value == boundaryValue && id < boundaryId);
  }

  private void setBoundaryAt(int position) {
    hasBoundary = true;
    boundaryValue = values[position];
    boundaryId = ids[position];
  }

  /** The number of held entries that sort strictly before (value, id). */
  private int lowerBound(double value, long id) {
    int low = 0;
    int high = size;
    while (low < high) {
      int mid = (low + high) >>> 1;
      double v = values[mid];
      if (v > value || (v == value && ids[mid] > id)) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low;
  }

  /** The number of held entries that sort at or before (value, id). */
  private int upperBound(double value, long id) {
    int low = 0;
    int high = size;
    while (low < high) {
      int mid = (low + high) >>> 1;
      double v = values[mid];
      if (v > value || (v == value && ids[mid] >= id)) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low;
  }

  /** The position of a held entry, found by its stored value. */
  private int positionOf(double value, long id) {
    return lowerBound(value, id);
  }

  /**
   * Moves the entry at {@code from} to the position of (value, id): only the entries between the
   * old and the new position shift, by one, in each of the three arrays.
   */
  private void moveTo(int from, double value, long id, long version) {
    int to = lowerBound(value, id);
    if (to > from) {
      // The entry itself is among the `to` entries that sort before the new key.
      to--;
      shift(from + 1, from, to - from);
    } else if (to < from) {
      shift(to, to + 1, from - to);
    }
    values[to] = value;
    ids[to] = id;
    versions[to] = version;
  }

  private void insertAt(int position, double value, long id, long version) {
    if (size == values.length) {
      int length = (int) Math.min((long) maxSize + 1, Math.max(INITIAL_LENGTH, 2L * values.length));
      values = Arrays.copyOf(values, length);
      ids = Arrays.copyOf(ids, length);
      versions = Arrays.copyOf(versions, length);
    }
    shift(position, position + 1, size - position);
    values[position] = value;
    ids[position] = id;
    versions[position] = version;
    size++;
  }

  private void removeAt(int position) {
    shift(position + 1, position, size - position - 1);
    size--;
  }

  private void shift(int from, int to, int length) {
    System.arraycopy(values, from, values, to, length);
    System.arraycopy(ids, from, ids, to, length);
    System.arraycopy(versions, from, versions, to, length);
  }

  private void truncateToMaxSize() {
    while (size > maxSize) {
      index.remove(ids[size - 1]);
      size--;
    }
    complete = false;
    setBoundaryAt(size - 1);
  }

  /**
   * One entry of a listing: a thing id, the thing version its sort value was computed from, and the
   * sort value, never NaN, with {@code -0.0} normalised to {@code 0.0}.
   *
   * <p>Immutable and thread-safe.
   *
   * @param id the thing id
   * @param version the thing version
   * @param value the sort value
   */
  public record Entry(long id, long version, double value) {

    /**
     * Creates an entry, normalising {@code -0.0} to {@code 0.0}.
     *
     * @throws IllegalArgumentException if {@code value} is NaN
     */
    public Entry {
      if (Double.isNaN(value)) {
        throw new IllegalArgumentException(
            "listing sort value must not be NaN (id=" + id + ", version=" + version + ")");
      }
      value = value == 0 ? 0.0 : value;
    }

    /**
     * Returns the position of this entry in the listing order, to read the page after it.
     *
     * @return a cursor at (value, id)
     */
    public Cursor cursor() {
      return new Cursor(value, id);
    }
  }

  /**
   * A position in the listing order, (sort value, thing id), from which {@link Listing#page(Cursor,
   * int)} continues. It stays valid when the entry it was taken from moves or leaves the listing.
   * {@link #encode()} gives a compact URL-safe string and {@link #parse} reads it back.
   *
   * <p>Immutable and thread-safe.
   *
   * @param value the sort value, never NaN, {@code -0.0} normalised to {@code 0.0}
   * @param id the thing id
   */
  public record Cursor(double value, long id) {

    /** Length of {@link #encode()}: 16 bytes in unpadded base64url. */
    private static final int ENCODED_LENGTH = 22;

    /** Longest piece of a malformed input quoted in an error message. */
    private static final int QUOTE_LIMIT = 40;

    /**
     * Creates a cursor, normalising {@code -0.0} to {@code 0.0}.
     *
     * @throws IllegalArgumentException if {@code value} is NaN
     */
    public Cursor {
      if (Double.isNaN(value)) {
        throw new IllegalArgumentException(
            "listing cursor sort value must not be NaN (id=" + id + ")");
      }
      value = value == 0 ? 0.0 : value;
    }

    /**
     * Returns this cursor as 22 URL-safe characters (the value's IEEE bits and the id, big-endian,
     * in unpadded base64url), which {@link #parse} reads back exactly.
     *
     * @return the encoded cursor
     */
    public String encode() {
      byte[] bytes =
          ByteBuffer.allocate(Double.BYTES + Long.BYTES)
              .putLong(Double.doubleToRawLongBits(value))
              .putLong(id)
              .array();
      return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /**
     * Reads a cursor written by {@link #encode()}. Only the exact form {@code encode} writes is
     * accepted.
     *
     * @param text an encoded cursor
     * @return the cursor
     * @throws NullPointerException if {@code text} is null
     * @throws IllegalArgumentException if {@code text} is not an encoded cursor; the message quotes
     *     it
     */
    public static Cursor parse(String text) {
      Objects.requireNonNull(text, "text");
      if (text.length() != ENCODED_LENGTH) {
        throw malformed(text, "expected " + ENCODED_LENGTH + " characters, got " + text.length());
      }
      byte[] bytes;
      try {
        bytes = Base64.getUrlDecoder().decode(text);
      } catch (IllegalArgumentException e) {
        throw malformed(text, "not base64url (A-Z, a-z, 0-9, '-', '_')");
      }
      if (bytes.length != Double.BYTES + Long.BYTES) {
        throw malformed(text, "not base64url without padding");
      }
      ByteBuffer buffer = ByteBuffer.wrap(bytes);
      double value = Double.longBitsToDouble(buffer.getLong());
      long id = buffer.getLong();
      if (Double.isNaN(value)) {
        throw malformed(text, "its sort value is NaN");
      }
      Cursor cursor = new Cursor(value, id);
      if (!cursor.encode().equals(text)) {
        throw malformed(text, "not in the canonical form Cursor.encode() writes");
      }
      return cursor;
    }

    private static IllegalArgumentException malformed(String text, String reason) {
      String quoted = text.length() <= QUOTE_LIMIT ? text : text.substring(0, QUOTE_LIMIT) + "...";
      return new IllegalArgumentException("malformed listing cursor \"" + quoted + "\": " + reason);
    }
  }
}

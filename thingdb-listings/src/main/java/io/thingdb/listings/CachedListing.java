package io.thingdb.listings;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The form of a listing in the cache: its stored bytes ({@link ListingCodec}, as in the database)
 * behind a 4-byte length, followed by the <em>moves</em> that voters appended after it ({@link
 * io.thingdb.cache.VersionedCache#append}), each one thing's new sort value at the thing version
 * that gave it:
 *
 * <pre>
 * 4 bytes   length n of the stored listing, big-endian
 * n bytes   the stored listing
 * k x {     a move, {@value #MOVE_BYTES} bytes:
 *   byte      0x4d ('M')
 *   8 bytes   thing id
 *   8 bytes   thing version
 *   8 bytes   sort value (IEEE bits)
 *   4 bytes   CRC-32C of the 25 bytes before it }
 * </pre>
 *
 * <p>A reader applies the moves in order to the listing it decoded, each only to an entry the
 * listing holds and only if the move's version is newer than the entry's ({@link Listing#upsert}):
 * a move never brings back a thing the listing removed, never adds one it does not hold, and never
 * undoes a newer change. So a move can land at any time, on any version of the listing, and leave
 * it right.
 *
 * <p>Moves pile up only between two publishes of the listing (normally a fraction of a second).
 * While no processor runs they keep piling up, so a reader applies only the last {@value
 * #MAX_MOVES} (and a publish carries no more): reading costs at most that many upserts, and the
 * older moves, like any lost move, wait for the queue. Stateless.
 */
final class CachedListing {
  static final int MOVE_BYTES = 1 + 8 + 8 + 8 + 4;

  /** The most moves a reader applies, the last ones appended. */
  static final int MAX_MOVES = 4096;

  private static final byte MOVE = 0x4d;
  private static final int LENGTH_BYTES = 4;

  private CachedListing() {}

  /** The cached form of stored listing bytes, without moves. */
  static byte[] wrap(byte[] stored) {
    byte[] out = new byte[LENGTH_BYTES + stored.length];
    ByteBuffer.wrap(out).putInt(stored.length);
    System.arraycopy(stored, 0, out, LENGTH_BYTES, stored.length);
    return out;
  }

  /** One move record. */
  static byte[] move(long id, long version, double value) {
    byte[] out = new byte[MOVE_BYTES];
    ByteBuffer b = ByteBuffer.wrap(out);
    b.put(MOVE).putLong(id).putLong(version).putLong(Double.doubleToLongBits(value));
    CRC32C crc = new CRC32C();
    crc.update(out, 0, MOVE_BYTES - 4);
    b.putInt((int) crc.getValue());
    return out;
  }

  /**
   * Decodes a cached listing and applies its moves.
   *
   * @throws CorruptListingException if the bytes are damaged
   */
  static Listing decode(byte[] buf, int offset, int length) {
    int storedLength = storedLength(buf, offset, length);
    Listing listing =
        ListingCodec.decode(
            Arrays.copyOfRange(buf, offset + LENGTH_BYTES, offset + LENGTH_BYTES + storedLength));
    int end = offset + length;
    for (int at = firstMove(offset, length, storedLength); at < end; at += MOVE_BYTES) {
      ByteBuffer m = checkedMove(buf, at, end);
      long id = m.getLong(at + 1);
      long version = m.getLong(at + 9);
      double value = Double.longBitsToDouble(m.getLong(at + 17));
      long held = listing.versionOf(id);
      if (held >= 0 && held < version) {
        listing.upsert(id, version, value);
      }
    }
    return listing;
  }

  /**
   * The moves of a cached listing that {@code next}, the listing about to replace it, does not
   * already reflect: those of things it holds at an older version. A publish appends them to the
   * new value, so a vote applied by its voter after the publisher read its data stays visible.
   *
   * @throws CorruptListingException if the bytes are damaged
   */
  static byte[] carry(byte[] buf, int offset, int length, Listing next) {
    int storedLength = storedLength(buf, offset, length);
    int end = offset + length;
    ByteArrayOutputStream kept = null;
    for (int at = firstMove(offset, length, storedLength); at < end; at += MOVE_BYTES) {
      ByteBuffer m = checkedMove(buf, at, end);
      long held = next.versionOf(m.getLong(at + 1));
      if (held >= 0 && held < m.getLong(at + 9)) {
        if (kept == null) {
          kept = new ByteArrayOutputStream();
        }
        kept.write(buf, at, MOVE_BYTES);
      }
    }
    return kept == null ? new byte[0] : kept.toByteArray();
  }

  /** Whether moves follow the stored listing (false for damaged bytes too). */
  static boolean hasMoves(byte[] buf, int offset, int length) {
    return length >= LENGTH_BYTES
        && length > LENGTH_BYTES + ByteBuffer.wrap(buf, offset, length).getInt(offset);
  }

  /** Where the last {@link #MAX_MOVES} moves start. */
  private static int firstMove(int offset, int length, int storedLength) {
    int moves = (length - LENGTH_BYTES - storedLength) / MOVE_BYTES;
    return offset + LENGTH_BYTES + storedLength + Math.max(0, moves - MAX_MOVES) * MOVE_BYTES;
  }

  private static int storedLength(byte[] buf, int offset, int length) {
    if (length < LENGTH_BYTES) {
      throw new CorruptListingException(
          "cached listing of " + length + " bytes is shorter than its length prefix");
    }
    int storedLength = ByteBuffer.wrap(buf, offset, length).getInt(offset);
    if (storedLength < 0 || storedLength > length - LENGTH_BYTES) {
      throw new CorruptListingException(
          "cached listing says it stores "
              + storedLength
              + " bytes, and "
              + (length - LENGTH_BYTES)
              + " follow its length prefix");
    }
    if ((length - LENGTH_BYTES - storedLength) % MOVE_BYTES != 0) {
      throw new CorruptListingException(
          "cached listing has "
              + (length - LENGTH_BYTES - storedLength)
              + " bytes of moves, not a multiple of "
              + MOVE_BYTES);
    }
    return storedLength;
  }

  private static ByteBuffer checkedMove(byte[] buf, int at, int end) {
    ByteBuffer m = ByteBuffer.wrap(buf);
    CRC32C crc = new CRC32C();
    crc.update(buf, at, MOVE_BYTES - 4);
    if (buf[at] != MOVE || m.getInt(at + MOVE_BYTES - 4) != (int) crc.getValue()) {
      throw new CorruptListingException(
          "cached listing has a damaged move at byte " + at + " (of " + end + ")");
    }
    return m;
  }
}

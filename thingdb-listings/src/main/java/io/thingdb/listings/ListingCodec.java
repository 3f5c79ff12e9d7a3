package io.thingdb.listings;

import java.util.Arrays;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * The binary form of a {@link Listing}, format 1:
 *
 * <pre>
 * byte      format, 0x01
 * varint    capacity
 * byte      flags: bit 0 complete, bit 1 truncated at a boundary (never both; neither = knows nothing)
 * [if bit 1: 8 bytes boundary value (IEEE bits, big-endian), zigzag varint boundary id]
 * varint    count
 * count x { 8 bytes value (IEEE bits, big-endian); zigzag varint id - previous id (the first
 *           relative to 0); varint version (as unsigned) }
 * 4 bytes   CRC-32C of all the bytes before it, big-endian
 * </pre>
 *
 * <p>Values stay raw: hot values have seven significant decimals and dates sixteen digits, so
 * neither shrinks much as a varint, and raw bits round-trip exactly. Ids of one listing are often
 * close (a subreddit's links are created together), so their deltas take 2 to 4 bytes. A typical
 * entry takes 11 to 13 bytes; the worst case 28, so 1,000 entries always fit in 28 KiB.
 *
 * <p>The checksum catches the random damage a cache or a network can do (every single-byte change
 * and truncation); the structural checks after it catch bytes that were written wrongly with a
 * valid checksum. Stateless and thread-safe.
 */
final class ListingCodec {

  static final byte FORMAT = 1;

  static final int FLAG_COMPLETE = 1;
  static final int FLAG_BOUNDARY = 2;

  private static final int CHECKSUM_BYTES = Integer.BYTES;

  /** Smallest entry: 8 bytes of value, a 1-byte id delta and a 1-byte version. */
  private static final int MIN_ENTRY_BYTES = Double.BYTES + 2;

  /** Largest entry: 8 bytes of value and two 10-byte varints. */
  private static final int MAX_ENTRY_BYTES = Double.BYTES + 20;

  /** Format, capacity, flags, boundary, count. */
  private static final int MAX_HEADER_BYTES = 1 + 5 + 1 + Double.BYTES + 10 + 5;

  /** Format, 1-byte capacity, flags, 1-byte count, checksum. */
  private static final int MIN_LENGTH = 1 + 1 + 1 + 1 + CHECKSUM_BYTES;

  private ListingCodec() {}

  static byte[] encode(Listing listing) {
    int size = listing.size();
    Writer out = new Writer(MAX_HEADER_BYTES + size * MAX_ENTRY_BYTES + CHECKSUM_BYTES);
    out.writeByte(FORMAT);
    out.writeVarint(listing.capacity());
    out.writeByte(
        (listing.isComplete() ? FLAG_COMPLETE : 0) | (listing.hasBoundary() ? FLAG_BOUNDARY : 0));
    if (listing.hasBoundary()) {
      out.writeDouble(listing.boundaryValue());
      out.writeVarint(zigzag(listing.boundaryId()));
    }
    out.writeVarint(size);
    long previousId = 0;
    for (int i = 0; i < size; i++) {
      long id = listing.idAt(i);
      out.writeDouble(listing.valueAt(i));
      out.writeVarint(zigzag(id - previousId));
      out.writeVarint(listing.versionAt(i));
      previousId = id;
    }
    out.writeChecksum();
    return out.toByteArray();
  }

  static Listing decode(byte[] bytes) {
    Objects.requireNonNull(bytes, "bytes");
    Reader in = new Reader(bytes);
    if (bytes.length < MIN_LENGTH) {
      throw in.corrupt("shorter than the smallest listing (" + MIN_LENGTH + " bytes)");
    }
    if (bytes[0] != FORMAT) {
      throw in.corrupt(
          String.format("unknown format byte 0x%02x (expected 0x%02x)", bytes[0] & 0xff, FORMAT));
    }
    in.verifyChecksum();
    in.readByte();
    long capacity = in.readVarint();
    if (capacity < 1 || capacity > Listing.MAX_CAPACITY) {
      throw in.corrupt("capacity " + capacity + " is not between 1 and " + Listing.MAX_CAPACITY);
    }
    int flags = in.readByte();
    if ((flags & ~(FLAG_COMPLETE | FLAG_BOUNDARY)) != 0
        || flags == (FLAG_COMPLETE | FLAG_BOUNDARY)) {
      throw in.corrupt(String.format("invalid flags 0x%02x", flags));
    }
    boolean complete = (flags & FLAG_COMPLETE) != 0;
    boolean hasBoundary = (flags & FLAG_BOUNDARY) != 0;
    double boundaryValue = 0;
    long boundaryId = 0;
    if (hasBoundary) {
      boundaryValue = in.readValue("boundary");
      boundaryId = unzigzag(in.readVarint());
    }
    int maxSize = Listing.maxSizeFor((int) capacity);
    long count = in.readVarint();
    if (count > maxSize) {
      throw in.corrupt(
          "count " + count + " exceeds the maximum size " + maxSize + " of capacity " + capacity);
    }
    if (count * MIN_ENTRY_BYTES > in.remaining()) {
      throw in.corrupt(
          "count "
              + count
              + " needs at least "
              + count * MIN_ENTRY_BYTES
              + " bytes, "
              + in.remaining()
              + " remain");
    }
    if (!complete && !hasBoundary && count > 0) {
      throw in.corrupt("a listing that knows nothing of its query holds " + count + " entries");
    }
    Listing listing = Listing.forDecoding((int) capacity, (int) count);
    double previousValue = 0;
    long previousId = 0;
    for (int i = 0; i < count; i++) {
      String what = "entry " + i;
      double value = in.readValue(what);
      long id = previousId + unzigzag(in.readVarint());
      long version = in.readVarint();
      if (i > 0 && !(value < previousValue || (value == previousValue && id < previousId))) {
        throw in.corrupt(
            what
                + " (value="
                + value
                + ", id="
                + id
                + ") does not sort after entry "
                + (i - 1)
                + " (value="
                + previousValue
                + ", id="
                + previousId
                + ")");
      }
      if (hasBoundary && (value < boundaryValue || (value == boundaryValue && id < boundaryId))) {
        throw in.corrupt(
            what
                + " (value="
                + value
                + ", id="
                + id
                + ") sorts after the boundary (value="
                + boundaryValue
                + ", id="
                + boundaryId
                + ")");
      }
      if (!listing.appendForDecoding(value, id, version)) {
        throw in.corrupt(what + " repeats id " + id);
      }
      previousValue = value;
      previousId = id;
    }
    if (in.remaining() != 0) {
      throw in.corrupt(in.remaining() + " unexpected bytes after entry " + (count - 1));
    }
    listing.setStateForDecoding(complete, hasBoundary, boundaryValue, boundaryId);
    return listing;
  }

  private static long zigzag(long value) {
    return (value << 1) ^ (value >> 63);
  }

  private static long unzigzag(long value) {
    return (value >>> 1) ^ -(value & 1);
  }

  private static final class Writer {
    private final byte[] buffer;
    private int position;

    Writer(int capacity) {
      buffer = new byte[capacity];
    }

    void writeByte(int value) {
      buffer[position++] = (byte) value;
    }

    void writeVarint(long value) {
      while ((value & ~0x7FL) != 0) {
        buffer[position++] = (byte) ((value & 0x7F) | 0x80);
        value >>>= 7;
      }
      buffer[position++] = (byte) value;
    }

    void writeDouble(double value) {
      writeLong(Double.doubleToRawLongBits(value));
    }

    private void writeLong(long bits) {
      for (int shift = 56; shift >= 0; shift -= 8) {
        buffer[position++] = (byte) (bits >>> shift);
      }
    }

    void writeChecksum() {
      CRC32C crc = new CRC32C();
      crc.update(buffer, 0, position);
      int value = (int) crc.getValue();
      for (int shift = 24; shift >= 0; shift -= 8) {
        buffer[position++] = (byte) (value >>> shift);
      }
    }

    byte[] toByteArray() {
      return Arrays.copyOf(buffer, position);
    }
  }

  /** Reads the bytes before the checksum; every read checks the bounds. */
  private static final class Reader {
    private final byte[] bytes;
    private final int limit;
    private int position;

    Reader(byte[] bytes) {
      this.bytes = bytes;
      this.limit = Math.max(0, bytes.length - CHECKSUM_BYTES);
    }

    int remaining() {
      return limit - position;
    }

    void verifyChecksum() {
      CRC32C crc = new CRC32C();
      crc.update(bytes, 0, limit);
      int expected = 0;
      for (int i = limit; i < bytes.length; i++) {
        expected = (expected << 8) | (bytes[i] & 0xff);
      }
      if ((int) crc.getValue() != expected) {
        throw corrupt(
            String.format(
                "checksum mismatch (stored 0x%08x, computed 0x%08x): the bytes were "
                    + "damaged or truncated",
                expected, (int) crc.getValue()));
      }
    }

    int readByte() {
      need(1);
      return bytes[position++] & 0xff;
    }

    long readVarint() {
      int start = position;
      long result = 0;
      for (int shift = 0; shift < 63; shift += 7) {
        int b = readByte();
        result |= (long) (b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
          return result;
        }
      }
      // Nine bytes carried 63 bits: the tenth may carry only the last one.
      int last = readByte();
      if (last > 1) {
        throw corrupt("varint at offset " + start + " overflows 64 bits");
      }
      return result | (long) last << 63;
    }

    /** Reads a sort value as the encoder writes it: not NaN, and never {@code -0.0}. */
    double readValue(String what) {
      int start = position;
      need(Double.BYTES);
      long bits = 0;
      for (int i = 0; i < Double.BYTES; i++) {
        bits = (bits << 8) | (bytes[position++] & 0xff);
      }
      double value = Double.longBitsToDouble(bits);
      if (Double.isNaN(value)) {
        throw corrupt(what + " has a NaN sort value (offset " + start + ")");
      }
      if (bits == Long.MIN_VALUE) {
        throw corrupt(
            what + " has the sort value -0.0, which listings store as 0.0 (offset " + start + ")");
      }
      return value;
    }

    private void need(int count) {
      if (remaining() < count) {
        throw corrupt(
            "truncated: "
                + count
                + " more bytes needed at offset "
                + position
                + ", "
                + remaining()
                + " remain before the checksum");
      }
    }

    CorruptListingException corrupt(String reason) {
      return new CorruptListingException(
          "corrupt listing encoding (length=" + bytes.length + "): " + reason);
    }
  }
}

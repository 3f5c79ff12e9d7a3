package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import io.thingdb.listings.Listing.Entry;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** The binary form: round trips, size, and rejection of every kind of corrupt input. */
class ListingEncodingTest {

  private static final int MEMCACHED_BUDGET = 32 * 1024;

  /**
   * A listing of 1,000 visible entries plus a full slack, truncated: ids near one another (as a
   * subreddit's links are), hot-like values, small versions.
   */
  private static Listing typicalListing(SplittableRandom random) {
    List<Entry> entries = new ArrayList<>();
    Set<Long> seen = new HashSet<>();
    while (entries.size() < 1260) {
      long id = 40_000_000L + random.nextInt(200_000);
      if (seen.add(id)) {
        double hot =
            Sorts.hot(
                random.nextInt(5_000),
                random.nextInt(500),
                1_700_000_000_000_000L + random.nextLong(30L * 86_400 * 1_000_000));
        entries.add(new Entry(id, 1 + random.nextInt(300), hot));
      }
    }
    entries.sort(ListingModel.ORDER);
    Listing listing = Listing.create(1000);
    listing.replaceAll(entries, false);
    return listing;
  }

  private static void assertSameListing(Listing actual, Listing expected) {
    assertThat(actual.capacity()).isEqualTo(expected.capacity());
    assertThat(actual.entries()).isEqualTo(expected.entries());
    assertThat(actual.isComplete()).isEqualTo(expected.isComplete());
    assertThat(actual.needsRefill()).isEqualTo(expected.needsRefill());
    assertThat(actual.toString()).isEqualTo(expected.toString());
  }

  @Test
  void roundTripKeepsEntriesCompletenessAndBoundary() {
    Listing truncated = typicalListing(new SplittableRandom(1));
    Listing complete = Listing.create(5);
    complete.replaceAll(
        List.of(
            new Entry(Long.MAX_VALUE, Long.MAX_VALUE, Double.POSITIVE_INFINITY),
            new Entry(Long.MIN_VALUE, -1, Double.MAX_VALUE),
            new Entry(0, 0, Double.MIN_VALUE),
            new Entry(-7, 3, 0.0),
            new Entry(Long.MIN_VALUE + 1, Long.MIN_VALUE, Double.NEGATIVE_INFINITY)),
        true);
    Listing fresh = Listing.create(7);
    Listing empty = Listing.create(1);
    empty.replaceAll(List.of(), true);

    for (Listing listing : List.of(truncated, complete, fresh, empty)) {
      byte[] bytes = listing.encode();
      Listing decoded = Listing.decode(bytes);
      assertSameListing(decoded, listing);
      assertThat(decoded.encode()).isEqualTo(bytes);
    }
  }

  @Test
  void decodedListingKeepsDroppingUpdatesAfterItsBoundary() {
    Listing listing = Listing.create(3);
    listing.replaceAll(
        List.of(new Entry(5, 1, 5.0), new Entry(4, 1, 4.0), new Entry(3, 1, 3.0)), false);

    Listing decoded = Listing.decode(listing.encode());

    assertThat(decoded.upsert(9, 1, 2.0)).isFalse();
    assertThat(decoded.upsert(9, 1, 3.5)).isTrue();
    assertThat(decoded.remove(4)).isTrue();
    assertThat(decoded.needsRefill()).isFalse();
  }

  @Test
  void thousandEntriesFitComfortablyInOneMemcachedItem() {
    Listing typical = typicalListing(new SplittableRandom(2));
    int typicalBytes = typical.encode().length;

    // Worst case: ids spread over all longs and huge versions take 10-byte varints.
    SplittableRandom random = new SplittableRandom(3);
    List<Entry> spread = new ArrayList<>();
    for (int i = 0; i < 1260; i++) {
      spread.add(new Entry(random.nextLong(), Long.MIN_VALUE + i, random.nextDouble()));
    }
    spread.sort(ListingModel.ORDER);
    Listing worst = Listing.create(1000);
    worst.replaceAll(spread, true);
    int worstBytes = worst.encode().length;

    assertThat(typical.size()).isEqualTo(1260);
    assertThat(typicalBytes).as("typical 1,260 entries").isLessThan(18 * 1024);
    assertThat(worstBytes).as("worst-case 1,260 entries").isLessThan(36 * 1024);
    assertThat(worstBytes * 1000 / 1260)
        .as("worst-case 1,000 entries")
        .isLessThan(MEMCACHED_BUDGET);
  }

  // ---- specific corruptions, each with its message ----

  private static String prefix(byte[] bytes) {
    return "corrupt listing encoding (length=" + bytes.length + "): ";
  }

  @Test
  void wrongFormatByteIsRejected() {
    byte[] bytes = Listing.create(3).encode();
    bytes[0] = 2;

    assertThatThrownBy(() -> Listing.decode(bytes))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(bytes) + "unknown format byte 0x02 (expected 0x01)");
  }

  @Test
  void damagedByteIsRejectedByTheChecksum() {
    byte[] bytes = typicalListing(new SplittableRandom(4)).encode();
    bytes[bytes.length / 2] ^= 0x10;

    assertThatThrownBy(() -> Listing.decode(bytes))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageStartingWith(prefix(bytes) + "checksum mismatch (stored 0x")
        .hasMessageEndingWith("): the bytes were damaged or truncated");
  }

  @Test
  void truncatedBytesAreRejected() {
    byte[] whole = typicalListing(new SplittableRandom(5)).encode();
    byte[] truncated = Arrays.copyOf(whole, whole.length - 1);
    byte[] tiny = Arrays.copyOf(whole, 7);

    assertThatThrownBy(() -> Listing.decode(truncated))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageContaining("checksum mismatch");
    assertThatThrownBy(() -> Listing.decode(tiny))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(tiny) + "shorter than the smallest listing (8 bytes)");
    assertThatThrownBy(() -> Listing.decode(new byte[0]))
        .hasMessage(
            "corrupt listing encoding (length=0): shorter than the smallest listing (8 bytes)");
  }

  @Test
  void nullBytesAreRejected() {
    assertThatThrownBy(() -> Listing.decode(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("bytes");
  }

  @Test
  void validChecksumOverACountLargerThanTheEntriesIsRejected() {
    byte[] bytes = new Raw(10, Raw.COMPLETE).count(2).entry(5.0, 9, 1).build();

    assertThatThrownBy(() -> Listing.decode(bytes))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(bytes) + "count 2 needs at least 20 bytes, 10 remain");
  }

  @Test
  void validChecksumOverACountSmallerThanTheEntriesIsRejected() {
    byte[] bytes = new Raw(10, Raw.COMPLETE).count(1).entry(5.0, 9, 1).entry(4.0, 8, 1).build();

    assertThatThrownBy(() -> Listing.decode(bytes))
        .hasMessage(prefix(bytes) + "10 unexpected bytes after entry 0");
  }

  @Test
  void validChecksumOverEntriesOutOfOrderIsRejected() {
    byte[] byValue = new Raw(10, Raw.COMPLETE).count(2).entry(4.0, 9, 1).entry(5.0, 8, 1).build();
    byte[] byId = new Raw(10, Raw.COMPLETE).count(2).entry(5.0, 8, 1).entry(5.0, 9, 1).build();

    assertThatThrownBy(() -> Listing.decode(byValue))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(
            prefix(byValue)
                + "entry 1 (value=5.0, id=8) does not sort after entry 0 (value=4.0, id=9)");
    assertThatThrownBy(() -> Listing.decode(byId))
        .hasMessage(
            prefix(byId)
                + "entry 1 (value=5.0, id=9) does not sort after entry 0 (value=5.0, id=8)");
  }

  @Test
  void validChecksumOverARepeatedIdIsRejected() {
    byte[] bytes =
        new Raw(10, Raw.COMPLETE)
            .count(3)
            .entry(5.0, 9, 1)
            .entry(4.0, 8, 1)
            .entry(3.0, 9, 2)
            .build();

    assertThatThrownBy(() -> Listing.decode(bytes))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(bytes) + "entry 2 repeats id 9");
  }

  @Test
  void validChecksumOverANanOrNegativeZeroValueIsRejected() {
    byte[] nan = new Raw(10, Raw.COMPLETE).count(1).entry(Double.NaN, 9, 1).build();
    byte[] negativeZero = new Raw(10, Raw.COMPLETE).count(1).entry(-0.0, 9, 1).build();

    assertThatThrownBy(() -> Listing.decode(nan))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(nan) + "entry 0 has a NaN sort value (offset 4)");
    assertThatThrownBy(() -> Listing.decode(negativeZero))
        .hasMessage(
            prefix(negativeZero)
                + "entry 0 has the sort value -0.0, which listings store as 0.0 "
                + "(offset 4)");
  }

  @Test
  void validChecksumOverAnEntryAfterTheBoundaryIsRejected() {
    byte[] bytes =
        new Raw(10, Raw.BOUNDARY)
            .boundary(5.0, 7)
            .count(2)
            .entry(6.0, 1, 1)
            .entry(5.0, 6, 1)
            .build();

    assertThatThrownBy(() -> Listing.decode(bytes))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(
            prefix(bytes) + "entry 1 (value=5.0, id=6) sorts after the boundary (value=5.0, id=7)");
  }

  @Test
  void validChecksumOverEntriesOfAListingThatKnowsNothingIsRejected() {
    byte[] bytes = new Raw(10, 0).count(1).entry(6.0, 1, 1).build();

    assertThatThrownBy(() -> Listing.decode(bytes))
        .hasMessage(prefix(bytes) + "a listing that knows nothing of its query holds 1 entries");
  }

  @Test
  void validChecksumOverBadHeaderFieldsIsRejected() {
    byte[] capacity = new Raw(0, Raw.COMPLETE).count(0).build();
    byte[] flags = new Raw(10, Raw.COMPLETE | Raw.BOUNDARY).count(0).build();
    byte[] unknownFlag = new Raw(10, 4).count(0).build();
    byte[] count = new Raw(1, Raw.COMPLETE).count(12).build();
    byte[] longVarint =
        new Raw(0, 0)
            .rawBytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)
            .build();
    byte[] overflow =
        new Raw(0, 0).rawBytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02).build();

    assertThatThrownBy(() -> Listing.decode(capacity))
        .isInstanceOf(CorruptListingException.class)
        .hasMessage(prefix(capacity) + "capacity 0 is not between 1 and 1000000");
    assertThatThrownBy(() -> Listing.decode(flags))
        .hasMessage(prefix(flags) + "invalid flags 0x03");
    assertThatThrownBy(() -> Listing.decode(unknownFlag))
        .hasMessage(prefix(unknownFlag) + "invalid flags 0x04");
    assertThatThrownBy(() -> Listing.decode(count))
        .hasMessage(prefix(count) + "count 12 exceeds the maximum size 11 of capacity 1");
    assertThatThrownBy(() -> Listing.decode(longVarint))
        .hasMessage(prefix(longVarint) + "varint at offset 1 overflows 64 bits");
    assertThatThrownBy(() -> Listing.decode(overflow))
        .hasMessage(prefix(overflow) + "varint at offset 1 overflows 64 bits");
  }

  // ---- fuzzing ----

  @Test
  void everySingleByteChangeOrTruncationIsRejected() {
    SplittableRandom random = new SplittableRandom(6);
    for (byte[] valid : validEncodings()) {
      for (int position = 0; position < valid.length; position++) {
        byte[] damaged = valid.clone();
        damaged[position] ^= (byte) (1 + random.nextInt(255));
        assertRejected(damaged);
      }
      for (int length = 0; length < valid.length; length++) {
        assertRejected(Arrays.copyOf(valid, length));
      }
    }
  }

  @Test
  void randomDamageBehindAValidChecksumNeverYieldsABrokenListing() {
    // Bypasses the checksum, as a buggy writer would: the structural checks alone must hold.
    SplittableRandom random = new SplittableRandom(7);
    List<byte[]> valid = validEncodings();
    int decoded = 0;
    for (int i = 0; i < 20_000; i++) {
      byte[] bytes = valid.get(random.nextInt(valid.size()));
      byte[] body = Arrays.copyOf(bytes, bytes.length - Integer.BYTES);
      switch (random.nextInt(4)) {
        case 0 -> body[random.nextInt(body.length)] ^= (byte) (1 + random.nextInt(255));
        case 1 -> {
          for (int flips = 1 + random.nextInt(8); flips > 0; flips--) {
            body[random.nextInt(body.length)] = (byte) random.nextInt(256);
          }
        }
        case 2 -> body = Arrays.copyOf(body, random.nextInt(body.length));
        default -> {
          body = Arrays.copyOf(body, body.length + 1 + random.nextInt(20));
          for (int j = 0; j < body.length; j += 1 + random.nextInt(30)) {
            body[j] = (byte) random.nextInt(256);
          }
        }
      }
      if (decodesToAValidListing(Raw.withChecksum(body))) {
        decoded++;
      }
    }
    // Many damaged values still form a sorted listing; the point is that none is broken.
    assertThat(decoded).isPositive();
  }

  private static List<byte[]> validEncodings() {
    Listing small = Listing.create(3);
    small.replaceAll(
        List.of(new Entry(5, 1, 5.0), new Entry(4, 300, 4.0), new Entry(-3, 1, -3.0)), false);
    Listing complete = Listing.create(20);
    complete.replaceAll(List.of(new Entry(1L << 40, 1, 1e9), new Entry(2, 2, 0.0)), true);
    Listing fresh = Listing.create(1000);
    Listing larger = typicalListing(new SplittableRandom(8));
    List<Entry> top = larger.entries().subList(0, 200);
    larger.replaceAll(top, false);
    return List.of(small.encode(), complete.encode(), fresh.encode(), larger.encode());
  }

  private static void assertRejected(byte[] bytes) {
    try {
      Listing listing = Listing.decode(bytes);
      fail("decoded damaged bytes %s into %s", HexFormat.of().formatHex(bytes), listing);
    } catch (CorruptListingException expected) {
      assertThat(expected.getMessage()).startsWith(prefix(bytes));
    } catch (RuntimeException e) {
      throw new AssertionError("unexpected exception for " + HexFormat.of().formatHex(bytes), e);
    }
  }

  /** Decodes, failing on any exception but the documented one and on any broken listing. */
  private static boolean decodesToAValidListing(byte[] bytes) {
    Listing listing;
    try {
      listing = Listing.decode(bytes);
    } catch (CorruptListingException expected) {
      return false;
    } catch (RuntimeException e) {
      throw new AssertionError("unexpected exception for " + HexFormat.of().formatHex(bytes), e);
    }
    List<Entry> entries = listing.entries();
    assertThat(entries.size()).isLessThanOrEqualTo(listing.maxSize());
    Set<Long> ids = new HashSet<>();
    for (int i = 0; i < entries.size(); i++) {
      Entry entry = entries.get(i);
      assertThat(Double.isNaN(entry.value())).isFalse();
      assertThat(ids.add(entry.id())).as("distinct ids").isTrue();
      assertThat(listing.entry(entry.id())).contains(entry);
      if (i > 0) {
        assertThat(ListingModel.ORDER.compare(entries.get(i - 1), entry)).as("order").isNegative();
      }
    }
    return true;
  }

  /** Writes format 1 field by field, with any content, and a valid checksum. */
  private static final class Raw {
    static final int COMPLETE = ListingCodec.FLAG_COMPLETE;
    static final int BOUNDARY = ListingCodec.FLAG_BOUNDARY;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private long previousId;

    Raw(long capacity, int flags) {
      out.write(ListingCodec.FORMAT);
      varint(capacity);
      out.write(flags);
    }

    /** Drops everything after the format byte and writes {@code bytes} instead. */
    Raw rawBytes(int... bytes) {
      byte[] format = {ListingCodec.FORMAT};
      out.reset();
      out.writeBytes(format);
      for (int b : bytes) {
        out.write(b);
      }
      return this;
    }

    Raw boundary(double value, long id) {
      value(value);
      varint((id << 1) ^ (id >> 63));
      return this;
    }

    Raw count(long count) {
      varint(count);
      return this;
    }

    Raw entry(double value, long id, long version) {
      value(value);
      long delta = id - previousId;
      varint((delta << 1) ^ (delta >> 63));
      varint(version);
      previousId = id;
      return this;
    }

    byte[] build() {
      return withChecksum(out.toByteArray());
    }

    static byte[] withChecksum(byte[] body) {
      CRC32C crc = new CRC32C();
      crc.update(body, 0, body.length);
      int value = (int) crc.getValue();
      byte[] bytes = Arrays.copyOf(body, body.length + Integer.BYTES);
      for (int i = 0; i < Integer.BYTES; i++) {
        bytes[body.length + i] = (byte) (value >>> (24 - 8 * i));
      }
      return bytes;
    }

    private void value(double value) {
      long bits = Double.doubleToRawLongBits(value);
      for (int shift = 56; shift >= 0; shift -= 8) {
        out.write((int) (bits >>> shift));
      }
    }

    private void varint(long value) {
      while ((value & ~0x7FL) != 0) {
        out.write((int) ((value & 0x7F) | 0x80));
        value >>>= 7;
      }
      out.write((int) value);
    }
  }
}

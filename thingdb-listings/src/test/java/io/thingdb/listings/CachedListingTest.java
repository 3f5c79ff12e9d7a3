package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The cached form of a listing: stored bytes followed by voters' moves. */
class CachedListingTest {
  static Listing listing() {
    Listing l = Listing.create(5);
    l.replaceAll(
        List.of(
            new Listing.Entry(3, 4, 30.0),
            new Listing.Entry(2, 4, 20.0),
            new Listing.Entry(1, 4, 10.0)),
        true);
    return l;
  }

  static byte[] cached(Listing l, byte[]... moves) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(CachedListing.wrap(l.encode()));
    for (byte[] m : moves) {
      out.writeBytes(m);
    }
    return out.toByteArray();
  }

  @Test
  void movesApplyInOrderOnlyToHeldEntriesAtOlderVersions() {
    byte[] bytes =
        cached(
            listing(),
            CachedListing.move(1, 6, 99.0), // thing 1 to the top at version 6
            CachedListing.move(1, 5, 0.0), // a late, older move: ignored
            CachedListing.move(2, 4, 500.0), // the version the listing holds: ignored
            CachedListing.move(7, 9, 1.0)); // a thing the listing does not hold: ignored
    Listing l = CachedListing.decode(bytes, 0, bytes.length);
    assertThat(l.visible())
        .extracting(Listing.Entry::id, Listing.Entry::version, Listing.Entry::value)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(1L, 6L, 99.0),
            org.assertj.core.groups.Tuple.tuple(3L, 4L, 30.0),
            org.assertj.core.groups.Tuple.tuple(2L, 4L, 20.0));
    assertThat(CachedListing.hasMoves(bytes, 0, bytes.length)).isTrue();
    byte[] bare = cached(listing());
    assertThat(CachedListing.hasMoves(bare, 0, bare.length)).isFalse();
  }

  @Test
  void aPublishCarriesOnlyTheMovesTheNewListingDoesNotReflect() {
    byte[] keep = CachedListing.move(1, 6, 99.0);
    byte[] bytes =
        cached(listing(), keep, CachedListing.move(2, 3, 1.0), CachedListing.move(8, 9, 1.0));
    Listing next = listing();
    next.upsert(3, 7, 31.0);
    assertThat(CachedListing.carry(bytes, 0, bytes.length, next)).containsExactly(keep);
    next.upsert(1, 6, 99.0);
    assertThat(CachedListing.carry(bytes, 0, bytes.length, next)).isEmpty();
  }

  @Test
  void onlyTheLastMovesAreAppliedAndCarriedSoAPileUpCostsBoundedWork() {
    byte[][] moves = new byte[CachedListing.MAX_MOVES + 1][];
    moves[0] = CachedListing.move(1, 5, 99.0); // the oldest: beyond the bound
    for (int i = 1; i < moves.length; i++) {
      moves[i] = CachedListing.move(2, 4 + i, 20.0 + i);
    }
    byte[] bytes = cached(listing(), moves);
    Listing l = CachedListing.decode(bytes, 0, bytes.length);
    assertThat(l.entry(1).orElseThrow().version())
        .as("the oldest move is not applied")
        .isEqualTo(4);
    assertThat(l.entry(2).orElseThrow().version()).isEqualTo(4 + CachedListing.MAX_MOVES);
    assertThat(CachedListing.carry(bytes, 0, bytes.length, listing()))
        .hasSize(CachedListing.MAX_MOVES * CachedListing.MOVE_BYTES);
  }

  @Test
  void damagedBytesAreRefusedNamingWhatIsWrong() {
    byte[] move = CachedListing.move(1, 6, 99.0);
    byte[] bytes = cached(listing(), move);
    byte[] flipped = bytes.clone();
    flipped[flipped.length - 10] ^= 0x10;
    assertThatThrownBy(() -> CachedListing.decode(flipped, 0, flipped.length))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageContaining("damaged move");
    byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 1);
    assertThatThrownBy(() -> CachedListing.decode(cut, 0, cut.length))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageContaining("not a multiple of " + CachedListing.MOVE_BYTES);
    byte[] lying = bytes.clone();
    lying[0] = 0x7f;
    assertThatThrownBy(() -> CachedListing.decode(lying, 0, lying.length))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageContaining("follow its length prefix");
    assertThatThrownBy(() -> CachedListing.decode(new byte[2], 0, 2))
        .isInstanceOf(CorruptListingException.class)
        .hasMessageContaining("shorter than its length prefix");
  }
}

package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The cache encoding of things, read in place: what the decoder accepts, what it treats as a miss
 * (null), and the increment's patch of a cached copy. No database or cache is needed: these are the
 * bytes ThingDB stores.
 */
class ThingCodecTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> SCORE = Prop.int64("score", 0);
  static final Prop<Double> RATIO = Prop.float64("ratio", 0.5);
  static final Prop<Boolean> MEDIA = Prop.bool("media", false);
  static final Prop<Instant> SEEN = Prop.instant("seen", Instant.EPOCH);
  static final Prop<byte[]> BLOB = Prop.bytes("blob", new byte[0]);

  /**
   * A name that modified UTF-8 (writeUTF) encodes differently from UTF-8: NUL is not allowed, but
   * non-BMP is.
   */
  static final Prop<String> EMOJI = Prop.string("t\uD83D\uDE00tle \u00e9", "");

  static final ThingType LINK =
      ThingType.named("link").props(TITLE, SCORE, RATIO, MEDIA, SEEN, BLOB, EMOJI).build();
  static final Instant DATE = Instant.parse("2026-11-26T12:34:56.123456Z");

  static Thing thing(Map<String, Object> props) {
    return new Thing(LINK, 3, 42, 7, 2, false, true, DATE, 9, props);
  }

  static Thing sample() {
    Map<String, Object> props = new LinkedHashMap<>();
    props.put("title", "h\u00e9llo \u4e16\u754c \uD83D\uDE00");
    props.put("score", -12L);
    props.put("ratio", 0.1 + 0.2);
    props.put("media", true);
    props.put("seen", DATE);
    props.put("blob", new byte[] {0, -1, 2});
    props.put(EMOJI.name(), "x");
    return thing(props);
  }

  @Test
  void decodesEveryKindInPlaceAtAnyOffset() {
    Thing t = sample();
    byte[] encoded = ThingCodec.encode(t);
    assertThat(ThingCodec.decode(LINK, 3, encoded)).isEqualTo(t);
    byte[] framed = new byte[encoded.length + 30];
    System.arraycopy(encoded, 0, framed, 21, encoded.length);
    Thing decoded = ThingCodec.decode(new ThingCodec.Names(LINK), 3, framed, 21, encoded.length);
    assertThat(decoded).isEqualTo(t);
    assertThat(decoded.fullname()).isEqualTo(t.fullname());
    assertThat(decoded.get(TITLE)).isEqualTo("h\u00e9llo \u4e16\u754c \uD83D\uDE00");
    assertThat(decoded.get(EMOJI)).isEqualTo("x");
    assertThat(decoded.get(BLOB)).containsExactly(0, -1, 2);
    assertThat(decoded.storedProps().keySet()).containsExactlyElementsOf(t.storedProps().keySet());
  }

  @Test
  void truncatedOrForeignBytesAreAMissNotAnError() {
    byte[] encoded = ThingCodec.encode(sample());
    ThingCodec.Names names = new ThingCodec.Names(LINK);
    for (int length = 0; length < encoded.length; length++) {
      assertThat(ThingCodec.decode(names, 3, encoded, 0, length))
          .as("first %d bytes", length)
          .isNull();
    }
    byte[] otherFormat = encoded.clone();
    otherFormat[0] = 2;
    assertThat(ThingCodec.decode(names, 3, otherFormat, 0, otherFormat.length)).isNull();
    byte[] hugeCount = encoded.clone();
    hugeCount[34] = 0x7f;
    assertThat(ThingCodec.decode(names, 3, hugeCount, 0, hugeCount.length)).isNull();
  }

  @Test
  void aPropNoLongerDeclaredIsIgnoredAndAChangedKindIsAMiss() {
    byte[] encoded = ThingCodec.encode(sample());
    ThingType fewer = ThingType.named("link").props(TITLE, MEDIA).build();
    Thing read = ThingCodec.decode(fewer, 3, encoded);
    assertThat(read).isNotNull();
    assertThat(read.storedProps()).containsOnlyKeys("title", "media");
    ThingType changed = ThingType.named("link").props(TITLE, Prop.string("score", "")).build();
    assertThat(ThingCodec.decode(changed, 3, encoded)).isNull();
  }

  @Test
  void aValueThatDoesNotParseAsItsKindIsAMiss() {
    Map<String, Object> props = new LinkedHashMap<>();
    props.put("score", 12345L);
    byte[] encoded = ThingCodec.encode(thing(props));
    int at = indexOf(encoded, "12345".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    encoded[at + 2] = 'x';
    assertThat(ThingCodec.decode(LINK, 3, encoded)).isNull();
  }

  /**
   * An entry written by hand: the header of {@link #sample()} and the given (name, kind, text)
   * props.
   */
  static byte[] entry(String[]... props) throws java.io.IOException {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
    out.write(Arrays.copyOf(ThingCodec.encode(thing(new LinkedHashMap<>())), 34));
    out.writeInt(props.length);
    for (String[] p : props) {
      out.writeUTF(p[0]);
      out.writeByte(p[1].charAt(0));
      byte[] text = p[2].getBytes(java.nio.charset.StandardCharsets.UTF_8);
      out.writeInt(text.length);
      out.write(text);
    }
    return bytes.toByteArray();
  }

  @Test
  void numbersAndFlagsAreParsedFromTheBytesExactlyAsTheEncoderWritesThem()
      throws java.io.IOException {
    for (long v : new long[] {0, 7, -7, 127, 128, -129, Long.MAX_VALUE, Long.MIN_VALUE}) {
      Thing t = ThingCodec.decode(LINK, 3, entry(new String[] {"score", "l", Long.toString(v)}));
      assertThat(t).as("%d", v).isNotNull();
      assertThat(t.get(SCORE)).isEqualTo(v);
    }
    for (String bad :
        new String[] {"", "-", "+5", "1 ", "9223372036854775808", "-9223372036854775809", "0x1"}) {
      assertThat(ThingCodec.decode(LINK, 3, entry(new String[] {"score", "l", bad})))
          .as("'%s'", bad)
          .isNull();
    }
    assertThat(ThingCodec.decode(LINK, 3, entry(new String[] {"media", "b", "true"})).get(MEDIA))
        .isTrue();
    assertThat(ThingCodec.decode(LINK, 3, entry(new String[] {"media", "b", "false"})).get(MEDIA))
        .isFalse();
    assertThat(ThingCodec.decode(LINK, 3, entry(new String[] {"media", "b", "yes"}))).isNull();
    assertThat(
            ThingCodec.decode(LINK, 3, entry(new String[] {"ratio", "d", "0.30000000000000004"}))
                .get(RATIO))
        .isEqualTo(0.1 + 0.2);
  }

  @Test
  void anEntryNamingAPropTwiceIsAMiss() throws java.io.IOException {
    assertThat(
            ThingCodec.decode(
                LINK,
                3,
                entry(
                    new String[] {"title", "s", "a"},
                    new String[] {"gone", "s", "x"},
                    new String[] {"score", "l", "1"})))
        .isNotNull();
    assertThat(
            ThingCodec.decode(
                LINK, 3, entry(new String[] {"title", "s", "a"}, new String[] {"title", "s", "b"})))
        .isNull();
  }

  @Test
  void withCountersPatchesOnlyTheCountersAndTheVersionOfThePreviousVersion() {
    Thing t = sample();
    byte[] encoded = ThingCodec.encode(t);
    byte[] framed = new byte[encoded.length + 5];
    System.arraycopy(encoded, 0, framed, 5, encoded.length);
    byte[] patched = ThingCodec.withCounters(framed, 5, encoded.length, 42, 100, 3, 10);
    Thing expected =
        new Thing(LINK, 3, 42, 100, 3, false, true, DATE, 10, new LinkedHashMap<>(t.storedProps()));
    assertThat(ThingCodec.decode(LINK, 3, patched)).isEqualTo(expected);
    assertThat(patched).isEqualTo(ThingCodec.encode(expected));
    assertThat(Arrays.copyOfRange(framed, 5, framed.length))
        .as("the cached bytes are not modified")
        .isEqualTo(encoded);
    assertThat(ThingCodec.withCounters(encoded, 0, encoded.length, 42, 100, 3, 11))
        .as("not the version before")
        .isNull();
    assertThat(ThingCodec.withCounters(encoded, 0, encoded.length, 43, 100, 3, 10))
        .as("another thing")
        .isNull();
    assertThat(ThingCodec.withCounters(encoded, 0, 20, 42, 100, 3, 10)).as("truncated").isNull();
  }

  @Test
  void distinctKeepsTheFirstPositionOfEachIdWithoutBoxing() {
    assertThat(Engine.distinct(LINK, List.of(5L, 3L, 5L, 9L, 3L, 1L))).containsExactly(5, 3, 9, 1);
    assertThat(Engine.distinct(LINK, List.of())).isEmpty();
    Long[] many = new Long[5000];
    for (int i = 0; i < many.length; i++) {
      many[i] = (long) (i % 1000) * 1_000_003L + 1; // 1,000 distinct ids, each five times
    }
    long[] got = Engine.distinct(LINK, Arrays.asList(many));
    assertThat(got).hasSize(1000);
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i]).isEqualTo((long) i * 1_000_003L + 1);
    }
  }

  static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }
}

package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The cache encoding of a pair's relations, read in place with the framing things use: what the
 * decoder accepts and what it treats as a miss (null). No database or cache is needed: these are
 * the bytes ThingDB stores.
 */
class RelationCodecTest {
  static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
  static final Prop<String> NOTE = Prop.string("note", "");
  static final Prop<Boolean> SEEN = Prop.bool("seen", false);
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final ThingType LINK = ThingType.named("link").build();
  static final RelationType VOTE =
      RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT, NOTE, SEEN).build();
  static final Instant DATE = Instant.parse("2026-11-26T12:34:56.123456Z");

  static RelationHandle handle(RelationType type) {
    return new RelationHandle(type, 5, null, null, null);
  }

  static Relation vote(long id, String name, Map<String, Object> props) {
    return new Relation(VOTE, 5, id, 3, 9, name, DATE, id + 1, props);
  }

  static List<Relation> sample() {
    Map<String, Object> props = new LinkedHashMap<>();
    props.put("weight", -7L);
    props.put("note", "h\u00e9llo \uD83D\uDE00");
    props.put("seen", true);
    return List.of(
        vote(1, "1", props),
        vote(2, "-1", new LinkedHashMap<>()),
        vote(4, "\u00e9t\u00e9 \uD83D\uDE00", Map.of("weight", 2L)),
        vote(6, "", Map.of()));
  }

  @Test
  void decodesEveryRelationOfThePairAndNamesThatAreNotAscii() {
    List<Relation> relations = sample();
    List<Relation> decoded =
        RelationCodec.decode(handle(VOTE), 3, 9, RelationCodec.encode(3, 9, relations));
    assertThat(decoded).containsExactlyElementsOf(relations);
    assertThat(decoded.get(2).name()).isEqualTo("\u00e9t\u00e9 \uD83D\uDE00");
    assertThat(decoded.get(0).get(NOTE)).isEqualTo("h\u00e9llo \uD83D\uDE00");
    assertThat(decoded.get(1).get(WEIGHT)).isEqualTo(1L);
    assertThat(RelationCodec.decode(handle(VOTE), 3, 9, RelationCodec.encode(3, 9, List.of())))
        .isEmpty();
  }

  @Test
  void anotherPairTruncatedOrForeignBytesAreAMissNotAnError() {
    byte[] encoded = RelationCodec.encode(3, 9, sample());
    RelationHandle h = handle(VOTE);
    assertThat(RelationCodec.decode(h, 3, 8, encoded)).isNull();
    assertThat(RelationCodec.decode(h, 2, 9, encoded)).isNull();
    for (int length = 0; length < encoded.length; length++) {
      assertThat(RelationCodec.decode(h, 3, 9, Arrays.copyOf(encoded, length)))
          .as("first %d bytes", length)
          .isNull();
    }
    byte[] otherFormat = encoded.clone();
    otherFormat[0] = 2;
    assertThat(RelationCodec.decode(h, 3, 9, otherFormat)).isNull();
  }

  @Test
  void aHugeOrNegativeCountIsAMissNotAnAllocation() {
    byte[] encoded = RelationCodec.encode(3, 9, sample());
    for (int count : new int[] {Integer.MAX_VALUE, -1, 5}) {
      byte[] bad = encoded.clone();
      EntityCodec.putInt(bad, 17, count);
      assertThat(RelationCodec.decode(handle(VOTE), 3, 9, bad)).as("count %d", count).isNull();
    }
    byte[] hugePropCount = RelationCodec.encode(3, 9, List.of(vote(1, "1", Map.of())));
    EntityCodec.putInt(hugePropCount, hugePropCount.length - 4, Integer.MAX_VALUE);
    assertThat(RelationCodec.decode(handle(VOTE), 3, 9, hugePropCount)).isNull();
  }

  @Test
  void aPropNoLongerDeclaredIsIgnoredAndAChangedKindIsAMiss() {
    byte[] encoded = RelationCodec.encode(3, 9, sample());
    RelationType fewer = RelationType.named("vote").between(ACCOUNT, LINK).props(NOTE).build();
    List<Relation> read = RelationCodec.decode(handle(fewer), 3, 9, encoded);
    assertThat(read).hasSize(4);
    assertThat(read.get(0).storedProps()).containsOnlyKeys("note");
    RelationType changed =
        RelationType.named("vote").between(ACCOUNT, LINK).props(Prop.string("weight", "")).build();
    assertThat(RelationCodec.decode(handle(changed), 3, 9, encoded)).isNull();
  }

  @Test
  void anEntryNamingAPropTwiceIsAMiss() throws IOException {
    assertThat(
            RelationCodec.decode(
                handle(VOTE),
                3,
                9,
                entry(
                    new String[] {"weight", "l", "2"},
                    new String[] {"gone", "s", "x"},
                    new String[] {"note", "s", "n"})))
        .singleElement()
        .satisfies(r -> assertThat(r.storedProps()).containsOnlyKeys("weight", "note"));
    assertThat(
            RelationCodec.decode(
                handle(VOTE),
                3,
                9,
                entry(new String[] {"weight", "l", "2"}, new String[] {"weight", "l", "3"})))
        .isNull();
  }

  @Test
  void aValueThatDoesNotParseAsItsKindIsAMiss() throws IOException {
    assertThat(
            RelationCodec.decode(handle(VOTE), 3, 9, entry(new String[] {"weight", "l", "12x45"})))
        .isNull();
    assertThat(RelationCodec.decode(handle(VOTE), 3, 9, entry(new String[] {"seen", "b", "yes"})))
        .isNull();
  }

  /** The pair (3, 9) with one relation named "1" whose props are the given (name, kind, text). */
  static byte[] entry(String[]... props) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    byte[] empty = RelationCodec.encode(3, 9, List.of(vote(1, "1", Map.of())));
    out.write(empty, 0, empty.length - 4);
    out.writeInt(props.length);
    for (String[] p : props) {
      out.writeUTF(p[0]);
      out.writeByte(p[1].charAt(0));
      byte[] text = p[2].getBytes(StandardCharsets.UTF_8);
      out.writeInt(text.length);
      out.write(text);
    }
    return bytes.toByteArray();
  }
}

package io.thingdb.cache.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KeyCodecTest {
  private final KeyCodec codec = KeyCodec.of("ns", 1);

  @Test
  void rawKeysPassThroughBehindTheNamespaceAndVersion() {
    assertThat(codec.encode("thing:link:42")).isEqualTo("ns:1:thing:link:42");
    assertThat(KeyCodec.of("app.v2_x-y", 999).encode("a")).isEqualTo("app.v2_x-y:999:a");
    assertThat(codec.encode("!~\"'{}[]%")).isEqualTo("ns:1:!~\"'{}[]%");
  }

  @Test
  void emptyKeyIsJustThePrefix() {
    assertThat(codec.encode("")).isEqualTo("ns:1:");
  }

  @Test
  void wireKeyOf250BytesIsRawAnd251IsHashed() {
    String longest = "k".repeat(250 - "ns:1:".length());
    assertThat(codec.encode(longest)).isEqualTo("ns:1:" + longest).hasSize(250);

    String tooLong = longest + "k";
    assertThat(codec.encode(tooLong)).isEqualTo("ns:1:#" + sha256(tooLong));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "a b",
        "a\tb",
        "a\nb",
        "a\rb",
        "a\u0000b",
        "a\u007fb",
        "caf\u00e9",
        "smile\uD83D\uDE00",
        "#abc",
        "#",
        " leading",
        "trailing "
      })
  void keysMemcachedCannotCarryOrThatStartWithHashAreHashed(String key) {
    String wire = codec.encode(key);
    assertThat(wire).isEqualTo("ns:1:#" + sha256(key));
    assertThat(wire).hasSize("ns:1:#".length() + 43);
    assertThat(wire.chars()).allMatch(c -> c >= 0x21 && c <= 0x7e);
  }

  @Test
  void hashedFormIsBase64UrlSha256OfTheUtf8Bytes() {
    // Computed with Python's hashlib and base64.urlsafe_b64encode, padding stripped.
    assertThat(codec.encode("hello world"))
        .isEqualTo("ns:1:#uU0nuZNNPgilLlLX2n2r-sSE7-N6U4DukIj3rOLvzek");
    assertThat(codec.encode("caf\u00e9 au lait"))
        .isEqualTo("ns:1:#fEEwOfuyJI4rGLmOeo1Nhb3Kx815uUd6CSP5fjofK1A");
  }

  @Test
  void keyThatLooksLikeAHashedFormIsHashedAgain() {
    String hashed = codec.encode("a b");
    String suffix = hashed.substring("ns:1:".length());
    assertThat(suffix).startsWith("#");
    assertThat(codec.encode(suffix)).isNotEqualTo(hashed).isEqualTo("ns:1:#" + sha256(suffix));
  }

  @Test
  void hashingIsDeterministicAndDistinctKeysGetDistinctWireKeys() {
    Set<String> wireKeys = new HashSet<>();
    for (int i = 0; i < 10_000; i++) {
      String key = "key " + i;
      String wire = codec.encode(key);
      assertThat(KeyCodec.of("ns", 1).encode(key)).isEqualTo(wire);
      wireKeys.add(wire);
      wireKeys.add(codec.encode("key" + i));
    }
    assertThat(wireKeys).hasSize(20_000);
  }

  @Test
  void unpairedSurrogatesDoNotCollide() {
    // Java's UTF-8 encoder turns each of these into "a?"; they must stay apart from it and from
    // each other.
    String high = "a\uD800";
    String low = "a\uDC00";
    assertThat(Set.of(codec.encode(high), codec.encode(low), codec.encode("a?"))).hasSize(3);
    assertThat(codec.encode(high)).isEqualTo(codec.encode(new String(high.toCharArray())));
  }

  @Test
  void namespaceAndVersionSeparateKeySpaces() {
    assertThat(KeyCodec.of("ns", 2).encode("k")).isEqualTo("ns:2:k");
    assertThat(KeyCodec.of("other", 1).encode("a b"))
        .isEqualTo("other:1:#" + sha256("a b"))
        .isNotEqualTo(codec.encode("a b"));
  }

  @Test
  void exposesItsNamespaceAndVersion() {
    KeyCodec c = KeyCodec.of("thingdb", KeyCodec.CURRENT_VERSION);
    assertThat(c.namespace()).isEqualTo("thingdb");
    assertThat(c.version()).isEqualTo(1);
  }

  @Test
  void rejectsANullKey() {
    assertThatThrownBy(() -> codec.encode(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key must not be null");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "a b", "ns:x", "caf\u00e9", "a/b", "#"})
  void rejectsABadNamespace(String namespace) {
    assertThatThrownBy(() -> KeyCodec.of(namespace, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "namespace \""
                + namespace
                + "\" is invalid; expected 1 to 64 characters"
                + " from A-Z, a-z, 0-9, '_', '.' and '-'");
  }

  @Test
  void namespaceMayHave64CharactersButNot65() {
    assertThat(KeyCodec.checkNamespace("n".repeat(64))).isEqualTo("n".repeat(64));
    String tooLong = "n".repeat(65);
    assertThatThrownBy(() -> KeyCodec.checkNamespace(tooLong))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("namespace \"" + tooLong + "\" is invalid");
  }

  @Test
  void rejectsANullNamespace() {
    assertThatThrownBy(() -> KeyCodec.of(null, 1))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("namespace must not be null");
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, 1000})
  void rejectsAVersionOutsideOneTo999(int version) {
    assertThatThrownBy(() -> KeyCodec.of("ns", version))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("key codec version " + version + " is out of range; expected 1 to 999");
  }

  @Test
  void longestNamespaceAndVersionStillLeaveRoomForHashedKeys() {
    KeyCodec widest = KeyCodec.of("n".repeat(64), 999);
    String wire = widest.encode("x".repeat(1000));
    assertThat(wire).hasSize(64 + ":999:#".length() + 43);
    assertThat(widest.encode("k")).isEqualTo("n".repeat(64) + ":999:k");
  }

  private static String sha256(String key) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(UTF_8));
      return Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  @org.junit.jupiter.api.Test
  void wireLengthEqualsTheLengthOfTheEncodedKey() {
    KeyCodec codec = KeyCodec.of("wl", 1);
    java.util.List<String> keys =
        new java.util.ArrayList<>(
            java.util.List.of(
                "",
                "a",
                "#x",
                "with space",
                "caf\u00e9",
                "k".repeat(245),
                "k".repeat(246),
                "k".repeat(300)));
    java.util.Random random = new java.util.Random(7);
    for (int i = 0; i < 2_000; i++) {
      StringBuilder sb = new StringBuilder();
      int n = random.nextInt(260);
      for (int j = 0; j < n; j++) {
        sb.append(
            (char) (random.nextInt(10) == 0 ? random.nextInt(0x3000) : 0x21 + random.nextInt(94)));
      }
      keys.add(sb.toString());
    }
    for (String key : keys) {
      org.assertj.core.api.Assertions.assertThat(codec.wireLength(key))
          .as(key)
          .isEqualTo(codec.encode(key).length());
    }
  }
}

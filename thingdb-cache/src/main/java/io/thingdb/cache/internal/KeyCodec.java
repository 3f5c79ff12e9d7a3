package io.thingdb.cache.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;

/**
 * Turns application keys into memcached wire keys: {@code namespace:version:key}.
 *
 * <p>A key goes on the wire as it is, behind the prefix, when the whole wire key is at most 250
 * bytes (memcached's limit), every character of the key is printable ASCII ({@code !} to {@code ~}:
 * memcached's text protocol splits on spaces and ends lines on control characters) and the key does
 * not start with {@code #}. Any other key is sent as {@code namespace:version:#} followed by the
 * unpadded base64url SHA-256 of its UTF-8 bytes (43 characters). Because a raw key never starts
 * with {@code #}, a hashed key cannot collide with a raw one; because the namespace has no {@code
 * :}, keys of different namespaces or versions cannot collide either. Raising the version moves
 * every key to a new name, which retires all entries written under the old encoding.
 *
 * <p>The hash of a key is the same in any language that hashes its UTF-8 bytes. A Java string with
 * an unpaired surrogate, which has no UTF-8 form, is hashed as generalized UTF-8 (the surrogate
 * encoded as if it were a code point), so that it stays distinct from every other key instead of
 * sharing the {@code ?} that Java's encoder would substitute.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class KeyCodec {
  /** memcached's limit on the length of a key, in bytes. */
  static final int MAX_WIRE_KEY_BYTES = 250;

  /** The version of this encoding, the one new caches use. */
  public static final int CURRENT_VERSION = 1;

  private static final int MAX_NAMESPACE_LENGTH = 64;
  private static final int MAX_VERSION = 999;
  private static final Base64.Encoder BASE64URL = Base64.getUrlEncoder().withoutPadding();
  private static final ThreadLocal<MessageDigest> SHA256 =
      ThreadLocal.withInitial(KeyCodec::newSha256);

  private final String namespace;
  private final int version;
  private final String prefix;
  private final String hashedPrefix;
  private final int maxRawKeyLength;

  private KeyCodec(String namespace, int version) {
    this.namespace = namespace;
    this.version = version;
    this.prefix = namespace + ":" + version + ":";
    this.hashedPrefix = prefix + "#";
    this.maxRawKeyLength = MAX_WIRE_KEY_BYTES - prefix.length();
  }

  /**
   * Returns the codec for {@code namespace} and {@code version}.
   *
   * @throws NullPointerException if {@code namespace} is null
   * @throws IllegalArgumentException if the namespace is not 1 to 64 characters of {@code
   *     [A-Za-z0-9_.-]} or the version is not from 1 to 999
   */
  public static KeyCodec of(String namespace, int version) {
    checkNamespace(namespace);
    if (version < 1 || version > MAX_VERSION) {
      throw new IllegalArgumentException(
          "key codec version " + version + " is out of range; expected 1 to " + MAX_VERSION);
    }
    return new KeyCodec(namespace, version);
  }

  /**
   * Returns {@code namespace} if it is 1 to 64 characters of {@code [A-Za-z0-9_.-]}, so that
   * builders can check it when it is set.
   *
   * @throws NullPointerException if {@code namespace} is null
   * @throws IllegalArgumentException otherwise, naming the namespace
   */
  public static String checkNamespace(String namespace) {
    Objects.requireNonNull(namespace, "namespace must not be null");
    boolean valid = !namespace.isEmpty() && namespace.length() <= MAX_NAMESPACE_LENGTH;
    for (int i = 0; valid && i < namespace.length(); i++) {
      char ch = namespace.charAt(i);
      valid =
          (ch >= 'a' && ch <= 'z')
              || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9')
              || ch == '_'
              || ch == '.'
              || ch == '-';
    }
    if (!valid) {
      throw new IllegalArgumentException(
          "namespace \""
              + namespace
              + "\" is invalid; expected 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'");
    }
    return namespace;
  }

  /** The namespace that prefixes every wire key. */
  public String namespace() {
    return namespace;
  }

  /** The version that follows the namespace in every wire key. */
  int version() {
    return version;
  }

  /**
   * Returns the wire key for {@code key}: printable ASCII, at most 250 characters, and the same for
   * equal keys in every process that uses this namespace and version.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public String encode(String key) {
    Objects.requireNonNull(key, "key must not be null");
    if (sentRaw(key)) {
      return prefix.concat(key);
    }
    return hashedPrefix.concat(BASE64URL.encodeToString(SHA256.get().digest(bytesOf(key))));
  }

  /** The length of {@code encode(key)}, without building it (wire keys are ASCII). */
  public int wireLength(String key) {
    Objects.requireNonNull(key, "key must not be null");
    if (sentRaw(key)) {
      return prefix.length() + key.length();
    }
    return hashedPrefix.length() + 43; // unpadded base64url of 32 bytes
  }

  /**
   * Whether {@code key} goes on the wire as it is (after the prefix): short enough, printable ASCII
   * without spaces, and not starting with {@code #}, which marks hashed keys.
   */
  private boolean sentRaw(String key) {
    int length = key.length();
    if (length > maxRawKeyLength || (length > 0 && key.charAt(0) == '#')) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      char ch = key.charAt(i);
      if (ch < '!' || ch > '~') {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return "KeyCodec{" + prefix + "}";
  }

  /** UTF-8, or generalized UTF-8 where the string has unpaired surrogates. */
  private static byte[] bytesOf(String key) {
    for (int i = 0; i < key.length(); i++) {
      char ch = key.charAt(i);
      if (Character.isHighSurrogate(ch)
          && i + 1 < key.length()
          && Character.isLowSurrogate(key.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(ch)) {
        return generalizedUtf8(key);
      }
    }
    return key.getBytes(UTF_8);
  }

  private static byte[] generalizedUtf8(String key) {
    byte[] out = new byte[key.length() * 4];
    int n = 0;
    for (int i = 0; i < key.length(); ) {
      int cp = key.codePointAt(i);
      i += Character.charCount(cp);
      if (cp < 0x80) {
        out[n++] = (byte) cp;
      } else if (cp < 0x800) {
        out[n++] = (byte) (0xC0 | cp >>> 6);
        out[n++] = (byte) (0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out[n++] = (byte) (0xE0 | cp >>> 12);
        out[n++] = (byte) (0x80 | (cp >>> 6 & 0x3F));
        out[n++] = (byte) (0x80 | (cp & 0x3F));
      } else {
        out[n++] = (byte) (0xF0 | cp >>> 18);
        out[n++] = (byte) (0x80 | (cp >>> 12 & 0x3F));
        out[n++] = (byte) (0x80 | (cp >>> 6 & 0x3F));
        out[n++] = (byte) (0x80 | (cp & 0x3F));
      }
    }
    return Arrays.copyOf(out, n);
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-256, which every Java platform must provide", e);
    }
  }
}

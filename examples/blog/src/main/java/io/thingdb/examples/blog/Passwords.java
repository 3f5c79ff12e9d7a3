package io.thingdb.examples.blog;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * Password hashing with PBKDF2-HMAC-SHA256 from the JDK: a random 16-byte salt per password and
 * 600,000 iterations by default (OWASP's advice for SHA-256). The iteration count is stored with
 * each hash ({@code pbkdf2_sha256$600000$<salt>$<hash>}, Base64), so raising the default later
 * leaves existing passwords verifiable.
 *
 * <p>{@link #verifyUnknown} spends the same work as a wrong password against a real account (a hash
 * of a dummy password at the same cost), so that a login's time does not tell whether a name
 * exists. {@link #derivations} counts every PBKDF2 derivation, so tests can assert that the work
 * was (or was not) done without timing it. Thread-safe.
 */
public final class Passwords {
  /** OWASP's recommendation for PBKDF2-HMAC-SHA256. */
  public static final int DEFAULT_ITERATIONS = 600_000;

  private static final String ALGORITHM = "PBKDF2WithHmacSHA256";
  private static final String PREFIX = "pbkdf2_sha256";
  private static final int SALT_BYTES = 16;
  private static final int HASH_BITS = 256;

  private final int iterations;
  private final SecureRandom random = new SecureRandom();
  private final AtomicLong derivations = new AtomicLong();

  /** A hash of a random password at the current cost, verified against for unknown names. */
  private final String dummy;

  /**
   * Hashes new passwords with {@code iterations} rounds (tests use fewer).
   *
   * @throws IllegalArgumentException if {@code iterations} is below 1
   */
  public Passwords(int iterations) {
    if (iterations < 1) {
      throw new IllegalArgumentException("PBKDF2 iterations must be at least 1: " + iterations);
    }
    this.iterations = iterations;
    byte[] pw = new byte[16];
    random.nextBytes(pw);
    this.dummy = hash(Base64.getEncoder().encodeToString(pw));
    derivations.set(0);
  }

  /** A new hash of {@code password} with a fresh salt. */
  public String hash(String password) {
    byte[] salt = new byte[SALT_BYTES];
    random.nextBytes(salt);
    Base64.Encoder b64 = Base64.getEncoder().withoutPadding();
    return PREFIX
        + "$"
        + iterations
        + "$"
        + b64.encodeToString(salt)
        + "$"
        + b64.encodeToString(derive(password, salt, iterations));
  }

  /**
   * Whether {@code password} matches {@code stored}, compared in constant time. An empty or
   * malformed stored value (an account that cannot log in) never matches.
   */
  public boolean verify(String password, String stored) {
    String[] parts = stored.split("\\$");
    if (parts.length != 4 || !parts[0].equals(PREFIX)) {
      return false;
    }
    int rounds;
    byte[] salt;
    byte[] expected;
    try {
      rounds = Integer.parseInt(parts[1]);
      salt = Base64.getDecoder().decode(parts[2]);
      expected = Base64.getDecoder().decode(parts[3]);
    } catch (IllegalArgumentException e) {
      return false;
    }
    if (rounds < 1) {
      return false;
    }
    return MessageDigest.isEqual(expected, derive(password, salt, rounds));
  }

  /**
   * For a login with a name that has no account: runs the same PBKDF2 work as {@link #verify}
   * against a real hash, and returns false.
   */
  public boolean verifyUnknown(String password) {
    verify(password, dummy);
    return false;
  }

  /** How many PBKDF2 derivations ran since this instance was made (hashes and verifications). */
  public long derivations() {
    return derivations.get();
  }

  private byte[] derive(String password, byte[] salt, int rounds) {
    derivations.incrementAndGet();
    PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, rounds, HASH_BITS);
    try {
      return SecretKeyFactory.getInstance(ALGORITHM).generateSecret(spec).getEncoded();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK lacks " + ALGORITHM, e);
    } finally {
      spec.clearPassword();
    }
  }
}

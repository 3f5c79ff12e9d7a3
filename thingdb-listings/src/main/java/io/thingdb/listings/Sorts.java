package io.thingdb.listings;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;

/**
 * The original site's sort formulas and the one total order that listings use.
 *
 * <p>Each method performs, in IEEE doubles, the operations CPython 3 performs for the original
 * site's formula, in the same order, so its values match the reference vectors in {@code
 * shared/vectors/sorts-public.tsv}: {@link #score}, {@link #hot} and {@link #confidence} bit for
 * bit, {@link #controversy} to within one ulp (it depends on {@link Math#pow}, which is only
 * specified to one ulp). Dates are microseconds since the Unix epoch, like PostgreSQL's {@code
 * timestamptz}.
 *
 * <p>Listings order by sort value descending, then thing id descending, with {@code -0.0} treated
 * as {@code 0.0}: see {@link #compare} and {@link #normalize}. The same formulas are available as
 * PostgreSQL functions in the resource {@code io/thingdb/listings/sorts.sql}.
 *
 * <p>This class is stateless and thread-safe.
 */
public final class Sorts {

  /** The original site's launch, 2005-12-08T07:46:43Z, as seconds since the Unix epoch. */
  private static final long HOT_EPOCH_SECONDS = 1_134_028_003L;

  /**
   * Seconds of age worth one order of magnitude of votes in {@link #hot}: a link needs ten times
   * the score to rank level with one submitted 12.5 hours later.
   */
  private static final double HOT_SECONDS_PER_ORDER = 45_000;

  /**
   * The z of the Wilson lower bound in {@link #confidence}, exactly as the original site wrote it.
   */
  private static final double CONFIDENCE_Z = 1.281551565545;

  private static final long MICROS_PER_SECOND = 1_000_000L;

  /** Largest magnitude of a date that {@link #newSort} returns exactly: 2^53 microseconds. */
  private static final long MAX_EXACT_MICROS = 1L << 53;

  /**
   * Below this magnitude {@code x * 1e7} rounds to an integer well under 2^53, so the fast path of
   * {@link #roundHalfEven7} can represent the candidate rounding exactly. Hot values stay below
   * 2.1e5 for any date up to the year 2300.
   */
  private static final double FAST_ROUND_LIMIT = 1e8;

  private Sorts() {}

  /**
   * Returns the score {@code ups - downs}.
   *
   * <p>The difference is computed exactly (no {@code long} overflow) and then rounded to the
   * nearest double, so it is exact whenever {@code |ups - downs| <= 2^53}.
   *
   * @param ups the up votes
   * @param downs the down votes
   * @return {@code ups - downs}
   */
  public static double score(long ups, long downs) {
    return exactDifference(ups, downs);
  }

  /**
   * Returns the hot sort value: {@code round(sign(s) * log10(max(|s|, 1)) + (epochSeconds(date) -
   * 1134028003) / 45000, 7)} where {@code s = ups - downs}.
   *
   * <p>{@code epochSeconds(date)} is {@code floor(dateMicros / 10^6) + (dateMicros mod 10^6) /
   * 10^6} in doubles (the whole seconds, then the fraction added), as the original site's Python
   * computed it. {@code round} is CPython 3's {@code round(x, 7)}: the exact binary value of {@code
   * x} rounded half-to-even at 7 decimals, returned as the double nearest that decimal; a zero
   * result keeps the sign of {@code x}, so this returns {@code -0.0} for dates slightly before
   * 2005-12-08T07:46:43Z with a zero score (use {@link #normalize} or {@link #compare} for
   * ordering).
   *
   * <p>The logarithm is {@link StrictMath#log10}, so every JVM on every platform returns the same
   * bits. CPython calls the C library's {@code log10}, which can differ from it by one ulp (for
   * about 0.2% of scores, against glibc 2.36); that changes the result only if it moves the sum
   * across a 7th-decimal rounding boundary, which none of a million random inputs did.
   *
   * @param ups the up votes
   * @param downs the down votes
   * @param dateMicros the thing's date in microseconds since 1970-01-01T00:00:00Z
   * @return the hot value, a multiple of 10^-7 as closely as a double holds it
   */
  public static double hot(long ups, long downs, long dateMicros) {
    double s = exactDifference(ups, downs);
    double order = StrictMath.log10(Math.max(Math.abs(s), 1.0));
    double sign = s > 0 ? 1 : s < 0 ? -1 : 0;
    double seconds = epochSeconds(dateMicros) - HOT_EPOCH_SECONDS;
    return roundHalfEven7(sign * order + seconds / HOT_SECONDS_PER_ORDER);
  }

  /**
   * Returns the controversy sort value: {@code 0} if {@code ups <= 0} or {@code downs <= 0}, else
   * {@code (ups + downs) ^ (min(ups, downs) / max(ups, downs))}.
   *
   * <p>Computed in doubles with {@link Math#pow}, which is specified to within one ulp of the exact
   * result, so a value can differ from CPython's (and from another platform's) in its last bit. The
   * sum is computed without {@code long} overflow.
   *
   * @param ups the up votes
   * @param downs the down votes
   * @return the controversy value, at least {@code 0}
   */
  public static double controversy(long ups, long downs) {
    if (ups <= 0 || downs <= 0) {
      return 0;
    }
    double smaller = Math.min(ups, downs);
    double larger = Math.max(ups, downs);
    return Math.pow(exactSum(ups, downs), smaller / larger);
  }

  /**
   * Returns the confidence sort value, the lower bound of the Wilson score interval with {@code z =
   * 1.281551565545}, evaluated in doubles in the original site's operation order: with {@code n =
   * ups + downs} and {@code p = ups / n}, {@code 0} if {@code n == 0}, else {@code (left - right) /
   * under} where {@code left = p + 1/(2n)*z*z}, {@code right = z*sqrt(p*(1-p)/n + z*z/(4*n*n))} and
   * {@code under = 1 + 1/n*z*z}.
   *
   * <p>Bit-identical to CPython whenever {@code ups + downs <= 2^53}: beyond that CPython divides
   * by the exact integer {@code n} while this divides by the nearest double.
   *
   * @param ups the up votes, not negative
   * @param downs the down votes, not negative
   * @return the lower bound, in {@code [0, 1)} up to rounding (it can be a tiny negative number
   *     when {@code ups} is 0)
   * @throws IllegalArgumentException if {@code ups} or {@code downs} is negative
   */
  public static double confidence(long ups, long downs) {
    if (ups < 0 || downs < 0) {
      throw new IllegalArgumentException(
          "confidence needs vote counts that are not negative (ups="
              + ups
              + ", downs="
              + downs
              + ")");
    }
    double n = exactSum(ups, downs);
    if (n == 0) {
      return 0;
    }
    double z = CONFIDENCE_Z;
    double p = ups / n;
    // Same association as the original: 1/(2n)*z*z is ((1/(2n))*z)*z, and 4*n*n is (4n)*n,
    // which is the rounded exact 4n^2 whenever n itself is exact.
    double left = p + 1 / (2 * n) * z * z;
    double right = z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    double under = 1 + 1 / n * z * z;
    return (left - right) / under;
  }

  /**
   * Returns the new sort value: the date itself, in microseconds since 1970-01-01T00:00:00Z.
   *
   * @param dateMicros the thing's date in microseconds since the Unix epoch
   * @return {@code dateMicros}, exactly
   * @throws IllegalArgumentException if {@code |dateMicros| > 2^53}, beyond which a double cannot
   *     hold every microsecond (dates outside about 1685 to 2255)
   */
  public static double newSort(long dateMicros) {
    if (dateMicros > MAX_EXACT_MICROS || dateMicros < -MAX_EXACT_MICROS) {
      throw new IllegalArgumentException(
          "new sort needs a date within 2^53 microseconds of the epoch "
              + "(about years 1685 to 2255) so that a double holds it exactly (dateMicros="
              + dateMicros
              + ")");
    }
    return dateMicros;
  }

  /**
   * Returns a sort value as listings store and compare it: {@code -0.0} becomes {@code 0.0}, every
   * other value is returned unchanged.
   *
   * @param value a sort value
   * @return {@code 0.0} if {@code value} is {@code -0.0}, else {@code value}
   * @throws IllegalArgumentException if {@code value} is NaN, which has no place in the order
   */
  public static double normalize(double value) {
    if (Double.isNaN(value)) {
      throw new IllegalArgumentException("sort value must not be NaN");
    }
    return value == 0 ? 0.0 : value;
  }

  /**
   * Compares two listing entries in the one total order of listings: sort value descending, then
   * thing id descending, with {@code -0.0} equal to {@code 0.0}. Use it as {@code (a, b) ->
   * Sorts.compare(a.value(), a.id(), b.value(), b.id())}; it is consistent with equality of the
   * pair (normalised value, id).
   *
   * @param valueA the sort value of entry A
   * @param idA the thing id of entry A
   * @param valueB the sort value of entry B
   * @param idB the thing id of entry B
   * @return a negative number if A comes before B in a listing, a positive number if after, {@code
   *     0} if they have the same normalised value and id
   * @throws IllegalArgumentException if either value is NaN
   */
  public static int compare(double valueA, long idA, double valueB, long idB) {
    int byValue = Double.compare(normalize(valueB), normalize(valueA));
    return byValue != 0 ? byValue : Long.compare(idB, idA);
  }

  /**
   * Returns {@code dateMicros} as seconds since the epoch the way the original site's Python did
   * ({@code td.days * 86400 + td.seconds + float(td.microseconds) / 1000000}): the whole seconds
   * (floored, exact as a double) plus the microseconds divided by 10^6, two roundings. This is not
   * always {@code dateMicros / 1e6}.
   */
  static double epochSeconds(long dateMicros) {
    double wholeSeconds = Math.floorDiv(dateMicros, MICROS_PER_SECOND);
    double fraction = (double) Math.floorMod(dateMicros, MICROS_PER_SECOND) / MICROS_PER_SECOND;
    return wholeSeconds + fraction;
  }

  /**
   * CPython 3's {@code round(x, 7)}: the double nearest the exact binary value of {@code x} rounded
   * half-to-even at 7 decimals; a zero result keeps the sign of {@code x}.
   */
  static double roundHalfEven7(double x) {
    if (Math.abs(x) < FAST_ROUND_LIMIT) {
      // k is a candidate for the nearest integer to the exact x * 10^7 (the product x * 1e7
      // is rounded, so k may be off by one). fma gives exact(x * 10^7) - k rounded once;
      // rounding is monotonic and 0.5 is a double, so |t| < 0.5 proves |exact - k| < 0.5:
      // k is the correctly rounded value and not a tie. Both k and 1e7 are exact doubles,
      // so k / 1e7 is the double nearest the decimal k * 10^-7, as CPython returns.
      double k = Math.rint(x * 1e7);
      double t = Math.fma(x, 1e7, -k);
      if (Math.abs(t) < 0.5) {
        return k == 0 ? Math.copySign(0.0, x) : k / 1e7;
      }
    }
    return roundHalfEven7Exact(x);
  }

  /** {@link #roundHalfEven7} by exact decimal arithmetic: for ties, large values and tests. */
  static double roundHalfEven7Exact(double x) {
    if (!Double.isFinite(x)) {
      return x;
    }
    // new BigDecimal(double) is the exact binary value; doubleValue() rounds correctly.
    double rounded = new BigDecimal(x).setScale(7, RoundingMode.HALF_EVEN).doubleValue();
    return rounded == 0 ? Math.copySign(0.0, x) : rounded;
  }

  /** Returns {@code a - b} computed exactly, rounded to the nearest double (ties to even). */
  private static double exactDifference(long a, long b) {
    long difference = a - b;
    if (((a ^ b) & (a ^ difference)) < 0) {
      return BigInteger.valueOf(a).subtract(BigInteger.valueOf(b)).doubleValue();
    }
    return difference;
  }

  /** Returns {@code a + b} computed exactly, rounded to the nearest double (ties to even). */
  private static double exactSum(long a, long b) {
    long sum = a + b;
    if (((a ^ sum) & (b ^ sum)) < 0) {
      return BigInteger.valueOf(a).add(BigInteger.valueOf(b)).doubleValue();
    }
    return sum;
  }
}

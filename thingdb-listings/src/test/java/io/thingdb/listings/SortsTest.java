package io.thingdb.listings;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

class SortsTest {

  private static final String VECTORS_FILE = "sorts-public.tsv";
  private static final String HEADER =
      "ups\tdowns\tdate_iso8601_utc_with_micros\tepoch_seconds\tscore\thot\tcontroversy\tconfidence";

  /** 2005-12-08T07:46:43Z, the hot epoch, in microseconds. */
  private static final long HOT_EPOCH_MICROS = 1_134_028_003_000_000L;

  private static final Pattern UTC_MICROS =
      Pattern.compile("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z");

  private static List<Vector> vectors;

  /** One row of sorts-public.tsv; {@code line} is its line number in the file (the header is 1). */
  record Vector(
      int line,
      long ups,
      long downs,
      String date,
      long dateMicros,
      double epochSeconds,
      long score,
      double hot,
      double controversy,
      double confidence) {

    @Override
    public String toString() {
      return VECTORS_FILE
          + ":"
          + line
          + " (ups="
          + ups
          + ", downs="
          + downs
          + ", date="
          + date
          + ")";
    }
  }

  @BeforeAll
  static void loadVectors() {
    vectors = readVectors(vectorsDirectory().resolve(VECTORS_FILE));
  }

  @Test
  void vectorFileHasTheDocumentedColumnsAndRows() {
    assertThat(vectors).hasSize(200);
    assertThat(vectors).anyMatch(v -> isNegativeZero(v.hot()));
  }

  @Test
  void scoreMatchesEveryVector() {
    assertThat(mismatches(v -> Sorts.score(v.ups(), v.downs()), v -> v.score()))
        .as("rows whose score differs")
        .isEmpty();
  }

  @Test
  void epochSecondsMatchEveryVectorBitForBit() {
    assertThat(mismatches(v -> Sorts.epochSeconds(v.dateMicros()), Vector::epochSeconds))
        .as("rows whose epoch seconds differ")
        .isEmpty();
  }

  @Test
  void epochSecondsAddTheFractionToTheWholeSecondsLikeThePythonOriginal() {
    // 1970-01-01T00:00:03.632595Z: CPython's 3 + 632595 / 1000000 is 3.6325950000000002, one
    // ulp above 3632595 / 1e6.
    long micros = 3_632_595L;
    assertThat(micros / 1e6).isEqualTo(3.632595);
    assertThat(Sorts.epochSeconds(micros)).isEqualTo(3.6325950000000002);
  }

  @Test
  void hotMatchesEveryVectorBitForBit() {
    assertThat(mismatches(v -> Sorts.hot(v.ups(), v.downs(), v.dateMicros()), Vector::hot))
        .as("rows whose hot differs (bits compared, -0.0 != 0.0)")
        .isEmpty();
  }

  @Test
  void hotKeepsTheSignOfAZeroResult() {
    assertThat(Sorts.hot(0, 0, HOT_EPOCH_MICROS - 1)).isEqualTo(-0.0);
    assertThat(isNegativeZero(Sorts.hot(0, 0, HOT_EPOCH_MICROS - 1))).isTrue();
    assertThat(isNegativeZero(Sorts.hot(0, 0, HOT_EPOCH_MICROS))).isFalse();
    assertThat(isNegativeZero(Sorts.hot(0, 0, HOT_EPOCH_MICROS + 1))).isFalse();
  }

  @Test
  void hotRoundsExactHalfwayValuesToEven() {
    // 175.78125 s after the hot epoch: 175.78125 / 45000 = 0.00390625 exactly, a tie at 7 decimals.
    assertThat(Sorts.hot(0, 0, HOT_EPOCH_MICROS + 175_781_250L)).isEqualTo(0.0039062);
    assertThat(Sorts.hot(0, 0, HOT_EPOCH_MICROS + 3 * 175_781_250L)).isEqualTo(0.0117188);
    assertThat(Sorts.hot(0, 0, HOT_EPOCH_MICROS - 175_781_250L)).isEqualTo(-0.0039062);
  }

  @Test
  void fastRoundingAgreesWithExactDecimalRounding() {
    SplittableRandom random = new SplittableRandom(20051208);
    List<String> mismatches = new ArrayList<>();
    for (int i = 0; i < 2_000_000 && mismatches.size() < 10; i++) {
      double x =
          switch (i % 4) {
            case 0 -> random.nextDouble(-250_000, 250_000);
            case 1 -> random.nextDouble(-1e-3, 1e-3);
            // Halfway points and their neighbours: odd multiples of 5e-8, some exact doubles.
            case 2 -> (2 * random.nextLong(-3_000_000_000_000L, 3_000_000_000_000L) + 1) * 5e-8;
            default ->
                Math.nextAfter(
                    random.nextInt(-64_000_000, 64_000_000) / 256.0,
                    random.nextBoolean() ? Double.POSITIVE_INFINITY : Double.NEGATIVE_INFINITY);
          };
      double fast = Sorts.roundHalfEven7(x);
      double exact = Sorts.roundHalfEven7Exact(x);
      if (Double.doubleToRawLongBits(fast) != Double.doubleToRawLongBits(exact)) {
        mismatches.add("x=" + new BigDecimal(x) + " fast=" + fast + " exact=" + exact);
      }
    }
    assertThat(mismatches).isEmpty();
  }

  @Test
  void exactRoundingTiesToEvenOnTheBinaryValueNotTheShortestDecimal() {
    // 0.00000015 is stored as 1.49999999999999993...e-7, so it rounds down although it prints as a
    // tie.
    assertThat(Sorts.roundHalfEven7Exact(0.00000015)).isEqualTo(0.0000001);
    assertThat(Sorts.roundHalfEven7(0.00000015)).isEqualTo(0.0000001);
    assertThat(Sorts.roundHalfEven7(1 / 256.0)).isEqualTo(0.0039062);
    assertThat(Sorts.roundHalfEven7(3 / 256.0)).isEqualTo(0.0117188);
    assertThat(Sorts.roundHalfEven7(1e300)).isEqualTo(1e300);
    assertThat(isNegativeZero(Sorts.roundHalfEven7(-4e-8))).isTrue();
  }

  @Test
  void controversyIsWithinOneUlpOfEveryVector() {
    List<String> beyondOneUlp = new ArrayList<>();
    int exact = 0;
    for (Vector v : vectors) {
      double actual = Sorts.controversy(v.ups(), v.downs());
      if (Double.doubleToRawLongBits(actual) == Double.doubleToRawLongBits(v.controversy())) {
        exact++;
      } else if (Math.abs(actual - v.controversy()) > Math.ulp(v.controversy())) {
        beyondOneUlp.add(v + ": expected " + v.controversy() + " but was " + actual);
      }
    }
    System.out.printf(
        "controversy: %d of %d vector rows bit-exact, the rest within 1 ulp%n",
        exact, vectors.size());
    assertThat(beyondOneUlp).isEmpty();
  }

  @Test
  void controversyIsZeroUnlessThereAreBothUpsAndDowns() {
    assertThat(Sorts.controversy(0, 5)).isEqualTo(0.0);
    assertThat(Sorts.controversy(5, 0)).isEqualTo(0.0);
    assertThat(Sorts.controversy(-3, 5)).isEqualTo(0.0);
    assertThat(Sorts.controversy(5, 5)).isEqualTo(10.0);
  }

  @Test
  void confidenceMatchesEveryVectorBitForBit() {
    assertThat(mismatches(v -> Sorts.confidence(v.ups(), v.downs()), Vector::confidence))
        .as("rows whose confidence differs")
        .isEmpty();
  }

  @Test
  void confidenceRejectsNegativeCounts() {
    assertThatThrownBy(() -> Sorts.confidence(-1, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("confidence needs vote counts that are not negative (ups=-1, downs=3)");
  }

  @Test
  void scoreAndControversyDoNotOverflowLongs() {
    assertThat(Sorts.score(Long.MAX_VALUE, -1)).isEqualTo(0x1p63);
    assertThat(Sorts.score(Long.MIN_VALUE, 1)).isEqualTo(-0x1p63);
    assertThat(Sorts.controversy(Long.MAX_VALUE, Long.MAX_VALUE)).isEqualTo(0x1p64);
    assertThat(Sorts.hot(Long.MAX_VALUE, -1, HOT_EPOCH_MICROS)).isEqualTo(18.9648897);
  }

  @Test
  void newSortIsTheDateInMicroseconds() {
    for (Vector v : vectors) {
      assertThat(Sorts.newSort(v.dateMicros())).as("%s", v).isEqualTo((double) v.dateMicros());
    }
    assertThat(Sorts.newSort(1L << 53)).isEqualTo(0x1p53);
  }

  @Test
  void newSortRejectsDatesADoubleCannotHoldExactly() {
    assertThatThrownBy(() -> Sorts.newSort((1L << 53) + 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "new sort needs a date within 2^53 microseconds of the epoch (about years 1685 to 2255)"
                + " so that a double holds it exactly (dateMicros=9007199254740993)");
  }

  @Test
  void normalizeTurnsNegativeZeroIntoZero() {
    assertThat(isNegativeZero(Sorts.normalize(-0.0))).isFalse();
    assertThat(Sorts.normalize(-0.0)).isEqualTo(0.0);
    assertThat(Sorts.normalize(-1.5)).isEqualTo(-1.5);
    assertThat(Sorts.normalize(Double.NEGATIVE_INFINITY)).isEqualTo(Double.NEGATIVE_INFINITY);
  }

  @Test
  void compareOrdersByValueDescendingThenIdDescending() {
    record Entry(double value, long id) {}
    List<Entry> entries =
        new ArrayList<>(
            List.of(
                new Entry(1.0, 1),
                new Entry(2.0, 1),
                new Entry(1.0, 3),
                new Entry(-1.0, 9),
                new Entry(2.0, 7)));
    entries.sort((a, b) -> Sorts.compare(a.value(), a.id(), b.value(), b.id()));
    assertThat(entries)
        .containsExactly(
            new Entry(2.0, 7),
            new Entry(2.0, 1),
            new Entry(1.0, 3),
            new Entry(1.0, 1),
            new Entry(-1.0, 9));
  }

  @Test
  void compareTreatsNegativeZeroAsZero() {
    assertThat(Sorts.compare(-0.0, 5, 0.0, 5)).isZero();
    assertThat(Sorts.compare(-0.0, 6, 0.0, 5)).isNegative();
    assertThat(Sorts.compare(0.0, 5, -0.0, 6)).isPositive();
  }

  @Test
  void compareRejectsNaN() {
    assertThatThrownBy(() -> Sorts.compare(Double.NaN, 1, 0.0, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("sort value must not be NaN");
    assertThatThrownBy(() -> Sorts.compare(0.0, 1, Double.NaN, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("sort value must not be NaN");
  }

  /**
   * The functions in sorts.sql, run in a real PostgreSQL, against the Java ones on every vector
   * row.
   */
  @Nested
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  class SqlFunctions {

    private EmbeddedPostgres postgres;
    private Connection connection;
    private final List<SqlRow> rows = new ArrayList<>();

    record SqlRow(Vector vector, double score, double hot, double controversy, double confidence) {}

    @BeforeAll
    void startPostgresAndEvaluateEveryVector() throws IOException, SQLException {
      postgres = EmbeddedPostgres.builder().start();
      connection = postgres.getPostgresDatabase().getConnection();
      try (Statement statement = connection.createStatement()) {
        statement.execute(sortsSql());
      }
      try (PreparedStatement select =
          connection.prepareStatement(
              "SELECT thingdb_score(?, ?), thingdb_hot(?, ?, ?), thingdb_controversy(?, ?), thingdb_confidence(?, ?)")) {
        for (Vector v : vectors) {
          select.setLong(1, v.ups());
          select.setLong(2, v.downs());
          select.setLong(3, v.ups());
          select.setLong(4, v.downs());
          select.setObject(5, OffsetDateTime.parse(v.date()));
          select.setLong(6, v.ups());
          select.setLong(7, v.downs());
          select.setLong(8, v.ups());
          select.setLong(9, v.downs());
          try (ResultSet result = select.executeQuery()) {
            assertThat(result.next()).isTrue();
            rows.add(
                new SqlRow(
                    v,
                    result.getDouble(1),
                    result.getDouble(2),
                    result.getDouble(3),
                    result.getDouble(4)));
          }
        }
      }
    }

    @AfterAll
    void stopPostgres() throws IOException, SQLException {
      try {
        if (connection != null) {
          connection.close();
        }
      } finally {
        if (postgres != null) {
          postgres.close();
        }
      }
    }

    @Test
    void sqlScoreAndConfidenceEqualJavaBitForBit() {
      List<String> mismatches = new ArrayList<>();
      for (SqlRow row : rows) {
        Vector v = row.vector();
        addIfBitsDiffer(mismatches, v, "score", Sorts.score(v.ups(), v.downs()), row.score());
        addIfBitsDiffer(
            mismatches, v, "confidence", Sorts.confidence(v.ups(), v.downs()), row.confidence());
      }
      assertThat(mismatches).isEmpty();
    }

    @Test
    void sqlHotDiffersFromJavaAtMostInTheSeventhDecimal() {
      List<String> tooFar = new ArrayList<>();
      int exact = 0;
      for (SqlRow row : rows) {
        Vector v = row.vector();
        double java = Sorts.hot(v.ups(), v.downs(), v.dateMicros());
        if (Double.doubleToRawLongBits(java) == Double.doubleToRawLongBits(row.hot())) {
          exact++;
        } else if (Math.round(Math.abs(java - row.hot()) * 1e7) > 1) {
          tooFar.add(v + ": Java " + java + ", SQL " + row.hot());
        }
      }
      System.out.printf(
          "thingdb_hot: %d of %d vector rows bit-identical to Java%n", exact, rows.size());
      assertThat(tooFar).isEmpty();
    }

    @Test
    void sqlControversyIsWithinOneUlpOfJava() {
      List<String> tooFar = new ArrayList<>();
      for (SqlRow row : rows) {
        Vector v = row.vector();
        double java = Sorts.controversy(v.ups(), v.downs());
        if (Math.abs(java - row.controversy()) > Math.ulp(java)) {
          tooFar.add(v + ": Java " + java + ", SQL " + row.controversy());
        }
      }
      assertThat(tooFar).isEmpty();
    }

    @Test
    void sqlValuesOrderTheVectorsExactlyLikeJava() {
      assertSameOrder("score", SqlRow::score, v -> Sorts.score(v.ups(), v.downs()));
      assertSameOrder("hot", SqlRow::hot, v -> Sorts.hot(v.ups(), v.downs(), v.dateMicros()));
      assertSameOrder(
          "controversy", SqlRow::controversy, v -> Sorts.controversy(v.ups(), v.downs()));
      assertSameOrder("confidence", SqlRow::confidence, v -> Sorts.confidence(v.ups(), v.downs()));
    }

    @Test
    void sqlHotAgreesWithJavaOnRandomVotesAndDates() throws SQLException {
      SplittableRandom random = new SplittableRandom(45000);
      int samples = 20_000;
      long[] ups = new long[samples];
      long[] downs = new long[samples];
      long[] micros = new long[samples];
      for (int i = 0; i < samples; i++) {
        ups[i] = random.nextInt(4) == 0 ? random.nextLong(0, 10_000_000) : random.nextLong(0, 200);
        downs[i] =
            random.nextInt(4) == 0 ? random.nextLong(0, 10_000_000) : random.nextLong(0, 200);
        // Half near the hot epoch, where the logarithm dominates the sum, half up to 2040.
        micros[i] =
            random.nextBoolean()
                ? HOT_EPOCH_MICROS + random.nextLong(-86_400_000_000L, 86_400_000_000L)
                : random.nextLong(0, 2_208_988_800_000_000L);
      }
      double[] sql = sqlHot(ups, downs, micros);
      List<String> tooFar = new ArrayList<>();
      int exact = 0;
      for (int i = 0; i < samples; i++) {
        double java = Sorts.hot(ups[i], downs[i], micros[i]);
        if (Double.doubleToRawLongBits(sql[i]) == Double.doubleToRawLongBits(java)) {
          exact++;
        } else if (Math.round(Math.abs(sql[i] - java) * 1e7) > 1) {
          tooFar.add(
              "ups="
                  + ups[i]
                  + " downs="
                  + downs[i]
                  + " micros="
                  + micros[i]
                  + ": Java "
                  + java
                  + ", SQL "
                  + sql[i]);
        }
      }
      System.out.printf(
          "thingdb_hot: %d of %d random inputs bit-identical to Java%n", exact, samples);
      assertThat(tooFar).isEmpty();
    }

    @Test
    void sqlHotRoundsExactlyLikeJavaAtHalfwayPoints() throws SQLException {
      // With |ups - downs| <= 1 the logarithm is exactly 0 on every platform, which leaves the
      // date term and the rounding, both exact in SQL and in Java. 4500 * k + 2250 microseconds
      // after the hot epoch is (k + 0.5) * 10^-7 in decimal: the double lands on either side.
      SplittableRandom random = new SplittableRandom(1_134_028_003);
      int samples = 20_000;
      long[] ups = new long[samples];
      long[] downs = new long[samples];
      long[] micros = new long[samples];
      for (int i = 0; i < samples; i++) {
        ups[i] = random.nextLong(0, 1000);
        downs[i] = Math.max(0, ups[i] + random.nextLong(-1, 2));
        long k =
            random.nextInt(8) == 0
                ? random.nextLong(-100, 100)
                : random.nextLong(-300_000_000_000L, 2_000_000_000_000L);
        micros[i] = HOT_EPOCH_MICROS + 4500 * k + 2250 + random.nextLong(-2, 3);
      }
      double[] sql = sqlHot(ups, downs, micros);
      List<String> mismatches = new ArrayList<>();
      for (int i = 0; i < samples && mismatches.size() < 10; i++) {
        double java = Sorts.hot(ups[i], downs[i], micros[i]);
        if (Double.doubleToRawLongBits(sql[i]) != Double.doubleToRawLongBits(java)) {
          mismatches.add(
              "ups="
                  + ups[i]
                  + " downs="
                  + downs[i]
                  + " micros="
                  + micros[i]
                  + ": Java "
                  + java
                  + ", SQL "
                  + sql[i]);
        }
      }
      assertThat(mismatches).isEmpty();
    }

    private double[] sqlHot(long[] ups, long[] downs, long[] micros) throws SQLException {
      double[] values = new double[ups.length];
      try (PreparedStatement select =
          connection.prepareStatement(
              // Whole seconds and microseconds separately: interval * bigint goes through a double.
              "SELECT thingdb_hot(u, d, to_timestamp(0) + (m / 1000000) * interval '1 second'"
                  + " + (m % 1000000) * interval '1 microsecond')"
                  + " FROM unnest(?::bigint[], ?::bigint[], ?::bigint[]) WITH ORDINALITY AS t(u, d, m, i) ORDER BY i")) {
        select.setArray(1, connection.createArrayOf("bigint", boxed(ups)));
        select.setArray(2, connection.createArrayOf("bigint", boxed(downs)));
        select.setArray(3, connection.createArrayOf("bigint", boxed(micros)));
        try (ResultSet result = select.executeQuery()) {
          for (int i = 0; i < values.length; i++) {
            assertThat(result.next()).isTrue();
            values[i] = result.getDouble(1);
          }
          assertThat(result.next()).isFalse();
        }
      }
      return values;
    }

    private void assertSameOrder(
        String name, ToDoubleFunction<SqlRow> sql, ToDoubleFunction<Vector> java) {
      Comparator<SqlRow> bySql =
          (a, b) ->
              Sorts.compare(
                  sql.applyAsDouble(a), a.vector().line(), sql.applyAsDouble(b), b.vector().line());
      Comparator<SqlRow> byJava =
          (a, b) ->
              Sorts.compare(
                  java.applyAsDouble(a.vector()),
                  a.vector().line(),
                  java.applyAsDouble(b.vector()),
                  b.vector().line());
      List<Integer> sqlOrder = rows.stream().sorted(bySql).map(r -> r.vector().line()).toList();
      List<Integer> javaOrder = rows.stream().sorted(byJava).map(r -> r.vector().line()).toList();
      assertThat(sqlOrder)
          .as("vector lines ordered by %s in SQL vs Java", name)
          .isEqualTo(javaOrder);
    }

    private String sortsSql() throws IOException {
      try (InputStream in = Sorts.class.getResourceAsStream("/io/thingdb/core/sorts.sql")) {
        assertThat(in).as("resource io/thingdb/core/sorts.sql").isNotNull();
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    }

    private Long[] boxed(long[] values) {
      return IntStream.range(0, values.length).mapToObj(i -> values[i]).toArray(Long[]::new);
    }

    private void addIfBitsDiffer(
        List<String> mismatches, Vector v, String name, double java, double sql) {
      if (Double.doubleToRawLongBits(java) != Double.doubleToRawLongBits(sql)) {
        mismatches.add(v + ": " + name + " Java " + java + ", SQL " + sql);
      }
    }
  }

  private static List<String> mismatches(
      ToDoubleFunction<Vector> actual, ToDoubleFunction<Vector> expected) {
    List<String> mismatches = new ArrayList<>();
    for (Vector v : vectors) {
      double a = actual.applyAsDouble(v);
      double e = expected.applyAsDouble(v);
      if (Double.doubleToRawLongBits(a) != Double.doubleToRawLongBits(e)) {
        mismatches.add(v + ": expected " + e + " but was " + a);
      }
    }
    return mismatches;
  }

  private static boolean isNegativeZero(double value) {
    return Double.doubleToRawLongBits(value) == Double.doubleToRawLongBits(-0.0);
  }

  private static List<Vector> readVectors(Path file) {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
    if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
      throw new AssertionError(file + " does not start with the documented header: " + HEADER);
    }
    List<Vector> rows = new ArrayList<>();
    for (int i = 1; i < lines.size(); i++) {
      if (lines.get(i).isEmpty()) {
        continue;
      }
      String[] c = lines.get(i).split("\t", -1);
      if (c.length != 8) {
        throw new AssertionError(
            file + ":" + (i + 1) + " has " + c.length + " columns, expected 8");
      }
      if (!UTC_MICROS.matcher(c[2]).matches()) {
        throw new AssertionError(
            file + ":" + (i + 1) + " has a date that is not UTC with microseconds: " + c[2]);
      }
      Instant instant = Instant.parse(c[2]);
      long micros =
          Math.addExact(
              Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1000);
      rows.add(
          new Vector(
              i + 1,
              Long.parseLong(c[0]),
              Long.parseLong(c[1]),
              c[2],
              micros,
              Double.parseDouble(c[3]),
              Long.parseLong(c[4]),
              Double.parseDouble(c[5]),
              Double.parseDouble(c[6]),
              Double.parseDouble(c[7])));
    }
    return rows;
  }

  /**
   * The vectors' folder: this module's copy in its test resources ({@code src/test/resources/
   * vectors}), so that a plain clone runs this test; {@code -Dthingdb.vectors.dir} overrides.
   * Fails, never skips.
   */
  private static Path vectorsDirectory() {
    String override = System.getProperty("thingdb.vectors.dir");
    if (override != null) {
      Path dir = Path.of(override).toAbsolutePath();
      if (!Files.isRegularFile(dir.resolve(VECTORS_FILE))) {
        throw new AssertionError("-Dthingdb.vectors.dir=" + override + " has no " + VECTORS_FILE);
      }
      return dir;
    }
    java.net.URL url = SortsTest.class.getResource("/vectors/" + VECTORS_FILE);
    if (url == null) {
      throw new AssertionError(
          "reference vectors not found: expected src/test/resources/vectors/"
              + VECTORS_FILE
              + " in thingdb-listings (a copy of the project's public vectors), or pass"
              + " -Dthingdb.vectors.dir=<dir>");
    }
    try {
      return Path.of(url.toURI()).getParent();
    } catch (java.net.URISyntaxException e) {
      throw new AssertionError("cannot read the vectors at " + url, e);
    }
  }
}

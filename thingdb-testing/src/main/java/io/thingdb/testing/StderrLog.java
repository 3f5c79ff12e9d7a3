package io.thingdb.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Captures what is written to {@code System.err} while it is open, still passing it through, and
 * reads it as slf4j-simple log records: for tests that bound how much a fault makes a component log
 * ("one line per state change"), with no logging library beyond the slf4j-simple binding the tests
 * already use.
 *
 * <pre>{@code
 * try (StderrLog log = StderrLog.capture()) {
 *   ... crash something ...
 *   assertThat(log.lines(r -> r.logger().startsWith("io.thingdb."))).isLessThan(10);
 * }
 * }</pre>
 *
 * <p>slf4j-simple must write to {@code System.err} without caching the stream (its defaults: {@code
 * org.slf4j.simpleLogger.logFile=System.err}, {@code cacheOutputStream=false}), and its records
 * must start with a time ({@code showDateTime=true}, {@code dateTimeFormat=HH:mm:ss.SSS}), as the
 * modules' test {@code simplelogger.properties} set. A record is its first line plus every line
 * that follows it up to the next record (a stack trace); lines before the first record are
 * attributed to a record with logger {@code "?"}. Captures made at once in the same JVM nest: each
 * sees what was written while it was open.
 *
 * <p>Thread-safe: any thread may log while it captures.
 */
public final class StderrLog implements AutoCloseable {
  private static final Pattern RECORD =
      Pattern.compile(
          "^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\[([^\\]]*)\\] (TRACE|DEBUG|INFO|WARN|ERROR) (\\S+) - (.*)$");

  /**
   * One log record.
   *
   * @param thread the thread that logged it
   * @param level TRACE to ERROR
   * @param logger the logger's name
   * @param message the first line's message
   * @param lines how many lines it took, stack trace included
   * @param text the record's lines
   */
  public record Record(
      String thread, String level, String logger, String message, int lines, String text) {
    /** Whether the record carries more than its first line (usually a stack trace). */
    public boolean hasStackTrace() {
      return lines > 1;
    }
  }

  private final PrintStream previous;
  private final ByteArrayOutputStream captured = new ByteArrayOutputStream();
  private boolean closed; // guarded by captured

  private StderrLog() {
    this.previous = System.err;
    OutputStream tee =
        new OutputStream() {
          @Override
          public void write(int b) {
            previous.write(b);
            synchronized (captured) {
              if (!closed) {
                captured.write(b);
              }
            }
          }

          @Override
          public void write(byte[] b, int off, int len) {
            previous.write(b, off, len);
            synchronized (captured) {
              if (!closed) {
                captured.write(b, off, len);
              }
            }
          }

          @Override
          public void flush() throws IOException {
            previous.flush();
          }
        };
    System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
  }

  /** Starts capturing {@code System.err}. */
  public static StderrLog capture() {
    return new StderrLog();
  }

  /** The records written so far (the capture goes on). */
  public List<Record> records() {
    String text;
    synchronized (captured) {
      text = captured.toString(StandardCharsets.UTF_8);
    }
    List<Record> out = new ArrayList<>();
    String[] current = null; // thread, level, logger, message
    StringBuilder lines = new StringBuilder();
    int count = 0;
    for (String line : text.split("\r?\n")) {
      if (line.isEmpty() && count == 0 && current == null) {
        continue;
      }
      Matcher m = RECORD.matcher(line);
      if (m.matches()) {
        if (count > 0) {
          out.add(record(current, count, lines));
        }
        current = new String[] {m.group(1), m.group(2), m.group(3), m.group(4)};
        lines.setLength(0);
        count = 0;
      } else if (current == null) {
        current = new String[] {"?", "?", "?", line};
      }
      lines.append(line).append('\n');
      count++;
    }
    if (count > 0) {
      out.add(record(current, count, lines));
    }
    return out;
  }

  private static Record record(String[] head, int count, StringBuilder lines) {
    return new Record(head[0], head[1], head[2], head[3], count, lines.toString());
  }

  /** The records that {@code which} selects. */
  public List<Record> records(Predicate<Record> which) {
    return records().stream().filter(which).toList();
  }

  /** How many lines the records that {@code which} selects took, stack traces included. */
  public int lines(Predicate<Record> which) {
    return records(which).stream().mapToInt(Record::lines).sum();
  }

  /** Stops capturing and puts the previous {@code System.err} back. Idempotent. */
  @Override
  public void close() {
    synchronized (captured) {
      if (closed) {
        return;
      }
      closed = true;
    }
    if (System.err != previous) {
      System.err.flush();
    }
    System.setErr(previous);
  }
}

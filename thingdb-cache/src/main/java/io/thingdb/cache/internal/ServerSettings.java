package io.thingdb.cache.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.OptionalInt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads one setting of a memcached server, its item size limit, over a connection of its own: the
 * client's connections are not up yet when it is read, at build. Stateless and thread-safe.
 */
public final class ServerSettings {
  /** More than any {@code stats settings} answer (about 2 KB on memcached 1.6). */
  private static final int MAX_ANSWER = 64 * 1024;

  private static final Logger log = LoggerFactory.getLogger(ServerSettings.class);

  private ServerSettings() {}

  /**
   * Refuses a server whose item size limit ({@code -I}) is below this client's {@code itemSizeMax}:
   * a value between the two would pass this client's size check and then be refused by the server
   * after the caller had been promised it fits, and a refused compare-and-set would leave the older
   * value cached. Refusing at build names the server while the configuration is being written; a
   * larger server limit is harmless (this client's smaller one applies). A server that cannot be
   * reached here is not checked (logged at INFO): it starts suspect, and if it turns out to have a
   * smaller limit, its refusals of larger values are reported as {@link
   * io.thingdb.cache.ValueTooLargeException} naming it.
   *
   * @throws io.thingdb.cache.CacheException naming the server and both limits
   */
  public static void checkItemSize(
      String server, InetSocketAddress address, int itemSizeMax, Duration timeout) {
    OptionalInt limit;
    try {
      limit = itemSizeMax(address, timeout);
    } catch (IOException e) {
      log.info(
          "memcached server {} did not answer 'stats settings' at start ({}); its item size limit"
              + " is not checked",
          server,
          e.toString());
      return;
    }
    if (limit.isEmpty()) {
      log.warn(
          "memcached server {} does not report item_size_max; this client assumes itemSizeMax={}",
          server,
          itemSizeMax);
    } else if (limit.getAsInt() < itemSizeMax) {
      throw new io.thingdb.cache.CacheException(
          "memcached server "
              + server
              + " has item_size_max="
              + limit.getAsInt()
              + " bytes (its -I), below this client's itemSizeMax="
              + itemSizeMax
              + " bytes: values in between would be refused by the server. Start the server"
              + " with -I "
              + itemSizeMax
              + " or larger, or set MemcachedCache.builder().itemSizeMax("
              + limit.getAsInt()
              + ")");
    }
  }

  /**
   * The server's {@code item_size_max} (its {@code -I}) from {@code stats settings}, or empty if
   * the server answers without one (a proxy, or a server that refuses the command).
   *
   * @param timeout bounds the connect and each read
   * @throws IOException if the server cannot be reached or does not answer within {@code timeout}
   */
  public static OptionalInt itemSizeMax(InetSocketAddress address, Duration timeout)
      throws IOException {
    int millis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
    try (Socket socket = new Socket()) {
      socket.connect(address, millis);
      socket.setSoTimeout(millis);
      OutputStream out = socket.getOutputStream();
      out.write("stats settings\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = readAnswer(socket.getInputStream());
      for (String line : answer.split("\r\n")) {
        if (line.startsWith("STAT item_size_max ")) {
          try {
            return OptionalInt.of(Integer.parseInt(line.substring(19).trim()));
          } catch (NumberFormatException e) {
            return OptionalInt.empty();
          }
        }
      }
      return OptionalInt.empty();
    }
  }

  /** Reads until the line that ends the answer: END, or an error line. */
  private static String readAnswer(InputStream in) throws IOException {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    byte[] chunk = new byte[4096];
    while (buffer.size() < MAX_ANSWER) {
      int n = in.read(chunk);
      if (n < 0) {
        break;
      }
      buffer.write(chunk, 0, n);
      String text = buffer.toString(StandardCharsets.US_ASCII);
      if (text.endsWith("END\r\n") || text.endsWith("ERROR\r\n")) {
        return text;
      }
    }
    return buffer.toString(StandardCharsets.US_ASCII);
  }
}

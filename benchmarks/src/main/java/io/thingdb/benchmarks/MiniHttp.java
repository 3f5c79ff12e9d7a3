package io.thingdb.benchmarks;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;

/**
 * One keep-alive HTTP/1.1 connection to the blog, for the workload harness: plain blocking sockets
 * with {@code TCP_NODELAY}, so that a request costs the load generator as little CPU as possible on
 * a machine it shares with the server. It understands what the JDK's {@code HttpServer} sends
 * ({@code Content-Length} or chunked bodies) and reconnects when the server closed the connection.
 * Not thread-safe: one connection per worker thread.
 */
final class MiniHttp implements AutoCloseable {
  private static final int MAX_HEADER_LINE = 16 * 1024;

  /**
   * A response: status, headers (names lower-cased, first value kept, except {@code Set-Cookie}:
   * every value, one per line) and body.
   */
  record Response(int status, Map<String, String> headers, byte[] body) {
    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    String text() {
      return new String(body, UTF_8);
    }

    /** A numeric header, or 0 when it is absent. */
    long longHeader(String name) {
      String v = header(name);
      return v == null ? 0 : Long.parseLong(v.trim());
    }
  }

  private final String host;
  private final int port;
  private Socket socket;
  private InputStream in;
  private OutputStream out;

  MiniHttp(URI base) {
    this.host = base.getHost();
    this.port = base.getPort() < 0 ? 80 : base.getPort();
  }

  /** GET {@code path} with optional extra headers (name, value, name, value, ...). */
  Response get(String path, String... headers) {
    return send("GET", path, null, headers);
  }

  /** POST an {@code application/x-www-form-urlencoded} form. */
  Response postForm(String path, Map<String, String> form, String... headers) {
    StringJoiner body = new StringJoiner("&");
    for (Map.Entry<String, String> e : form.entrySet()) {
      body.add(URLEncoder.encode(e.getKey(), UTF_8) + "=" + URLEncoder.encode(e.getValue(), UTF_8));
    }
    String[] all = new String[headers.length + 2];
    System.arraycopy(headers, 0, all, 0, headers.length);
    all[headers.length] = "Content-Type";
    all[headers.length + 1] = "application/x-www-form-urlencoded";
    return send("POST", path, body.toString().getBytes(UTF_8), all);
  }

  private Response send(String method, String path, byte[] body, String... headers) {
    if (headers.length % 2 != 0) {
      throw new IllegalArgumentException("headers come in name, value pairs: " + List.of(headers));
    }
    // A kept-alive connection the server closed in between fails on first use: retry once on a
    // new one. Only the blog's idempotent reads are retried; a POST that failed is reported.
    for (int attempt = 0; ; attempt++) {
      boolean fresh = socket == null;
      try {
        if (socket == null) {
          connect();
        }
        writeRequest(method, path, body, headers);
        Response r = readResponse(method);
        if ("close".equalsIgnoreCase(r.header("connection"))) {
          closeQuietly();
        }
        return r;
      } catch (IOException e) {
        closeQuietly();
        if (fresh || attempt > 0 || !method.equals("GET")) {
          throw new UncheckedIOException(
              method + " " + path + " to " + host + ":" + port + " failed: " + e.getMessage(), e);
        }
      }
    }
  }

  private void connect() throws IOException {
    Socket s = new Socket();
    s.setTcpNoDelay(true);
    s.connect(new InetSocketAddress(host, port), 5_000);
    s.setSoTimeout(60_000);
    socket = s;
    in = new BufferedInputStream(s.getInputStream(), 64 * 1024);
    out = new BufferedOutputStream(s.getOutputStream(), 8 * 1024);
  }

  private void writeRequest(String method, String path, byte[] body, String[] headers)
      throws IOException {
    StringBuilder sb = new StringBuilder(256);
    sb.append(method)
        .append(' ')
        .append(path)
        .append(" HTTP/1.1\r\nHost: ")
        .append(host)
        .append(':')
        .append(port)
        .append("\r\n");
    for (int i = 0; i < headers.length; i += 2) {
      sb.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
    }
    if (body != null) {
      sb.append("Content-Length: ").append(body.length).append("\r\n");
    }
    sb.append("\r\n");
    out.write(sb.toString().getBytes(ISO_8859_1));
    if (body != null) {
      out.write(body);
    }
    out.flush();
  }

  private Response readResponse(String method) throws IOException {
    String statusLine = readLine();
    if (statusLine == null) {
      throw new IOException("the server closed the connection before answering");
    }
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
      throw new IOException("not an HTTP/1.x status line: '" + statusLine + "'");
    }
    int status = Integer.parseInt(parts[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (String line; (line = readLine()) != null && !line.isEmpty(); ) {
      int colon = line.indexOf(':');
      if (colon > 0) {
        String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
        String value = line.substring(colon + 1).trim();
        // Every Set-Cookie is kept (one per line, in order): a write answers with the session
        // cookie and the read-your-writes cookie together.
        headers.merge(name, value, (a, b) -> name.equals("set-cookie") ? a + "\n" + b : a);
      }
    }
    byte[] body;
    String length = headers.get("content-length");
    if (method.equals("HEAD")
        || status == 204
        || status == 304
        || (status >= 100 && status < 200)) {
      body = new byte[0];
    } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
      body = readChunked();
    } else if (length != null) {
      body = in.readNBytes(Integer.parseInt(length));
      if (body.length != Integer.parseInt(length)) {
        throw new IOException("the body ended after " + body.length + " of " + length + " bytes");
      }
    } else {
      body = in.readAllBytes(); // no length: the body ends with the connection
      closeQuietly();
    }
    return new Response(status, headers, body);
  }

  private byte[] readChunked() throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    while (true) {
      String sizeLine = readLine();
      if (sizeLine == null) {
        throw new IOException("the chunked body ended early");
      }
      int semi = sizeLine.indexOf(';');
      int size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
      if (size == 0) {
        for (String trailer; (trailer = readLine()) != null && !trailer.isEmpty(); ) {
          // trailers are ignored
        }
        return body.toByteArray();
      }
      byte[] chunk = in.readNBytes(size);
      if (chunk.length != size) {
        throw new IOException("a chunk ended after " + chunk.length + " of " + size + " bytes");
      }
      body.write(chunk);
      readLine(); // the CRLF after the chunk
    }
  }

  private String readLine() throws IOException {
    StringBuilder sb = new StringBuilder(64);
    while (true) {
      int b = in.read();
      if (b < 0) {
        return sb.length() == 0 ? null : sb.toString();
      }
      if (b == '\n') {
        int n = sb.length();
        if (n > 0 && sb.charAt(n - 1) == '\r') {
          sb.setLength(n - 1);
        }
        return sb.toString();
      }
      if (sb.length() >= MAX_HEADER_LINE) {
        throw new IOException("a header line is longer than " + MAX_HEADER_LINE + " bytes");
      }
      sb.append((char) b);
    }
  }

  private void closeQuietly() {
    if (socket != null) {
      try {
        socket.close();
      } catch (IOException e) {
        // closing anyway
      }
    }
    socket = null;
    in = null;
    out = null;
  }

  @Override
  public void close() {
    closeQuietly();
  }
}

package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.util.ArrayList;
import java.util.List;

/**
 * What a handler answers: status, content type, body and extra headers. Built by one thread; not
 * thread-safe (the page cache hands each request its own {@link #copy}).
 */
public final class Response {
  final int status;
  final String contentType;
  final byte[] body;
  final int bodyOffset;
  final int bodyLength;
  final List<String[]> headers = new ArrayList<>();

  private Response(int status, String contentType, byte[] body, int offset, int length) {
    if (offset < 0 || length < 0 || offset > body.length - length) {
      throw new IllegalArgumentException(
          "body range "
              + offset
              + "+"
              + length
              + " is outside the "
              + body.length
              + " bytes given");
    }
    this.status = status;
    this.contentType = contentType;
    this.body = body;
    this.bodyOffset = offset;
    this.bodyLength = length;
  }

  private Response(int status, String contentType, byte[] body) {
    this(status, contentType, body, 0, body.length);
  }

  /** A 200 HTML page. */
  public static Response html(String html) {
    return new Response(200, "text/html; charset=utf-8", html.getBytes(UTF_8));
  }

  /** A JSON answer with {@code status}. */
  public static Response json(int status, String json) {
    return new Response(status, "application/json; charset=utf-8", json.getBytes(UTF_8));
  }

  /** An answer with any status, type and body. */
  public static Response of(int status, String contentType, byte[] body) {
    return new Response(status, contentType, body);
  }

  /**
   * An answer whose body is {@code length} bytes of {@code bytes} from {@code offset} (not copied).
   */
  static Response of(int status, String contentType, byte[] bytes, int offset, int length) {
    return new Response(status, contentType, bytes, offset, length);
  }

  /** 303 See Other to {@code location} (after a POST). */
  public static Response redirect(String location) {
    return new Response(303, "text/plain; charset=utf-8", ("see " + location).getBytes(UTF_8))
        .header("Location", location);
  }

  /** Adds a header. */
  public Response header(String name, String value) {
    headers.add(new String[] {name, value});
    return this;
  }

  /**
   * A response of its own for another request, which adds its own headers to it: the same status,
   * type and headers, and the same body bytes (shared, not copied).
   */
  Response copy() {
    Response r = new Response(status, contentType, body, bodyOffset, bodyLength);
    r.headers.addAll(headers);
    return r;
  }
}

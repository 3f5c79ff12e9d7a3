package io.thingdb.examples.blog;

/**
 * A request the blog refuses, with the HTTP status and a message meant for the person who sent it
 * ("title must not be empty"). Thrown before anything is written. Not thread-safe: {@link
 * #retryAfter} is set by the thread that throws it, before it is thrown.
 */
public final class HttpError extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int status;
  private long retryAfterSeconds = -1;

  /** A refusal with {@code status} (4xx) and a readable {@code message}. */
  public HttpError(int status, String message) {
    super(message);
    this.status = status;
  }

  /** Adds a {@code Retry-After} of {@code seconds} to the answer (429, 503); returns this. */
  public HttpError retryAfter(long seconds) {
    this.retryAfterSeconds = seconds;
    return this;
  }

  /** The {@code Retry-After} seconds, or -1 for none. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }

  /** The HTTP status. */
  public int status() {
    return status;
  }

  /** 400 Bad Request. */
  public static HttpError badRequest(String message) {
    return new HttpError(400, message);
  }

  /** 404 Not Found. */
  public static HttpError notFound(String message) {
    return new HttpError(404, message);
  }

  /** 403 Forbidden. */
  public static HttpError forbidden(String message) {
    return new HttpError(403, message);
  }
}

package io.thingdb.examples.blog;

import java.io.IOException;

/** Answers one route. Implementations are thread-safe: one instance serves every request. */
@FunctionalInterface
interface Handler {
  /**
   * Handles a request.
   *
   * @throws HttpError to refuse it with a 4xx and a readable message (nothing is written)
   */
  Response handle(Request request) throws IOException;
}

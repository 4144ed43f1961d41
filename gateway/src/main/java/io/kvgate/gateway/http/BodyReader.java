package io.kvgate.gateway.http;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;

/**
 * Reads a request body up to a limit. A declared {@code Content-Length} over the limit fails at
 * once, before any body byte is read; a chunked body fails as soon as it crosses the limit. Either
 * way the caller answers 413 and the connection is closed, so the rest is never read.
 */
public final class BodyReader {

  private BodyReader() {}

  public static Future<Buffer> read(HttpServerRequest request, long limit) {
    String declared = request.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (declared != null) {
      long n;
      try {
        n = Long.parseLong(declared.trim());
      } catch (NumberFormatException e) {
        return Future.failedFuture(OpenAiException.badRequest(null, "invalid Content-Length header"));
      }
      if (n > limit) return Future.failedFuture(OpenAiException.tooLarge(limit));
    }
    Promise<Buffer> promise = Promise.promise();
    int initial = declared == null ? 4096 : (int) Math.min(Long.parseLong(declared.trim()), limit);
    Buffer body = Buffer.buffer(Math.max(16, initial));
    request.handler(chunk -> {
      if (body.length() + chunk.length() > limit) {
        request.handler(null);
        request.pause();
        promise.tryFail(OpenAiException.tooLarge(limit));
        return;
      }
      body.appendBuffer(chunk);
    });
    request.endHandler(v -> promise.tryComplete(body));
    request.exceptionHandler(promise::tryFail);
    return promise.future();
  }
}

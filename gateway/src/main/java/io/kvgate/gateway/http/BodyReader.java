package io.kvgate.gateway.http;

import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;

/**
 * Reads a request body up to a limit. A declared {@code Content-Length} over the limit fails at
 * once, before any body byte is read; a chunked body fails as soon as it crosses the limit. Either
 * way the caller answers 413 and then closes the connection with {@link #closeLingering}, so the
 * rest of the body is never buffered.
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
        return Future.failedFuture(
            OpenAiException.badRequest(null, "invalid Content-Length header"));
      }
      if (n > limit) return Future.failedFuture(OpenAiException.tooLarge(limit));
    }
    Promise<Buffer> promise = Promise.promise();
    int initial = declared == null ? 4096 : (int) Math.min(Long.parseLong(declared.trim()), limit);
    Buffer body = Buffer.buffer(Math.max(16, initial));
    request.handler(
        chunk -> {
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

  /** How long a lingering close waits for more of the unread body before closing anyway. */
  static final long LINGER_IDLE_MILLIS = 2_000;

  /** The longest a lingering close lasts. */
  static final long LINGER_MAX_MILLIS = 5_000;

  /** The most body bytes a lingering close discards before closing anyway. */
  static final long LINGER_MAX_BYTES = 64L << 20;

  /**
   * Closes an HTTP/1.x connection whose request body was not read, once its response has been sent,
   * without losing that response. Closing a socket with unread bytes in its receive buffer makes
   * the kernel send a reset, and a client still writing its body then often never reads the 413
   * already on the wire. So, like nginx's lingering close, the rest of the body is read and
   * discarded until it ends, the client goes quiet for {@link #LINGER_IDLE_MILLIS}, or a time or
   * byte cap is reached; then the connection is closed.
   */
  public static void closeLingering(Vertx vertx, HttpServerRequest request) {
    HttpConnection connection = request.connection();
    if (request.isEnded()) {
      // The whole body already arrived (e.g. behind a pipelined request): nothing left to drain.
      connection.close();
      return;
    }
    long[] discarded = {0};
    long[] idleTimer = {-1};
    boolean[] closed = {false};
    Runnable close =
        () -> {
          if (closed[0]) return;
          closed[0] = true;
          if (idleTimer[0] >= 0) vertx.cancelTimer(idleTimer[0]);
          connection.close();
        };
    long deadline = vertx.setTimer(LINGER_MAX_MILLIS, t -> close.run());
    Runnable rearm =
        () -> {
          if (idleTimer[0] >= 0) vertx.cancelTimer(idleTimer[0]);
          idleTimer[0] = vertx.setTimer(LINGER_IDLE_MILLIS, t -> close.run());
        };
    connection.closeHandler(
        v -> {
          closed[0] = true;
          vertx.cancelTimer(deadline);
          if (idleTimer[0] >= 0) vertx.cancelTimer(idleTimer[0]);
        });
    request.exceptionHandler(e -> close.run());
    request.endHandler(v -> close.run());
    request.handler(
        chunk -> {
          discarded[0] += chunk.length();
          if (discarded[0] > LINGER_MAX_BYTES) close.run();
          else rearm.run();
        });
    rearm.run();
    request.resume();
  }
}

package io.kvgate.gateway.http;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerRequest;

/**
 * The answer to a request the HTTP decoder could not read (the server's invalid-request handler):
 * 414 {@code uri_too_long} for a request line over {@code listener.maxUriBytes}, 431 {@code
 * request_header_fields_too_large} for a head over {@code listener.maxHeaderBytes}, 400 {@code
 * invalid_http_request} for anything else malformed, each in OpenAI's shape with {@code Connection:
 * close}, after which the connection is closed (the decoder has given up on it). Vert.x's default
 * answers with an empty body, or not at all for a malformed request line.
 */
public final class HttpRefusals {

  /** The request line allows the URI plus this much for the method and the version. */
  public static final int REQUEST_LINE_OVERHEAD = 64;

  /** How long after its answer a refused connection is closed. */
  static final long LINGER_MILLIS = 500;

  private HttpRefusals() {}

  public static Handler<HttpServerRequest> handler(
      GatewayConfig.ClientConnections limits, GatewayMetrics metrics) {
    return req -> {
      OpenAiException e = refusal(req.decoderResult().cause(), limits);
      metrics.invalidRequest(e.status());
      if (req.response().ended() || req.response().closed()) {
        req.connection().close();
        return;
      }
      // Closed a moment after the answer, not at once: what the client still sends is discarded by
      // the decoder meanwhile, so that the client reads the answer rather than a reset.
      io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
      req.response()
          .setStatusCode(e.status())
          .putHeader("content-type", "application/json")
          .putHeader("connection", "close")
          .end(OpenAiErrors.body(e))
          .onComplete(
              ar -> {
                if (context == null) req.connection().close();
                else context.owner().setTimer(LINGER_MILLIS, t -> req.connection().close());
              });
    };
  }

  static OpenAiException refusal(Throwable cause, GatewayConfig.ClientConnections limits) {
    if (cause instanceof TooLongHttpLineException) {
      return new OpenAiException(
          414,
          "invalid_request_error",
          null,
          "uri_too_long",
          "the request line is longer than "
              + (limits.maxUriBytes() + REQUEST_LINE_OVERHEAD)
              + " bytes (listener.maxUriBytes is "
              + limits.maxUriBytes()
              + ")");
    }
    if (cause instanceof TooLongHttpHeaderException) {
      return new OpenAiException(
          431,
          "invalid_request_error",
          null,
          "request_header_fields_too_large",
          "the request headers are larger than "
              + limits.maxHeaderBytes()
              + " bytes (listener.maxHeaderBytes)");
    }
    String detail = cause == null || cause.getMessage() == null ? "" : cause.getMessage();
    detail = detail.replaceAll("[^\\x20-\\x7e]", "?");
    if (detail.length() > 120) detail = detail.substring(0, 120) + "...";
    return new OpenAiException(
        400,
        "invalid_request_error",
        null,
        "invalid_http_request",
        "malformed HTTP request" + (detail.isEmpty() ? "" : ": " + detail));
  }
}

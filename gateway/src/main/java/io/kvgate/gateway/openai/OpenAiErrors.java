package io.kvgate.gateway.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;

/** Renders every error kvgate itself produces, in the one place that knows OpenAI's error shape. */
public final class OpenAiErrors {

  private static final ObjectMapper JSON = new ObjectMapper();

  private OpenAiErrors() {}

  /** {@code {"error":{"message","type","param","code"}}}. */
  public static Buffer body(OpenAiException e) {
    ObjectNode error = JSON.createObjectNode();
    error.put("message", e.getMessage());
    error.put("type", e.type());
    if (e.param() == null) error.putNull("param");
    else error.put("param", e.param());
    if (e.code() == null) error.putNull("code");
    else error.put("code", e.code());
    ObjectNode root = JSON.createObjectNode();
    root.set("error", error);
    try {
      return Buffer.buffer(JSON.writeValueAsBytes(root));
    } catch (JsonProcessingException impossible) {
      throw new IllegalStateException(impossible);
    }
  }

  /** Maps any failure of the request path to an {@link OpenAiException}. */
  public static OpenAiException of(Throwable t) {
    if (t instanceof OpenAiException e) return e;
    return new OpenAiException(
        500,
        "server_error",
        null,
        "internal_error",
        "internal gateway error: "
            + t.getClass().getSimpleName()
            + (t.getMessage() == null ? "" : ": " + t.getMessage()));
  }

  /** Answers the error, unless the response has already started (then it just closes). */
  public static void send(HttpServerResponse response, Throwable t) {
    OpenAiException e = of(t);
    if (response.ended() || response.closed()) return;
    if (response.headWritten()) {
      response.reset();
      return;
    }
    response.setStatusCode(e.status()).putHeader("content-type", "application/json").end(body(e));
  }

  /** The SSE event that ends a stream that failed after its first byte. */
  public static Buffer sseEvent(OpenAiException e) {
    return Buffer.buffer("data: ").appendBuffer(body(e)).appendString("\n\n");
  }
}

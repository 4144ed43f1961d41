package io.kvgate.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.http.HttpServerResponse;

/**
 * An error answer in vLLM's OpenAI shape, {@code {"error":{"message","type","param","code"}}}:
 * thrown where a request is refused, sent with {@link #send}.
 */
final class ApiError extends Exception {

  private static final long serialVersionUID = 1L;

  private final int status;
  private final String type;
  private final String param;

  /**
   * @param type OpenAI error type, e.g. {@code BadRequestError}
   * @param param the offending request field, or null
   */
  ApiError(int status, String type, String param, String message) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
  }

  int status() {
    return status;
  }

  /** Sends this error as the response (nothing if the response is already closed or ended). */
  void send(HttpServerResponse resp) {
    ObjectNode err = CompletionResponse.JSON.createObjectNode();
    ObjectNode e = err.putObject("error").put("message", getMessage()).put("type", type);
    if (param == null) e.putNull("param");
    else e.put("param", param);
    e.put("code", status);
    CompletionResponse.sendJson(resp, status, err);
  }
}

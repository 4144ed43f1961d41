package io.kvgate.gateway.openai;

/**
 * An error answered to the client in OpenAI's shape, {@code {"error": {"message", "type", "param",
 * "code"}}}. The one exception type of the request path; {@link OpenAiErrors} renders it.
 */
public final class OpenAiException extends RuntimeException {

  private final int status;
  private final String type;
  private final String param;
  private final String code;

  public OpenAiException(int status, String type, String param, String code, String message) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }

  public static OpenAiException badRequest(String param, String message) {
    return new OpenAiException(400, "invalid_request_error", param, null, message);
  }

  public static OpenAiException notFound(String code, String message) {
    return new OpenAiException(404, "invalid_request_error", null, code, message);
  }

  public static OpenAiException tooLarge(long limit) {
    return new OpenAiException(
        413,
        "invalid_request_error",
        null,
        "request_too_large",
        "request body exceeds the gateway's limit of " + limit + " bytes");
  }

  public static OpenAiException upstream(int status, String code, String message) {
    return new OpenAiException(status, "server_error", null, code, message);
  }

  public int status() {
    return status;
  }

  public String type() {
    return type;
  }

  public String param() {
    return param;
  }

  public String code() {
    return code;
  }
}

package io.kvgate.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;

/**
 * A parsed and validated OpenAI-style request. The body is parsed once; {@code raw} keeps the
 * client's bytes, which are what is forwarded (kvgate never re-serializes a body it does not need
 * to change, so unknown fields pass through untouched).
 *
 * @param kind which API the path names
 * @param path the request path, forwarded as is
 * @param body the parsed JSON object
 * @param raw the bytes as received
 * @param model the {@code model} field
 * @param stream the {@code stream} field (false when absent)
 */
public record OpenAiRequest(
    Kind kind, String path, ObjectNode body, Buffer raw, String model, boolean stream) {

  /** The APIs kvgate understands; {@link #OTHER} is any other {@code /v1/*} path with a model. */
  public enum Kind {
    CHAT,
    COMPLETION,
    EMBEDDING,
    RESPONSES,
    OTHER;

    /** The kind a path names. */
    public static Kind of(String path) {
      return switch (path) {
        case "/v1/chat/completions" -> CHAT;
        case "/v1/completions" -> COMPLETION;
        case "/v1/embeddings" -> EMBEDDING;
        case "/v1/responses" -> RESPONSES;
        default -> OTHER;
      };
    }
  }

  public JsonNode get(String field) {
    return body.get(field);
  }
}

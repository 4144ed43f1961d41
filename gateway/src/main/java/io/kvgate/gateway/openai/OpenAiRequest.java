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
 * @param body the fields kvgate reads (see {@link OpenAiRequestParser}); the others are only in
 *     {@code raw}
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

  /** The prompt fields, which only keying reads. */
  private static final java.util.Set<String> PROMPT_FIELDS =
      java.util.Set.of("messages", "prompt", "input", "instructions", "text");

  /**
   * This request without its prompt fields: what an exchange keeps once the request is keyed, so
   * that a long prompt's parsed tree is not held for the whole response (the prompt still goes
   * upstream, from {@code raw}).
   */
  public OpenAiRequest withoutPrompt() {
    ObjectNode slim = body.objectNode();
    body.fields()
        .forEachRemaining(
            e -> {
              if (!PROMPT_FIELDS.contains(e.getKey())) slim.set(e.getKey(), e.getValue());
            });
    return new OpenAiRequest(kind, path, slim, raw, model, stream);
  }

  public JsonNode get(String field) {
    return body.get(field);
  }
}

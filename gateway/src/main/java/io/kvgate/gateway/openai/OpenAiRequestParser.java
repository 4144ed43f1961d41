package io.kvgate.gateway.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;
import java.io.IOException;

/**
 * Parses a request body once and validates the fields kvgate relies on, answering OpenAI-shaped
 * 400s that name the offending {@code param}. Fields kvgate does not use are not inspected (nor
 * built: they stay in the raw bytes that are forwarded), and what a request may hold is bounded by
 * {@link Bounds}, checked during the parse.
 */
public final class OpenAiRequestParser {

  /**
   * What one request may hold, checked while it is read, before anything beyond the limit is built.
   *
   * @param maxMessages chat messages, Responses input items and a batch's nested prompts, together
   * @param maxContentParts content parts across all messages
   * @param maxPromptChars characters of prompt text: message contents, text parts, prompt and input
   *     strings, instructions, roles; a token id counts its digits and a separator
   * @param maxPromptValues strings and numbers in the prompt fields (token ids included)
   */
  public record Bounds(
      int maxMessages, int maxContentParts, long maxPromptChars, long maxPromptValues) {
    public static final Bounds DEFAULT = new Bounds(10_000, 10_000, 10_000_000, 2_000_000);
  }

  private OpenAiRequestParser() {}

  /** Parses with the default {@link Bounds}. */
  public static OpenAiRequest parse(String path, Buffer raw) {
    return parse(path, raw, Bounds.DEFAULT);
  }

  /**
   * Parses and validates a body. The tree kept holds only the fields kvgate reads (see {@link
   * BoundedJsonReader}); the body is forwarded from {@code raw}.
   *
   * @throws OpenAiException 400 naming the param (and, for a limit, its code)
   */
  public static OpenAiRequest parse(String path, Buffer raw, Bounds bounds) {
    ObjectNode body;
    try {
      body = BoundedJsonReader.read(raw, bounds);
    } catch (JsonProcessingException e) {
      throw OpenAiException.badRequest(
          null,
          "request body is not valid JSON: "
              + e.getOriginalMessage()
              + (e.getLocation() == null
                  ? ""
                  : " (line "
                      + e.getLocation().getLineNr()
                      + ", column "
                      + e.getLocation().getColumnNr()
                      + ")"));
    } catch (IOException e) {
      throw OpenAiException.badRequest(null, "request body could not be read: " + e.getMessage());
    }
    if (body == null)
      throw OpenAiException.badRequest(null, "request body is empty; expected a JSON object");
    OpenAiRequest.Kind kind = OpenAiRequest.Kind.of(path);

    JsonNode model = body.get("model");
    if (model == null || model.isNull()) {
      if (kind == OpenAiRequest.Kind.OTHER) {
        throw OpenAiException.notFound(
            "unknown_url", "no route for " + path + " without a 'model' field; see GET /v1/models");
      }
      throw OpenAiException.badRequest("model", "'model' is required");
    }
    if (!model.isTextual()) throw OpenAiException.badRequest("model", "'model' must be a string");

    JsonNode stream = body.get("stream");
    if (stream != null && !stream.isNull() && !stream.isBoolean())
      throw OpenAiException.badRequest("stream", "'stream' must be a boolean");
    for (String f : new String[] {"max_tokens", "max_completion_tokens"}) {
      JsonNode v = body.get(f);
      if (v != null
          && !v.isNull()
          && (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0)) {
        throw OpenAiException.badRequest(f, "'" + f + "' must be a non-negative integer");
      }
    }
    switch (kind) {
      case CHAT -> validateMessages(body.get("messages"));
      case COMPLETION -> validatePrompt(body.get("prompt"), "prompt");
      case EMBEDDING -> validatePrompt(body.get("input"), "input");
      default -> {}
    }
    return new OpenAiRequest(
        kind, path, body, raw, model.asText(), stream != null && stream.asBoolean(false));
  }

  private static void validateMessages(JsonNode messages) {
    if (messages == null || messages.isNull())
      throw OpenAiException.badRequest("messages", "'messages' is required");
    if (!messages.isArray())
      throw OpenAiException.badRequest(
          "messages", "'messages' must be an array of message objects");
    if (messages.isEmpty())
      throw OpenAiException.badRequest("messages", "'messages' must contain at least one message");
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String param = "messages[" + i + "]";
      if (!m.isObject())
        throw OpenAiException.badRequest(
            param, param + " must be an object with 'role' and 'content'");
      JsonNode role = m.get("role");
      if (role == null || !role.isTextual())
        throw OpenAiException.badRequest(param + ".role", param + ".role must be a string");
      JsonNode content = m.get("content");
      boolean hasCalls = m.has("tool_calls") || m.has("function_call");
      if (content == null || content.isNull()) {
        if (!hasCalls)
          throw OpenAiException.badRequest(param + ".content", param + ".content is required");
      } else if (!content.isTextual() && !content.isArray()) {
        throw OpenAiException.badRequest(
            param + ".content", param + ".content must be a string or an array of content parts");
      }
    }
  }

  private static void validatePrompt(JsonNode prompt, String param) {
    if (prompt == null || prompt.isNull())
      throw OpenAiException.badRequest(param, "'" + param + "' is required");
    if (!prompt.isTextual() && !prompt.isArray()) {
      throw OpenAiException.badRequest(param, "'" + param + "' must be a string or an array");
    }
  }
}

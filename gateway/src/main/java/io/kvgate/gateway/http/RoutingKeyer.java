package io.kvgate.gateway.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.kvgate.gateway.openai.OpenAiRequest;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.ChatPromptRenderer;
import io.kvgate.routing.prefix.SegmentHashCache;
import io.vertx.core.MultiMap;

/**
 * Turns a parsed request into the {@link RoutingRequest} policies see: the only place a prompt is
 * hashed. The text hashed is the text an engine would prefill: chat messages through the canonical
 * ChatML rendering, a completion's prompt, an embedding's input, a response's instructions and
 * input. Strings are fed from the parsed JSON straight into the hasher; the prompt is never
 * concatenated.
 *
 * <p>The chain's seed covers the base model, the LoRA adapter and {@code cache_salt}, as engines'
 * block hashes do, so requests that cannot share KV never match each other.
 *
 * <p>Long segments (a message's string content, a prompt string) go through a {@link
 * SegmentHashCache} shared by all event loops: a system prompt or an earlier turn the gateway has
 * already hashed is recognised by one string comparison instead of hashed again, which is what
 * keeps keying a long conversation's next turn cheap. The chain is the same either way.
 */
public final class RoutingKeyer {

  /** Why a request could not be keyed (a metric tag). */
  public static final String NO_PROMPT = "no_prompt";

  /** Default bound of the segment cache's retained text and hashes. */
  public static final long DEFAULT_SEGMENT_CACHE_BYTES = 64L << 20;

  private final BlockHasher hasher;
  private final int charsPerToken;
  private final SegmentHashCache segments;

  public RoutingKeyer(int blockSizeChars, int charsPerToken) {
    this(blockSizeChars, charsPerToken, new SegmentHashCache(DEFAULT_SEGMENT_CACHE_BYTES));
  }

  public RoutingKeyer(int blockSizeChars, int charsPerToken, SegmentHashCache segments) {
    this.hasher = new BlockHasher(blockSizeChars);
    this.charsPerToken = charsPerToken;
    this.segments = segments;
  }

  /** The segment cache (for metrics). */
  public SegmentHashCache segments() {
    return segments;
  }

  /**
   * @param baseModel the model whose fleet serves the request
   * @param adapter the LoRA adapter named by the request's {@code model}, or null
   */
  public RoutingRequest key(OpenAiRequest req, MultiMap headers, String baseModel, String adapter) {
    JsonNode salt = req.get("cache_salt");
    long seed =
        BlockHasher.seed(
            baseModel, adapter, salt != null && salt.isTextual() ? salt.asText() : null);
    BlockHasher.Builder b = hasher.start(seed, req.raw().length());
    boolean keyed =
        switch (req.kind()) {
          case CHAT -> renderChat(b, req.get("messages"));
          case COMPLETION -> appendPrompt(b, req.get("prompt"));
          case EMBEDDING -> appendPrompt(b, req.get("input"));
          case RESPONSES -> renderResponses(b, req);
          case OTHER -> appendPrompt(b, firstPresent(req, "prompt", "input", "text", "messages"));
        };
    BlockChain chain = b.finish();
    long promptTokens = (chain.totalUnits() + charsPerToken - 1) / charsPerToken;
    return new RoutingRequest(
        baseModel,
        adapter,
        sessionKey(req, headers),
        keyed ? chain : BlockChain.EMPTY,
        promptTokens,
        keyed && chain.totalUnits() > 0,
        maxTokens(req));
  }

  /** {@code max_completion_tokens}, else {@code max_tokens}; 0 when neither is set. */
  private static long maxTokens(OpenAiRequest req) {
    for (String f : new String[] {"max_completion_tokens", "max_tokens", "max_output_tokens"}) {
      JsonNode v = req.get(f);
      if (v != null && v.canConvertToLong() && v.isIntegralNumber()) return Math.max(0, v.asLong());
    }
    return 0;
  }

  private static JsonNode firstPresent(OpenAiRequest req, String... fields) {
    for (String f : fields) {
      JsonNode v = req.get(f);
      if (v != null && !v.isNull()) return v;
    }
    return null;
  }

  private boolean renderChat(BlockHasher.Builder b, JsonNode messages) {
    if (messages == null || !messages.isArray()) return false;
    for (JsonNode m : messages) {
      String role = m.path("role").asText("");
      JsonNode content = m.get("content");
      if (content != null && content.isTextual()) {
        ChatPromptRenderer.renderMessage(b, role, content.asText(), segments);
        continue;
      }
      ChatPromptRenderer.beginMessage(b, role);
      appendContent(b, content);
      ChatPromptRenderer.endMessage(b);
    }
    ChatPromptRenderer.renderGenerationPrompt(b);
    return true;
  }

  /**
   * Responses API: {@code instructions} as a system message, then {@code input} (string or items).
   */
  private boolean renderResponses(BlockHasher.Builder b, OpenAiRequest req) {
    JsonNode instructions = req.get("instructions");
    JsonNode input = req.get("input");
    if ((instructions == null || instructions.isNull()) && (input == null || input.isNull()))
      return false;
    if (instructions != null && instructions.isTextual()) {
      ChatPromptRenderer.renderMessage(b, "system", instructions.asText(), segments);
    }
    if (input != null && input.isTextual()) {
      ChatPromptRenderer.renderMessage(b, "user", input.asText(), segments);
    } else if (input != null && input.isArray()) {
      for (JsonNode item : input) {
        ChatPromptRenderer.beginMessage(b, item.path("role").asText("user"));
        appendContent(b, item.has("content") ? item.get("content") : item);
        ChatPromptRenderer.endMessage(b);
      }
    }
    ChatPromptRenderer.renderGenerationPrompt(b);
    return true;
  }

  /** Content: a string, or parts whose text (or media URL / id) is appended in order. */
  private void appendContent(BlockHasher.Builder b, JsonNode content) {
    if (content == null || content.isNull()) return;
    if (content.isTextual()) {
      ChatPromptRenderer.appendContent(b, content.asText());
      return;
    }
    if (!content.isArray()) return;
    for (JsonNode part : content) {
      if (part.isTextual()) {
        b.append(part.asText());
        continue;
      }
      JsonNode text = part.get("text");
      if (text != null && text.isTextual()) {
        segments.append(b, text.asText());
        continue;
      }
      // Media parts: a stable id if given, else the URL (data URLs included: equal images, equal
      // keys).
      for (String f : new String[] {"image_url", "input_audio", "video_url", "file"}) {
        JsonNode media = part.get(f);
        if (media == null) continue;
        JsonNode id =
            media.isTextual()
                ? media
                : media.has("uuid")
                    ? media.get("uuid")
                    : media.has("url")
                        ? media.get("url")
                        : media.has("file_id") ? media.get("file_id") : media.get("data");
        if (id != null && id.isTextual()) ChatPromptRenderer.appendContent(b, id.asText());
        break;
      }
    }
  }

  /** A completion prompt or embedding input: a string, strings, or token ids (as decimal text). */
  private boolean appendPrompt(BlockHasher.Builder b, JsonNode prompt) {
    if (prompt == null || prompt.isNull()) return false;
    if (prompt.isTextual()) {
      segments.append(b, prompt.asText());
      return true;
    }
    if (prompt.isArray()) {
      for (JsonNode p : prompt) {
        if (p.isTextual()) segments.append(b, p.asText());
        else if (p.isIntegralNumber()) b.append(Long.toString(p.asLong())).append(' ');
        else if (p.isArray()) appendPrompt(b, p);
        else if (p.isObject()) appendContent(b, p.has("content") ? p.get("content") : p);
      }
      return true;
    }
    return false;
  }

  private static String sessionKey(OpenAiRequest req, MultiMap headers) {
    String h = headers.get("x-session-id");
    if (h != null && !h.isBlank()) return h;
    JsonNode user = req.get("user");
    return user != null && user.isTextual() ? user.asText() : null;
  }
}

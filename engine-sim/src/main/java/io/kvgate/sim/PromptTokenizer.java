package io.kvgate.sim;

import com.fasterxml.jackson.databind.JsonNode;
import io.kvgate.routing.prefix.ChatPromptRenderer;

/**
 * The engine's deterministic stand-in for a tokenizer, and its chat template.
 *
 * <p><b>Tokens.</b> A prompt is cut into fixed-width pieces of {@value #CHARS_PER_TOKEN} UTF-16
 * chars (the last piece may be shorter); each piece is one token whose id is a 31-bit mix of its
 * chars. Four chars per token is the usual English average of BPE tokenizers, so prompt lengths in
 * tokens are realistic, ids depend only on content (block hashes therefore depend on content), and,
 * because the width is fixed, a block of {@code b} tokens always covers exactly {@code 4b} chars: a
 * router that hashes {@code 4 * blockSizeTokens}-char blocks of the same rendered text predicts
 * this engine's cached prefix block for block.
 *
 * <p><b>Chat template</b>: kvgate's {@link ChatPromptRenderer}, for each message {@code
 * <|im_start|>{role}\n{content}<|im_end|>\n}, then {@code <|im_start|>assistant\n}. A content array
 * renders its parts back to back as kvgate's {@code RoutingKeyer} reads them: a string part as
 * itself, a part's string {@code text}, else the first media field present ({@code image_url},
 * {@code input_audio}, {@code video_url}, {@code file}) as its string value or its {@code uuid},
 * {@code url}, {@code file_id} or {@code data}; other parts render as nothing. So the engine's
 * prompt text, and with it its block hashes ({@link BlockKeys}), is the text kvgate hashes.
 * Stateless and thread-safe.
 */
public final class PromptTokenizer {

  public static final int CHARS_PER_TOKEN = 4;

  private PromptTokenizer() {}

  /** Number of tokens {@code text} encodes to. */
  public static int countTokens(CharSequence text) {
    return (text.length() + CHARS_PER_TOKEN - 1) / CHARS_PER_TOKEN;
  }

  /** Encodes {@code text} into token ids in {@code [0, 2^31)}. */
  public static int[] encode(CharSequence text) {
    int n = countTokens(text);
    int[] ids = new int[n];
    int len = text.length();
    for (int t = 0; t < n; t++) {
      int h = 0x9E3779B9;
      int end = Math.min(len, (t + 1) * CHARS_PER_TOKEN);
      for (int i = t * CHARS_PER_TOKEN; i < end; i++) {
        h = (h ^ text.charAt(i)) * 0x01000193;
        h ^= h >>> 15;
      }
      ids[t] = h & 0x7fffffff;
    }
    return ids;
  }

  /**
   * Renders an OpenAI {@code messages} array with the chat template, {@link ChatPromptRenderer}'s,
   * reading content parts as kvgate's {@code RoutingKeyer} does (see the class comment).
   *
   * @throws IllegalArgumentException if {@code messages} is not a non-empty array of objects with a
   *     string {@code role} and string, array or null {@code content}
   */
  public static String renderChat(JsonNode messages) {
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw new IllegalArgumentException("'messages' must be a non-empty array");
    }
    StringBuilder b = new StringBuilder(256);
    for (JsonNode m : messages) {
      if (!m.isObject()) throw new IllegalArgumentException("each message must be an object");
      JsonNode role = m.get("role");
      if (role == null || !role.isTextual()) {
        throw new IllegalArgumentException("each message needs a string 'role'");
      }
      ChatPromptRenderer.beginMessage(b, role.asText());
      appendContent(b, m.get("content"));
      ChatPromptRenderer.endMessage(b);
    }
    ChatPromptRenderer.renderGenerationPrompt(b);
    return b.toString();
  }

  /** The media part types whose id or URL is rendered, in the order kvgate looks for them. */
  private static final String[] MEDIA_PARTS = {"image_url", "input_audio", "video_url", "file"};

  private static void appendContent(StringBuilder b, JsonNode content) {
    if (content == null || content.isNull()) return;
    if (content.isTextual()) {
      ChatPromptRenderer.appendContent(b, content.asText());
      return;
    }
    if (!content.isArray())
      throw new IllegalArgumentException("'content' must be a string or an array of parts");
    for (JsonNode part : content) {
      if (part.isTextual()) {
        b.append(part.asText());
        continue;
      }
      JsonNode text = part.get("text");
      if (text != null && text.isTextual()) {
        ChatPromptRenderer.appendContent(b, text.asText());
        continue;
      }
      for (String f : MEDIA_PARTS) {
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
}

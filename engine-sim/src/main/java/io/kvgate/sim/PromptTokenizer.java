package io.kvgate.sim;

import com.fasterxml.jackson.databind.JsonNode;

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
 * <p><b>Chat template</b> (the same as kvgate's {@code ChatPromptRenderer}): for each message
 * {@code <|im_start|>{role}\n{content}<|im_end|>\n}, then {@code <|im_start|>assistant\n}. A
 * content array renders its parts back to back: a text part's {@code text}, an image part's URL (or
 * the part's {@code id}). Stateless and thread-safe.
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
   * Renders an OpenAI {@code messages} array with the chat template.
   *
   * @throws IllegalArgumentException if {@code messages} is not a non-empty array of objects
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
      b.append("<|im_start|>").append(role.asText()).append('\n');
      appendContent(b, m.get("content"));
      b.append("<|im_end|>\n");
    }
    return b.append("<|im_start|>assistant\n").toString();
  }

  private static void appendContent(StringBuilder b, JsonNode content) {
    if (content == null || content.isNull()) return;
    if (content.isTextual()) {
      b.append(content.asText());
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
        b.append(text.asText());
        continue;
      }
      JsonNode image = part.get("image_url");
      if (image != null) {
        JsonNode url = image.isTextual() ? image : image.get("url");
        if (url != null) b.append(url.asText());
        continue;
      }
      JsonNode id = part.get("id");
      if (id != null) b.append(id.asText());
    }
  }
}

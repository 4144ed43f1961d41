package io.kvgate.routing.prefix;

/**
 * The canonical rendering of a chat request into prompt text, ChatML style:
 *
 * <pre>
 * &lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n      (once per message, in order)
 * &lt;|im_start|&gt;assistant\n                       (the generation prompt)
 * </pre>
 *
 * <p>A message whose content is an array of parts renders the parts back to back, with no
 * separator: a text part as its text, an image (or other media) part as its URL string or id. A
 * null content renders as empty. The simulated engine renders chat with exactly this template, so
 * the prefix kvgate predicts and the prefix the engine reports as cached line up block for block.
 *
 * <p>Every method writes straight into a {@link BlockHasher.Builder} (the gateway's path: parsed
 * JSON strings are hashed without building the prompt) or into a {@link StringBuilder} (the
 * engine's path and tests). A message is either written whole with {@link #renderMessage} or in
 * pieces with {@link #beginMessage}, {@link #appendContent} (once per part) and {@link
 * #endMessage}. Stateless and thread-safe.
 */
public final class ChatPromptRenderer {

  public static final String MESSAGE_START = "<|im_start|>";
  public static final String MESSAGE_END = "<|im_end|>\n";
  public static final String GENERATION_ROLE = "assistant";

  private ChatPromptRenderer() {}

  /** Renders one message with plain string content (null renders as empty). */
  public static void renderMessage(BlockHasher.Builder b, String role, CharSequence content) {
    beginMessage(b, role);
    if (content != null) b.append(content);
    endMessage(b);
  }

  /**
   * Renders one message with plain string content through {@code cache}: the same text as {@link
   * #renderMessage(BlockHasher.Builder, String, CharSequence)}, hashed once per distinct message
   * (see {@link SegmentHashCache}).
   */
  public static void renderMessage(
      BlockHasher.Builder b, String role, String content, SegmentHashCache cache) {
    cache.append(b, head(role), content == null ? "" : content, MESSAGE_END);
  }

  private static final String SYSTEM_HEAD = MESSAGE_START + "system\n";
  private static final String USER_HEAD = MESSAGE_START + "user\n";
  private static final String ASSISTANT_HEAD = MESSAGE_START + "assistant\n";

  /** {@code <|im_start|>{role}\n}, without allocating for the common roles. */
  static String head(String role) {
    return switch (role) {
      case "system" -> SYSTEM_HEAD;
      case "user" -> USER_HEAD;
      case "assistant" -> ASSISTANT_HEAD;
      default -> MESSAGE_START + role + "\n";
    };
  }

  /** Writes {@code <|im_start|>{role}\n}. */
  public static void beginMessage(BlockHasher.Builder b, String role) {
    b.append(MESSAGE_START).append(role).append('\n');
  }

  /** Writes one content part: a text part's text, or a media part's URL or id. */
  public static void appendContent(BlockHasher.Builder b, CharSequence part) {
    b.append(part);
  }

  /** Writes {@code <|im_end|>\n}. */
  public static void endMessage(BlockHasher.Builder b) {
    b.append(MESSAGE_END);
  }

  /** Writes the generation prompt {@code <|im_start|>assistant\n} after the last message. */
  public static void renderGenerationPrompt(BlockHasher.Builder b) {
    beginMessage(b, GENERATION_ROLE);
  }

  /** Renders one message with plain string content (null renders as empty). */
  public static void renderMessage(StringBuilder b, String role, CharSequence content) {
    beginMessage(b, role);
    if (content != null) b.append(content);
    endMessage(b);
  }

  /** Writes {@code <|im_start|>{role}\n}. */
  public static void beginMessage(StringBuilder b, String role) {
    b.append(MESSAGE_START).append(role).append('\n');
  }

  /** Writes one content part: a text part's text, or a media part's URL or id. */
  public static void appendContent(StringBuilder b, CharSequence part) {
    b.append(part);
  }

  /** Writes {@code <|im_end|>\n}. */
  public static void endMessage(StringBuilder b) {
    b.append(MESSAGE_END);
  }

  /** Writes the generation prompt {@code <|im_start|>assistant\n} after the last message. */
  public static void renderGenerationPrompt(StringBuilder b) {
    beginMessage(b, GENERATION_ROLE);
  }
}

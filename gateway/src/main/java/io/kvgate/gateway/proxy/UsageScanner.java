package io.kvgate.gateway.proxy;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;

/**
 * Finds {@code "cached_tokens": N} ({@code usage.prompt_tokens_details}) in a response body as it
 * streams by (a final non-streaming body or the usage chunk of a stream), without buffering the
 * body: each chunk is scanned once, with a short carry-over so a key split across chunks is still
 * found. The last value seen wins, which is the usage object's: it comes after any per-choice
 * content.
 */
final class UsageScanner {

  private static final String CACHED = "\"cached_tokens\"";
  private static final String PROMPT = "\"prompt_tokens\"";
  private static final String COMPLETION = "\"completion_tokens\"";
  private static final int CARRY = 40;

  private String carry = "";
  private long cachedTokens = -1;
  private long promptTokens = -1;
  private long completionTokens = -1;
  private long dataEvents;

  void feed(Buffer chunk) {
    int len = chunk.length();
    // Cheap filter: the key contains "_tokens"; most stream chunks (token deltas) carry none.
    if (len == 0) return;
    String s = carry + chunk.getString(0, len, StandardCharsets.ISO_8859_1.name());
    if (s.indexOf("_tokens\"") >= 0) {
      cachedTokens = last(s, CACHED, cachedTokens);
      promptTokens = last(s, PROMPT, promptTokens);
      completionTokens = last(s, COMPLETION, completionTokens);
    }
    // SSE events with a JSON payload, counted from this chunk's own bytes (not the carry-over).
    for (int at = s.indexOf("data: {", carry.length() > 6 ? carry.length() - 6 : 0);
        at >= 0;
        at = s.indexOf("data: {", at + 7)) {
      dataEvents++;
    }
    carry = s.length() > CARRY ? s.substring(s.length() - CARRY) : s;
  }

  private static long last(String s, String key, long previous) {
    long value = previous;
    int from = 0;
    int at;
    while ((at = s.indexOf(key, from)) >= 0) {
      int i = at + key.length();
      while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == ':')) i++;
      int start = i;
      while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
      if (i > start && i < s.length()) value = Long.parseLong(s, start, i, 10);
      from = at + key.length();
    }
    return value;
  }

  long cachedTokens() {
    return cachedTokens;
  }

  /**
   * The completion tokens the response used: its usage's {@code completion_tokens} when it reports
   * one, else (a stream without {@code stream_options.include_usage}) the number of its SSE events,
   * about one token each in vLLM's and SGLang's streams; 0 when neither is known.
   */
  long completionTokens() {
    return completionTokens >= 0 ? completionTokens : dataEvents;
  }

  /** {@code usage.prompt_tokens}, or -1 if not seen. */
  long promptTokens() {
    return promptTokens;
  }

  /** {@code usage.completion_tokens} as the engine reported it, or -1 if not seen. */
  long reportedCompletionTokens() {
    return completionTokens;
  }
}

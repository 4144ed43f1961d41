package io.kvgate.gateway.proxy;

import io.vertx.core.buffer.Buffer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Finds {@code "cached_tokens": N} ({@code usage.prompt_tokens_details}), {@code prompt_tokens} and
 * {@code completion_tokens} in a response body as it streams by (a final non-streaming body or the
 * usage chunk of a stream), and counts its SSE events, without buffering the body: each chunk is
 * copied once into a scratch array the scanner keeps (after the last {@value #CARRY} bytes of the
 * earlier chunks, so that a key split across chunks is still found) and scanned there. The last
 * value seen wins, which is the usage object's: it comes after any per-choice content.
 *
 * <p>A chunk is scanned once, eight bytes at a time (a SWAR search for {@code _} and <code>{</code>
 * , the anchors of {@code _tokens"} and <code>data: {</code>). At each {@code _tokens"} the bytes
 * before it tell which of the three keys it ends, and the number after it is read there: nothing is
 * searched a second time, however long the chunk (a whole non-streamed body, or many SSE events
 * read at once).
 */
final class UsageScanner {

  // The three keys, each up to its _tokens" (the anchor).
  private static final byte[] CACHED = ascii("\"cached");
  private static final byte[] PROMPT = ascii("\"prompt");
  private static final byte[] COMPLETION = ascii("\"completion");
  private static final byte[] DATA = ascii("data: {");
  private static final byte[] DATA_HEAD = ascii("data: ");
  private static final byte[] TOKENS_TAIL = ascii("tokens\"");
  private static final int CARRY = 40;

  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;
  private static final long UNDERSCORES = 0x5F5F5F5F5F5F5F5FL;
  private static final long BRACES = 0x7B7B7B7B7B7B7B7BL;

  /** The carry (its first {@link #carried} bytes), then the chunk being scanned. */
  private byte[] bytes = new byte[1024];

  private int carried;

  private long cachedTokens = -1;
  private long promptTokens = -1;
  private long completionTokens = -1;
  private long dataEvents;

  /** How many bytes of {@link #bytes} are scanned now. */
  private int length;

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  void feed(Buffer c) {
    int len = c.length();
    if (len == 0) return;
    length = carried + len;
    if (bytes.length < length) {
      bytes = java.util.Arrays.copyOf(bytes, Math.max(length, 2 * bytes.length));
    }
    c.getBytes(0, len, bytes, carried);
    // SSE events with a JSON payload are counted from this chunk's own bytes: a match that starts
    // more than DATA.length - 1 bytes into the carry was counted with the chunk it arrived in.
    // A usage key in the carry is read again, with the same or a completed number (one cut by the
    // earlier chunk's end was not read then): the last value seen still wins.
    scan(Math.max(0, carried - (DATA.length - 1)));
    int keep = Math.min(CARRY, length);
    System.arraycopy(bytes, length - keep, bytes, 0, keep);
    carried = keep;
  }

  /**
   * One pass over the bytes scanned now: counts the {@code data: {} that start at or after {@code
   * dataFrom}, and reads each usage key's number.
   */
  private void scan(int dataFrom) {
    byte[] b = bytes;
    int n = length;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      long w = (long) LONGS.get(b, i);
      long u = w ^ UNDERSCORES;
      long c = w ^ BRACES;
      // Flags every byte equal to '_' or '{' (and possibly a byte above one: checked below).
      long m = ((u - ONES) & ~u | (c - ONES) & ~c) & HIGHS;
      while (m != 0) {
        anchor(i + (Long.numberOfTrailingZeros(m) >>> 3), dataFrom);
        m &= m - 1;
      }
    }
    for (; i < n; i++) anchor(i, dataFrom);
  }

  /** At a flagged byte: counts an SSE event ending there, or reads the usage key ending there. */
  private void anchor(int p, int dataFrom) {
    byte c = bytes[p];
    if (c == '{') {
      int start = p - DATA_HEAD.length;
      if (start >= dataFrom && matches(DATA_HEAD, start)) dataEvents++;
    } else if (c == '_' && matches(TOKENS_TAIL, p + 1)) {
      usage(p);
    }
  }

  /** At the {@code _} of a {@code _tokens"}: which of the keys ends there, and its number. */
  private void usage(int p) {
    int value = p + 1 + TOKENS_TAIL.length;
    if (matches(CACHED, p - CACHED.length)) cachedTokens = number(value, cachedTokens);
    else if (matches(PROMPT, p - PROMPT.length)) promptTokens = number(value, promptTokens);
    else if (matches(COMPLETION, p - COMPLETION.length)) {
      completionTokens = number(value, completionTokens);
    }
  }

  private boolean matches(byte[] key, int at) {
    if (at < 0 || at + key.length > length) return false;
    for (int k = 0; k < key.length; k++) {
      if (bytes[at + k] != key[k]) return false;
    }
    return true;
  }

  /** The number after a key's closing quote at {@code i} ({@code : N}), else {@code previous}. */
  private long number(int i, long previous) {
    byte[] b = bytes;
    while (i < length
        && (b[i] == ' ' || b[i] == ':' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) {
      i++;
    }
    int start = i;
    long n = 0;
    while (i < length && b[i] >= '0' && b[i] <= '9' && i - start < 18) {
      n = n * 10 + (b[i] - '0');
      i++;
    }
    // Only a number that ends before the bytes do: one cut by the chunk's end is read whole with
    // the next chunk (its key is in the carry).
    return i > start && i < length ? n : previous;
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

package io.kvgate.gateway.openai;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Decodes a JSON string value straight from a body's UTF-8 bytes into a {@link String}, for the
 * prompt strings that make up almost all of a long request.
 *
 * <p>Jackson's parser decodes a string byte by byte into {@code char} segments and then joins them
 * through a {@code StringBuilder} into the {@code String} (compressing each character back to one
 * byte); for a 128 KB prompt that was a third of the gateway's CPU time per request. Here the bytes
 * between escapes are found eight at a time (a SWAR search for {@code "} and {@code \}), copied as
 * runs, and handed to {@code new String(bytes, UTF_8)}, whose ASCII path is a vectorized check and
 * one copy.
 *
 * <p>Validation stays Jackson's: the caller decodes the token here and leaves it unread in the
 * parser, which then skips it and, while skipping, rejects invalid UTF-8 and unescaped control
 * characters exactly as before. Anything this decoder does not handle identically to Jackson (an
 * unknown escape, a lone surrogate in a {@code \}{@code u} escape, a string running past the
 * buffer) returns null, and the caller falls back to Jackson's decoding, which reports the error or
 * produces the value.
 */
final class JsonStrings {

  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;
  private static final long QUOTES = 0x2222222222222222L;
  private static final long BACKSLASHES = 0x5C5C5C5C5C5C5C5CL;

  /** Scratch arrays above this size are not kept between requests. */
  private static final int KEEP_SCRATCH_BYTES = 1 << 20;

  private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[4096]);

  private JsonStrings() {}

  /**
   * The string whose opening quote is at {@code a[quote]}, or null when it is not one this decoder
   * handles exactly as Jackson does (the caller then asks the parser).
   *
   * @param end one past the last byte of the body in {@code a}
   */
  static String decode(byte[] a, int quote, int end) {
    if (quote < 0 || quote >= end || a[quote] != '"') return null;
    int start = quote + 1;
    int i = nextSpecial(a, start, end);
    if (i < 0) return null;
    if (a[i] == '"') return new String(a, start, i - start, StandardCharsets.UTF_8);
    // Escapes: at most as many bytes out as in, so the rest of the body bounds the output.
    byte[] out = SCRATCH.get();
    int n = 0;
    int run = start;
    while (true) {
      int len = i - run;
      if (n + len + 4 > out.length) out = grow(out, n + len + 4);
      System.arraycopy(a, run, out, n, len);
      n += len;
      if (a[i] == '"') break;
      if (i + 1 >= end) return null;
      byte e = a[i + 1];
      run = i + 2;
      switch (e) {
        case '"', '\\', '/' -> out[n++] = e;
        case 'n' -> out[n++] = '\n';
        case 't' -> out[n++] = '\t';
        case 'r' -> out[n++] = '\r';
        case 'b' -> out[n++] = '\b';
        case 'f' -> out[n++] = '\f';
        case 'u' -> {
          int c = hex4(a, i + 2, end);
          if (c < 0) return null;
          run = i + 6;
          if (c >= 0xD800 && c <= 0xDFFF) {
            // A surrogate pair is one code point, four UTF-8 bytes; a lone surrogate has no UTF-8
            // form, so Jackson's decoding (which keeps it as a char) decides.
            if (c > 0xDBFF || run + 1 >= end || a[run] != '\\' || a[run + 1] != 'u') return null;
            int lo = hex4(a, run + 2, end);
            if (lo < 0xDC00 || lo > 0xDFFF) return null;
            run += 6;
            int cp = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            out[n++] = (byte) (0xF0 | cp >>> 18);
            out[n++] = (byte) (0x80 | (cp >>> 12) & 0x3F);
            out[n++] = (byte) (0x80 | (cp >>> 6) & 0x3F);
            out[n++] = (byte) (0x80 | cp & 0x3F);
          } else if (c < 0x80) {
            out[n++] = (byte) c;
          } else if (c < 0x800) {
            out[n++] = (byte) (0xC0 | c >>> 6);
            out[n++] = (byte) (0x80 | c & 0x3F);
          } else {
            out[n++] = (byte) (0xE0 | c >>> 12);
            out[n++] = (byte) (0x80 | (c >>> 6) & 0x3F);
            out[n++] = (byte) (0x80 | c & 0x3F);
          }
        }
        default -> {
          return null;
        }
      }
      i = nextSpecial(a, run, end);
      if (i < 0) return null;
    }
    String s = new String(out, 0, n, StandardCharsets.UTF_8);
    if (out.length > KEEP_SCRATCH_BYTES) out = new byte[4096];
    SCRATCH.set(out);
    return s;
  }

  private static byte[] grow(byte[] out, int need) {
    byte[] bigger = new byte[Math.max(need, out.length * 2)];
    System.arraycopy(out, 0, bigger, 0, out.length);
    return bigger;
  }

  /** The value of four hex digits at {@code a[i..i+4)}, or -1. */
  private static int hex4(byte[] a, int i, int end) {
    if (i + 4 > end) return -1;
    int v = 0;
    for (int k = i; k < i + 4; k++) {
      int d = Character.digit(a[k], 16);
      if (d < 0) return -1;
      v = v << 4 | d;
    }
    return v;
  }

  /** The index of the first {@code "} or {@code \} in {@code a[i..end)}, or -1. */
  static int nextSpecial(byte[] a, int i, int end) {
    for (; i + 8 <= end; i += 8) {
      long w = (long) LONGS.get(a, i);
      long q = w ^ QUOTES;
      long s = w ^ BACKSLASHES;
      // A byte of q (or s) is zero where w holds a quote (or a backslash); the lowest flagged byte
      // is always a true match (only bytes above a match can be flagged by the borrow).
      long m = ((q - ONES) & ~q | (s - ONES) & ~s) & HIGHS;
      if (m != 0) return i + (Long.numberOfTrailingZeros(m) >>> 3);
    }
    for (; i < end; i++) {
      byte b = a[i];
      if (b == '"' || b == '\\') return i;
    }
    return -1;
  }
}

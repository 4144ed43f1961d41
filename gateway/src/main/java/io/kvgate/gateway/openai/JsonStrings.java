package io.kvgate.gateway.openai;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Decodes an ASCII JSON string value straight from a body's bytes into a {@link String}, for the
 * prompt strings that make up almost all of a long request.
 *
 * <p>Jackson's parser decodes a string byte by byte into {@code char} segments and then joins them
 * through a {@code StringBuilder} into the {@code String} (compressing each character back to one
 * byte); for a 128 KB prompt that was a third of the gateway's CPU time per request. Here the bytes
 * between escapes are found eight at a time (a SWAR search for {@code "}, {@code \\}, control
 * characters and non-ASCII bytes), copied as runs, and handed to {@code new String(bytes,
 * US_ASCII)}: one vectorized check and one copy.
 *
 * <p>Only strings that are ASCII and free of control characters in the body, and whose escapes
 * decode to ASCII, are decoded here; such a string is valid JSON as it stands, so the parser is
 * told to move past it ({@link PromptJsonFactory.Parser#stringRead}) instead of scanning it again.
 * At the first byte or escape outside that (a non-ASCII byte, a control character, a {@code
 * \\}{@code u} escape above 0x7F, an unknown escape, a string running past the buffer) this returns
 * null and the caller asks Jackson, which decodes the value, or rejects it, exactly as before. (On
 * JDK 17 {@code new String(bytes, UTF_8)} decodes non-ASCII text at about half Jackson's speed, so
 * non-ASCII text stays with Jackson.)
 *
 * <p>One instance per parse; not thread-safe.
 */
final class JsonStrings {

  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;
  private static final long QUOTES = 0x2222222222222222L;
  private static final long BACKSLASHES = 0x5C5C5C5C5C5C5C5CL;
  private static final long SPACES = 0x2020202020202020L;

  /** Scratch arrays above this size are not kept between requests. */
  private static final int KEEP_SCRATCH_BYTES = 1 << 20;

  private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[4096]);

  /** After a decode: the index just past the closing quote. */
  int end;

  /**
   * The string whose opening quote is at {@code a[quote]}, or null when it is not one this decoder
   * handles (the caller then asks the parser).
   *
   * @param limit one past the last byte of the body in {@code a}
   */
  String decode(byte[] a, int quote, int limit) {
    if (quote < 0 || quote >= limit || a[quote] != '"') return null;
    int start = quote + 1;
    int i = nextSpecial(a, start, limit);
    if (i < 0 || a[i] != '"' && a[i] != '\\') return null;
    if (a[i] == '"') {
      end = i + 1;
      return new String(a, start, i - start, StandardCharsets.US_ASCII);
    }
    // Escapes: never more bytes out than in, so the rest of the body bounds the output.
    byte[] out = SCRATCH.get();
    int n = 0;
    int run = start;
    while (true) {
      int len = i - run;
      if (n + len + 1 > out.length) out = grow(out, n + len + 1);
      System.arraycopy(a, run, out, n, len);
      n += len;
      if (a[i] == '"') break;
      if (a[i] != '\\' || i + 1 >= limit) return null;
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
          int c = hex4(a, i + 2, limit);
          if (c < 0 || c > 0x7F) return null;
          out[n++] = (byte) c;
          run = i + 6;
        }
        default -> {
          return null;
        }
      }
      i = nextSpecial(a, run, limit);
      if (i < 0) return null;
    }
    end = i + 1;
    String s = new String(out, 0, n, StandardCharsets.US_ASCII);
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
  private static int hex4(byte[] a, int i, int limit) {
    if (i + 4 > limit) return -1;
    int v = 0;
    for (int k = i; k < i + 4; k++) {
      int d = Character.digit(a[k], 16);
      if (d < 0) return -1;
      v = v << 4 | d;
    }
    return v;
  }

  /**
   * The index of the first byte in {@code a[i..limit)} that is {@code "}, {@code \\}, a control
   * character or not ASCII; -1 if there is none.
   */
  static int nextSpecial(byte[] a, int i, int limit) {
    for (; i + 8 <= limit; i += 8) {
      long w = (long) LONGS.get(a, i);
      long q = w ^ QUOTES;
      long s = w ^ BACKSLASHES;
      // Zero bytes of q (s) are quotes (backslashes); w - SPACES borrows at bytes below 0x20; the
      // high bit is set at non-ASCII bytes. A borrow can flag bytes above a true match, never
      // below, so the lowest flagged byte is always a true match.
      long m = ((q - ONES) & ~q | (s - ONES) & ~s | (w - SPACES) & ~w | w) & HIGHS;
      if (m != 0) return i + (Long.numberOfTrailingZeros(m) >>> 3);
    }
    for (; i < limit; i++) {
      byte c = a[i];
      if (c == '"' || c == '\\' || c < 0x20) return i;
    }
    return -1;
  }
}

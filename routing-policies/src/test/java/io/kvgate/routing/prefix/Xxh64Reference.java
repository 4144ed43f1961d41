package io.kvgate.routing.prefix;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A second, deliberately plain XXH64 over a byte array, written from the xxHash specification
 * (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), to check the streaming one.
 */
final class Xxh64Reference {

  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final long P3 = 0x165667B19E3779F9L;
  private static final long P4 = 0x85EBCA77C2B2AE63L;
  private static final long P5 = 0x27D4EB2F165667C5L;

  private Xxh64Reference() {}

  static long hash(byte[] input, long seed) {
    ByteBuffer buf = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN);
    int len = input.length;
    int p = 0;
    long h;
    if (len >= 32) {
      long v1 = seed + P1 + P2;
      long v2 = seed + P2;
      long v3 = seed;
      long v4 = seed - P1;
      while (p + 32 <= len) {
        v1 = round(v1, buf.getLong(p));
        v2 = round(v2, buf.getLong(p + 8));
        v3 = round(v3, buf.getLong(p + 16));
        v4 = round(v4, buf.getLong(p + 24));
        p += 32;
      }
      h =
          Long.rotateLeft(v1, 1)
              + Long.rotateLeft(v2, 7)
              + Long.rotateLeft(v3, 12)
              + Long.rotateLeft(v4, 18);
      h = merge(h, v1);
      h = merge(h, v2);
      h = merge(h, v3);
      h = merge(h, v4);
    } else {
      h = seed + P5;
    }
    h += len;
    while (p + 8 <= len) {
      h ^= round(0, buf.getLong(p));
      h = Long.rotateLeft(h, 27) * P1 + P4;
      p += 8;
    }
    if (p + 4 <= len) {
      h ^= (buf.getInt(p) & 0xFFFFFFFFL) * P1;
      h = Long.rotateLeft(h, 23) * P2 + P3;
      p += 4;
    }
    while (p < len) {
      h ^= (input[p] & 0xFFL) * P5;
      h = Long.rotateLeft(h, 11) * P1;
      p++;
    }
    h ^= h >>> 33;
    h *= P2;
    h ^= h >>> 29;
    h *= P3;
    h ^= h >>> 32;
    return h;
  }

  /**
   * UTF-16LE code units of {@code s[from, to)}, lone surrogates included (String.getBytes would
   * replace them).
   */
  static byte[] utf16le(String s, int from, int to) {
    byte[] b = new byte[(to - from) * 2];
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      b[(i - from) * 2] = (byte) c;
      b[(i - from) * 2 + 1] = (byte) (c >>> 8);
    }
    return b;
  }

  /** The chain the hasher should produce: block i hashed with block i-1's hash as its seed. */
  static long[] chain(String prompt, int blockSize, long seed) {
    long[] out = new long[prompt.length() / blockSize];
    long parent = seed;
    for (int i = 0; i < out.length; i++) {
      byte[] bytes = utf16le(prompt, i * blockSize, (i + 1) * blockSize);
      parent = hash(bytes, parent);
      out[i] = parent;
    }
    return out;
  }

  private static long round(long acc, long input) {
    return Long.rotateLeft(acc + input * P2, 31) * P1;
  }

  private static long merge(long h, long v) {
    h ^= round(0, v);
    return h * P1 + P4;
  }
}

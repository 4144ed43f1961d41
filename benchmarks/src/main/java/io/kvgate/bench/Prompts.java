package io.kvgate.bench;

import io.kvgate.routing.prefix.BlockChain;
import java.util.SplittableRandom;

/** Deterministic inputs shared by the benchmarks. */
final class Prompts {

  /** Characters per token assumed throughout (English text averages about four). */
  static final int CHARS_PER_TOKEN = 4;

  /** 16-token blocks, as vLLM's default block size. */
  static final int BLOCK_SIZE_CHARS = 16 * CHARS_PER_TOKEN;

  private Prompts() {}

  /** ASCII text of words and spaces (a compact Latin-1 {@link String}, the common case). */
  static String text(int chars, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    StringBuilder sb = new StringBuilder(chars);
    while (sb.length() < chars) {
      int word = 2 + random.nextInt(8);
      for (int i = 0; i < word && sb.length() < chars; i++)
        sb.append((char) ('a' + random.nextInt(26)));
      if (sb.length() < chars) sb.append(' ');
    }
    return sb.toString();
  }

  /** A chain of {@code blocks} random hashes. */
  static long[] randomHashes(int blocks, SplittableRandom random) {
    long[] h = new long[blocks];
    for (int i = 0; i < blocks; i++) h[i] = random.nextLong();
    return h;
  }

  static BlockChain chain(long[] hashes) {
    return new BlockChain(hashes, BLOCK_SIZE_CHARS, (long) hashes.length * BLOCK_SIZE_CHARS);
  }

  /** {@code prefix} followed by {@code rest}. */
  static long[] concat(long[] prefix, long[] rest) {
    long[] out = java.util.Arrays.copyOf(prefix, prefix.length + rest.length);
    System.arraycopy(rest, 0, out, prefix.length, rest.length);
    return out;
  }
}

package io.kvgate.sim;

import io.kvgate.routing.prefix.BlockHasher;
import java.util.Arrays;

/**
 * The hashes an engine's prefix cache is keyed by, and the hashes it reports in its KV events: for
 * a text prompt, kvgate's own chain, so that what the engine holds and what kvgate predicts for a
 * request are the same numbers.
 *
 * <p><b>Text prompts</b> (a chat rendered by {@link PromptTokenizer#renderChat}, a completion's
 * prompt string). Block {@code i}'s hash is {@link BlockHasher} over {@code 4 * blockSizeTokens}
 * chars, the chain seeded with {@code BlockHasher.seed(model, null, cacheSalt)}: exactly what
 * kvgate's {@code RoutingKeyer} computes for the same request (the engine serves its base model
 * only, so the adapter is always null). Because {@link PromptTokenizer} cuts text into fixed 4-char
 * tokens, token block {@code i} covers the same chars as kvgate's char block {@code i}.
 *
 * <p>One case differs by construction: a prompt whose length is not a multiple of 4 ends in a short
 * token, so its last token block can be full while its chars are not a full kvgate block (63 chars
 * are 16 tokens but not 64 chars). kvgate never hashes that block (it hashes full char blocks
 * only); the engine caches it, as vLLM caches every full token block, under a hash of its parent
 * and its chars from a separate domain ({@link #PARTIAL_BLOCK_DOMAIN}), which no full kvgate block
 * can equal (up to 64-bit collisions). It is reported like any other block; kvgate stores it and no
 * request ever looks it up.
 *
 * <p><b>Token-id prompts</b> ({@code "prompt": [1, 2, 3]}): kvgate cannot key them from text, so
 * the engine keeps its own chain over the ids ({@link #ofTokens}), seeded with the same seed; such
 * blocks never match a kvgate key.
 *
 * <p>Stateless and thread-safe.
 */
final class BlockKeys {

  /** The model-field value of the seed of a partial-char block's hash (see the class comment). */
  static final String PARTIAL_BLOCK_DOMAIN = "kvgate-sim:partial-char-block";

  private BlockKeys() {}

  /** The chain seed of a request: kvgate's {@code BlockHasher.seed(model, null, cacheSalt)}. */
  static long seed(String model, String cacheSalt) {
    return BlockHasher.seed(model, null, cacheSalt);
  }

  /**
   * The hashes of the full token blocks of {@code text} (tokens as {@link PromptTokenizer} cuts
   * them): kvgate's chain, plus the partial-char block described in the class comment when the
   * token blocks outnumber the char blocks.
   */
  static long[] ofText(CharSequence text, int blockSizeTokens, long seed) {
    int blockChars = PromptTokenizer.CHARS_PER_TOKEN * blockSizeTokens;
    long[] chain = new BlockHasher(blockChars).hash(seed, text).toArray();
    int tokenBlocks = PromptTokenizer.countTokens(text) / blockSizeTokens;
    if (tokenBlocks == chain.length) return chain;
    // at most one more: the token blocks cover fewer than 4 chars beyond the char blocks
    long parent = chain.length == 0 ? seed : chain[chain.length - 1];
    long[] out = Arrays.copyOf(chain, tokenBlocks);
    String tail = text.subSequence(chain.length * blockChars, text.length()).toString();
    out[chain.length] = BlockHasher.seed(PARTIAL_BLOCK_DOMAIN, Long.toHexString(parent), tail);
    return out;
  }

  /** Chained hashes of the full blocks of token ids {@code tokens}, seeded with {@code seed}. */
  static long[] ofTokens(int[] tokens, int blockSizeTokens, long seed) {
    int n = tokens.length / blockSizeTokens;
    long[] out = new long[n];
    long h = seed ^ 0x6a09e667f3bcc908L;
    for (int b = 0; b < n; b++) {
      for (int i = b * blockSizeTokens, e = i + blockSizeTokens; i < e; i++) {
        h = (h ^ tokens[i]) * 0x9E3779B97F4A7C15L;
        h ^= h >>> 29;
      }
      h ^= b; // position salt; the chain already binds the parent
      h *= 0xBF58476D1CE4E5B9L;
      h ^= h >>> 32;
      out[b] = h;
    }
    return out;
  }
}

package io.kvgate.replay;

import java.util.SplittableRandom;

/**
 * Turns Mooncake hash ids into prompt text, so that shared ids become shared prefixes: id {@code h}
 * always renders as the same {@code 512 × charsPerToken} characters (words drawn from a generator
 * seeded with {@code h}), and a prompt is its ids' texts back to back, the last cut to the record's
 * remaining tokens. With the simulated engine's tokenizer (a fixed number of characters a token)
 * one id is exactly {@code 512 / blockSizeTokens} engine blocks, so block boundaries line up.
 */
public final class HashIdText {

  private static final String[] WORDS = {
    "alpha", "bravo", "cargo", "delta", "ember", "fjord", "gamma", "harbor", "ivory", "jolt",
    "karma", "lumen", "mango", "nadir", "orbit", "pixel", "quartz", "radar", "sigma", "tundra"
  };

  private final int charsPerToken;

  public HashIdText(int charsPerToken) {
    this.charsPerToken = charsPerToken;
  }

  /** The full text of one id. */
  public String block(long id) {
    int chars = TraceRecord.TRACE_BLOCK_TOKENS * charsPerToken;
    StringBuilder sb = new StringBuilder(chars + 16);
    SplittableRandom r = new SplittableRandom(id * 0x9E3779B97F4A7C15L + 17);
    sb.append('[').append(id).append("] ");
    while (sb.length() < chars) sb.append(WORDS[r.nextInt(WORDS.length)]).append(' ');
    sb.setLength(chars);
    return sb.toString();
  }

  /** The prompt of a Mooncake record: {@code inputLength × charsPerToken} characters. */
  public String prompt(TraceRecord rec) {
    long total = (long) rec.inputLength() * charsPerToken;
    StringBuilder sb = new StringBuilder((int) total);
    for (long id : rec.hashIds()) {
      String b = block(id);
      int take = (int) Math.min(b.length(), total - sb.length());
      sb.append(b, 0, take);
    }
    return sb.toString();
  }
}

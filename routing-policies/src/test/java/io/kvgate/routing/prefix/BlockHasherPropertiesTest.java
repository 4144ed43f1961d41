package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Randomized properties of the hash chain, each over a few hundred cases drawn from seeded
 * generators (ASCII, Latin-1, CJK and surrogate pairs mixed); a failure names its seed.
 */
class BlockHasherPropertiesTest {

  /** Pieces, not chars: the emoji is a surrogate pair and stays whole (valid UTF-16 only). */
  private static final String[] ALPHABET = {
    "a",
    "b",
    " ",
    "c",
    "\n",
    "\u00e9",
    "\u00df",
    "\u4e2d",
    "\u6587",
    "\ud83d\ude00",
    "x",
    "y",
    "z",
    "0"
  };

  static String string(SplittableRandom r, int maxLength) {
    int n = r.nextInt(maxLength + 1);
    StringBuilder sb = new StringBuilder(n);
    while (sb.length() < n) {
      if (r.nextInt(4) == 0) sb.append((char) r.nextInt(0x20, 0x7f));
      else sb.append(ALPHABET[r.nextInt(ALPHABET.length)]);
    }
    return sb.toString();
  }

  interface Case {
    void run(SplittableRandom r);
  }

  static void forAll(int tries, long baseSeed, Case c) {
    for (int t = 0; t < tries; t++) {
      long seed = baseSeed + t;
      try {
        c.run(new SplittableRandom(seed));
      } catch (AssertionError e) {
        throw new AssertionError("case seed " + seed + ": " + e.getMessage(), e);
      }
    }
  }

  @Test
  void chainIsXxh64OfEachBlockSeededWithItsParent() {
    forAll(
        300,
        1_000,
        r -> {
          String prompt = string(r, r.nextBoolean() ? 400 : 2_500);
          int blockSize = 1 + r.nextInt(70);
          long seed = r.nextLong();
          assertArrayEquals(
              Xxh64Reference.chain(prompt, blockSize, seed),
              new BlockHasher(blockSize).hash(seed, prompt).toArray());
        });
  }

  /**
   * Any chunking, from a {@code String} or another {@code CharSequence}, gives the chain of the
   * whole string.
   */
  @Test
  void anyChunkingGivesTheSameChain() {
    forAll(
        300,
        2_000,
        r -> {
          int max = r.nextBoolean() ? 400 : 2_500;
          String prompt = string(r, max);
          int blockSize = 1 + r.nextInt(r.nextBoolean() ? 70 : 600);
          List<Integer> cuts = new ArrayList<>();
          for (int i = r.nextInt(13); i > 0; i--)
            cuts.add(Math.min(r.nextInt(max + 1), prompt.length()));
          cuts.sort(null);
          BlockHasher hasher = new BlockHasher(blockSize);
          BlockHasher.Builder b = hasher.start(7);
          int from = 0;
          for (int cut : cuts) {
            if (r.nextBoolean()) b.append(prompt, from, cut);
            else b.append(new StringBuilder(prompt), from, cut);
            from = cut;
          }
          b.append(prompt.subSequence(from, prompt.length()));
          BlockChain chunked = b.finish();
          assertEquals(hasher.hash(7, prompt), chunked);
          assertEquals(prompt.length(), chunked.totalUnits());
          assertEquals(prompt.length() / blockSize, chunked.length());
        });
  }

  @Test
  void leadingHashesAgreeExactlyOverTheCommonPrefix() {
    forAll(
        300,
        3_000,
        r -> {
          String common = string(r, 300);
          String a = common + string(r, 200);
          String b = common + string(r, 200);
          int blockSize = 1 + r.nextInt(40);
          int shared = 0;
          while (shared < Math.min(a.length(), b.length()) && a.charAt(shared) == b.charAt(shared))
            shared++;
          BlockHasher hasher = new BlockHasher(blockSize);
          BlockChain ca = hasher.hash(1, a);
          BlockChain cb = hasher.hash(1, b);
          for (int i = 0; i < Math.min(ca.length(), cb.length()); i++) {
            if ((i + 1) * blockSize <= shared) assertEquals(ca.hash(i), cb.hash(i), "block " + i);
            else assertNotEquals(ca.hash(i), cb.hash(i), "block " + i);
          }
        });
  }
}

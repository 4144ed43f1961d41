package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BlockHasherTest {

  private static final BlockHasher HASHER = new BlockHasher(64);
  private static final long SEED = BlockHasher.seed("llama", null, null);

  @Test
  void referenceMatchesPublishedXxh64Vectors() {
    assertEquals(0xEF46DB3751D8E999L, Xxh64Reference.hash(new byte[0], 0));
    assertEquals(
        0xD24EC4F1A98C6E5BL, Xxh64Reference.hash("a".getBytes(StandardCharsets.US_ASCII), 0));
    assertEquals(
        0x44BC2CF5AD770999L, Xxh64Reference.hash("abc".getBytes(StandardCharsets.US_ASCII), 0));
  }

  @Test
  void blockHashesAreXxh64OfUtf16BytesSeededWithTheParent() {
    String prompt = text(1000, 7);
    for (int blockSize : new int[] {1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 64, 100}) {
      BlockChain chain = new BlockHasher(blockSize).hash(SEED, prompt);
      assertArrayEquals(
          Xxh64Reference.chain(prompt, blockSize, SEED), chain.toArray(), "blockSize " + blockSize);
    }
  }

  @Test
  void onlyFullBlocksAreHashedButAllCharactersCounted() {
    BlockChain chain = HASHER.hash(SEED, text(64 * 3 + 10, 1));
    assertEquals(3, chain.length());
    assertEquals(64 * 3 + 10, chain.totalUnits());
    assertEquals(64, chain.blockSize());
    BlockChain shortPrompt = HASHER.hash(SEED, "hello");
    assertEquals(0, shortPrompt.length());
    assertEquals(5, shortPrompt.totalUnits());
  }

  @Test
  void equalPrefixesGiveEqualLeadingHashes() {
    String shared = text(64 * 5, 2);
    BlockChain a = HASHER.hash(SEED, shared + text(300, 3));
    BlockChain b = HASHER.hash(SEED, shared + text(300, 4));
    for (int i = 0; i < 5; i++) assertEquals(a.hash(i), b.hash(i));
    for (int i = 5; i < Math.min(a.length(), b.length()); i++)
      assertNotEquals(a.hash(i), b.hash(i));
  }

  @Test
  void changingBlockKChangesHashesFromKOnly() {
    String base = text(64 * 8, 5);
    BlockChain original = HASHER.hash(SEED, base);
    for (int k = 0; k < 8; k++) {
      char[] edited = base.toCharArray();
      edited[k * 64 + 13] ^= 1;
      BlockChain changed = HASHER.hash(SEED, new String(edited));
      for (int i = 0; i < k; i++) assertEquals(original.hash(i), changed.hash(i), "block " + i);
      for (int i = k; i < 8; i++) assertNotEquals(original.hash(i), changed.hash(i), "block " + i);
    }
  }

  @Test
  void chunkingDoesNotChangeTheChain() {
    String prompt = text(5000, 9);
    BlockChain whole = HASHER.hash(SEED, prompt);
    BlockChain pieces = HASHER.start(SEED).append("abc").append("def").append(prompt).finish();
    BlockChain together = HASHER.start(SEED).append("abcdef" + prompt).finish();
    assertEquals(together, pieces);
    SplittableRandom random = new SplittableRandom(42);
    for (int trial = 0; trial < 50; trial++) {
      BlockHasher.Builder b = HASHER.start(SEED);
      int i = 0;
      while (i < prompt.length()) {
        int next = Math.min(prompt.length(), i + random.nextInt(0, 90));
        if (random.nextBoolean()) {
          b.append(prompt, i, next);
        } else {
          for (int j = i; j < next; j++) b.append(prompt.charAt(j));
        }
        i = next;
      }
      assertEquals(whole, b.finish());
    }
  }

  @Test
  void appendRangeReadsOnlyThatRange() {
    String prompt = text(700, 11);
    BlockChain viaRange =
        HASHER.start(SEED).append("xx" + prompt + "yy", 2, 2 + prompt.length()).finish();
    assertEquals(HASHER.hash(SEED, prompt), viaRange);
    assertThrows(IndexOutOfBoundsException.class, () -> HASHER.start(SEED).append("abc", 2, 5));
  }

  @Test
  void seedSeparatesModelAdapterAndCacheSalt() {
    String prompt = text(64 * 4, 13);
    long[] seeds = {
      BlockHasher.seed("llama", null, null),
      BlockHasher.seed("qwen", null, null),
      BlockHasher.seed("llama", "sql-lora", null),
      BlockHasher.seed("llama", null, "tenant-a"),
      BlockHasher.seed("llama", "", null),
      BlockHasher.seed("llama", null, ""),
      BlockHasher.seed(null, null, null),
      BlockHasher.seed("llamaa", null, null),
      BlockHasher.seed("lla", "ma", null),
    };
    Set<Long> seen = new HashSet<>();
    for (long s : seeds) {
      BlockChain chain = HASHER.hash(s, prompt);
      for (int i = 0; i < chain.length(); i++) {
        assertEquals(true, seen.add(chain.hash(i)), "hash collision between seeds");
      }
    }
    assertEquals(BlockHasher.seed("llama", "a", "b"), BlockHasher.seed("llama", "a", "b"));
  }

  @Test
  void builderIsSingleUse() {
    BlockHasher.Builder b = HASHER.start(SEED).append("x");
    b.finish();
    assertThrows(IllegalStateException.class, () -> b.append("y"));
    assertThrows(IllegalStateException.class, b::finish);
    assertThrows(IllegalArgumentException.class, () -> new BlockHasher(0));
  }

  @Test
  void presizedBuilderGivesTheSameChain() {
    String prompt = text(10_000, 17);
    assertEquals(
        HASHER.start(SEED).append(prompt).finish(), HASHER.start(SEED, 10).append(prompt).finish());
  }

  @Test
  void rendererWritesTheSameTextToBothSinks() {
    StringBuilder text = new StringBuilder();
    ChatPromptRenderer.renderMessage(text, "system", "You are terse.");
    ChatPromptRenderer.beginMessage(text, "user");
    ChatPromptRenderer.appendContent(text, "Describe ");
    ChatPromptRenderer.appendContent(text, "https://example.com/cat.png");
    ChatPromptRenderer.endMessage(text);
    ChatPromptRenderer.renderMessage(text, "assistant", null);
    ChatPromptRenderer.renderGenerationPrompt(text);
    assertEquals(
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
            + "<|im_start|>user\nDescribe https://example.com/cat.png<|im_end|>\n"
            + "<|im_start|>assistant\n<|im_end|>\n"
            + "<|im_start|>assistant\n",
        text.toString());

    BlockHasher small = new BlockHasher(8);
    BlockHasher.Builder b = small.start(SEED);
    ChatPromptRenderer.renderMessage(b, "system", "You are terse.");
    ChatPromptRenderer.beginMessage(b, "user");
    ChatPromptRenderer.appendContent(b, "Describe ");
    ChatPromptRenderer.appendContent(b, "https://example.com/cat.png");
    ChatPromptRenderer.endMessage(b);
    ChatPromptRenderer.renderMessage(b, "assistant", null);
    ChatPromptRenderer.renderGenerationPrompt(b);
    assertEquals(small.hash(SEED, text), b.finish());
  }

  /** Pseudo-random text with some non-ASCII characters, so the high bytes of chars matter. */
  static String text(int length, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    StringBuilder sb = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      int r = random.nextInt(100);
      sb.append(
          r < 90
              ? (char) ('a' + random.nextInt(26))
              : r < 97 ? ' ' : (char) random.nextInt(0x80, 0xD7FF));
    }
    return sb.toString();
  }
}

package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.StringLength;

class BlockHasherPropertiesTest {

  @Property(tries = 300)
  void chainIsXxh64OfEachBlockSeededWithItsParent(
      @ForAll @StringLength(max = 400) String prompt,
      @ForAll @IntRange(min = 1, max = 70) int blockSize,
      @ForAll long seed) {
    assertArrayEquals(Xxh64Reference.chain(prompt, blockSize, seed),
        new BlockHasher(blockSize).hash(seed, prompt).toArray());
  }

  @Property(tries = 300)
  void anyChunkingGivesTheSameChain(
      @ForAll @StringLength(max = 400) String prompt,
      @ForAll @Size(max = 12) List<@IntRange(min = 0, max = 400) Integer> cuts,
      @ForAll @IntRange(min = 1, max = 70) int blockSize) {
    BlockHasher hasher = new BlockHasher(blockSize);
    BlockHasher.Builder b = hasher.start(7);
    int from = 0;
    for (int cut : cuts.stream().map(c -> Math.min(c, prompt.length())).sorted().toList()) {
      b.append(prompt, from, cut);
      from = cut;
    }
    b.append(prompt.subSequence(from, prompt.length()));
    BlockChain chunked = b.finish();
    assertEquals(hasher.hash(7, prompt), chunked);
    assertEquals(prompt.length(), chunked.totalUnits());
    assertEquals(prompt.length() / blockSize, chunked.length());
  }

  @Property(tries = 300)
  void leadingHashesAgreeExactlyOverTheCommonPrefix(
      @ForAll @StringLength(max = 300) String common,
      @ForAll @StringLength(max = 200) String tailA,
      @ForAll @StringLength(max = 200) String tailB,
      @ForAll @IntRange(min = 1, max = 40) int blockSize) {
    String a = common + tailA;
    String b = common + tailB;
    int shared = 0;
    while (shared < Math.min(a.length(), b.length()) && a.charAt(shared) == b.charAt(shared)) shared++;
    BlockHasher hasher = new BlockHasher(blockSize);
    BlockChain ca = hasher.hash(1, a);
    BlockChain cb = hasher.hash(1, b);
    for (int i = 0; i < Math.min(ca.length(), cb.length()); i++) {
      if ((i + 1) * blockSize <= shared) {
        assertEquals(ca.hash(i), cb.hash(i), "block " + i);
      } else {
        assertNotEquals(ca.hash(i), cb.hash(i), "block " + i);
      }
    }
  }
}

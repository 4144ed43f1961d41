package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The cache must be invisible: any sequence of segments, some seen before in other positions, under
 * other seeds and block sizes, gives the chain a plain builder gives.
 */
class SegmentHashCacheTest {

  /** A pool of segments, long and short, some sharing long prefixes or equal lengths. */
  static List<String> pool(SplittableRandom r) {
    List<String> pool = new ArrayList<>();
    String base =
        BlockHasherPropertiesTest.string(r, 3_000) + "x".repeat(SegmentHashCache.MIN_CHARS);
    pool.add(base);
    pool.add(base.substring(0, base.length() - 1) + "y"); // same length, same samples but the last
    pool.add(base + base);
    for (int i = 0; i < 6; i++) pool.add(BlockHasherPropertiesTest.string(r, i < 3 ? 200 : 4_000));
    return pool;
  }

  @Test
  void chainsAreIdenticalWithAndWithoutTheCache() {
    SegmentHashCache cache = new SegmentHashCache(64L << 20);
    BlockHasherPropertiesTest.forAll(
        200,
        50_000,
        r -> {
          List<String> pool = pool(r);
          BlockHasher hasher = new BlockHasher(1 + r.nextInt(r.nextBoolean() ? 70 : 700));
          for (int request = 0; request < 6; request++) {
            long seed = r.nextInt(3);
            BlockHasher.Builder plain = hasher.start(seed);
            BlockHasher.Builder cached = hasher.start(seed);
            for (int m = r.nextInt(6); m >= 0; m--) {
              // Fresh String objects: a request's strings are never the cached instances.
              String text = new String(pool.get(r.nextInt(pool.size())).toCharArray());
              String role =
                  switch (r.nextInt(4)) {
                    case 0 -> "user";
                    case 1 -> "assistant";
                    case 2 -> "system";
                    default -> "tool";
                  };
              if (r.nextBoolean()) {
                ChatPromptRenderer.renderMessage(plain, role, text);
                ChatPromptRenderer.renderMessage(cached, role, text, cache);
              } else {
                ChatPromptRenderer.beginMessage(plain, role);
                ChatPromptRenderer.beginMessage(cached, role);
                plain.append(text);
                cache.append(cached, text);
                ChatPromptRenderer.endMessage(plain);
                ChatPromptRenderer.endMessage(cached);
              }
            }
            BlockChain want = plain.finish();
            BlockChain got = cached.finish();
            assertEquals(want, got);
            assertEquals(want.totalUnits(), got.totalUnits());
          }
        });
    assertTrue(cache.hits() > 0, "repeated segments were replayed");
    assertTrue(cache.misses() > 0);
  }

  @Test
  void aRepeatedConversationIsHashedOnceAndReplayedAfter() {
    SegmentHashCache cache = new SegmentHashCache(16L << 20);
    SplittableRandom r = new SplittableRandom(3);
    String system = BlockHasherPropertiesTest.string(r, 0) + "s".repeat(8_000);
    String turn = "t".repeat(2_000);
    BlockHasher hasher = new BlockHasher(64);
    for (int i = 0; i < 3; i++) {
      BlockHasher.Builder b = hasher.start(42);
      cache.append(b, new String(system.toCharArray()));
      cache.append(b, new String(turn.toCharArray()));
      cache.append(b, "short new message");
      assertEquals(hasher.hash(42, system + turn + "short new message"), b.finish());
    }
    assertEquals(2, cache.misses());
    assertEquals(4, cache.hits());
    assertEquals(2 * 10_000, cache.hitChars());
  }

  @Test
  void retainedBytesStayBounded() {
    SegmentHashCache cache = new SegmentHashCache(200_000);
    BlockHasher hasher = new BlockHasher(64);
    SplittableRandom r = new SplittableRandom(9);
    for (int i = 0; i < 200; i++) {
      cache.append(
          hasher.start(i),
          BlockHasherPropertiesTest.string(r, 0) + Integer.toString(i).repeat(5_000));
    }
    assertTrue(cache.retainedBytes() <= 200_000, "retained " + cache.retainedBytes());
  }

  @Test
  void rejectsANonPositiveBound() {
    assertThrows(IllegalArgumentException.class, () -> new SegmentHashCache(0));
  }
}

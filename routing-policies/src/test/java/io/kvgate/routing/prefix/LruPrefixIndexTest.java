package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LruPrefixIndexTest {

  private static final long SECOND = 1_000_000_000L;
  private static final long T0 = 123 * SECOND;
  private static final LruPrefixIndex.Settings SETTINGS =
      LruPrefixIndex.Settings.defaults()
          .withDefaultCapacityBlocks(1000)
          .withTtl(Duration.ofSeconds(60));

  /** A chain whose block i is {@code base + i} (distinct bases give disjoint chains). */
  static BlockChain run(long base, int blocks) {
    long[] h = new long[blocks];
    for (int i = 0; i < blocks; i++) h[i] = base + i;
    return new BlockChain(h, 16, blocks * 16L);
  }

  static BlockChain chain(long... hashes) {
    return new BlockChain(hashes, 16, hashes.length * 16L);
  }

  @Test
  void matchCountsLeadingBlocksPerSlot() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    index.recordRouted(0, chain(1, 2, 3, 4), T0);
    index.recordRouted(2, chain(1, 2, 9), T0);
    PrefixMatch m = index.match(chain(1, 2, 3, 4, 5), T0);
    assertEquals(4, m.matched(0));
    assertEquals(0, m.matched(1));
    assertEquals(2, m.matched(2));
    assertEquals(0, m.matched(200));
    assertEquals(5, m.promptBlocks());
    assertEquals(4, m.maxMatched());
    assertEquals(0, index.match(chain(7, 1, 2), T0).maxMatched(), "only leading blocks count");
  }

  @Test
  void emptyIndexAndEmptyChainMatchNothing() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    assertEquals(0, index.match(chain(1, 2), T0).maxMatched());
    index.recordRouted(0, chain(1, 2), T0);
    PrefixMatch none = index.match(BlockChain.EMPTY, T0);
    assertEquals(0, none.maxMatched());
    assertEquals(0, none.promptBlocks());
  }

  @Test
  void lruEvictsLeastRecentlyUsedAndKeepsTheChainHead() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(4));
    index.recordRouted(0, chain(10, 11, 12), T0);
    assertArrayEquals(new long[] {10, 11, 12}, index.blocksMostRecentFirst(0), "head most recent");
    index.recordRouted(0, chain(20, 21), T0 + SECOND);
    // Capacity 4: block 12 (the tail of the older chain) went first.
    assertArrayEquals(new long[] {20, 21, 10, 11}, index.blocksMostRecentFirst(0));
    index.recordRouted(0, chain(10), T0 + 2 * SECOND);
    assertArrayEquals(new long[] {10, 20, 21, 11}, index.blocksMostRecentFirst(0));
    index.recordRouted(0, chain(30), T0 + 3 * SECOND);
    assertArrayEquals(new long[] {30, 10, 20, 21}, index.blocksMostRecentFirst(0));
    assertEquals(1, index.match(chain(10, 11), T0 + 3 * SECOND).matched(0));
    assertEquals(4, index.heldBlocks(0));
  }

  @Test
  void aWriteOfManyThousandBlocksEvictsWithinItself() {
    // 12,000 inserts and 11,700 evictions in one write: a block is added and removed again within
    // one write. Another endpoint shares the first blocks.
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(300));
    index.recordRouted(1, run(5_000, 50), T0);
    index.recordRouted(0, run(5_000, 12_000), T0);
    assertEquals(300, index.heldBlocks(0));
    assertEquals(300, index.match(run(5_000, 12_000), T0).matched(0));
    assertEquals(50, index.match(run(5_000, 12_000), T0).matched(1));
    assertEquals(350, index.size());
    index.setCapacityBlocks(0, 0);
    assertEquals(50, index.size());
    assertEquals(0, index.match(run(5_000, 12_000), T0).matched(0));
    assertEquals(
        50, index.match(run(5_000, 12_000), T0).matched(1), "the other endpoint keeps its own");
  }

  @Test
  void chainLongerThanCapacityKeepsItsFirstBlocks() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(5));
    index.recordRouted(0, run(100, 20), T0);
    assertEquals(5, index.match(run(100, 20), T0).matched(0));
    assertEquals(5, index.heldBlocks(0));
  }

  @Test
  void loweringCapacityEvictsAtOnce() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    index.recordRouted(1, run(100, 50), T0);
    index.setCapacityBlocks(1, 10);
    assertEquals(10, index.heldBlocks(1));
    assertEquals(10, index.capacityBlocks(1));
    assertEquals(10, index.match(run(100, 50), T0).matched(1));
    index.setCapacityBlocks(1, 0);
    assertEquals(0, index.heldBlocks(1));
    index.recordRouted(1, run(100, 50), T0);
    assertEquals(0, index.heldBlocks(1), "a zero-capacity endpoint caches nothing");
    assertEquals(1000, index.capacityBlocks(7), "default until set");
    assertThrows(IllegalArgumentException.class, () -> index.setCapacityBlocks(1, -1));
  }

  @Test
  void entriesExpireAfterTheTtlUnlessTouched() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    index.recordRouted(0, chain(1, 2, 3, 4), T0);
    index.recordRouted(0, chain(1, 2), T0 + 50 * SECOND);
    assertEquals(4, index.match(chain(1, 2, 3, 4), T0 + 59 * SECOND).matched(0));
    // Blocks 3 and 4 were last touched at T0; blocks 1 and 2 at T0 + 50 s.
    assertEquals(2, index.match(chain(1, 2, 3, 4), T0 + 61 * SECOND).matched(0));
    assertEquals(0, index.match(chain(1, 2, 3, 4), T0 + 111 * SECOND).matched(0));
    // The next write sweeps the expired blocks out of memory.
    index.recordRouted(0, run(50, 1), T0 + 200 * SECOND);
    assertEquals(1, index.heldBlocks(0));
    assertEquals(1, index.size());
  }

  @Test
  void ttlWorksAcrossNegativeNanoTimes() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    long t = -5 * SECOND;
    index.recordRouted(0, run(1, 3), t);
    assertEquals(3, index.match(run(1, 3), t + 30 * SECOND).matched(0));
    assertEquals(0, index.match(run(1, 3), t + 61 * SECOND).matched(0));
  }

  @Test
  void everySlotHoldingOneChainMatchesAndForgetsItAlone() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    BlockChain system = run(500, 8);
    for (int s = 0; s < LruPrefixIndex.MAX_SLOTS; s++) index.recordRouted(s, system, T0);
    PrefixMatch all = index.match(system, T0);
    for (int s = 0; s < LruPrefixIndex.MAX_SLOTS; s++) assertEquals(8, all.matched(s));
    for (int s = 0; s < LruPrefixIndex.MAX_SLOTS - 3; s++) index.setCapacityBlocks(s, 0);
    PrefixMatch few = index.match(system, T0);
    assertEquals(0, few.matched(100));
    assertEquals(8, few.matched(253));
    assertEquals(8, few.matched(255));
    assertEquals(24, index.size());
  }

  @Test
  void zeroHashIsAnOrdinaryBlock() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    index.recordRouted(0, chain(0, 7), T0);
    assertEquals(2, index.match(chain(0, 7), T0).matched(0));
    assertEquals(1, index.match(chain(0, 8), T0).matched(0));
    assertEquals(0, index.match(chain(0, 7), T0).matched(1));
  }

  @Test
  void insertionPressureCountsNewBlocksAndDecays() {
    LruPrefixIndex index =
        new LruPrefixIndex(SETTINGS.withInsertionHalfLife(Duration.ofSeconds(10)));
    index.recordRouted(0, run(1, 100), T0);
    index.recordRouted(0, run(1, 100), T0);
    assertEquals(100, index.recentInsertedBlocks(0, T0), 1e-9, "hits add no pressure");
    assertEquals(50, index.recentInsertedBlocks(0, T0 + 10 * SECOND), 1e-9);
    index.recordRouted(0, run(1000, 10), T0 + 10 * SECOND);
    assertEquals(30, index.recentInsertedBlocks(0, T0 + 20 * SECOND), 1e-9);
    assertEquals(0, index.recentInsertedBlocks(1, T0));
  }

  /**
   * Each endpoint's LRU list threads through the cells of its table, which move when the table
   * grows, shrinks or backward-shifts on a delete, each move re-pointing the neighbours; the shared
   * matches read the same tables. Random writes of 40 endpoints sharing blocks, through rounds of
   * growth to ~60,000 entries and trims to a few blocks, must leave every list in the order the
   * textbook LRU gives, each of its blocks matched.
   */
  @Test
  void listsKeepTheirOrderThroughGrowthShrinkingAndTrims() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(1500));
    int slots = 40;
    java.util.List<java.util.LinkedHashMap<Long, Boolean>> model = new java.util.ArrayList<>();
    for (int s = 0; s < slots; s++) model.add(new java.util.LinkedHashMap<>(16, 0.75f, true));
    java.util.SplittableRandom random = new java.util.SplittableRandom(42);
    for (int round = 0; round < 3; round++) {
      for (int n = 0; n < 4000; n++) {
        int s = random.nextInt(slots);
        // Chains of a small key space, so endpoints share blocks and touches hit held ones.
        long base = 1 + 1000L * random.nextInt(60);
        int length = 1 + random.nextInt(40);
        BlockChain c = run(base, length);
        index.recordRouted(s, c, T0);
        java.util.LinkedHashMap<Long, Boolean> lru = model.get(s);
        for (int i = length - 1; i >= 0; i--) {
          lru.put(c.hash(i), Boolean.TRUE);
          if (lru.size() > 1500) lru.remove(lru.keySet().iterator().next());
        }
      }
      assertListsMatch(index, model);
      // Shrink: half the endpoints drop to a few blocks, and their tables shrink under them.
      for (int s = 0; s < slots; s += 2) {
        index.setCapacityBlocks(s, 3);
        java.util.LinkedHashMap<Long, Boolean> lru = model.get(s);
        while (lru.size() > 3) lru.remove(lru.keySet().iterator().next());
      }
      assertListsMatch(index, model);
      for (int s = 0; s < slots; s += 2) index.setCapacityBlocks(s, 1500);
    }
  }

  private static void assertListsMatch(
      LruPrefixIndex index, java.util.List<java.util.LinkedHashMap<Long, Boolean>> model) {
    long total = 0;
    for (int s = 0; s < model.size(); s++) {
      java.util.List<Long> expected = new java.util.ArrayList<>(model.get(s).keySet());
      java.util.Collections.reverse(expected);
      long[] actual = index.blocksMostRecentFirst(s);
      assertEquals(expected.size(), actual.length, "size of slot " + s);
      for (int i = 0; i < actual.length; i++) {
        assertEquals(expected.get(i), actual[i], "slot " + s + " position " + i);
      }
      for (long h : actual) {
        assertEquals(1, index.match(chain(h), T0).matched(s), "holders of " + h + " list " + s);
      }
      total += actual.length;
    }
    assertEquals(total, index.size());
  }

  @Test
  void memoryIsReportedAndShrinksWhenEmptied() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(100_000));
    long empty = index.estimatedBytes();
    index.recordRouted(0, run(1, 50_000), T0);
    long full = index.estimatedBytes();
    assertTrue(full > empty + 50_000 * 20L, "full " + full);
    assertTrue(full < 50_000 * 40L, "full " + full);
    index.setCapacityBlocks(0, 0);
    assertTrue(index.estimatedBytes() < full / 10);
  }

  @Test
  void rejectsSlotsOutsideTheFleetLimitAndBadSettings() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    assertThrows(IllegalArgumentException.class, () -> index.recordRouted(256, run(1, 1), T0));
    assertThrows(IllegalArgumentException.class, () -> index.heldBlocks(-1));
    assertThrows(IllegalArgumentException.class, () -> SETTINGS.withTtl(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> SETTINGS.withDefaultCapacityBlocks(-1));
  }

  // ---- precise feed ----

  @Test
  void blocksStoredIndexesTheRangeLikeRecordRouted() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(4));
    long[] event = {99, 10, 11, 12, 98};
    index.blocksStored(0, event, 1, 4, T0);
    assertArrayEquals(new long[] {10, 11, 12}, index.blocksMostRecentFirst(0), "parent first");
    assertEquals(3, index.match(chain(10, 11, 12, 13), T0).matched(0));
    assertEquals(3, index.recentInsertedBlocks(0, T0), 1e-9);
    index.blocksStored(0, new long[] {10, 11, 20}, 0, 3, T0);
    assertArrayEquals(new long[] {10, 11, 20, 12}, index.blocksMostRecentFirst(0));
    assertEquals(4, index.recentInsertedBlocks(0, T0), 1e-9, "held blocks add none");
    index.blocksStored(0, new long[] {30, 31}, 0, 2, T0 + 2 * SECOND);
    assertEquals(4, index.heldBlocks(0), "capacity bounds the precise feed too");
    assertArrayEquals(new long[] {30, 31, 10, 11}, index.blocksMostRecentFirst(0));
    index.blocksStored(0, event, 2, 2, T0);
    assertEquals(4, index.heldBlocks(0), "an empty range is a no-op");
  }

  @Test
  void blocksRemovedForgetsHeldBlocksAndIgnoresUnknownOnes() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    index.blocksStored(0, new long[] {1, 2, 3, 4, 5}, 0, 5, T0);
    index.recordRouted(1, chain(1, 2, 3), T0);
    index.blocksRemoved(0, new long[] {5, 4, 77}, 0, 3);
    assertEquals(3, index.heldBlocks(0));
    assertEquals(3, index.match(chain(1, 2, 3, 4, 5), T0).matched(0));
    index.blocksRemoved(7, new long[] {1}, 0, 1);
    assertEquals(0, index.heldBlocks(7), "a slot never written stays empty");
    index.blocksRemoved(0, new long[] {1, 2, 3}, 0, 3);
    assertEquals(0, index.heldBlocks(0));
    assertEquals(3, index.heldBlocks(1), "slot 1 still holds them");
    assertEquals(3, index.match(chain(1, 2, 3), T0).matched(1));
  }

  @Test
  void removingAnInnerBlockEndsTheMatchThereForBothMatchModes() {
    for (boolean exact : new boolean[] {false, true}) {
      LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withExactMatch(exact));
      BlockChain c = run(1_000, 64);
      index.blocksStored(0, c.toArray(), 0, 64, T0);
      index.recordRouted(1, c, T0);
      // Block 33 goes while its descendants stay: a galloping probe of block 32 or 64 alone would
      // still see slot 0 holding them.
      index.blocksRemoved(0, new long[] {c.hash(33)}, 0, 1);
      PrefixMatch m = index.match(c, T0);
      assertEquals(33, m.matched(0), "exactMatch=" + exact);
      assertEquals(64, m.matched(1), "exactMatch=" + exact);
    }
  }

  @Test
  void clearEndpointForgetsEverythingTheSlotHolds() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS.withDefaultCapacityBlocks(100_000));
    index.blocksStored(0, run(1, 50_000).toArray(), 0, 50_000, T0);
    index.recordRouted(1, run(1, 10), T0);
    long before = index.estimatedBytes();
    assertEquals(50_000, index.clearEndpoint(0));
    assertEquals(0, index.heldBlocks(0));
    assertEquals(10, index.size());
    assertEquals(0, index.match(run(1, 20), T0).matched(0));
    assertEquals(10, index.match(run(1, 20), T0).matched(1));
    assertTrue(index.estimatedBytes() < before / 10, "its table is released");
    assertEquals(0, index.clearEndpoint(0));
    assertEquals(0, index.clearEndpoint(9), "a slot never written");
    index.blocksStored(0, run(1, 5).toArray(), 0, 5, T0);
    assertEquals(5, index.match(run(1, 20), T0).matched(0), "the slot fills again after");
  }

  @Test
  void setExpiresFalseKeepsBlocksPastTheTtlAndTurningItBackOnResumesExpiry() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    assertTrue(index.expires(0));
    index.setExpires(0, false);
    index.blocksStored(0, new long[] {1, 2, 3, 4}, 0, 4, T0);
    index.blocksStored(0, new long[] {1, 2}, 0, 2, T0 + 50 * SECOND);
    index.recordRouted(1, chain(1, 2, 3, 4), T0);
    assertEquals(4, index.match(chain(1, 2, 3, 4), T0 + 500 * SECOND).matched(0));
    assertEquals(0, index.match(chain(1, 2, 3, 4), T0 + 500 * SECOND).matched(1));
    index.blocksStored(0, new long[] {9}, 0, 1, T0 + 500 * SECOND);
    assertEquals(5, index.heldBlocks(0), "writes do not sweep either");
    index.setExpires(0, true);
    // Blocks 3, 4 touched at T0, blocks 1, 2 at T0 + 50 s, block 9 at T0 + 500 s.
    assertEquals(2, index.match(chain(1, 2, 3, 4), T0 + 100 * SECOND).matched(0));
    assertEquals(0, index.match(chain(1, 2, 3, 4), T0 + 111 * SECOND).matched(0));
    index.blocksStored(0, new long[] {8}, 0, 1, T0 + 111 * SECOND);
    assertArrayEquals(new long[] {8, 9}, index.blocksMostRecentFirst(0), "the next write sweeps");
  }

  @Test
  void preciseFeedRejectsBadRanges() {
    LruPrefixIndex index = new LruPrefixIndex(SETTINGS);
    long[] h = {1, 2, 3};
    assertThrows(IndexOutOfBoundsException.class, () -> index.blocksStored(0, h, 2, 4, T0));
    assertThrows(IndexOutOfBoundsException.class, () -> index.blocksStored(0, h, 2, 1, T0));
    assertThrows(IndexOutOfBoundsException.class, () -> index.blocksRemoved(0, h, -1, 1));
    assertThrows(IllegalArgumentException.class, () -> index.blocksStored(256, h, 0, 1, T0));
    assertThrows(IllegalArgumentException.class, () -> index.clearEndpoint(-1));
    assertThrows(IllegalArgumentException.class, () -> index.setExpires(256, false));
  }
}

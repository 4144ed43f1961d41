package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class KvBlockPoolTest {

  private static long[] hashes(int seed, int n) {
    int[] tokens = new int[n * 4];
    for (int i = 0; i < tokens.length; i++) tokens[i] = seed * 1000 + i;
    return BlockKeys.ofTokens(tokens, 4, 0);
  }

  @Test
  void chainedHashDependsOnEveryEarlierBlock() {
    int[] a = {1, 2, 3, 4, 5, 6, 7, 8};
    int[] b = {9, 2, 3, 4, 5, 6, 7, 8};
    long[] ha = BlockKeys.ofTokens(a, 4, 0), hb = BlockKeys.ofTokens(b, 4, 0);
    assertNotEquals(ha[1], hb[1], "same second block, different parent");
    assertArrayEquals(ha, BlockKeys.ofTokens(a.clone(), 4, 0));
    assertEquals(1, BlockKeys.ofTokens(new int[7], 4, 0).length, "only full blocks are hashed");
  }

  @Test
  void hitIsLongestLeadingRunOfCommittedBlocks() {
    KvBlockPool pool = new KvBlockPool(16);
    long[] h = hashes(1, 4);
    int[] ids = pool.allocate(h, 0, 4);
    pool.commitChain(ids, h, 0, 3); // block 3 never computed
    pool.free(ids);
    assertEquals(3, pool.match(h, 4));
    assertEquals(2, pool.match(h, 2), "search limited by maxBlocks");
    long[] other = hashes(2, 4);
    assertEquals(0, pool.match(other, 4));
  }

  @Test
  void evictsLeastRecentlyFreedAndPrefixHeadLast() {
    KvBlockPool pool = new KvBlockPool(4);
    long[] a = hashes(1, 4);
    int[] ids = pool.allocate(a, 0, 4);
    pool.commitChain(ids, a, 0, 4);
    pool.free(ids);
    assertEquals(4, pool.cachedBlocks());
    // a fresh 1-block request evicts a's tail block first (freed first, in reverse order)
    int[] one = pool.allocate(hashes(2, 1), 0, 1);
    assertNotNull(one);
    assertTrue(pool.contains(a[0]) && pool.contains(a[1]) && pool.contains(a[2]));
    assertFalse(pool.contains(a[3]));
    assertEquals(3, pool.match(a, 4));
  }

  @Test
  void pinnedBlocksAreNeverEvictedAndCapacityIsEnforced() {
    KvBlockPool pool = new KvBlockPool(4);
    long[] a = hashes(1, 2);
    int[] held = pool.allocate(a, 0, 2);
    pool.commitChain(held, a, 0, 2);
    assertEquals(0.5, pool.usage(), 1e-9);
    assertNull(pool.allocate(hashes(2, 3), 0, 3), "only 2 free blocks");
    int[] two = pool.allocate(hashes(3, 2), 0, 2);
    assertNotNull(two);
    assertTrue(pool.contains(a[0]) && pool.contains(a[1]), "pinned blocks survive");
    assertEquals(1.0, pool.usage(), 1e-9);
  }

  @Test
  void hitPinsCachedBlocksAndDuplicatesStayUncached() {
    KvBlockPool pool = new KvBlockPool(8);
    long[] a = hashes(1, 2);
    int[] first = pool.allocate(a, 0, 2);
    pool.commitChain(first, a, 0, 2);
    int[] second = pool.allocate(a, 0, 2); // concurrent same prompt, computed separately
    pool.commitChain(second, a, 0, 1);
    assertEquals(2, pool.cachedBlocks());
    pool.free(first);
    pool.free(second);
    int[] third = pool.allocate(a, 2, 3);
    assertEquals(first[0], third[0]);
    assertEquals(first[1], third[1]);
    assertEquals(5, pool.freeBlocks());
  }
}

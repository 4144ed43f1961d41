package io.kvgate.sim;

import java.util.HashMap;
import java.util.Map;

/**
 * The KV block pool with automatic prefix caching, shaped like vLLM v1's {@code BlockPool} and
 * {@code KVCacheManager}.
 *
 * <p><b>Design.</b> {@code capacityBlocks} blocks, each with a reference count. Blocks whose count
 * is zero sit in one free queue (a doubly linked list over block ids): allocation pops from the
 * head and, if the popped block still carries a cached hash, evicts that hash; freeing appends to
 * the tail. So the queue is an LRU of unreferenced blocks, and blocks used by running requests are
 * never evicted. A request frees its blocks in reverse order (vLLM does the same) so the tail of a
 * prompt is evicted before its head, which keeps shared prefixes longest.
 *
 * <p>A full block's hash chains its parent's: {@code h_i = mix(h_{i-1}, tokens of block i)} (see
 * {@link #chainHashes}); a hit is the longest run of leading hashes present. Only full blocks are
 * registered ({@link #commit}), from the step their computation is scheduled in; a hash already
 * present keeps its first block (the duplicate stays uncached, as in vLLM).
 *
 * <p>Not thread-safe: one engine's event loop owns it.
 */
final class KvBlockPool {

  private final int capacity;
  private final int[] refCount;
  private final long[] hash;
  private final boolean[] hashed;
  private final int[] prev;
  private final int[] next;
  private int head = -1;
  private int tail = -1;
  private int freeCount;
  private final Map<Long, Integer> cached = new HashMap<>();

  KvBlockPool(int capacityBlocks) {
    capacity = capacityBlocks;
    refCount = new int[capacityBlocks];
    hash = new long[capacityBlocks];
    hashed = new boolean[capacityBlocks];
    prev = new int[capacityBlocks];
    next = new int[capacityBlocks];
    for (int i = 0; i < capacityBlocks; i++) append(i);
  }

  /** Chained hashes of the full blocks of {@code tokens}. */
  static long[] chainHashes(int[] tokens, int blockSizeTokens) {
    int n = tokens.length / blockSizeTokens;
    long[] out = new long[n];
    long h = 0x6a09e667f3bcc908L; // root: no parent
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

  int capacity() {
    return capacity;
  }

  int freeBlocks() {
    return freeCount;
  }

  int cachedBlocks() {
    return cached.size();
  }

  /** Fraction of blocks in use by requests, vLLM's {@code kv_cache_usage_perc}. */
  double usage() {
    return 1.0 - (double) freeCount / capacity;
  }

  /** Number of leading {@code hashes} (at most {@code maxBlocks}) present in the cache. */
  int match(long[] hashes, int maxBlocks) {
    int n = Math.min(maxBlocks, hashes.length);
    for (int i = 0; i < n; i++) {
      if (!cached.containsKey(hashes[i])) return i;
    }
    return n;
  }

  /**
   * Pins the first {@code hitBlocks} cached blocks of {@code hashes} and allocates fresh blocks up
   * to {@code totalBlocks}. Returns the block ids in order, or null (and changes nothing) if the
   * free queue cannot supply them.
   */
  int[] allocate(long[] hashes, int hitBlocks, int totalBlocks) {
    int hitFree = 0;
    for (int i = 0; i < hitBlocks; i++) {
      if (refCount[cached.get(hashes[i])] == 0) hitFree++;
    }
    if (freeCount - hitFree < totalBlocks - hitBlocks) return null;
    int[] ids = new int[totalBlocks];
    for (int i = 0; i < hitBlocks; i++) {
      int id = cached.get(hashes[i]);
      if (refCount[id]++ == 0) unlink(id);
      ids[i] = id;
    }
    for (int i = hitBlocks; i < totalBlocks; i++) {
      int id = head;
      unlink(id);
      if (hashed[id]) {
        cached.remove(hash[id]);
        hashed[id] = false;
      }
      refCount[id] = 1;
      ids[i] = id;
    }
    return ids;
  }

  /**
   * Registers full block {@code id} under {@code h} unless {@code h} is cached already; the engine
   * calls it once the block's computation is scheduled, as vLLM v1 does.
   */
  void commit(int id, long h) {
    if (hashed[id] || cached.containsKey(h)) return;
    hash[id] = h;
    hashed[id] = true;
    cached.put(h, id);
  }

  /** Releases a request's blocks, in reverse order, so its head is evicted last. */
  void free(int[] ids) {
    for (int i = ids.length - 1; i >= 0; i--) {
      int id = ids[i];
      if (--refCount[id] == 0) append(id);
    }
  }

  /** True if {@code h} is cached (tests and diagnostics). */
  boolean contains(long h) {
    return cached.containsKey(h);
  }

  private void append(int id) {
    prev[id] = tail;
    next[id] = -1;
    if (tail >= 0) next[tail] = id;
    else head = id;
    tail = id;
    freeCount++;
  }

  private void unlink(int id) {
    int p = prev[id], n = next[id];
    if (p >= 0) next[p] = n;
    else head = n;
    if (n >= 0) prev[n] = p;
    else tail = p;
    freeCount--;
  }
}

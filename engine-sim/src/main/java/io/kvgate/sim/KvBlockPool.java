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
 * <p>A full block's hash chains its parent's (see {@link BlockKeys}: kvgate's own chain for text
 * prompts); a hit is the longest run of leading hashes present. Only full blocks are registered
 * ({@link #commitChain}), from the step their computation is scheduled in; a hash already present
 * keeps its first block (the duplicate stays uncached, as in vLLM).
 *
 * <p><b>Events.</b> Every change of the set of cached hashes goes to an optional {@link Events}
 * listener, synchronously and in order, as vLLM's {@code BlockPool} emits its KV cache events: runs
 * of newly registered blocks in chain order with their parent, evicted hashes, and a cleared cache.
 * So a listener that applies them holds exactly {@link #cachedHashes()}. Without a listener the
 * pool pays one null check per change.
 *
 * <p>Not thread-safe: one engine's event loop owns it.
 */
final class KvBlockPool {

  private final int capacity;
  private final int[] refCount;
  private final long[] hash;
  // the parent hash of each hashed block (0: the first block of a prompt), for snapshots
  private final long[] parent;
  private final boolean[] hashed;
  private final int[] prev;
  private final int[] next;
  private int head = -1;
  private int tail = -1;
  private int freeCount;
  private final Map<Long, Integer> cached = new HashMap<>();
  private Events events;

  /** Receives the changes of the set of cached hashes, on the pool's thread, in order. */
  interface Events {
    /**
     * Blocks {@code hashes[from..to)} were registered, a run of one chain: block {@code from}'s
     * parent is {@code hashes[from - 1]} when {@code from > 0}, else the block starts a prompt.
     */
    void stored(long[] hashes, int from, int to);

    /** {@code hash} was evicted. */
    void removed(long hash);

    /** Every cached hash was dropped at once ({@link #clearPrefixCache}). */
    void cleared();
  }

  /** Sets (or with null removes) the listener of cache changes. */
  void events(Events listener) {
    this.events = listener;
  }

  KvBlockPool(int capacityBlocks) {
    capacity = capacityBlocks;
    refCount = new int[capacityBlocks];
    hash = new long[capacityBlocks];
    parent = new long[capacityBlocks];
    hashed = new boolean[capacityBlocks];
    prev = new int[capacityBlocks];
    next = new int[capacityBlocks];
    for (int i = 0; i < capacityBlocks; i++) append(i);
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
        if (events != null) events.removed(hash[id]);
      }
      refCount[id] = 1;
      ids[i] = id;
    }
    return ids;
  }

  /**
   * Registers full blocks {@code ids[b]} under {@code hashes[b]} for {@code b} in {@code [from,
   * to)}, one request's chain in order, skipping blocks whose hash is cached already (the duplicate
   * stays uncached, as in vLLM); the engine calls it once the blocks' computation is scheduled, as
   * vLLM v1 does. Each run of consecutive new blocks is reported as one {@link Events#stored}.
   */
  void commitChain(int[] ids, long[] hashes, int from, int to) {
    int run = -1;
    for (int b = from; b < to; b++) {
      boolean added = commit(ids[b], hashes[b], b > 0 ? hashes[b - 1] : 0);
      if (added && run < 0) run = b;
      else if (!added && run >= 0) {
        if (events != null) events.stored(hashes, run, b);
        run = -1;
      }
    }
    if (run >= 0 && events != null) events.stored(hashes, run, to);
  }

  /** Registers block {@code id} under {@code h}; false if either is registered already. */
  private boolean commit(int id, long h, long parentHash) {
    if (hashed[id] || cached.containsKey(h)) return false;
    hash[id] = h;
    parent[id] = parentHash;
    hashed[id] = true;
    cached.put(h, id);
    return true;
  }

  /**
   * Drops every cached hash, vLLM's {@code BlockPool.reset_prefix_cache}: refused (false, nothing
   * changes) while a request holds blocks, unless {@code includeRunning}, which also unhashes the
   * blocks running requests hold (they keep the blocks; vLLM would preempt and recompute them, see
   * the README). Reports {@link Events#cleared} when it clears.
   */
  boolean clearPrefixCache(boolean includeRunning) {
    if (!includeRunning && freeCount < capacity) return false;
    for (int i = 0; i < capacity; i++) hashed[i] = false;
    cached.clear();
    if (events != null) events.cleared();
    return true;
  }

  /** Every cached hash, in no particular order (a snapshot of the prefix cache). */
  long[] cachedHashes() {
    long[] out = new long[cached.size()];
    int i = 0;
    for (long h : cached.keySet()) out[i++] = h;
    return out;
  }

  /**
   * The parent hash of each of {@code hashes} (all cached), 0 for the first block of a prompt: a
   * snapshot's {@code parent_block_hashes}.
   */
  long[] parentsOf(long[] hashes) {
    long[] out = new long[hashes.length];
    for (int i = 0; i < hashes.length; i++) out[i] = parent[cached.get(hashes[i])];
    return out;
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

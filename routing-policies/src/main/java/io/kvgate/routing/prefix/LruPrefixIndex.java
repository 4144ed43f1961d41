package io.kvgate.routing.prefix;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The prefix index: for one model, which of up to {@value #MAX_SLOTS} endpoints probably hold which
 * blocks, each endpoint modelled as an LRU cache of a given capacity in blocks whose entries also
 * expire after a TTL.
 *
 * <p>Why this shape. An engine (vLLM, SGLang) caches fixed-size blocks of a prompt, keyed by the
 * chain hash, and evicts least recently used blocks when its KV memory is full. kvgate learns that
 * cache in two ways that write the same structure: approximately, from its own routing ({@link
 * #recordRouted}: the endpoint will hold every block of a chain it was sent), and precisely, from
 * the engine's KV events ({@link #blocksStored}, {@link #blocksRemoved}, {@link #clearEndpoint}).
 * The capacity model ({@link #setCapacityBlocks}) and the TTL make the approximate feed forget what
 * the engine has probably evicted; the gateway can tune capacities at runtime, e.g. from {@code
 * vllm:kv_cache_usage_perc}. A precise endpoint reports its evictions, so its TTL is turned off
 * ({@link #setExpires}); its capacity still bounds its memory if events are lost or wrong.
 * Per-endpoint statistics ({@link #heldBlocks}, {@link #capacityBlocks}, {@link
 * #recentInsertedBlocks}) let a policy send cache misses where they evict least, so that N small
 * replica caches behave like one pooled cache.
 *
 * <p>Structure. Two views, kept in step under one lock per endpoint:
 *
 * <ul>
 *   <li>{@link SlotCache}, one per endpoint: its blocks in LRU order, an open-addressing table of
 *       primitive arrays (hash, touch time, prev, next): about 25 bytes per held block.
 *   <li>{@link BlockHolders}, shared: block hash → set of endpoints holding it, lock-striped
 *       segments of packed {@code long}s: about 20 bytes per distinct block while it has at most
 *       seven holders, plus a 32-byte bitset beyond that.
 * </ul>
 *
 * So one (block, endpoint) pair costs about 52 bytes when no block is shared and about 38 when
 * every block is held twice (retained heap measured by {@code io.kvgate.bench.IndexFootprint}, see
 * {@code docs/BENCHMARKS.md}); 10 million pairs fit in about half a gigabyte. Under G1 use regions
 * of 16 MB or more ({@code -XX:G1HeapRegionSize=16m}) for large indexes: with smaller regions these
 * arrays become humongous objects and region rounding adds about 60%. There are no boxed keys and
 * no per-entry objects, so the garbage collector sees a few large arrays per endpoint and per
 * segment.
 *
 * <p>Match. {@link #match} keeps the set of endpoints that held every block so far as a 256-bit set
 * in four {@code long}s, and writes an endpoint's count once, when it drops out. By default it
 * gallops: because each endpoint's cached blocks are prefix-closed along a chain (a parent is never
 * evicted before its children, see {@code BlockHolders.gallop}), it probes blocks 1, 2, 4, ...
 * ahead until the set shrinks and bisects back to where it did: about 2 log2(blocks) probes per
 * distinct match length, 22 for a 2,048-block prompt held by one set of endpoints, instead of one
 * probe per block. Galloping is exact only for prefix-closed sets, and the precise feed does not
 * guarantee them: engines evict leaves first, but a lost or reordered event, an engine that evicts
 * otherwise, a stored block whose parent the index never saw, or this index's own LRU or TTL (a
 * stored block is newer than its untouched parent, so the parent goes first) can leave a block held
 * past a missing one. Galloping would jump over such a hole and report a phantom hit, exactly what
 * the precise feed exists to prevent. Detecting holes exactly would need each block's parent (the
 * events' {@code parent_block_hash}, which the feed's signatures do not carry) and a child count
 * per block; verifying a galloped result costs as much as the walk. So the guarantee is: a match is
 * exact for every slot. A slot's first precise write marks it unordered and from then on (until
 * {@link #clearEndpoint}, which leaves it empty and so prefix-closed) it is matched by the walk,
 * shared by all unordered slots and stopping when the last of them drops out, while the slots
 * written by routing alone keep galloping. The cost is the walk's: O(blocks matched on some
 * unordered slot) probes, measured by {@code KvEventIngestBenchmark.matchWalked} against {@code
 * matchGalloping} (docs/BENCHMARKS.md). Freshness of an unordered slot is likewise checked block by
 * block instead of bisected, when its TTL is on and its oldest block is expired. With {@link
 * Settings#exactMatch()} every slot is walked. The walk is O(prompt blocks + endpoints), stopping
 * at the first block no walked endpoint holds: the same result as galloping on prefix-closed sets,
 * the reference the property tests and the benchmarks compare it with. TTL is then applied per
 * endpoint that matched anything: if that endpoint's least recently used block is still fresh
 * nothing can be expired (LRU order is touch order), otherwise a binary search over the matched
 * prefix finds the first expired block.
 *
 * <p>Writes. {@link #recordRouted} and {@link #blocksStored} touch a chain's blocks last to first,
 * so the chain's head is the most recent and the LRU evicts a prefix from its tail, as engines do.
 * A write first sweeps the endpoint's expired tail (unless {@link #setExpires} turned its TTL off),
 * then per block either moves it to the head (O(1)) or inserts it, evicting the tail if full;
 * inserts and evictions update the holder sets. The precise feed works in slices of {@value #SLICE}
 * blocks per hold of the slot's write lock (see SLICE for why); {@link #clearEndpoint} empties a
 * slot in O(1) and drains its holder entries in slices.
 *
 * <p>Concurrency. Writes for one endpoint serialize on that endpoint's write lock; writes for
 * different endpoints run in parallel and meet only on the holder segments, each locked once per
 * write for that write's blocks in it. Reads take no lock in the common case (optimistic {@link
 * java.util.concurrent.locks.StampedLock} reads, validated). A match racing a write may see a block
 * one write early or late, which a routing hint tolerates; it never sees a torn table. Lock order
 * is endpoint, then segment.
 *
 * <p>Time is always passed in ({@code nowNanos}, {@link System#nanoTime()} based), never read here.
 */
public final class LruPrefixIndex implements PrefixIndex {

  /** The largest fleet one index tracks: slots are 0..255. */
  public static final int MAX_SLOTS = BlockHolders.MAX_SLOTS;

  /**
   * Tuning, with defaults in {@link #defaults()}.
   *
   * @param defaultCapacityBlocks blocks an endpoint is assumed to cache until {@link
   *     #setCapacityBlocks} says otherwise; must be {@code >= 0}
   * @param ttl how long a block untouched by routing or events is believed cached; must be positive
   *     and under 20 days
   * @param insertionHalfLife half-life of {@link #recentInsertedBlocks}; must be positive
   * @param segments lock stripes of the shared holder table, a power of two
   * @param exactMatch match every endpoint by visiting every block instead of galloping over the
   *     endpoints written by routing alone (O(log blocks) probes, exact because their cached sets
   *     are prefix-closed); the reference for tests and benchmarks; see {@link #match}
   */
  public record Settings(
      long defaultCapacityBlocks,
      Duration ttl,
      Duration insertionHalfLife,
      int segments,
      boolean exactMatch) {

    private static final Duration MAX_TTL = Duration.ofDays(20);

    public Settings {
      Objects.requireNonNull(ttl, "ttl");
      Objects.requireNonNull(insertionHalfLife, "insertionHalfLife");
      if (defaultCapacityBlocks < 0) {
        throw new IllegalArgumentException(
            "defaultCapacityBlocks must be >= 0 (got " + defaultCapacityBlocks + ")");
      }
      if (ttl.isNegative() || ttl.isZero() || ttl.compareTo(MAX_TTL) > 0) {
        throw new IllegalArgumentException(
            "ttl must be positive and at most " + MAX_TTL + " (got " + ttl + ")");
      }
      if (insertionHalfLife.isNegative() || insertionHalfLife.isZero()) {
        throw new IllegalArgumentException(
            "insertionHalfLife must be positive (got " + insertionHalfLife + ")");
      }
      if (segments < 1 || Integer.bitCount(segments) != 1) {
        throw new IllegalArgumentException(
            "segments must be a power of two (got " + segments + ")");
      }
    }

    /**
     * 16384 blocks per endpoint (a 16-token block size on a mid-size GPU), a 10-minute TTL, a
     * 30-second insertion half-life, 64 segments and the galloping match.
     */
    public static Settings defaults() {
      return new Settings(16_384, Duration.ofMinutes(10), Duration.ofSeconds(30), 64, false);
    }

    public Settings withDefaultCapacityBlocks(long blocks) {
      return new Settings(blocks, ttl, insertionHalfLife, segments, exactMatch);
    }

    public Settings withTtl(Duration ttl) {
      return new Settings(defaultCapacityBlocks, ttl, insertionHalfLife, segments, exactMatch);
    }

    public Settings withInsertionHalfLife(Duration halfLife) {
      return new Settings(defaultCapacityBlocks, ttl, halfLife, segments, exactMatch);
    }

    public Settings withSegments(int segments) {
      return new Settings(defaultCapacityBlocks, ttl, insertionHalfLife, segments, exactMatch);
    }

    public Settings withExactMatch(boolean exactMatch) {
      return new Settings(defaultCapacityBlocks, ttl, insertionHalfLife, segments, exactMatch);
    }
  }

  private final Settings settings;
  private final int ttlUnits;
  private final double halfLifeNanos;
  private final BlockHolders holders;
  private final AtomicReferenceArray<SlotCache> slots = new AtomicReferenceArray<>(MAX_SLOTS);

  /** Slots whose {@link SlotCache#unordered} is set, as a 256-bit set: matched by walk. */
  private final AtomicLongArray unordered = new AtomicLongArray(BlockHolders.WORDS);

  private volatile int slotCount;

  public LruPrefixIndex(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.ttlUnits = Math.max(1, SlotCache.units(settings.ttl().toNanos()));
    this.halfLifeNanos = settings.insertionHalfLife().toNanos();
    this.holders = new BlockHolders(settings.segments());
  }

  /** An index with {@link Settings#defaults()}. */
  public LruPrefixIndex() {
    this(Settings.defaults());
  }

  public Settings settings() {
    return settings;
  }

  /** One more than the highest slot ever written or configured (0 when empty). */
  public int slotCount() {
    return slotCount;
  }

  @Override
  public PrefixMatch match(BlockChain chain, long nowNanos) {
    int blocks = chain.length();
    int count = slotCount;
    if (blocks == 0 || count == 0) return PrefixMatch.none(blocks);
    int[] matched = new int[count];
    long[] walked = new long[BlockHolders.WORDS];
    long[] galloped = new long[BlockHolders.WORDS];
    boolean walk = false;
    boolean gallop = false;
    for (int w = 0; w < BlockHolders.WORDS; w++) {
      long all = BlockHolders.prefixMask(count, w);
      walked[w] = settings.exactMatch() ? all : all & unordered.get(w);
      galloped[w] = all & ~walked[w];
      walk |= walked[w] != 0;
      gallop |= galloped[w] != 0;
    }
    if (walk) holders.walk(chain, matched, walked);
    if (gallop) holders.gallop(chain, matched, galloped);
    int now = SlotCache.units(nowNanos);
    for (int s = 0; s < count; s++) {
      if (matched[s] == 0) continue;
      SlotCache c = slots.get(s);
      if (c == null) {
        matched[s] = 0;
        continue;
      }
      if (c.draining > 0) matched[s] = c.heldPrefix(chain, matched[s]);
      if (matched[s] > 0) matched[s] = c.freshPrefix(chain, matched[s], now, ttlUnits);
    }
    return new PrefixMatch(matched, blocks);
  }

  @Override
  public void recordRouted(int slot, BlockChain chain, long nowNanos) {
    SlotCache c = slotCache(slot);
    int now = SlotCache.units(nowNanos);
    int inserted = 0;
    long stamp = c.lock.writeLock();
    try {
      c.beginBatch();
      try {
        c.sweep(now, ttlUnits);
        for (int i = chain.length() - 1; i >= 0; i--) {
          if (c.touch(BlockHolders.key(chain.hash(i)), now)) inserted++;
        }
      } finally {
        c.endBatch();
      }
      c.addPressure(inserted, nowNanos, halfLifeNanos);
    } finally {
      c.lock.unlockWrite(stamp);
    }
  }

  /**
   * Blocks (or detached cells) one precise-feed write handles per hold of the slot's write lock.
   * Between slices the lock is released, so routing's writes to the same slot (on event-loop
   * threads) wait for about one slice (1.7 ms measured on a loaded 2-core VM: a 100,000-block event
   * took 42 ms in 25 slices) rather than for a whole large event or a clear of millions. {@link
   * java.util.concurrent.locks.StampedLock} is not fair, so this bounds each hold, not a waiter's
   * turn. Matches take no lock while the slot's TTL is off.
   */
  static final int SLICE = 4096;

  /**
   * {@inheritDoc}
   *
   * <p>Block hashes are chain hashes, which already cover their parent, so no parent hash is needed
   * to key them. Marks the slot unordered (matched by walk from now on until {@link
   * #clearEndpoint}). Applied in slices of {@value #SLICE} blocks from the last to the first, each
   * under one hold of the slot's write lock with its holder changes grouped per segment; a match
   * racing a large event sees a suffix of it, which the walk matches exactly (the prefix is not yet
   * there). Memory stays bounded by the slot's capacity: past it the LRU evicts.
   *
   * @throws IndexOutOfBoundsException if {@code [from, to)} is not a range of {@code hashes}
   */
  @Override
  public void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos) {
    Objects.checkFromToIndex(from, to, hashes.length);
    SlotCache c = slotCache(slot);
    int now = SlotCache.units(nowNanos);
    int end = to;
    do {
      int start = Math.max(from, end - SLICE);
      int inserted = 0;
      long stamp = c.lock.writeLock();
      try {
        markUnordered(c);
        c.beginBatch();
        try {
          if (end == to) c.sweep(now, ttlUnits);
          for (int i = end - 1; i >= start; i--) {
            if (c.touch(BlockHolders.key(hashes[i]), now)) inserted++;
          }
        } finally {
          c.endBatch();
        }
        c.addPressure(inserted, nowNanos, halfLifeNanos);
      } finally {
        c.lock.unlockWrite(stamp);
      }
      end = start;
    } while (end > from);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Marks the slot unordered (matched by walk from now on until {@link #clearEndpoint}). Applied
   * in slices of {@value #SLICE} blocks, like {@link #blocksStored}.
   *
   * @throws IndexOutOfBoundsException if {@code [from, to)} is not a range of {@code hashes}
   */
  @Override
  public void blocksRemoved(int slot, long[] hashes, int from, int to) {
    Objects.checkFromToIndex(from, to, hashes.length);
    SlotCache c = existing(slot);
    if (c == null) return;
    for (int start = from; start < to; start += SLICE) {
      int end = Math.min(to, start + SLICE);
      long stamp = c.lock.writeLock();
      try {
        markUnordered(c);
        c.beginBatch();
        try {
          for (int i = start; i < end; i++) c.remove(BlockHolders.key(hashes[i]));
        } finally {
          c.endBatch();
        }
      } finally {
        c.lock.unlockWrite(stamp);
      }
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>The slot is empty for matches and writes as soon as its table is swapped for an empty one,
   * an O(1) step under its write lock. Its entries then leave the shared holder table in slices of
   * {@value #SLICE} cells (O(held) in all, grouped per segment, the write lock released between
   * slices, so a clear of millions of blocks never holds a lock for more than one slice); until
   * they have, a match checks this slot's claims against its own table. Returns when the holder
   * table holds nothing of the cleared blocks (except what writes since re-inserted). Clears the
   * slot's unordered mark: an empty set is prefix-closed.
   */
  @Override
  public long clearEndpoint(int slot) {
    SlotCache c = existing(slot);
    if (c == null) return 0;
    long[] old;
    long stamp = c.lock.writeLock();
    try {
      old = c.detach();
      unordered.getAndUpdate(slot >>> 6, w -> w & ~(1L << slot));
    } finally {
      c.lock.unlockWrite(stamp);
    }
    long removed = 0;
    try {
      for (int start = 0; start < old.length; start += SLICE) {
        int end = Math.min(old.length, start + SLICE);
        stamp = c.lock.writeLock();
        try {
          c.beginBatch();
          try {
            removed += c.drain(old, start, end);
          } finally {
            c.endBatch();
          }
        } finally {
          c.lock.unlockWrite(stamp);
        }
      }
    } finally {
      c.endDrain();
    }
    return removed;
  }

  @Override
  public void setExpires(int slot, boolean expires) {
    slotCache(slot).expires = expires;
  }

  /** Whether the TTL applies to {@code slot}'s blocks. */
  public boolean expires(int slot) {
    SlotCache c = existing(slot);
    return c == null || c.expires;
  }

  /** Caller holds {@code c}'s write lock. */
  private void markUnordered(SlotCache c) {
    if (c.unordered) return;
    c.unordered = true;
    int slot = c.slot;
    unordered.getAndUpdate(slot >>> 6, w -> w | 1L << slot);
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException if {@code capacityBlocks < 0} or the slot is out of range
   */
  @Override
  public void setCapacityBlocks(int slot, long capacityBlocks) {
    if (capacityBlocks < 0) {
      throw new IllegalArgumentException(
          "capacityBlocks must be >= 0 (got " + capacityBlocks + ")");
    }
    SlotCache c = slotCache(slot);
    long stamp = c.lock.writeLock();
    try {
      c.capacityBlocks = capacityBlocks;
      c.trimToCapacity();
    } finally {
      c.lock.unlockWrite(stamp);
    }
  }

  @Override
  public long capacityBlocks(int slot) {
    SlotCache c = existing(slot);
    return c == null ? settings.defaultCapacityBlocks() : c.capacityBlocks;
  }

  @Override
  public long heldBlocks(int slot) {
    SlotCache c = existing(slot);
    return c == null ? 0 : c.size();
  }

  @Override
  public double recentInsertedBlocks(int slot, long nowNanos) {
    SlotCache c = existing(slot);
    return c == null ? 0 : c.recentInserted(nowNanos, halfLifeNanos);
  }

  @Override
  public long size() {
    long n = 0;
    int count = slotCount;
    for (int s = 0; s < count; s++) {
      SlotCache c = slots.get(s);
      if (c != null) n += c.size();
    }
    return n;
  }

  /** Distinct blocks held by at least one endpoint. */
  public long distinctBlocks() {
    return holders.blocks();
  }

  /** Estimated from the lengths of the backing arrays plus object headers (racy, for metrics). */
  @Override
  public long estimatedBytes() {
    long bytes = 64 + 16 + 4L * MAX_SLOTS + holders.estimatedBytes();
    int count = slotCount;
    for (int s = 0; s < count; s++) {
      SlotCache c = slots.get(s);
      if (c != null) bytes += c.estimatedBytes();
    }
    return bytes;
  }

  /** Block hashes held by {@code slot}, most recently used first (diagnostics and tests). */
  public long[] blocksMostRecentFirst(int slot) {
    SlotCache c = existing(slot);
    if (c == null) return new long[0];
    long stamp = c.lock.readLock();
    try {
      return c.keysMostRecentFirst();
    } finally {
      c.lock.unlockRead(stamp);
    }
  }

  private SlotCache existing(int slot) {
    checkSlot(slot);
    return slots.get(slot);
  }

  private SlotCache slotCache(int slot) {
    checkSlot(slot);
    SlotCache c = slots.get(slot);
    if (c != null) return c;
    SlotCache created = new SlotCache(slot, holders, settings.defaultCapacityBlocks());
    if (!slots.compareAndSet(slot, null, created)) return slots.get(slot);
    synchronized (this) {
      if (slotCount <= slot) slotCount = slot + 1;
    }
    return created;
  }

  private static void checkSlot(int slot) {
    if (slot < 0 || slot >= MAX_SLOTS) {
      throw new IllegalArgumentException(
          "slot must be in [0, " + MAX_SLOTS + ") (got " + slot + ")");
    }
  }
}

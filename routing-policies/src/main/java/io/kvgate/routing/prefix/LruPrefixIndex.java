package io.kvgate.routing.prefix;

import java.time.Duration;
import java.util.Objects;
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
 * <p>Structure. One {@link SlotCache} per endpoint and nothing shared: its blocks in LRU order, an
 * open-addressing table of primitive arrays (hash, touch time, prev, next), 20 bytes per cell at
 * most 0.8 full, so about 25 bytes per (block, endpoint) entry, plus about 15 (parent, held
 * children) for an endpoint written by engine events. A block held by several endpoints is stored
 * once per holder; there is no block → holders table to keep in step. 10 million entries fit in
 * about a quarter of a gigabyte (retained heap measured by {@code io.kvgate.bench.IndexFootprint},
 * see {@code docs/BENCHMARKS.md}). Under G1 use regions of 16 MB or more ({@code
 * -XX:G1HeapRegionSize=16m}) for large indexes: with smaller regions these arrays become humongous
 * objects and region rounding adds about 60%. There are no boxed keys and no per-entry objects, so
 * the garbage collector sees a few large arrays per endpoint.
 *
 * <p>Match. {@link #match} asks each endpoint's own table how many leading blocks of the chain it
 * holds ({@link SlotCache#heldPrefix}). By default it gallops: while an endpoint's cached blocks
 * are prefix-closed along a chain (no block held whose parent is missing), holding block {@code k}
 * means holding blocks {@code 0..k}, so the answer is found by probing blocks 1, 2, 4, ... ahead
 * and bisecting back: about 2 log2(blocks) probes, 22 for a 2,048-block prompt, instead of one per
 * block. Endpoints after the first of each length try the lengths already found first (two probes
 * each), so a fleet whose endpoints all hold a shared system prompt and one of them a
 * conversation's history costs three probes per endpoint plus two gallops. Routing writes keep sets
 * prefix-closed by construction (a chain is written with its whole prefix, so LRU and TTL take
 * children before parents). The precise feed need not: a stored block whose parent the endpoint
 * lacks, an inner block removed while its children stay, a lost event, or this index's own LRU or
 * TTL evicting a parent before a newer child leave a "hole", and galloping could jump over it and
 * report a phantom hit, exactly what the precise feed exists to prevent. So from an endpoint's
 * first precise write on, its {@link SlotCache} records each block's parent and its number of held
 * children and counts its holes ({@link #holes}) exactly, in O(1) per insert or removal; an
 * endpoint is galloped while it has none and walked (one probe per block up to the first missing)
 * while it has some. Each endpoint's answer is read under one optimistic read of its lock, so it is
 * one consistent state of that endpoint, holes flag included. The guarantee: a match is exact for
 * every slot whose parents were reported truthfully (parents the feed does not give count as holes:
 * slower, never wrong). Engines store parents before children and evict leaves first (vLLM frees a
 * request's blocks tail first; SGLang's radix tree evicts leaves), so an event stream with parents
 * keeps the count at 0 (tested against such an engine) and the endpoint keeps galloping; the walk
 * is the fallback while holes last, measured by {@code KvEventIngestBenchmark.matchWalked} against
 * {@code matchGalloping} and {@code matchEventsNoHoles} (docs/BENCHMARKS.md). Freshness of a slot
 * that tracks parents is checked block by block instead of bisected, when its TTL is on and its
 * oldest block is expired (an event stores a block newer than its untouched parent, so touch times
 * may rise along a chain). With {@link Settings#exactMatch()} every slot is walked: the same result
 * as galloping on prefix-closed sets, the reference the property tests and the benchmarks compare
 * it with. TTL is then applied per endpoint that matched anything: if that endpoint's least
 * recently used block is still fresh nothing can be expired (LRU order is touch order), otherwise a
 * binary search over the matched prefix finds the first expired block.
 *
 * <p>Holes cost memory only where events write: a slot's parent and child arrays are allocated by
 * its first precise write (the blocks it then holds get an unknown parent, so they count as holes
 * until touched again with their parent or gone; the gateway clears an endpoint before its first
 * event, so normally there are none) and kept from then on, 12 bytes per cell, about 15 per held
 * block. Slots written only by routing pay nothing and need no count.
 *
 * <p>Writes. {@link #recordRouted} and {@link #blocksStored} touch a chain's blocks last to first,
 * so the chain's head is the most recent and the LRU evicts a prefix from its tail, as engines do.
 * A write first sweeps the endpoint's expired tail (unless {@link #setExpires} turned its TTL off),
 * then per block either moves it to the head (O(1)) or inserts it, evicting the tail if full. A
 * write touches only its endpoint's table, a few hundred kilobytes to a few megabytes that stay in
 * cache while that endpoint is busy. The precise feed works in slices of {@value #SLICE} blocks per
 * hold of the slot's write lock (see SLICE for why); {@link #clearEndpoint} empties a slot in O(1).
 *
 * <p>Concurrency. Writes for one endpoint serialize on that endpoint's write lock; writes for
 * different endpoints share nothing. Reads take no lock in the common case (optimistic {@link
 * java.util.concurrent.locks.StampedLock} reads, validated). A match racing a write may see a block
 * one write early or late, which a routing hint tolerates; it never sees a torn table.
 *
 * <p>Time is always passed in ({@code nowNanos}, {@link System#nanoTime()} based), never read here.
 */
public final class LruPrefixIndex implements PrefixIndex {

  /** The largest fleet one index tracks: slots are 0..255. */
  public static final int MAX_SLOTS = BlockKeys.MAX_SLOTS;

  /**
   * Tuning, with defaults in {@link #defaults()}.
   *
   * @param defaultCapacityBlocks blocks an endpoint is assumed to cache until {@link
   *     #setCapacityBlocks} says otherwise; must be {@code >= 0}
   * @param ttl how long a block untouched by routing or events is believed cached; must be positive
   *     and under 20 days
   * @param insertionHalfLife half-life of {@link #recentInsertedBlocks}; must be positive
   * @param exactMatch match every endpoint by visiting every block instead of galloping over the
   *     endpoints without holes (O(log blocks) probes, exact because their cached sets are
   *     prefix-closed); the reference for tests and benchmarks; see {@link #match}
   */
  public record Settings(
      long defaultCapacityBlocks, Duration ttl, Duration insertionHalfLife, boolean exactMatch) {

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
    }

    /**
     * 16384 blocks per endpoint (a 16-token block size on a mid-size GPU), a 10-minute TTL, a
     * 30-second insertion half-life and the galloping match.
     */
    public static Settings defaults() {
      return new Settings(16_384, Duration.ofMinutes(10), Duration.ofSeconds(30), false);
    }

    public Settings withDefaultCapacityBlocks(long blocks) {
      return new Settings(blocks, ttl, insertionHalfLife, exactMatch);
    }

    public Settings withTtl(Duration ttl) {
      return new Settings(defaultCapacityBlocks, ttl, insertionHalfLife, exactMatch);
    }

    public Settings withInsertionHalfLife(Duration halfLife) {
      return new Settings(defaultCapacityBlocks, ttl, halfLife, exactMatch);
    }

    public Settings withExactMatch(boolean exactMatch) {
      return new Settings(defaultCapacityBlocks, ttl, insertionHalfLife, exactMatch);
    }
  }

  private final Settings settings;
  private final int ttlUnits;
  private final double halfLifeNanos;
  private final AtomicReferenceArray<SlotCache> slots = new AtomicReferenceArray<>(MAX_SLOTS);

  private volatile int slotCount;

  public LruPrefixIndex(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.ttlUnits = Math.max(1, SlotCache.units(settings.ttl().toNanos()));
    this.halfLifeNanos = settings.insertionHalfLife().toNanos();
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

  /**
   * Remembered lengths of one {@link #match}: each endpoint's gallop first tries the distinct
   * lengths the endpoints before it matched, most recent first (see {@link SlotCache#heldPrefix}).
   */
  private static final int HINTS = 4;

  @Override
  public PrefixMatch match(BlockChain chain, long nowNanos) {
    int blocks = chain.length();
    int count = slotCount;
    if (blocks == 0 || count == 0) return PrefixMatch.none(blocks);
    int[] matched = new int[count];
    int[] hints = new int[HINTS];
    int hintCount = 0;
    boolean walk = settings.exactMatch();
    int now = SlotCache.units(nowNanos);
    for (int s = 0; s < count; s++) {
      SlotCache c = slots.get(s);
      if (c == null) continue;
      int held = c.heldPrefix(chain, walk, hints, hintCount);
      if (held == 0) continue;
      hintCount = remember(hints, hintCount, held);
      matched[s] = c.freshPrefix(chain, held, now, ttlUnits);
    }
    return new PrefixMatch(matched, blocks);
  }

  /** Moves {@code length} to the front of {@code hints}; returns the new count. */
  private static int remember(int[] hints, int count, int length) {
    int at = 0;
    while (at < count && hints[at] != length) at++;
    if (at == count && count < hints.length) count++;
    for (int i = Math.min(at, hints.length - 1); i > 0; i--) hints[i] = hints[i - 1];
    hints[0] = length;
    return count;
  }

  @Override
  public void recordRouted(int slot, BlockChain chain, long nowNanos) {
    SlotCache c = slotCache(slot);
    int now = SlotCache.units(nowNanos);
    int inserted = 0;
    long stamp = c.lock.writeLock();
    try {
      c.sweep(now, ttlUnits);
      for (int i = chain.length() - 1; i >= 0; i--) {
        long parent = i == 0 ? SlotCache.ROOT : BlockKeys.key(chain.hash(i - 1));
        if (c.touch(BlockKeys.key(chain.hash(i)), now, parent)) inserted++;
      }
      c.addPressure(inserted, nowNanos, halfLifeNanos);
      c.publishHoles();
    } finally {
      c.lock.unlockWrite(stamp);
    }
  }

  /**
   * Blocks one precise-feed write handles per hold of the slot's write lock. Between slices the
   * lock is released, so routing's writes to the same slot (on event-loop threads) wait for about
   * one slice (about 0.5 ms on the 2-core VM: a 100,000-block event took 11–14 ms in 25 slices,
   * docs/BENCHMARKS.md §4) rather than for a whole large event. {@link
   * java.util.concurrent.locks.StampedLock} is not fair, so this bounds each hold, not a waiter's
   * turn. Matches take no lock while the slot's TTL is off.
   */
  static final int SLICE = 4096;

  /**
   * {@inheritDoc}
   *
   * <p>Every block's parent counts as unknown (a hole, until the block is touched again with its
   * parent or leaves), so the slot is matched by walk while any of them is held: this overload
   * serves feeds that cannot vouch for chain order, such as snapshot chunks in any order. Prefer
   * {@link #blocksStored(int, long[], int, int, long, boolean, long)}.
   *
   * @throws IndexOutOfBoundsException if {@code [from, to)} is not a range of {@code hashes}
   */
  @Override
  public void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos) {
    Objects.checkFromToIndex(from, to, hashes.length);
    store(slot, hashes, null, from, to, UNKNOWN, 0, nowNanos);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Block hashes are chain hashes, which already cover their parent, so the parent is not needed
   * to key them; it is needed to keep count of holes ({@link #holes}). Applied in slices of {@value
   * #SLICE} blocks from the last to the first, each under one hold of the slot's write lock; a
   * match racing a large event sees a suffix of it, whose first block's parent is missing, so the
   * slot is walked until the event's first slice is in. Memory stays bounded by the slot's
   * capacity: past it the LRU evicts.
   *
   * @throws IndexOutOfBoundsException if {@code [from, to)} is not a range of {@code hashes}
   */
  @Override
  public void blocksStored(
      int slot,
      long[] hashes,
      int from,
      int to,
      long parentHash,
      boolean hasParent,
      long nowNanos) {
    Objects.checkFromToIndex(from, to, hashes.length);
    long first = hasParent ? BlockKeys.key(parentHash) : SlotCache.ROOT;
    store(slot, hashes, null, from, to, CHAIN, first, nowNanos);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Applied like {@link #blocksStored}: in slices of {@value #SLICE} blocks from the last to the
   * first. Blocks may come in any order and any chunking: a block whose parent is in a later chunk
   * (or later in this one) is a hole until its parent arrives, then heals.
   *
   * @throws IndexOutOfBoundsException if {@code [from, to)} is not a range of {@code hashes}, or of
   *     {@code parents} when given
   */
  @Override
  public void snapshotStored(
      int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
    Objects.checkFromToIndex(from, to, hashes.length);
    if (parents != null) Objects.checkFromToIndex(from, to, parents.length);
    store(slot, hashes, parents, from, to, parents == null ? UNKNOWN : LISTED, 0, nowNanos);
  }

  // How store() learns each block's parent.
  private static final int UNKNOWN = 0; // none known
  private static final int CHAIN = 1; // hashes[i - 1], and firstParent for the first block
  private static final int LISTED = 2; // parents[i]

  private void store(
      int slot,
      long[] hashes,
      long[] parents,
      int from,
      int to,
      int parentsAre,
      long firstParent,
      long nowNanos) {
    SlotCache c = slotCache(slot);
    int now = SlotCache.units(nowNanos);
    int end = to;
    do {
      int start = Math.max(from, end - SLICE);
      int inserted = 0;
      long stamp = c.lock.writeLock();
      try {
        c.track();
        if (end == to) c.sweep(now, ttlUnits);
        for (int i = end - 1; i >= start; i--) {
          long key = BlockKeys.key(hashes[i]);
          long parent =
              switch (parentsAre) {
                case CHAIN -> i == from ? firstParent : BlockKeys.key(hashes[i - 1]);
                case LISTED -> parents[i] == ROOT ? SlotCache.ROOT : BlockKeys.key(parents[i]);
                default -> key;
              };
          if (c.touch(key, now, parent)) inserted++;
        }
        c.addPressure(inserted, nowNanos, halfLifeNanos);
        c.publishHoles();
      } finally {
        c.lock.unlockWrite(stamp);
      }
      end = start;
    } while (end > from);
  }

  /**
   * {@inheritDoc}
   *
   * <p>A removed block's held children become holes until it is stored again. Applied in slices of
   * {@value #SLICE} blocks, like {@link #blocksStored}.
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
        c.track();
        for (int i = start; i < end; i++) c.remove(BlockKeys.key(hashes[i]));
        c.publishHoles();
      } finally {
        c.lock.unlockWrite(stamp);
      }
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>O(1): the slot's table is swapped for an empty one under its write lock. Leaves the slot
   * with no holes (an empty set is prefix-closed); a slot that tracked parents keeps doing so.
   */
  @Override
  public long clearEndpoint(int slot) {
    SlotCache c = existing(slot);
    if (c == null) return 0;
    long stamp = c.lock.writeLock();
    try {
      int removed = c.clear();
      c.publishHoles();
      return removed;
    } finally {
      c.lock.unlockWrite(stamp);
    }
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

  /**
   * Held blocks of {@code slot} whose parent is unknown or not held: while above 0 the slot is
   * matched by walk. 0 for a slot never written by the precise feed. Racy (for metrics and tests).
   */
  @Override
  public long holes(int slot) {
    SlotCache c = existing(slot);
    return c == null ? 0 : c.holes();
  }

  /** Whether {@code slot} keeps parents (written by the precise feed at least once). */
  public boolean tracksParents(int slot) {
    SlotCache c = existing(slot);
    return c != null && c.tracked;
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
      c.publishHoles();
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

  /** Estimated from the lengths of the backing arrays plus object headers (racy, for metrics). */
  @Override
  public long estimatedBytes() {
    long bytes = 48 + 16 + 4L * MAX_SLOTS;
    int count = slotCount;
    for (int s = 0; s < count; s++) {
      SlotCache c = slots.get(s);
      if (c != null) bytes += c.estimatedBytes();
    }
    return bytes;
  }

  @Override
  public Held held(int slot) {
    SlotCache c = existing(slot);
    if (c == null) return new Held(new long[0], null, true);
    long stamp = c.lock.readLock();
    try {
      return c.held();
    } finally {
      c.lock.unlockRead(stamp);
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>Applied in slices of {@value #SLICE} blocks, last to first, so {@code hashes[from]} ends
   * most recently used, as it was on the peer.
   */
  @Override
  public void mergeHeld(int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
    Objects.checkFromToIndex(from, to, hashes.length);
    if (parents != null) {
      Objects.checkFromToIndex(from, to, parents.length);
      store(slot, hashes, parents, from, to, LISTED, 0, nowNanos);
      return;
    }
    SlotCache c = slotCache(slot);
    int now = SlotCache.units(nowNanos);
    int end = to;
    do {
      int start = Math.max(from, end - SLICE);
      int inserted = 0;
      long stamp = c.lock.writeLock();
      try {
        if (end == to) c.sweep(now, ttlUnits);
        for (int i = end - 1; i >= start; i--) {
          long key = BlockKeys.key(hashes[i]);
          if (c.touch(key, now, key)) inserted++;
        }
        c.addPressure(inserted, nowNanos, halfLifeNanos);
        c.publishHoles();
      } finally {
        c.lock.unlockWrite(stamp);
      }
      end = start;
    } while (end > from);
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
    SlotCache created = new SlotCache(settings.defaultCapacityBlocks());
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

package io.kvgate.routing.prefix;

import java.util.concurrent.locks.StampedLock;

/**
 * Block hash → the set of endpoint slots (0..255) holding that block. The read side of {@link
 * LruPrefixIndex}: {@link LruPrefixIndex#match} asks it once per prompt block.
 *
 * <p>Layout. Lock-striped segments (chosen by the top bits of the mixed hash), each an
 * open-addressing, linear-probing table of cells of two {@code long}s side by side in one array
 * (the block hash and its holders, so a probe touches one cache line). Holders are packed into that
 * one {@code long}: up to {@value #INLINE_MAX} slot ids of 8 bits each plus a 3-bit count, or, for
 * blocks held by more endpoints (a shared system prompt), the sign bit and the index of a 256-bit
 * set in the segment's overflow pool. Affinity routing keeps most blocks on one or two endpoints,
 * so the common case costs 16 bytes per block over the table's load factor, and the worst case
 * (every endpoint holds every block) still answers in a constant four words per block. Table
 * lengths are not powers of two (the home bucket is Lemire's multiply-shift range reduction), so a
 * table can be sized close to its 0.8 maximum load.
 *
 * <p>Concurrency. Writers take their segment's {@link StampedLock} write lock for one block, or for
 * all of one write's blocks in that segment ({@link #apply}). Readers first try an optimistic read
 * (a volatile read, the probe, a validation fence) and only take the read lock when a writer raced
 * them; a reader therefore never blocks a writer, and reads through a table being resized cannot
 * fail because array lengths are immutable and every derived index is bounds-checked before
 * validation.
 *
 * <p>Deletion is backward-shift (Knuth 6.4, algorithm R), so no tombstones accumulate; a segment
 * shrinks when it falls below a quarter full.
 */
final class BlockHolders {

  static final int MAX_SLOTS = 256;
  static final int WORDS = MAX_SLOTS / 64;
  static final int INLINE_MAX = 7;

  /** Stands in for a block hash of 0, which marks an empty table cell. */
  static final long ZERO_KEY = 0x5BD1E9955BD1E995L;

  private static final double MAX_LOAD = 0.8;
  private static final int MIN_LENGTH = 16;

  private final Segment[] segments;
  private final int segmentMask;

  BlockHolders(int segments) {
    if (segments < 1 || Integer.bitCount(segments) != 1) {
      throw new IllegalArgumentException(
          "segments must be a power of two >= 1 (got " + segments + ")");
    }
    this.segments = new Segment[segments];
    for (int i = 0; i < segments; i++) this.segments[i] = new Segment();
    this.segmentMask = segments - 1;
  }

  static long key(long hash) {
    return hash == 0 ? ZERO_KEY : hash;
  }

  static long mix(long key) {
    return key * 0x9E3779B97F4A7C15L;
  }

  static int home(long mixed, int length) {
    return (int) (((mixed & 0xFFFFFFFFL) * length) >>> 32);
  }

  /**
   * Backward-shift deletion in a linear-probing table: whether the key at {@code j}, whose home
   * cell is {@code home}, may move into the hole at {@code i} (its probe run from home, wrapping
   * round the table's end, passes through {@code i}).
   */
  static boolean fillsHole(int i, int j, int home) {
    return i <= j ? (home <= i || home > j) : (home <= i && home > j);
  }

  private int segmentIndex(long mixed) {
    return (int) (mixed >>> 40) & segmentMask;
  }

  private Segment segment(long mixed) {
    return segments[segmentIndex(mixed)];
  }

  /** Records that {@code slot} holds {@code key}. */
  void add(long key, int slot) {
    long m = mix(key);
    Segment s = segment(m);
    long stamp = s.lock.writeLock();
    try {
      s.add(key, m, slot);
    } finally {
      s.lock.unlockWrite(stamp);
    }
  }

  /** Records that {@code slot} no longer holds {@code key}. */
  void remove(long key, int slot) {
    long m = mix(key);
    Segment s = segment(m);
    long stamp = s.lock.writeLock();
    try {
      s.remove(key, m, slot);
    } finally {
      s.lock.unlockWrite(stamp);
    }
  }

  /**
   * Applies {@code n} membership changes of {@code slot}, in order per block: {@code keys[i]} is
   * added if {@code adds[i]}, else removed. Changes are grouped by segment (a stable counting
   * sort), so each segment touched is write-locked once for all its changes rather than once per
   * change: the lock's atomic instructions are full fences, and between them the processor cannot
   * overlap one change's cache misses with the next's. {@code scratch} is reused across calls.
   */
  void apply(long[] keys, boolean[] adds, int n, int slot, Scratch scratch) {
    if (n < 16 || segments.length == 1) {
      for (int i = 0; i < n; i++) {
        if (adds[i]) add(keys[i], slot);
        else remove(keys[i], slot);
      }
      return;
    }
    int segs = segments.length;
    long[] mixed = scratch.mixed(n);
    int[] order = scratch.order(n);
    int[] start = scratch.starts(segs + 1);
    for (int i = 0; i < n; i++) {
      long m = mix(keys[i]);
      mixed[i] = m;
      start[segmentIndex(m) + 1]++;
    }
    for (int g = 0; g < segs; g++) start[g + 1] += start[g];
    for (int i = 0; i < n; i++) order[start[segmentIndex(mixed[i])]++] = i;
    // start[g] is now the end of segment g's run, i.e. the start of segment g + 1's.
    int from = 0;
    for (int g = 0; g < segs; g++) {
      int to = start[g];
      if (to == from) continue;
      Segment s = segments[g];
      long stamp = s.lock.writeLock();
      try {
        for (int j = from; j < to; j++) {
          int i = order[j];
          if (adds[i]) s.add(keys[i], mixed[i], slot);
          else s.remove(keys[i], mixed[i], slot);
        }
      } finally {
        s.lock.unlockWrite(stamp);
      }
      from = to;
    }
  }

  /** Reusable arrays of {@link #apply}; one per writer (a slot's cache, under its write lock). */
  static final class Scratch {
    private long[] mixed = new long[0];
    private int[] order = new int[0];
    private int[] starts = new int[0];

    long[] mixed(int n) {
      if (mixed.length < n) mixed = new long[Math.max(n, mixed.length * 2)];
      return mixed;
    }

    int[] order(int n) {
      if (order.length < n) order = new int[Math.max(n, order.length * 2)];
      return order;
    }

    int[] starts(int n) {
      if (starts.length < n) starts = new int[n];
      java.util.Arrays.fill(starts, 0, n, 0);
      return starts;
    }
  }

  /**
   * Writes the set of slots holding {@code key} into {@code out} ({@value #WORDS} words, bit {@code
   * s} = slot {@code s}) and returns false if no slot holds it.
   */
  boolean holders(long key, long[] out) {
    long m = mix(key);
    Segment s = segment(m);
    long stamp = s.lock.tryOptimisticRead();
    if (stamp != 0) {
      boolean found = s.read(key, m, out);
      if (s.lock.validate(stamp)) return found;
    }
    stamp = s.lock.readLock();
    try {
      return s.read(key, m, out);
    } finally {
      s.lock.unlockRead(stamp);
    }
  }

  /**
   * The walk behind {@link LruPrefixIndex#match}: follows {@code chain} from its first block,
   * keeping the set of slots (of {@code slots}, {@value #WORDS} words) that held every block so
   * far, and writes into {@code matched[s]} the number of leading blocks slot {@code s} of {@code
   * slots} held. Stops at the first block no remaining slot holds. O(blocks walked + slots), four
   * words of set algebra per block. Exact for any sets, prefix-closed or not.
   *
   * <p>Written as one loop with the probe inlined: on a hot path of a few thousand blocks per
   * request, a call per block cost as much as the probe (measured: 26 → 20 µs for 1536 blocks). A
   * software prefetch (loading the next 16 home cells back to back) was tried and measured no gain,
   * so the loop stays plain.
   */
  void walk(BlockChain chain, int[] matched, long[] slots) {
    int blocks = chain.length();
    long a0 = slots[0];
    long a1 = slots[1];
    long a2 = slots[2];
    long a3 = slots[3];
    int i = 0;
    for (; i < blocks; i++) {
      long key = key(chain.hash(i));
      long m = mix(key);
      Segment s = segments[segmentIndex(m)];
      long h0 = 0;
      long h1 = 0;
      long h2 = 0;
      long h3 = 0;
      long stamp = s.lock.tryOptimisticRead();
      long[] c = s.cells;
      long[] ov = s.overflow;
      int len = c.length >>> 1;
      int at = home(m, len);
      long v = 0;
      for (int n = 0; n < len; n++) {
        long k = c[2 * at];
        if (k == key) {
          v = c[2 * at + 1];
          break;
        }
        if (k == 0) break;
        if (++at == len) at = 0;
      }
      if (v < 0) {
        int o = (int) v;
        if (o >= 0 && o + WORDS <= ov.length) {
          h0 = ov[o];
          h1 = ov[o + 1];
          h2 = ov[o + 2];
          h3 = ov[o + 3];
        }
      } else {
        int count = (int) (v & 7);
        for (int k = 0; k < count; k++) {
          int slot = (int) (v >>> (3 + 8 * k)) & 0xFF;
          long bit = 1L << slot;
          switch (slot >>> 6) {
            case 0 -> h0 |= bit;
            case 1 -> h1 |= bit;
            case 2 -> h2 |= bit;
            default -> h3 |= bit;
          }
        }
      }
      if (stamp == 0 || !s.lock.validate(stamp)) {
        long[] held = new long[WORDS];
        holders(key, held);
        h0 = held[0];
        h1 = held[1];
        h2 = held[2];
        h3 = held[3];
      }
      long n0 = a0 & h0;
      long n1 = a1 & h1;
      long n2 = a2 & h2;
      long n3 = a3 & h3;
      if (((a0 ^ n0) | (a1 ^ n1) | (a2 ^ n2) | (a3 ^ n3)) != 0) {
        setAll(matched, a0 ^ n0, a1 ^ n1, a2 ^ n2, a3 ^ n3, i);
      }
      a0 = n0;
      a1 = n1;
      a2 = n2;
      a3 = n3;
      if ((a0 | a1 | a2 | a3) == 0) break;
    }
    setAll(matched, a0, a1, a2, a3, i);
  }

  /**
   * The same result as {@link #walk} (over the slots of {@code slots}) in O(changes × log blocks)
   * probes instead of one per block, for sets that are prefix-closed along a chain: every slot
   * holding block {@code k} of a chain also holds block {@code k - 1}.
   *
   * <p>Why that holds. A chain hash covers all its parents, so a block is only ever written
   * together with its whole prefix ({@link LruPrefixIndex#recordRouted} touches a chain last to
   * first), which leaves each parent at least as recent as any of its children: LRU eviction,
   * capacity trimming and TTL expiry all take a child before its parent. Engines evict the same way
   * (vLLM frees a request's blocks tail first; SGLang's radix tree evicts leaves). The precise feed
   * can break it (an inner block removed while its descendants stay, a block stored whose parent
   * the index never saw or already evicted), so each slot written by it counts its holes ({@link
   * SlotCache#holes}) and {@link LruPrefixIndex#match} gallops only over the slots without holes
   * and walks the others; see {@link LruPrefixIndex}. Where a set is not prefix-closed, galloping
   * can only overstate: it reports a slot at a position where that slot lacks the block, possibly
   * past an earlier hole it jumped over.
   *
   * <p>Algorithm. Keep the alive set (slots that held every block so far) and the last position
   * {@code good} known to be held by all of them. Gallop: probe {@code good + 1, + 2, + 4, ...}
   * while the alive set still holds the probed block; at the first probe where it does not, bisect
   * between the two to find the first block where the set shrinks, record the match length of the
   * slots that drop out there, and continue from that block with the smaller set. A prompt whose
   * blocks are all held by one set costs about 2 log2(blocks) probes (22 at 2,048 blocks); each
   * further distinct match length adds about as many.
   */
  void gallop(BlockChain chain, int[] matched, long[] slots) {
    int blocks = chain.length();
    long[] alive = new long[WORDS];
    long[] held = new long[WORDS];
    long[] shrunk = new long[WORDS];
    holders(key(chain.hash(0)), held);
    for (int w = 0; w < WORDS; w++) alive[w] = slots[w] & held[w];
    int good = 0;
    while (!isEmpty(alive)) {
      // Gallop to the first probe where the alive set shrinks; none before the last block: done.
      int bad = -1;
      for (int step = 1; good < blocks - 1 && bad < 0; step <<= 1) {
        int p = (int) Math.min((long) good + step, blocks - 1);
        if (allHold(chain, p, alive, held, shrunk)) good = p;
        else bad = p;
      }
      if (bad < 0) {
        setAll(matched, alive[0], alive[1], alive[2], alive[3], blocks);
        return;
      }
      // Bisect (good, bad]: the first block where the set shrinks (shrunk = the set there).
      while (bad - good > 1) {
        int mid = (good + bad) >>> 1;
        if (allHold(chain, mid, alive, held, shrunk)) good = mid;
        else bad = mid;
      }
      setAll(
          matched,
          alive[0] ^ shrunk[0],
          alive[1] ^ shrunk[1],
          alive[2] ^ shrunk[2],
          alive[3] ^ shrunk[3],
          bad);
      System.arraycopy(shrunk, 0, alive, 0, WORDS);
      good = bad;
    }
  }

  /**
   * True if every slot in {@code alive} holds block {@code p} of {@code chain}; otherwise writes
   * the slots of {@code alive} that do hold it into {@code shrunk}. {@code held} is scratch.
   */
  private boolean allHold(BlockChain chain, int p, long[] alive, long[] held, long[] shrunk) {
    holders(key(chain.hash(p)), held);
    long missing = 0;
    for (int w = 0; w < WORDS; w++) missing |= alive[w] & ~held[w];
    if (missing == 0) return true;
    for (int w = 0; w < WORDS; w++) shrunk[w] = alive[w] & held[w];
    return false;
  }

  private static boolean isEmpty(long[] set) {
    long any = 0;
    for (long w : set) any |= w;
    return any == 0;
  }

  static long prefixMask(int count, int word) {
    int bits = count - word * 64;
    if (bits <= 0) return 0;
    return bits >= 64 ? -1L : (1L << bits) - 1;
  }

  private static void setAll(int[] matched, long w0, long w1, long w2, long w3, int value) {
    set(matched, 0, w0, value);
    set(matched, 64, w1, value);
    set(matched, 128, w2, value);
    set(matched, 192, w3, value);
  }

  private static void set(int[] matched, int base, long bits, int value) {
    for (; bits != 0; bits &= bits - 1) matched[base + Long.numberOfTrailingZeros(bits)] = value;
  }

  /** Distinct blocks held by at least one slot. */
  long blocks() {
    long n = 0;
    for (Segment s : segments) n += s.size;
    return n;
  }

  long estimatedBytes() {
    long bytes = 16L + 16 + 4L * segments.length;
    for (Segment s : segments) bytes += s.estimatedBytes();
    return bytes;
  }

  private static final class Segment {
    final StampedLock lock = new StampedLock();

    /**
     * Cell {@code i} is {@code cells[2i]} (block key, 0 = empty) and {@code cells[2i+1]} (holders).
     */
    long[] cells = new long[2 * MIN_LENGTH];

    volatile int size;
    long[] overflow = new long[WORDS * 4];
    int overflowTop;
    int overflowFree = -1;

    long estimatedBytes() {
      return 64 + 16 + 8L * cells.length + 16 + 8L * overflow.length;
    }

    /** Probe for {@code key}; bounded so that a torn optimistic read cannot loop forever. */
    private static int find(long[] c, long key, long m) {
      int len = c.length >>> 1;
      int i = home(m, len);
      for (int n = 0; n < len; n++) {
        long v = c[2 * i];
        if (v == key) return i;
        if (v == 0) return -1;
        if (++i == len) i = 0;
      }
      return -1;
    }

    /** Writes the holders of {@code key} into {@code out} (all zero if none). */
    boolean read(long key, long m, long[] out) {
      for (int w = 0; w < WORDS; w++) out[w] = 0;
      long[] c = cells;
      int i = find(c, key, m);
      if (i < 0) return false;
      long v = c[2 * i + 1];
      if (v == 0) return false;
      if (v < 0) {
        long[] ov = overflow;
        int at = (int) v;
        if (at < 0 || at + WORDS > ov.length) return false;
        for (int w = 0; w < WORDS; w++) out[w] = ov[at + w];
        return true;
      }
      int count = (int) (v & 7);
      for (int k = 0; k < count; k++) {
        int slot = (int) (v >>> (3 + 8 * k)) & 0xFF;
        out[slot >>> 6] |= 1L << slot;
      }
      return true;
    }

    void add(long key, long m, int slot) {
      int i = find(cells, key, m);
      if (i < 0) {
        int len = cells.length >>> 1;
        if (size + 1 > len * MAX_LOAD) {
          resize(Math.max(MIN_LENGTH, len * 2));
          len = cells.length >>> 1;
        }
        i = home(m, len);
        while (cells[2 * i] != 0) {
          if (++i == len) i = 0;
        }
        cells[2 * i] = key;
        cells[2 * i + 1] = inline(0, slot);
        size = size + 1;
        return;
      }
      long v = cells[2 * i + 1];
      if (v < 0) {
        int at = (int) v;
        overflow[at + (slot >>> 6)] |= 1L << slot;
        return;
      }
      int count = (int) (v & 7);
      for (int k = 0; k < count; k++) {
        if (((v >>> (3 + 8 * k)) & 0xFF) == slot) return;
      }
      if (count < INLINE_MAX) {
        cells[2 * i + 1] = inline(v, slot);
        return;
      }
      int at = allocateOverflow();
      for (int k = 0; k < count; k++) {
        int s = (int) (v >>> (3 + 8 * k)) & 0xFF;
        overflow[at + (s >>> 6)] |= 1L << s;
      }
      overflow[at + (slot >>> 6)] |= 1L << slot;
      cells[2 * i + 1] = Long.MIN_VALUE | at;
    }

    private static long inline(long v, int slot) {
      int count = (int) (v & 7);
      return (v & ~7L) | ((long) slot << (3 + 8 * count)) | (count + 1);
    }

    void remove(long key, long m, int slot) {
      int i = find(cells, key, m);
      if (i < 0) return;
      long v = cells[2 * i + 1];
      if (v < 0) {
        int at = (int) v;
        overflow[at + (slot >>> 6)] &= ~(1L << slot);
        int population = 0;
        for (int w = 0; w < WORDS; w++) population += Long.bitCount(overflow[at + w]);
        if (population > INLINE_MAX) return;
        long packed = 0;
        for (int w = 0; w < WORDS; w++) {
          for (long bits = overflow[at + w]; bits != 0; bits &= bits - 1) {
            packed = inline(packed, w * 64 + Long.numberOfTrailingZeros(bits));
          }
        }
        freeOverflow(at);
        cells[2 * i + 1] = packed;
        return;
      }
      int count = (int) (v & 7);
      for (int k = 0; k < count; k++) {
        if (((v >>> (3 + 8 * k)) & 0xFF) != slot) continue;
        if (count == 1) {
          delete(i);
          return;
        }
        int lastShift = 3 + 8 * (count - 1);
        long last = (v >>> lastShift) & 0xFF;
        int shift = 3 + 8 * k;
        v = (v & ~(0xFFL << shift)) | (last << shift);
        v &= ~(0xFFL << lastShift);
        cells[2 * i + 1] = (v & ~7L) | (count - 1);
        return;
      }
    }

    private void delete(int i) {
      long[] c = cells;
      int len = c.length >>> 1;
      int j = i;
      while (true) {
        if (++j == len) j = 0;
        long v = c[2 * j];
        if (v == 0) break;
        int home = home(mix(v), len);
        boolean movable = fillsHole(i, j, home);
        if (movable) {
          c[2 * i] = v;
          c[2 * i + 1] = c[2 * j + 1];
          i = j;
        }
      }
      c[2 * i] = 0;
      c[2 * i + 1] = 0;
      size = size - 1;
      if (len > MIN_LENGTH && size < len / 4) resize(Math.max(MIN_LENGTH, len / 2));
    }

    private void resize(int length) {
      long[] old = cells;
      long[] c = new long[2 * length];
      for (int j = 0; j < old.length; j += 2) {
        long v = old[j];
        if (v == 0) continue;
        int i = home(mix(v), length);
        while (c[2 * i] != 0) {
          if (++i == length) i = 0;
        }
        c[2 * i] = v;
        c[2 * i + 1] = old[j + 1];
      }
      cells = c;
    }

    private int allocateOverflow() {
      int at;
      if (overflowFree >= 0) {
        at = overflowFree;
        overflowFree = (int) overflow[at];
      } else {
        if (overflowTop + WORDS > overflow.length) {
          overflow = java.util.Arrays.copyOf(overflow, overflow.length * 2);
        }
        at = overflowTop;
        overflowTop += WORDS;
      }
      for (int w = 0; w < WORDS; w++) overflow[at + w] = 0;
      return at;
    }

    private void freeOverflow(int at) {
      for (int w = 0; w < WORDS; w++) overflow[at + w] = 0;
      overflow[at] = overflowFree;
      overflowFree = at;
    }
  }
}

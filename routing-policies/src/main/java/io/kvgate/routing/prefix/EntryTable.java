package io.kvgate.routing.prefix;

import java.util.Arrays;
import java.util.concurrent.locks.StampedLock;

/**
 * The storage of {@link LruPrefixIndex}: one cell per (block, endpoint) pair, in one table shared
 * by all endpoints, with each endpoint's LRU list threaded through its cells.
 *
 * <p>Layout. Segments chosen by the top bits of the mixed block hash, each an open-addressing,
 * linear-probing table of parallel primitive arrays: block key ({@code long}), touch time, LRU
 * prev, LRU next ({@code int}s) and endpoint slot ({@code byte}), 21 bytes per cell. The cells of
 * one block all hash to the same home, so linear probing keeps them in the run that starts there:
 * the set of endpoints holding a block is the slots of the cells with its key between its home and
 * the next empty cell, read in one forward scan of the key array (no second table, no holder sets
 * to keep in step). Tables are kept between 0.76 and 0.85 full (they grow by an eighth, not by
 * doubling), so a (block, endpoint) pair costs about 26 bytes however many endpoints share the
 * block. Table lengths are not powers of two (the home cell is Lemire's multiply-shift range
 * reduction). Endpoints fed by engine events also keep, per cell, the block's parent key and the
 * number of its children the endpoint holds (12 more bytes per cell, allocated for every segment
 * from the first such write on).
 *
 * <p>LRU links are cell addresses: segment index in the top bits, cell index in the rest. A cell
 * moves when backward-shift deletion (Knuth 6.4, algorithm R: no tombstones) or a resize relocates
 * it, and the mover re-points its two neighbours, wherever they are, and the list ends ({@link
 * #head}, {@link #tail}). Each endpoint has two lists: its blocks in LRU order, and the blocks of a
 * clear still being removed ({@link #detach}, {@link #drainSlice}).
 *
 * <p>Concurrency. One writer at a time: every mutator is called under {@link LruPrefixIndex}'s
 * writer lock, which also guards the lists (a move re-points cells in other segments, so
 * per-segment writers would race). Readers take no lock in the common case: they read a segment's
 * keys, slots and touch times under an optimistic read of its {@link StampedLock}, which the writer
 * write-locks around each insert, delete and resize of that segment (not around a touch: a reader
 * sees the old or the new time, both valid). Readers never follow list links. Array lengths are
 * immutable and every derived index is bounds-checked before validation, so a read racing a resize
 * cannot fail.
 */
final class EntryTable {

  static final int MAX_SLOTS = 256;
  static final int WORDS = MAX_SLOTS / 64;
  static final int NIL = -1;

  /** Stands in for a block hash of 0, which marks an empty cell. */
  static final long ZERO_KEY = 0x5BD1E9955BD1E995L;

  /** A segment grows when an insert would take it past this load. */
  static final double MAX_LOAD = 0.85;

  /** ... by this factor (an eighth: the load then stays between 0.76 and 0.85). */
  private static final double GROWTH = 1.125;

  private static final int MIN_LENGTH = 16;

  private final Segment[] segments;
  private final int segmentMask;
  private final int localBits;
  private final int localMask;
  private final int maxLength;

  // Per slot, writer-only: the ends of its LRU list (head most recent) and of its drain list.
  private final int[] head = nils();
  private final int[] tail = nils();
  private final int[] drainHead = nils();
  private final int[] drainTail = nils();

  /** Whether cells carry parents and child counts (from the first precise-feed write on). */
  private boolean parentsKept;

  EntryTable(int segments) {
    if (segments < 1 || Integer.bitCount(segments) != 1) {
      throw new IllegalArgumentException(
          "segments must be a power of two >= 1 (got " + segments + ")");
    }
    this.segments = new Segment[segments];
    for (int i = 0; i < segments; i++) this.segments[i] = new Segment(MIN_LENGTH);
    this.segmentMask = segments - 1;
    this.localBits = 31 - Integer.numberOfTrailingZeros(segments);
    this.localMask = (int) ((1L << localBits) - 1);
    this.maxLength = (int) Math.min(localMask, Integer.MAX_VALUE - 8);
  }

  private static int[] nils() {
    int[] a = new int[MAX_SLOTS];
    Arrays.fill(a, NIL);
    return a;
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

  private int segmentIndex(long mixed) {
    return (int) (mixed >>> 40) & segmentMask;
  }

  private int address(int segment, int cell) {
    return (segment << localBits) | cell;
  }

  private Segment segmentOf(int address) {
    return segments[address >>> localBits];
  }

  private int cellOf(int address) {
    return address & localMask;
  }

  // ---- reads (any thread) ----

  /**
   * Writes the set of slots holding {@code key} into {@code out} ({@value #WORDS} words, bit {@code
   * s} = slot {@code s}) and returns false if no slot holds it.
   */
  boolean holders(long key, long[] out) {
    long m = mix(key);
    Segment s = segments[segmentIndex(m)];
    long stamp = s.lock.tryOptimisticRead();
    if (stamp != 0) {
      boolean found = s.readHolders(key, m, out);
      if (s.lock.validate(stamp)) return found;
    }
    stamp = s.lock.readLock();
    try {
      return s.readHolders(key, m, out);
    } finally {
      s.lock.unlockRead(stamp);
    }
  }

  /** True if {@code slot} holds {@code key} and touched it within the TTL. */
  boolean fresh(long key, int slot, int nowUnits, int ttlUnits) {
    long m = mix(key);
    Segment s = segments[segmentIndex(m)];
    long stamp = s.lock.tryOptimisticRead();
    if (stamp != 0) {
      boolean fresh = s.readFresh(key, m, slot, nowUnits, ttlUnits);
      if (s.lock.validate(stamp)) return fresh;
    }
    stamp = s.lock.readLock();
    try {
      return s.readFresh(key, m, slot, nowUnits, ttlUnits);
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
   * request, a call per block costs as much as the probe.
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
      long[] k = s.keys;
      byte[] sl = s.slots;
      int len = k.length;
      if (sl.length == len) {
        int at = home(m, len);
        for (int n = 0; n < len; n++) {
          long v = k[at];
          if (v == 0) break;
          if (v == key) {
            int slot = sl[at] & 0xFF;
            long bit = 1L << slot;
            switch (slot >>> 6) {
              case 0 -> h0 |= bit;
              case 1 -> h1 |= bit;
              case 2 -> h2 |= bit;
              default -> h3 |= bit;
            }
          }
          if (++at == len) at = 0;
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
   * and walks the others. Where a set is not prefix-closed, galloping can only overstate: it
   * reports a slot at a position where that slot lacks the block, possibly past an earlier hole it
   * jumped over.
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

  /** Distinct blocks held by at least one slot (including blocks of clears still draining). */
  long distinct() {
    long n = 0;
    for (Segment s : segments) n += s.distinct;
    return n;
  }

  /** Cells in use. */
  long cells() {
    long n = 0;
    for (Segment s : segments) n += s.size;
    return n;
  }

  long estimatedBytes() {
    long bytes = 16L + 16 + 4L * segments.length + 4 * (16 + 4L * MAX_SLOTS);
    for (Segment s : segments) bytes += s.estimatedBytes();
    return bytes;
  }

  // ---- writes (the caller holds the index's writer lock) ----

  /** The cell where {@code slot} holds {@code key}, or {@link #NIL}. */
  int find(long key, int slot) {
    long m = mix(key);
    int g = segmentIndex(m);
    Segment s = segments[g];
    long[] k = s.keys;
    byte[] sl = s.slots;
    int len = k.length;
    int i = home(m, len);
    while (true) {
      long v = k[i];
      if (v == 0) return NIL;
      if (v == key && (sl[i] & 0xFF) == slot) return address(g, i);
      if (++i == len) i = 0;
    }
  }

  /**
   * Adds a cell for ({@code key}, {@code slot}), which must not exist, touched at {@code touch} and
   * linked nowhere; returns its address, or {@link #NIL} if its segment is at its maximum length.
   * Addresses taken before this call may be stale after it (the segment may grow).
   */
  int insert(long key, int slot, int touch) {
    long m = mix(key);
    int g = segmentIndex(m);
    Segment s = segments[g];
    int len = s.keys.length;
    if (s.size + 1 > len * MAX_LOAD) {
      int wanted = (int) Math.min(maxLength, Math.max(len + MIN_LENGTH, (long) (len * GROWTH)));
      if (wanted > len) resize(g, wanted);
      else if (s.size + 2 > len) return NIL;
    }
    long[] k = s.keys;
    len = k.length;
    int i = home(m, len);
    boolean shared = false;
    for (long v; (v = k[i]) != 0; ) {
      if (v == key) shared = true;
      if (++i == len) i = 0;
    }
    long stamp = s.lock.writeLock();
    try {
      s.touch[i] = touch;
      s.slots[i] = (byte) slot;
      s.prev[i] = NIL;
      s.next[i] = NIL;
      if (s.parents != null) {
        s.parents[i] = key;
        s.kids[i] = 0;
      }
      k[i] = key;
      s.size = s.size + 1;
      if (!shared) s.distinct = s.distinct + 1;
    } finally {
      s.lock.unlockWrite(stamp);
    }
    return address(g, i);
  }

  /**
   * Deletes cell {@code a}, already unlinked from its list. Addresses taken before this call may be
   * stale after it (cells move back, and the segment may shrink).
   */
  void delete(int a) {
    int g = a >>> localBits;
    Segment s = segments[g];
    int i = cellOf(a);
    long[] k = s.keys;
    long key = k[i];
    int len = k.length;
    long stamp = s.lock.writeLock();
    try {
      int j = i;
      while (true) {
        if (++j == len) j = 0;
        long v = k[j];
        if (v == 0) break;
        int h = home(mix(v), len);
        boolean movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
        if (movable) {
          move(g, s, j, i);
          i = j;
        }
      }
      k[i] = 0;
      s.size = s.size - 1;
      if (!s.contains(key)) s.distinct = s.distinct - 1;
    } finally {
      s.lock.unlockWrite(stamp);
    }
    if (len > MIN_LENGTH && s.size < len / 4) {
      resize(g, Math.max(MIN_LENGTH, (int) Math.ceil(s.size / 0.6)));
    }
  }

  /**
   * Moves cell {@code from} of segment {@code g} to the free cell {@code to}, re-pointing links.
   */
  private void move(int g, Segment s, int from, int to) {
    s.keys[to] = s.keys[from];
    s.touch[to] = s.touch[from];
    s.slots[to] = s.slots[from];
    int p = s.prev[from];
    int n = s.next[from];
    s.prev[to] = p;
    s.next[to] = n;
    if (s.parents != null) {
      s.parents[to] = s.parents[from];
      s.kids[to] = s.kids[from];
    }
    int was = address(g, from);
    int now = address(g, to);
    int slot = s.slots[to] & 0xFF;
    if (p != NIL) setNext(p, now);
    else if (head[slot] == was) head[slot] = now;
    else drainHead[slot] = now;
    if (n != NIL) setPrev(n, now);
    else if (tail[slot] == was) tail[slot] = now;
    else drainTail[slot] = now;
  }

  /** Rebuilds segment {@code g} at {@code length} cells, re-pointing every link into it. */
  private void resize(int g, int length) {
    Segment s = segments[g];
    long[] ok = s.keys;
    int oldLength = ok.length;
    Segment n = new Segment(length);
    if (s.parents != null) n.keepParents();
    int[] moved = new int[oldLength];
    for (int j = 0; j < oldLength; j++) {
      long v = ok[j];
      if (v == 0) continue;
      int i = home(mix(v), length);
      while (n.keys[i] != 0) {
        if (++i == length) i = 0;
      }
      n.keys[i] = v;
      n.touch[i] = s.touch[j];
      n.slots[i] = s.slots[j];
      if (s.parents != null) {
        n.parents[i] = s.parents[j];
        n.kids[i] = s.kids[j];
      }
      moved[j] = i;
    }
    for (int j = 0; j < oldLength; j++) {
      if (ok[j] == 0) continue;
      int i = moved[j];
      int now = address(g, i);
      int p = s.prev[j];
      int x = s.next[j];
      if (p != NIL && p >>> localBits == g) {
        p = address(g, moved[cellOf(p)]);
      } else if (p != NIL) {
        setNext(p, now);
      }
      if (x != NIL && x >>> localBits == g) {
        x = address(g, moved[cellOf(x)]);
      } else if (x != NIL) {
        setPrev(x, now);
      }
      n.prev[i] = p;
      n.next[i] = x;
    }
    for (int[] ends : new int[][] {head, tail, drainHead, drainTail}) {
      for (int slot = 0; slot < MAX_SLOTS; slot++) {
        int e = ends[slot];
        if (e != NIL && e >>> localBits == g) ends[slot] = address(g, moved[cellOf(e)]);
      }
    }
    long stamp = s.lock.writeLock();
    try {
      s.keys = n.keys;
      s.touch = n.touch;
      s.slots = n.slots;
      s.prev = n.prev;
      s.next = n.next;
      s.parents = n.parents;
      s.kids = n.kids;
    } finally {
      s.lock.unlockWrite(stamp);
    }
  }

  /**
   * From now on every cell carries a parent and a child count; existing cells get themselves as
   * parent ("unknown") and no children. O(cells) once.
   */
  void keepParents() {
    if (parentsKept) return;
    for (Segment s : segments) {
      long stamp = s.lock.writeLock();
      try {
        s.keepParents();
      } finally {
        s.lock.unlockWrite(stamp);
      }
    }
    parentsKept = true;
  }

  long key(int a) {
    return segmentOf(a).keys[cellOf(a)];
  }

  int touch(int a) {
    return segmentOf(a).touch[cellOf(a)];
  }

  /** Sets the touch time; readers see the old or the new value, so no segment lock is taken. */
  void setTouch(int a, int touch) {
    segmentOf(a).touch[cellOf(a)] = touch;
  }

  long parent(int a) {
    return segmentOf(a).parents[cellOf(a)];
  }

  void setParent(int a, long parent) {
    segmentOf(a).parents[cellOf(a)] = parent;
  }

  int kids(int a) {
    return segmentOf(a).kids[cellOf(a)];
  }

  void setKids(int a, int kids) {
    segmentOf(a).kids[cellOf(a)] = kids;
  }

  int next(int a) {
    return segmentOf(a).next[cellOf(a)];
  }

  private void setNext(int a, int next) {
    segmentOf(a).next[cellOf(a)] = next;
  }

  private void setPrev(int a, int prev) {
    segmentOf(a).prev[cellOf(a)] = prev;
  }

  int head(int slot) {
    return head[slot];
  }

  int tail(int slot) {
    return tail[slot];
  }

  /** Unlinks cell {@code a} of {@code slot} from whichever of the slot's two lists holds it. */
  void unlink(int slot, int a) {
    Segment s = segmentOf(a);
    int i = cellOf(a);
    int p = s.prev[i];
    int n = s.next[i];
    if (p != NIL) setNext(p, n);
    else if (head[slot] == a) head[slot] = n;
    else drainHead[slot] = n;
    if (n != NIL) setPrev(n, p);
    else if (tail[slot] == a) tail[slot] = p;
    else drainTail[slot] = p;
  }

  /** Links the unlinked cell {@code a} at the head (most recent end) of {@code slot}'s list. */
  void linkHead(int slot, int a) {
    int h = head[slot];
    Segment s = segmentOf(a);
    int i = cellOf(a);
    s.prev[i] = NIL;
    s.next[i] = h;
    if (h != NIL) setPrev(h, a);
    else tail[slot] = a;
    head[slot] = a;
  }

  /**
   * Moves all of {@code slot}'s list onto its drain list (in front of what is still draining): the
   * slot's list is then empty, and {@link #drainSlice} removes the moved cells.
   */
  void detach(int slot) {
    int h = head[slot];
    if (h == NIL) return;
    int t = tail[slot];
    int dh = drainHead[slot];
    if (dh == NIL) {
      drainTail[slot] = t;
    } else {
      setNext(t, dh);
      setPrev(dh, t);
    }
    drainHead[slot] = h;
    head[slot] = NIL;
    tail[slot] = NIL;
  }

  boolean draining(int slot) {
    return drainTail[slot] != NIL;
  }

  /** Deletes up to {@code max} cells of {@code slot}'s drain list; returns how many. */
  int drainSlice(int slot, int max) {
    int n = 0;
    for (; n < max; n++) {
      int a = drainTail[slot];
      if (a == NIL) break;
      unlink(slot, a);
      delete(a);
    }
    return n;
  }

  private static final class Segment {
    final StampedLock lock = new StampedLock();

    long[] keys;
    int[] touch;
    byte[] slots;
    int[] prev;
    int[] next;
    long[] parents;
    int[] kids;
    volatile int size;
    volatile int distinct;

    Segment(int length) {
      keys = new long[length];
      touch = new int[length];
      slots = new byte[length];
      prev = new int[length];
      next = new int[length];
    }

    void keepParents() {
      if (parents != null) return;
      parents = keys.clone();
      kids = new int[keys.length];
    }

    long estimatedBytes() {
      long len = keys.length;
      long bytes = 64 + 16 + 8 * len + 3 * (16 + 4 * len) + 16 + len;
      if (parents != null) bytes += 16 + 8 * len + 16 + 4 * len;
      return bytes;
    }

    /** Whether any cell holds {@code key} (writer only). */
    boolean contains(long key) {
      long[] k = keys;
      int len = k.length;
      int i = home(mix(key), len);
      for (long v; (v = k[i]) != 0; ) {
        if (v == key) return true;
        if (++i == len) i = 0;
      }
      return false;
    }

    /** Holders of {@code key} into {@code out}; bounded so a torn optimistic read cannot loop. */
    boolean readHolders(long key, long m, long[] out) {
      for (int w = 0; w < WORDS; w++) out[w] = 0;
      long[] k = keys;
      byte[] sl = slots;
      int len = k.length;
      if (sl.length != len) return false;
      boolean found = false;
      int i = home(m, len);
      for (int n = 0; n < len; n++) {
        long v = k[i];
        if (v == 0) break;
        if (v == key) {
          int slot = sl[i] & 0xFF;
          out[slot >>> 6] |= 1L << slot;
          found = true;
        }
        if (++i == len) i = 0;
      }
      return found;
    }

    boolean readFresh(long key, long m, int slot, int nowUnits, int ttlUnits) {
      long[] k = keys;
      byte[] sl = slots;
      int[] t = touch;
      int len = k.length;
      if (sl.length != len || t.length != len) return false;
      int i = home(m, len);
      for (int n = 0; n < len; n++) {
        long v = k[i];
        if (v == 0) return false;
        if (v == key && (sl[i] & 0xFF) == slot) return !SlotCache.expired(t[i], nowUnits, ttlUnits);
        if (++i == len) i = 0;
      }
      return false;
    }
  }
}

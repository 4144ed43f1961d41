package io.kvgate.routing.prefix;

import java.util.concurrent.locks.StampedLock;

/**
 * The model of one endpoint's KV cache: the blocks it probably holds, in LRU order, bounded by its
 * capacity in blocks. Both sides of {@link LruPrefixIndex} for that endpoint: writes change it
 * under its write lock, and {@link #heldPrefix} answers a match from it under an optimistic read.
 *
 * <p>Layout: one open-addressing, linear-probing table of parallel primitive arrays (block hash,
 * last touch, LRU prev, LRU next), 20 bytes per cell and sized to at most 0.8 load, so about 25
 * bytes per held block. The LRU list threads through the table by cell index; backward-shift
 * deletion moves a cell and re-points its two neighbours, so no tombstones and no node objects
 * exist. Touch times are stored as {@code int} in units of 2<sup>20</sup> ns (about 1 ms) and
 * compared by wrapping subtraction, which is exact for ages under about 24 days.
 *
 * <p>Because every touch moves a block to the head with the current time, the list is also in
 * touch-time order, so expired blocks are always a tail: writes sweep them in O(expired), and a
 * reader can tell from the tail's time alone whether any block of this cache is expired.
 *
 * <p>Holes. From the first precise-feed write on ({@link #track}), each cell also records its
 * block's parent key and how many of its children this cache holds (two more parallel arrays,
 * {@code long} and {@code int}: 12 bytes per cell, about 15 per held block), and {@link #holes}
 * counts the held blocks whose parent is unknown or not held. Each insert and removal updates it in
 * O(1): a removed block's held children become holes (its child count), an inserted block's waiting
 * children stop being holes ({@link MissingParents} remembers how many held blocks name each
 * missing parent). While it is 0 the held set is prefix-closed along every chain whose parents were
 * reported truthfully, which is what lets {@link #heldPrefix} gallop. A parent of {@code 0} ({@link
 * #ROOT}) is a root: the first block of a prompt; a block recorded as its own parent means "parent
 * unknown" (a chain hash covers its parent, so it never names itself), which keeps the marker out
 * of the key space without a flag array.
 *
 * <p>Not thread-safe by itself: {@link LruPrefixIndex} calls the mutators under {@link #lock}'s
 * write lock; the readers take an optimistic read themselves.
 */
final class SlotCache {

  static final int NIL = -1;
  private static final double MAX_LOAD = 0.8;
  private static final int MIN_LENGTH = 16;

  final StampedLock lock = new StampedLock();

  private long[] keys = new long[MIN_LENGTH];
  private int[] touch = new int[MIN_LENGTH];
  private int[] prev = new int[MIN_LENGTH];
  private int[] next = new int[MIN_LENGTH];
  private int head = NIL;
  private int tail = NIL;
  private volatile int size;
  private volatile int tailTouch;
  volatile long capacityBlocks;

  /**
   * Whether the TTL applies here ({@link LruPrefixIndex#setExpires}). Touch times are kept either
   * way, so turning expiry back on resumes it from them.
   */
  volatile boolean expires = true;

  /** Parent of a root block (the first of a prompt); block keys are never 0. */
  static final long ROOT = 0;

  /**
   * Set by {@link #track} (the first precise-feed write) and never cleared: parents and child
   * counts are kept, {@link #holes} is exact. Until then the cache was written by routing alone,
   * whose sets are prefix-closed by construction. Also means touch times may increase along a chain
   * (an event stores a block newer than its untouched parent), so {@link #freshPrefix} scans
   * instead of bisecting. Written under the write lock.
   */
  volatile boolean tracked;

  // Per cell while tracked (null before): the block's parent key (ROOT, or the block's own key for
  // "unknown"), and the number of its children held here.
  private long[] parents;
  private int[] kids;
  private final MissingParents missing = new MissingParents();

  /** Held blocks whose parent is unknown or not held (0 while not {@link #tracked}). */
  private volatile int holes;

  /**
   * {@link #holes} {@code > 0} as of the end of the last hold of the write lock ({@link
   * #publishHoles}), not per block: a chain write opens and heals a transient hole at every new
   * block (it goes last to first). While set, {@link #heldPrefix} walks instead of galloping.
   */
  private volatile boolean holey;

  // Insertion pressure, written under the write lock.
  private volatile double pressure;
  private volatile long pressureAsOfNanos;

  SlotCache(long capacityBlocks) {
    this.capacityBlocks = capacityBlocks;
  }

  static int units(long nanos) {
    return (int) (nanos >> 20);
  }

  static boolean expired(int touchUnits, int nowUnits, int ttlUnits) {
    return nowUnits - touchUnits > ttlUnits;
  }

  int size() {
    return size;
  }

  /** Held blocks whose parent is unknown or not held; see the class comment. */
  int holes() {
    return holes;
  }

  /** Distinct missing parents that held blocks wait for (diagnostics and tests). */
  int missingParents() {
    return missing.size();
  }

  /** True if some block of this cache may be expired at {@code nowUnits} (racy, conservative). */
  boolean mayHoldExpired(int nowUnits, int ttlUnits) {
    return size > 0 && expired(tailTouch, nowUnits, ttlUnits);
  }

  // ---- reads (safe under an optimistic read: bounded probes, bounds-checked indices) ----

  /** True if {@code key} is held and was touched within the TTL. */
  boolean fresh(long key, int nowUnits, int ttlUnits) {
    long stamp = lock.tryOptimisticRead();
    if (stamp != 0) {
      boolean fresh = readFresh(key, nowUnits, ttlUnits);
      if (lock.validate(stamp)) return fresh;
    }
    stamp = lock.readLock();
    try {
      return readFresh(key, nowUnits, ttlUnits);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  private boolean readFresh(long key, int nowUnits, int ttlUnits) {
    long[] k = keys;
    int[] t = touch;
    int i = find(k, key);
    return i >= 0 && i < t.length && !expired(t[i], nowUnits, ttlUnits);
  }

  /**
   * The longest prefix, at most {@code matched} blocks of {@code chain}, whose blocks are all still
   * fresh here. Touch times along a cached prefix never increase (whoever touches block {@code k}
   * touched blocks {@code 0..k-1} at the same time), so this binary-searches for the first expired
   * block: O(log matched) probes.
   */
  int freshPrefix(BlockChain chain, int matched, int nowUnits, int ttlUnits) {
    if (!expires || !mayHoldExpired(nowUnits, ttlUnits)) return matched;
    if (tracked) {
      // Touch times need not decrease along the chain (a stored block can be newer than its
      // untouched parent): scan.
      for (int i = 0; i < matched; i++) {
        if (!fresh(BlockKeys.key(chain.hash(i)), nowUnits, ttlUnits)) return i;
      }
      return matched;
    }
    if (fresh(BlockKeys.key(chain.hash(matched - 1)), nowUnits, ttlUnits)) return matched;
    int lo = 0;
    int hi = matched - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (fresh(BlockKeys.key(chain.hash(mid - 1)), nowUnits, ttlUnits)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  /**
   * The number of leading blocks of {@code chain} this cache holds: {@link LruPrefixIndex#match}'s
   * question, asked once per endpoint. Takes an optimistic read (the read lock only if a write
   * raced it), so the answer is one consistent state of this cache.
   *
   * <p>Walked (one probe per block until the first one missing) when {@code walk} is set or this
   * cache has holes; otherwise galloped, which is exact because the held set is then prefix-closed
   * along the chain (every held block's parent is held, see the class comment): probe block 0, then
   * the lengths other endpoints matched ({@code hints}, the first {@code hintCount}, each tested
   * with two probes, its last block held and the next one not), then gallop from the longest length
   * known held (probing 1, 2, 4, ... blocks ahead) and bisect back to the first block missing.
   * Endpoints of one fleet hold prompts in few distinct lengths (every endpoint a shared system
   * prompt, one or two a conversation's history), so after the first endpoint of each length the
   * rest cost three probes each; a new length costs about 2 log2(blocks) probes more.
   */
  int heldPrefix(BlockChain chain, boolean walk, int[] hints, int hintCount) {
    long stamp = lock.tryOptimisticRead();
    if (stamp != 0) {
      int held = readPrefix(chain, walk, hints, hintCount);
      if (lock.validate(stamp)) return held;
    }
    stamp = lock.readLock();
    try {
      return readPrefix(chain, walk, hints, hintCount);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  /** {@link #heldPrefix} without the lock; bounded and bounds-safe on a torn read. */
  private int readPrefix(BlockChain chain, boolean walk, int[] hints, int hintCount) {
    long[] k = keys;
    int blocks = chain.length();
    if (size == 0 || find(k, BlockKeys.key(chain.hash(0))) < 0) return 0;
    if (walk || holey) {
      for (int i = 1; i < blocks; i++) {
        if (find(k, BlockKeys.key(chain.hash(i))) < 0) return i;
      }
      return blocks;
    }
    // Blocks [0, lo) are held, block hi is not (or hi == blocks): the answer is in [lo, hi].
    int lo = 1;
    int hi = blocks;
    for (int h = 0; h < hintCount && lo < hi; h++) {
      int length = hints[h];
      if (length <= lo || length > hi) continue;
      if (find(k, BlockKeys.key(chain.hash(length - 1))) < 0) {
        hi = length - 1;
        continue;
      }
      lo = length;
      if (length == hi) break;
      if (find(k, BlockKeys.key(chain.hash(length))) < 0) {
        hi = length;
        break;
      }
      lo = length + 1;
    }
    for (int step = 1; lo < hi; step <<= 1) {
      int p = (int) Math.min((long) lo + step - 1, hi - 1);
      if (find(k, BlockKeys.key(chain.hash(p))) < 0) {
        hi = p;
        break;
      }
      lo = p + 1;
    }
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (find(k, BlockKeys.key(chain.hash(mid))) >= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  double recentInserted(long nowNanos, double halfLifeNanos) {
    double p = pressure;
    long age = nowNanos - pressureAsOfNanos;
    return age <= 0 ? p : p * Math.pow(2, -age / halfLifeNanos);
  }

  private static int find(long[] k, long key) {
    int len = k.length;
    int i = BlockKeys.home(key, len);
    for (int n = 0; n < len; n++) {
      long v = k[i];
      if (v == key) return i;
      if (v == 0) return NIL;
      if (++i == len) i = 0;
    }
    return NIL;
  }

  // ---- writes (caller holds the write lock) ----

  /** Publishes whether this cache has holes (see {@link #holey}); caller holds the write lock. */
  void publishHoles() {
    boolean h = holes > 0;
    if (h != holey) holey = h;
  }

  /**
   * Starts tracking parents (see the class comment), if not yet: every block already held gets an
   * unknown parent, so {@link #holes} starts at the number of blocks held (0 for an empty cache,
   * the usual case: the gateway clears an endpoint before its first event) and falls as they are
   * touched again with a parent, or leave. O(table length) once.
   */
  void track() {
    if (tracked) return;
    parents = new long[keys.length];
    kids = new int[keys.length];
    for (int i = 0; i < keys.length; i++) parents[i] = keys[i];
    holes = size;
    tracked = true;
  }

  /**
   * Touches {@code key} (moving it to the head) or inserts it, evicting the LRU tail if the cache
   * is full. Returns true if it was inserted. While {@link #tracked}, {@code parent} is the block's
   * parent key, {@link #ROOT}, or {@code key} itself for "unknown"; a held block keeps the parent
   * it has unless that is unknown.
   */
  boolean touch(long key, int nowUnits, long parent) {
    int i = find(keys, key);
    if (i >= 0) {
      touch[i] = nowUnits;
      if (i != head) {
        unlink(i);
        linkHead(i);
      }
      tailTouch = touch[tail];
      if (parents != null && parents[i] == key && parent != key) {
        // Learnt the parent of a block held with an unknown one.
        parents[i] = parent;
        holes = holes - 1;
        adopt(parent);
      }
      return false;
    }
    long capacity = capacityBlocks;
    if (capacity <= 0) return false;
    while (size >= capacity) evictTail();
    if (size + 1 > keys.length * MAX_LOAD) {
      long wanted = Math.max((long) keys.length * 2, MIN_LENGTH);
      long atCapacity = (long) Math.ceil(capacity / MAX_LOAD) + 1;
      resize((int) Math.min(Math.min(wanted, atCapacity), Integer.MAX_VALUE - 8));
    }
    i = BlockKeys.home(key, keys.length);
    while (keys[i] != 0) {
      if (++i == keys.length) i = 0;
    }
    keys[i] = key;
    touch[i] = nowUnits;
    linkHead(i);
    size = size + 1;
    tailTouch = touch[tail];
    if (parents != null) {
      parents[i] = parent;
      int waiting = missing.take(key);
      kids[i] = waiting;
      holes = holes - waiting;
      if (parent == key) holes = holes + 1;
      else adopt(parent);
    }
    return true;
  }

  /** A held block now names {@code parent} (a key or ROOT, not its own key). */
  private void adopt(long parent) {
    if (parent == ROOT) return;
    int p = find(keys, parent);
    if (p >= 0) {
      kids[p]++;
    } else {
      missing.add(parent, 1);
      holes = holes + 1;
    }
  }

  /** Adds {@code inserted} new blocks to the decayed insertion count. */
  void addPressure(int inserted, long nowNanos, double halfLifeNanos) {
    if (inserted == 0) return;
    double p = recentInserted(nowNanos, halfLifeNanos);
    pressure = p + inserted;
    pressureAsOfNanos = Math.max(nowNanos, pressureAsOfNanos);
  }

  /** Removes expired blocks from the tail (none while {@link #expires} is off). */
  void sweep(int nowUnits, int ttlUnits) {
    if (!expires) return;
    while (tail != NIL && expired(touch[tail], nowUnits, ttlUnits)) removeAt(tail);
  }

  /** Removes {@code key} if held; returns whether it was. */
  boolean remove(long key) {
    int i = find(keys, key);
    if (i < 0) return false;
    removeAt(i);
    return true;
  }

  /**
   * Empties this cache at once, O(1): its table is swapped for an empty one. Returns how many
   * blocks it held. A cache that tracked parents keeps doing so, with no holes.
   */
  int clear() {
    int held = size;
    keys = new long[MIN_LENGTH];
    touch = new int[MIN_LENGTH];
    prev = new int[MIN_LENGTH];
    next = new int[MIN_LENGTH];
    if (parents != null) {
      parents = new long[MIN_LENGTH];
      kids = new int[MIN_LENGTH];
      missing.clear();
      holes = 0;
    }
    head = NIL;
    tail = NIL;
    size = 0;
    return held;
  }

  /** Evicts least recently used blocks until at most {@code capacityBlocks} remain. */
  void trimToCapacity() {
    long capacity = Math.max(0, capacityBlocks);
    while (size > capacity) evictTail();
    int needed =
        (int)
            Math.min(
                Integer.MAX_VALUE - 8, Math.max(MIN_LENGTH, (long) Math.ceil(size / MAX_LOAD) + 1));
    if (keys.length > 2 * needed) resize(needed);
  }

  /** Block keys from most to least recently used (for tests and diagnostics). */
  long[] keysMostRecentFirst() {
    long[] out = new long[size];
    int n = 0;
    for (int i = head; i != NIL; i = next[i]) out[n++] = keys[i];
    return out;
  }

  /**
   * Keys most recently used first and, when {@link #tracked}, their parents (a block's own key for
   * "unknown"); callers hold a lock.
   */
  PrefixIndex.Held held() {
    long[] out = new long[size];
    long[] ps = parents == null ? null : new long[size];
    int n = 0;
    for (int i = head; i != NIL; i = next[i]) {
      if (ps != null) ps[n] = parents[i];
      out[n++] = keys[i];
    }
    return new PrefixIndex.Held(out, ps, expires);
  }

  long estimatedBytes() {
    long bytes = 112 + 16 + 8L * keys.length + 3 * (16 + 4L * touch.length);
    long[] p = parents;
    int[] k = kids;
    if (p != null) bytes += 16 + 8L * p.length + 16 + 4L * k.length + missing.estimatedBytes();
    return bytes;
  }

  private void evictTail() {
    removeAt(tail);
  }

  private void removeAt(int i) {
    long key = keys[i];
    if (parents != null) orphan(i, key);
    unlink(i);
    deleteCell(i);
    size = size - 1;
    if (tail != NIL) tailTouch = touch[tail];
    if (keys.length > MIN_LENGTH && size < keys.length / 4)
      resize(Math.max(MIN_LENGTH, keys.length / 2));
  }

  /** Hole accounting for the removal of cell {@code i}, still in place. */
  private void orphan(int i, long key) {
    long parent = parents[i];
    if (parent == key) {
      holes = holes - 1;
    } else if (parent != ROOT) {
      int p = find(keys, parent);
      if (p >= 0) {
        kids[p]--;
      } else {
        missing.decrement(parent);
        holes = holes - 1;
      }
    }
    int children = kids[i];
    if (children > 0) {
      missing.add(key, children);
      holes = holes + children;
    }
  }

  private void unlink(int i) {
    int p = prev[i];
    int n = next[i];
    if (p != NIL) next[p] = n;
    else head = n;
    if (n != NIL) prev[n] = p;
    else tail = p;
  }

  private void linkHead(int i) {
    prev[i] = NIL;
    next[i] = head;
    if (head != NIL) prev[head] = i;
    else tail = i;
    head = i;
  }

  /** Backward-shift deletion of cell {@code i}, already unlinked from the LRU list. */
  private void deleteCell(int i) {
    int len = keys.length;
    int j = i;
    while (true) {
      if (++j == len) j = 0;
      long v = keys[j];
      if (v == 0) break;
      int home = BlockKeys.home(v, len);
      boolean movable = BlockKeys.fillsHole(i, j, home);
      if (movable) {
        keys[i] = v;
        touch[i] = touch[j];
        prev[i] = prev[j];
        next[i] = next[j];
        if (parents != null) {
          parents[i] = parents[j];
          kids[i] = kids[j];
        }
        if (prev[i] != NIL) next[prev[i]] = i;
        else head = i;
        if (next[i] != NIL) prev[next[i]] = i;
        else tail = i;
        i = j;
      }
    }
    keys[i] = 0;
  }

  /** Rebuilds the table at {@code length} cells, keeping the LRU order. */
  private void resize(int length) {
    long[] oldKeys = keys;
    int[] oldTouch = touch;
    int[] oldPrev = prev;
    long[] oldParents = parents;
    int[] oldKids = kids;
    int oldTail = tail;
    keys = new long[length];
    touch = new int[length];
    prev = new int[length];
    next = new int[length];
    if (oldParents != null) {
      parents = new long[length];
      kids = new int[length];
    }
    head = NIL;
    tail = NIL;
    for (int j = oldTail; j != NIL; j = oldPrev[j]) {
      int i = BlockKeys.home(oldKeys[j], length);
      while (keys[i] != 0) {
        if (++i == length) i = 0;
      }
      keys[i] = oldKeys[j];
      touch[i] = oldTouch[j];
      if (oldParents != null) {
        parents[i] = oldParents[j];
        kids[i] = oldKids[j];
      }
      linkHead(i);
    }
  }
}

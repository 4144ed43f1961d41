package io.kvgate.routing.prefix;

/**
 * The model of one endpoint's KV cache: the blocks it probably holds, in LRU order, bounded by its
 * capacity in blocks. Its blocks are cells of the shared {@link EntryTable} (one per block this
 * endpoint holds), its LRU list threads through them; this class keeps the per-endpoint state and
 * rules: capacity, TTL, insertion pressure, and the hole count of the precise feed.
 *
 * <p>Touch times are stored as {@code int} in units of 2<sup>20</sup> ns (about 1 ms) and compared
 * by wrapping subtraction, which is exact for ages under about 24 days. Because every touch moves a
 * block to the head with the current time, the list is also in touch-time order, so expired blocks
 * are always a tail: writes sweep them in O(expired), and a reader can tell from the tail's time
 * alone whether any block of this cache is expired.
 *
 * <p>Holes. From the first precise-feed write on ({@link #track}), each cell also records its
 * block's parent key and how many of its children this cache holds, and {@link #holes} counts the
 * held blocks whose parent is unknown or not held. Each insert and removal updates it in O(1): a
 * removed block's held children become holes (its child count), an inserted block's waiting
 * children stop being holes ({@link MissingParents} remembers how many held blocks name each
 * missing parent). While it is 0 the held set is prefix-closed along every chain whose parents were
 * reported truthfully, which is what lets {@link EntryTable#gallop} match this cache. A parent of
 * {@code 0} ({@link #ROOT}) is a root: the first block of a prompt; a block recorded as its own
 * parent means "parent unknown" (a chain hash covers its parent, so it never names itself), which
 * keeps the marker out of the key space without a flag array.
 *
 * <p>Not thread-safe by itself: {@link LruPrefixIndex} calls the mutators under its writer lock;
 * the readers ({@link #fresh}, {@link #freshPrefix}, the volatile statistics) take none.
 */
final class SlotCache {

  static final int NIL = EntryTable.NIL;

  /** Parent of a root block (the first of a prompt); block keys are never 0. */
  static final long ROOT = 0;

  final int slot;
  private final EntryTable table;

  private volatile int size;
  private volatile int tailTouch;
  volatile long capacityBlocks;

  /**
   * Whether the TTL applies here ({@link LruPrefixIndex#setExpires}). Touch times are kept either
   * way, so turning expiry back on resumes it from them.
   */
  volatile boolean expires = true;

  /**
   * Set by {@link #track} (the first precise-feed write) and never cleared: parents and child
   * counts are kept, {@link #holes} is exact. Until then the cache was written by routing alone,
   * whose sets are prefix-closed by construction. Also means touch times may increase along a chain
   * (an event stores a block newer than its untouched parent), so {@link #freshPrefix} scans
   * instead of bisecting. Written under the writer lock.
   */
  volatile boolean tracked;

  private final MissingParents missing = new MissingParents();

  /** Held blocks whose parent is unknown or not held (0 while not {@link #tracked}). */
  private volatile int holes;

  /** Whether the index's set of holey slots lists this cache (under the writer lock). */
  boolean publishedHoley;

  /**
   * True from {@link #detach} until the detached cells are all deleted: the table may still hold
   * cells of this slot that it no longer holds, so a match must not report it.
   */
  private volatile boolean draining;

  // Insertion pressure, written under the writer lock.
  private volatile double pressure;
  private volatile long pressureAsOfNanos;

  SlotCache(int slot, EntryTable table, long capacityBlocks) {
    this.slot = slot;
    this.table = table;
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

  /** See {@link #draining}. */
  boolean draining() {
    return draining;
  }

  /** True if some block of this cache may be expired at {@code nowUnits} (racy, conservative). */
  boolean mayHoldExpired(int nowUnits, int ttlUnits) {
    return size > 0 && expired(tailTouch, nowUnits, ttlUnits);
  }

  // ---- reads (any thread, no lock) ----

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
        if (!fresh(chain.hash(i), nowUnits, ttlUnits)) return i;
      }
      return matched;
    }
    if (fresh(chain.hash(matched - 1), nowUnits, ttlUnits)) return matched;
    int lo = 0;
    int hi = matched - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (fresh(chain.hash(mid - 1), nowUnits, ttlUnits)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  private boolean fresh(long hash, int nowUnits, int ttlUnits) {
    return table.fresh(EntryTable.key(hash), slot, nowUnits, ttlUnits);
  }

  double recentInserted(long nowNanos, double halfLifeNanos) {
    double p = pressure;
    long age = nowNanos - pressureAsOfNanos;
    return age <= 0 ? p : p * Math.pow(2, -age / halfLifeNanos);
  }

  // ---- writes (caller holds the writer lock) ----

  /**
   * Starts tracking parents (see the class comment), if not yet: every block already held gets an
   * unknown parent, so {@link #holes} starts at the number of blocks held (0 for an empty cache,
   * the usual case: the gateway clears an endpoint before its first event) and falls as they are
   * touched again with a parent, or leave.
   */
  void track() {
    if (tracked) return;
    table.keepParents();
    for (int a = table.head(slot); a != NIL; a = table.next(a)) {
      table.setParent(a, table.key(a));
      table.setKids(a, 0);
    }
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
    int a = table.find(key, slot);
    if (a != NIL) {
      table.setTouch(a, nowUnits);
      if (a != table.head(slot)) {
        table.unlink(slot, a);
        table.linkHead(slot, a);
      }
      tailTouch = table.touch(table.tail(slot));
      if (tracked && table.parent(a) == key && parent != key) {
        // Learnt the parent of a block held with an unknown one.
        table.setParent(a, parent);
        holes = holes - 1;
        adopt(parent);
      }
      return false;
    }
    long capacity = capacityBlocks;
    if (capacity <= 0) return false;
    while (size >= capacity) removeAt(table.tail(slot));
    a = table.insert(key, slot, nowUnits);
    if (a == NIL) return false;
    table.linkHead(slot, a);
    size = size + 1;
    tailTouch = table.touch(table.tail(slot));
    if (tracked) {
      table.setParent(a, parent);
      int waiting = missing.take(key);
      table.setKids(a, waiting);
      holes = holes - waiting;
      if (parent == key) holes = holes + 1;
      else adopt(parent);
    }
    return true;
  }

  /** A held block now names {@code parent} (a key or ROOT, not its own key). */
  private void adopt(long parent) {
    if (parent == ROOT) return;
    int p = table.find(parent, slot);
    if (p != NIL) {
      table.setKids(p, table.kids(p) + 1);
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
    for (int t; (t = table.tail(slot)) != NIL && expired(table.touch(t), nowUnits, ttlUnits); ) {
      removeAt(t);
    }
  }

  /** Removes {@code key} if held; returns whether it was. */
  boolean remove(long key) {
    int a = table.find(key, slot);
    if (a == NIL) return false;
    removeAt(a);
    return true;
  }

  /**
   * Empties this cache at once: its list moves to the table's drain list and {@link #draining} is
   * raised until {@link #drainSlice} has deleted every detached cell. Returns how many blocks it
   * held. Parents are still tracked (if they were); the hole count restarts at 0.
   */
  long detach() {
    long held = size;
    draining = true;
    table.detach(slot);
    missing.clear();
    holes = 0;
    size = 0;
    return held;
  }

  /**
   * Deletes up to {@code max} detached cells; clears {@link #draining} once none is left. Returns
   * true while some remain.
   */
  boolean drainSlice(int max) {
    table.drainSlice(slot, max);
    if (table.draining(slot)) return true;
    draining = false;
    return false;
  }

  /** Evicts least recently used blocks until at most {@code capacityBlocks} remain. */
  void trimToCapacity() {
    long capacity = Math.max(0, capacityBlocks);
    while (size > capacity) removeAt(table.tail(slot));
  }

  /** Block keys from most to least recently used (for tests and diagnostics). */
  long[] keysMostRecentFirst() {
    long[] out = new long[size];
    int n = 0;
    for (int a = table.head(slot); a != NIL; a = table.next(a)) out[n++] = table.key(a);
    return out;
  }

  /**
   * Keys most recently used first and, when {@link #tracked}, their parents (a block's own key for
   * "unknown"); callers hold the writer lock.
   */
  PrefixIndex.Held held() {
    long[] out = new long[size];
    long[] ps = tracked ? new long[size] : null;
    int n = 0;
    for (int a = table.head(slot); a != NIL; a = table.next(a)) {
      if (ps != null) ps[n] = table.parent(a);
      out[n++] = table.key(a);
    }
    return new PrefixIndex.Held(out, ps, expires);
  }

  /** What this endpoint keeps outside the shared table. */
  long estimatedBytes() {
    return 96 + missing.estimatedBytes();
  }

  private void removeAt(int a) {
    long key = table.key(a);
    if (tracked) orphan(a, key);
    table.unlink(slot, a);
    table.delete(a);
    size = size - 1;
    int t = table.tail(slot);
    if (t != NIL) tailTouch = table.touch(t);
  }

  /** Hole accounting for the removal of cell {@code a}, still in place. */
  private void orphan(int a, long key) {
    long parent = table.parent(a);
    if (parent == key) {
      holes = holes - 1;
    } else if (parent != ROOT) {
      int p = table.find(parent, slot);
      if (p != NIL) {
        table.setKids(p, table.kids(p) - 1);
      } else {
        missing.decrement(parent);
        holes = holes - 1;
      }
    }
    int children = table.kids(a);
    if (children > 0) {
      missing.add(key, children);
      holes = holes + children;
    }
  }
}

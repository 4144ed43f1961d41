package io.kvgate.routing.prefix;

/**
 * For one endpoint's {@link SlotCache}: block key of a parent the endpoint does not hold → how many
 * blocks it holds name that parent (each of them a hole). The hole count heals exactly when the
 * missing parent arrives: its entry is taken and becomes the new block's child count.
 *
 * <p>An open-addressing, linear-probing table of parallel {@code long}/{@code int} arrays with
 * backward-shift deletion (no tombstones), like the other tables of the index. It holds at most one
 * entry per hole, and is usually empty or nearly so: engines store parents before children and
 * evict leaves first, so an entry appears only transiently (a write applies a chain last to first,
 * so a new block's parent is missing until the next step of the same write) or while the feed has
 * actually left a block behind a missing parent. It shrinks when it falls below a quarter full.
 *
 * <p>Not thread-safe: used under the owning cache's write lock.
 */
final class MissingParents {

  private static final int MIN_LENGTH = 8;

  private long[] keys = new long[MIN_LENGTH];
  private int[] counts = new int[MIN_LENGTH];
  private int size;

  /** Entries (distinct missing parents). */
  int size() {
    return size;
  }

  /** One more held block names {@code parent}, which is not held. */
  void add(long parent, int n) {
    if ((size + 1) * 4L > keys.length * 3L) resize(keys.length * 2);
    int i = BlockKeys.home(parent, keys.length);
    while (true) {
      long k = keys[i];
      if (k == parent) {
        counts[i] += n;
        return;
      }
      if (k == 0) {
        keys[i] = parent;
        counts[i] = n;
        size++;
        return;
      }
      if (++i == keys.length) i = 0;
    }
  }

  /** One held block naming {@code parent} (not held) left; the entry must exist. */
  void decrement(long parent) {
    int i = find(parent);
    if (i < 0) throw new IllegalStateException("no block waits for parent " + parent);
    if (--counts[i] == 0) delete(i);
  }

  /** Removes and returns the count of blocks naming {@code parent} (0 if none). */
  int take(long parent) {
    if (size == 0) return 0;
    int i = find(parent);
    if (i < 0) return 0;
    int n = counts[i];
    delete(i);
    return n;
  }

  void clear() {
    keys = new long[MIN_LENGTH];
    counts = new int[MIN_LENGTH];
    size = 0;
  }

  long estimatedBytes() {
    return 32 + 16 + 8L * keys.length + 16 + 4L * counts.length;
  }

  private int find(long key) {
    int len = keys.length;
    int i = BlockKeys.home(key, len);
    for (int n = 0; n < len; n++) {
      long k = keys[i];
      if (k == key) return i;
      if (k == 0) return -1;
      if (++i == len) i = 0;
    }
    return -1;
  }

  private void delete(int i) {
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
        counts[i] = counts[j];
        i = j;
      }
    }
    keys[i] = 0;
    counts[i] = 0;
    size--;
    if (len > MIN_LENGTH && size < len / 4) resize(len / 2);
  }

  private void resize(int length) {
    long[] oldKeys = keys;
    int[] oldCounts = counts;
    keys = new long[length];
    counts = new int[length];
    for (int j = 0; j < oldKeys.length; j++) {
      long k = oldKeys[j];
      if (k == 0) continue;
      int i = BlockKeys.home(k, length);
      while (keys[i] != 0) {
        if (++i == length) i = 0;
      }
      keys[i] = k;
      counts[i] = oldCounts[j];
    }
  }
}

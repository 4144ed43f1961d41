package io.kvgate.routing.prefix;

/**
 * Keys and probing shared by the index's open-addressing tables ({@link SlotCache}, {@link
 * MissingParents}): linear probing, a multiplicative mix of the block hash, Lemire's multiply-shift
 * range reduction for the home cell (so table lengths need not be powers of two and a table can be
 * sized close to its maximum load), and backward-shift deletion (Knuth 6.4, algorithm R), so no
 * tombstones accumulate.
 */
final class BlockKeys {

  /** The largest fleet one index tracks: slots are 0..255. */
  static final int MAX_SLOTS = 256;

  /** Stands in for a block hash of 0, which marks an empty table cell. */
  static final long ZERO_KEY = 0x5BD1E9955BD1E995L;

  private BlockKeys() {}

  /** The table key of a block hash: the hash itself, except that 0 is remapped. */
  static long key(long hash) {
    return hash == 0 ? ZERO_KEY : hash;
  }

  static long mix(long key) {
    return key * 0x9E3779B97F4A7C15L;
  }

  /** The home cell of {@code key} in a table of {@code length} cells. */
  static int home(long key, int length) {
    return (int) (((mix(key) & 0xFFFFFFFFL) * length) >>> 32);
  }

  /**
   * Backward-shift deletion in a linear-probing table: whether the key at {@code j}, whose home
   * cell is {@code home}, may move into the hole at {@code i} (its probe run from home, wrapping
   * round the table's end, passes through {@code i}).
   */
  static boolean fillsHole(int i, int j, int home) {
    return i <= j ? (home <= i || home > j) : (home <= i && home > j);
  }
}

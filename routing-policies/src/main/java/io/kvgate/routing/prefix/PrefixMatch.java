package io.kvgate.routing.prefix;

/**
 * The result of {@link PrefixIndex#match}: per endpoint slot, how many leading blocks of the
 * request's chain are probably cached there.
 */
public final class PrefixMatch {

  private final int[] matchedBySlot;
  private final int promptBlocks;

  /**
   * @param matchedBySlot matched leading blocks per slot (slots past the array's end matched 0);
   *     owned by this object from now on
   * @param promptBlocks blocks in the request's chain
   */
  public PrefixMatch(int[] matchedBySlot, int promptBlocks) {
    this.matchedBySlot = matchedBySlot;
    this.promptBlocks = promptBlocks;
  }

  public static PrefixMatch none(int promptBlocks) {
    return new PrefixMatch(new int[0], promptBlocks);
  }

  /** Leading blocks cached at {@code slot}. */
  public int matched(int slot) {
    return slot < matchedBySlot.length ? matchedBySlot[slot] : 0;
  }

  public int promptBlocks() {
    return promptBlocks;
  }

  /** The longest match over all endpoints. */
  public int maxMatched() {
    int m = 0;
    for (int v : matchedBySlot) m = Math.max(m, v);
    return m;
  }
}

package io.kvgate.routing.prefix;

import java.util.Arrays;

/**
 * The chained hashes of a prompt's full blocks: {@code hash(i)} covers block {@code i} and, through
 * its parent, every block before it, so two prompts share their first {@code k} hashes exactly when
 * they share their first {@code k} blocks. Immutable.
 */
public final class BlockChain {

  public static final BlockChain EMPTY = new BlockChain(new long[0], 1, 0);

  private final long[] hashes;
  private final int blockSize;
  private final long totalUnits;

  /**
   * @param hashes chained block hashes, owned by this object from now on (not copied)
   * @param blockSize units (characters or tokens) per block
   * @param totalUnits units in the whole prompt, including the partial tail block
   */
  public BlockChain(long[] hashes, int blockSize, long totalUnits) {
    this.hashes = hashes;
    this.blockSize = blockSize;
    this.totalUnits = totalUnits;
  }

  public int length() {
    return hashes.length;
  }

  public long hash(int i) {
    return hashes[i];
  }

  public int blockSize() {
    return blockSize;
  }

  public long totalUnits() {
    return totalUnits;
  }

  /** A copy of the hashes. */
  public long[] toArray() {
    return hashes.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BlockChain b
        && b.blockSize == blockSize
        && b.totalUnits == totalUnits
        && Arrays.equals(b.hashes, hashes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(hashes);
  }

  @Override
  public String toString() {
    return "BlockChain{blocks="
        + hashes.length
        + ", blockSize="
        + blockSize
        + ", units="
        + totalUnits
        + "}";
  }
}

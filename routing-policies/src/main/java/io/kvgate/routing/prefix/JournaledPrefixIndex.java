package io.kvgate.routing.prefix;

import java.util.Arrays;

/**
 * A {@link PrefixIndex} that reports every write it applies to an {@link IndexJournal} (when one is
 * attached), so that peer gateways can apply the same writes to their own indexes: the approximate
 * feed (routing decisions) and the precise feed (engine KV events) alike. Reads and the local-only
 * settings (capacity) go straight to the wrapped index. Writes received from peers are applied to
 * {@link #local()}, which journals nothing, so they are never shipped back.
 *
 * <p>With no journal attached the wrapper costs one volatile read per write.
 */
public final class JournaledPrefixIndex implements PrefixIndex {

  private final PrefixIndex local;
  private volatile IndexJournal journal;

  public JournaledPrefixIndex(PrefixIndex local) {
    this.local = local;
  }

  /** The wrapped index: writes to it stay on this gateway. */
  public PrefixIndex local() {
    return local;
  }

  /** Starts (or, with null, stops) reporting writes to {@code journal}. */
  public void attach(IndexJournal journal) {
    this.journal = journal;
  }

  @Override
  public PrefixMatch match(BlockChain chain, long nowNanos) {
    return local.match(chain, nowNanos);
  }

  @Override
  public void recordRouted(int slot, BlockChain chain, long nowNanos) {
    local.recordRouted(slot, chain, nowNanos);
    IndexJournal j = journal;
    if (j != null && chain.length() > 0) j.routed(slot, chain);
  }

  @Override
  public void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos) {
    local.blocksStored(slot, hashes, from, to, nowNanos);
    IndexJournal j = journal;
    if (j != null && to > from) j.snapshotStored(slot, Arrays.copyOfRange(hashes, from, to), null);
  }

  @Override
  public void blocksStored(
      int slot,
      long[] hashes,
      int from,
      int to,
      long parentHash,
      boolean hasParent,
      long nowNanos) {
    local.blocksStored(slot, hashes, from, to, parentHash, hasParent, nowNanos);
    IndexJournal j = journal;
    if (j != null && to > from)
      j.stored(slot, Arrays.copyOfRange(hashes, from, to), parentHash, hasParent);
  }

  @Override
  public void snapshotStored(
      int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
    local.snapshotStored(slot, hashes, parents, from, to, nowNanos);
    IndexJournal j = journal;
    if (j != null && to > from) {
      j.snapshotStored(
          slot,
          Arrays.copyOfRange(hashes, from, to),
          parents == null ? null : Arrays.copyOfRange(parents, from, to));
    }
  }

  @Override
  public void blocksRemoved(int slot, long[] hashes, int from, int to) {
    local.blocksRemoved(slot, hashes, from, to);
    IndexJournal j = journal;
    if (j != null && to > from) j.removed(slot, Arrays.copyOfRange(hashes, from, to));
  }

  @Override
  public long clearEndpoint(int slot) {
    long removed = local.clearEndpoint(slot);
    IndexJournal j = journal;
    if (j != null) j.cleared(slot);
    return removed;
  }

  @Override
  public void setExpires(int slot, boolean expires) {
    local.setExpires(slot, expires);
    IndexJournal j = journal;
    if (j != null) j.expires(slot, expires);
  }

  @Override
  public void setCapacityBlocks(int slot, long capacityBlocks) {
    local.setCapacityBlocks(slot, capacityBlocks);
  }

  @Override
  public long capacityBlocks(int slot) {
    return local.capacityBlocks(slot);
  }

  @Override
  public long heldBlocks(int slot) {
    return local.heldBlocks(slot);
  }

  @Override
  public long holes(int slot) {
    return local.holes(slot);
  }

  @Override
  public double recentInsertedBlocks(int slot, long nowNanos) {
    return local.recentInsertedBlocks(slot, nowNanos);
  }

  @Override
  public Held held(int slot) {
    return local.held(slot);
  }

  @Override
  public void mergeHeld(int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
    local.mergeHeld(slot, hashes, parents, from, to, nowNanos);
  }

  @Override
  public long size() {
    return local.size();
  }

  @Override
  public long estimatedBytes() {
    return local.estimatedBytes();
  }
}

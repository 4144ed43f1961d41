package io.kvgate.routing.prefix;

/**
 * Where a {@link JournaledPrefixIndex} reports each write it applied, so that the writes can be
 * shipped to peer gateways and applied to their indexes. Called on the writer's thread (an event
 * loop for {@link #routed}): implementations must only enqueue, never block. Array ranges are
 * copied by the caller or not retained past the call, as each method says.
 */
public interface IndexJournal {

  /** {@code chain} was routed to {@code slot} ({@link PrefixIndex#recordRouted}). */
  void routed(int slot, BlockChain chain);

  /**
   * The engine at {@code slot} stored a chain ({@link PrefixIndex#blocksStored(int, long[], int,
   * int, long, boolean, long)}); {@code hashes} is a copy owned by the journal from now on.
   */
  void stored(int slot, long[] hashes, long parentHash, boolean hasParent);

  /**
   * The engine at {@code slot} holds these blocks, with their parents or with none known ({@code
   * parents} null): a snapshot chunk, or {@link PrefixIndex#blocksStored(int, long[], int, int,
   * long)}. Both arrays are copies owned by the journal.
   */
  void snapshotStored(int slot, long[] hashes, long[] parents);

  /** The engine at {@code slot} dropped these blocks; {@code hashes} is a copy. */
  void removed(int slot, long[] hashes);

  /** Everything {@code slot} held was forgotten. */
  void cleared(int slot);

  /** The TTL was turned on or off for {@code slot}. */
  void expires(int slot, boolean expires);
}

package io.kvgate.routing.prefix;

/**
 * Which endpoints probably hold which block chains, for one model. Endpoints are named by their
 * dense {@code slot} ({@link io.kvgate.routing.EndpointState#slot()}).
 *
 * <p>Two feeds write the same structure: the approximate one ({@link #recordRouted}: kvgate sent
 * this chain to that endpoint, so the endpoint will hold its blocks) and the precise one, engine KV
 * events ({@link #blocksStored}, {@link #blocksRemoved}, {@link #clearEndpoint}, with {@link
 * #setExpires} turning the TTL off for an endpoint whose engine reports its evictions). Lookups
 * cost O(blocks of the prompt), independent of the number of endpoints.
 *
 * <p>Per-endpoint statistics ({@link #heldBlocks}, {@link #capacityBlocks}, {@link
 * #recentInsertedBlocks}) let policies spread cache pressure: a request that hits nowhere is best
 * sent where inserting its blocks evicts the least, which is how a fleet of small per-replica LRU
 * caches approaches one pooled cache.
 *
 * <p>Implementations are safe for concurrent use from all event-loop threads and never block.
 */
public interface PrefixIndex {

  /**
   * In {@link #snapshotStored}'s {@code parents}: the block has no parent (it is the first block of
   * a prompt), as {@code 0} in {@code kvgate.v1.SnapshotChunk.parent_block_hashes}. A real parent
   * hash of 0 cannot be told apart from it (a 2<sup>-64</sup> chance per block).
   */
  long ROOT = 0;

  /**
   * Matches a chain against every endpoint.
   *
   * @param chain the request's chain
   * @param nowNanos current time, for TTL expiry
   * @return per slot, the number of leading blocks of {@code chain} the endpoint probably holds
   */
  PrefixMatch match(BlockChain chain, long nowNanos);

  /**
   * Approximate feed: {@code chain} was dispatched to {@code slot}; it will hold all its blocks.
   */
  void recordRouted(int slot, BlockChain chain, long nowNanos);

  /**
   * Precise feed: the engine at {@code slot} cached these blocks, {@code hashes[from..to)}, with no
   * word on their parents. Touches them last to first like {@link #recordRouted} does; counts
   * inserted ones as insertion pressure. Every block's parent counts as unknown, so the slot may be
   * matched block by block (slower, never wrong) while they are held; see {@link #holes}. Prefer
   * {@link #blocksStored(int, long[], int, int, long, boolean, long)} for a {@code BlockStored}
   * event and {@link #snapshotStored} for snapshot chunks.
   */
  void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos);

  /**
   * Precise feed: the engine at {@code slot} cached these blocks, {@code hashes[from..to)}, in
   * chain order: block {@code i}'s parent is block {@code i - 1}, and block {@code from}'s is
   * {@code parentHash} if {@code hasParent}, else none (the first block of a prompt) — the fields
   * of a {@code kvgate.v1.BlockStored}. Touches them last to first (so a parent is never older than
   * its child) and counts inserted ones as insertion pressure. With true parents the slot's held
   * set stays prefix-closed and it is matched in O(log blocks) probes; see {@link #holes}.
   */
  void blocksStored(
      int slot, long[] hashes, int from, int to, long parentHash, boolean hasParent, long nowNanos);

  /**
   * Precise feed, a chunk of a snapshot: the engine at {@code slot} holds blocks {@code
   * hashes[from..to)}, in any order; {@code parents[i]} is block {@code i}'s parent hash or {@link
   * #ROOT}, and {@code parents == null} means unknown (as {@link #blocksStored(int, long[], int,
   * int, long)}). A block whose parent comes later is a hole until the parent arrives. Touched and
   * counted like {@link #blocksStored}.
   */
  void snapshotStored(int slot, long[] hashes, long[] parents, int from, int to, long nowNanos);

  /**
   * Precise feed: the engine at {@code slot} no longer holds these blocks, {@code
   * hashes[from..to)}. Unknown hashes are ignored.
   */
  void blocksRemoved(int slot, long[] hashes, int from, int to);

  /**
   * Forgets everything {@code slot} holds (engine restart or cache reset); returns the number of
   * blocks removed.
   */
  long clearEndpoint(int slot);

  /**
   * Whether the TTL applies to {@code slot}'s blocks (true by default). Precise endpoints turn it
   * off: the engine reports its evictions, and a block it keeps serving to traffic kvgate never
   * sees must not expire from the index.
   */
  void setExpires(int slot, boolean expires);

  /**
   * Sets how many blocks the endpoint at {@code slot} can cache (its KV capacity, in blocks of this
   * index's block size). Evicts least recently used blocks at once if it now holds more.
   */
  void setCapacityBlocks(int slot, long capacityBlocks);

  /** The capacity of {@code slot}, in blocks (the configured default until set). */
  long capacityBlocks(int slot);

  /** Blocks currently indexed for {@code slot}. */
  long heldBlocks(int slot);

  /**
   * Blocks indexed for {@code slot} whose parent is unknown or not indexed there ("holes"; 0 for an
   * endpoint written only by routing). While above 0 the endpoint's matches cost O(blocks matched)
   * instead of O(log blocks); engine events with their parents, reporting leaves-first evictions,
   * keep it at 0.
   */
  long holes(int slot);

  /**
   * Insertion pressure: blocks newly inserted for {@code slot} (cache misses it had to fill),
   * exponentially decayed with the index's half-life, as of {@code nowNanos}.
   */
  double recentInsertedBlocks(int slot, long nowNanos);

  /**
   * A copy of what {@code slot} holds, for a peer gateway's catch-up ({@link #mergeHeld}): its
   * blocks most recently used first, their parents when the slot was fed precisely, and whether its
   * TTL applies.
   */
  Held held(int slot);

  /**
   * Merges blocks a peer's index holds for {@code slot} into this one (a union: nothing held here
   * is removed), {@code hashes[from..to)} most recently used first, as {@link #held} gives them.
   * {@code parents} null (a slot written by routing alone) touches them as {@link #recordRouted}
   * does; else {@code parents[i]} is block {@code i}'s parent, {@link #ROOT}, or the block's own
   * hash for "unknown", as {@link #snapshotStored}.
   */
  void mergeHeld(int slot, long[] hashes, long[] parents, int from, int to, long nowNanos);

  /**
   * What one slot holds ({@link #held}).
   *
   * @param hashes block hashes, most recently used first
   * @param parents per block, its parent hash, {@link #ROOT}, or its own hash when unknown; null
   *     when the slot was written by routing alone
   * @param expires whether the TTL applies to the slot
   */
  record Held(long[] hashes, long[] parents, boolean expires) {}

  /** Blocks currently indexed, counting one per (block, endpoint) pair. */
  long size();

  /** Estimated heap bytes held by the index. */
  long estimatedBytes();
}

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
   * Precise feed: the engine at {@code slot} cached these blocks, {@code hashes[from..to)}, given
   * in chain order (parent first). Touches them like {@link #recordRouted} does (last to first, so
   * a parent is never older than its child); counts inserted ones as insertion pressure.
   */
  void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos);

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
   * Insertion pressure: blocks newly inserted for {@code slot} (cache misses it had to fill),
   * exponentially decayed with the index's half-life, as of {@code nowNanos}.
   */
  double recentInsertedBlocks(int slot, long nowNanos);

  /** Blocks currently indexed, counting one per (block, endpoint) pair. */
  long size();

  /** Estimated heap bytes held by the index. */
  long estimatedBytes();
}

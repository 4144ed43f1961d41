package io.kvgate.routing.prefix;

/**
 * Which endpoints probably hold which block chains, for one model. Endpoints are named by their
 * dense {@code slot} ({@link io.kvgate.routing.EndpointState#slot()}).
 *
 * <p>It is written from kvgate's own routing ({@link #recordRouted}: kvgate sent this chain to that
 * endpoint, so the endpoint will hold its blocks). Lookups cost O(blocks of the prompt),
 * independent of the number of endpoints.
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

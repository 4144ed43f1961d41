package io.kvgate.routing.prefix;

/**
 * Which endpoints probably hold which block chains, for one model. Endpoints are named by their
 * dense {@code slot} ({@link io.kvgate.routing.EndpointState#slot()}).
 *
 * <p>Two feeds write the same structure: the approximate one ({@link #recordRouted}: kvgate sent
 * this chain to that endpoint, so the endpoint will hold its blocks) and the precise one (engine
 * KV events: {@link #blocksStored}, {@link #blocksRemoved}, {@link #endpointCleared}). Lookups
 * cost O(blocks of the prompt), independent of the number of endpoints.
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

  /** Approximate feed: {@code chain} was dispatched to {@code slot}; it will hold all its blocks. */
  void recordRouted(int slot, BlockChain chain, long nowNanos);

  /** Precise feed: the engine at {@code slot} stored these consecutive blocks after {@code parentHash} (0 for a root). */
  void blocksStored(int slot, long parentHash, long[] blockHashes, long nowNanos);

  /** Precise feed: the engine at {@code slot} evicted these blocks. */
  void blocksRemoved(int slot, long[] blockHashes);

  /** The endpoint's cache was cleared, or the endpoint left the fleet. */
  void endpointCleared(int slot);

  /** Blocks currently indexed, counting one per (block, endpoint) pair. */
  long size();

  /** Estimated heap bytes held by the index. */
  long estimatedBytes();
}

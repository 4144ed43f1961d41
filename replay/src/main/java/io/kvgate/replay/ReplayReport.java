package io.kvgate.replay;

import java.util.List;

/**
 * A replay's results next to the trace's references.
 *
 * @param trace the trace file
 * @param records records replayed
 * @param replicas engines per fleet
 * @param capacityBlocks KV blocks per engine
 * @param blockSizeTokens engine block size
 * @param speed time compression
 * @param oracleHitRate infinite-cache token hit rate
 * @param pooledHitRate token hit rate of one LRU as large as the fleet
 * @param workingSetBlocks distinct engine blocks of the trace's prompts (what an infinite cache
 *     ends up holding; 0 for OpenAI-request traces), to read against {@code replicas ×
 *     capacityBlocks}
 * @param ttftFloorP99Ms the pooled-cache TTFT floor at the 99th percentile: what an idle engine
 *     needs to prefill what one fleet-sized LRU cache misses ({@link
 *     CacheBounds#pooledTtftFloorMs}); NaN for OpenAI-request traces
 * @param results one per cell (fleet layout, policy, threshold), in the order run
 * @param rateScale arrivals ran this many times faster than the trace's timestamps (simulated time)
 * @param pdProtocol the protocol of the disaggregated fleets' cells
 * @param directShare the share of requests sent straight to an engine, bypassing the gateway
 * @param restartEngineAtMs when engine 0 restarted in each cell, simulated ms; -1 for never
 */
public record ReplayReport(
    String trace,
    int records,
    int replicas,
    long capacityBlocks,
    int blockSizeTokens,
    double speed,
    double oracleHitRate,
    double pooledHitRate,
    long workingSetBlocks,
    double ttftFloorP99Ms,
    List<PolicyResult> results,
    double rateScale,
    String pdProtocol,
    double directShare,
    long restartEngineAtMs) {

  /** True if a cell ran with a precise index, or the cells ran in several index modes. */
  public boolean comparesIndexModes() {
    return results.stream().anyMatch(p -> !"approximate".equals(p.indexMode()));
  }

  /**
   * True if the replay looked at what the index knows: precise cells, direct traffic or an engine
   * restart. The report then shows the index table (modes, phantom hits, the gateway's view).
   */
  public boolean studiesIndex() {
    return comparesIndexModes() || directShare > 0 || restartEngineAtMs >= 0;
  }

  /** True if a cell ran behind more than one gateway: rows then name each cell's gateways. */
  public boolean comparesGateways() {
    return results.stream().anyMatch(p -> !"1".equals(p.gateways()));
  }

  /** True if a cell ran behind clustered gateways: the report then shows the cluster table. */
  public boolean hasCluster() {
    return results.stream().anyMatch(p -> p.cluster() != null);
  }

  /** True if a cell ran on a disaggregated fleet or the cells ran on several fleet layouts. */
  public boolean comparesFleets() {
    return results.stream().map(PolicyResult::fleet).distinct().count() > 1
        || results.stream().anyMatch(p -> p.minUncachedTokens() >= 0);
  }
}

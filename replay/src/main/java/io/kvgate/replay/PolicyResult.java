package io.kvgate.replay;

import java.util.List;

/**
 * One cell's replay: a policy on a fleet layout and index mode (and, on a disaggregated fleet, one
 * {@code pd.minUncachedTokens}), behind one gateway or several ({@link Gateways}).
 *
 * <p>With direct traffic ({@link ReplayOptions#directShare()}), the client-side latencies (TTFT,
 * ITL, E2E and their plots) and the phantom hits are those of the requests routed by the gateway;
 * the direct requests' TTFT is kept apart; the hit rate, throughput, imbalance and errors count all
 * traffic, as the engines served it.
 *
 * @param policy the policy
 * @param requests requests sent
 * @param errors failed, dropped or non-2xx requests
 * @param hitRate on an aggregated fleet, cached prompt tokens / prompt tokens, as the engines
 *     counted them; on a disaggregated fleet, 1 - prompt tokens the engines computed / prompt
 *     tokens of the completed requests (a decode leg's transferred tokens are no hit: its prefill
 *     leg computed them)
 * @param ttftP50Ms TTFT percentiles of the gateway-routed requests in simulated milliseconds (wall
 *     time × speed)
 * @param e2eP50Ms end-to-end latency percentiles in simulated milliseconds
 * @param throughputRps completed requests per simulated second
 * @param outputTokensPerS generated tokens per simulated second
 * @param prefillImbalance max / mean of the prompt tokens each engine actually prefilled (on a
 *     disaggregated fleet, over its prefill engines)
 * @param prefillPerEngine prompt tokens each engine prefilled, in fleet order
 * @param ttftSortedMs every request's TTFT, ascending (for the CDF plot)
 * @param loadOverTime per sample second (simulated), per engine: running + waiting requests
 * @param fleet the fleet layout ({@link Fleet#label()})
 * @param minUncachedTokens the gateway's {@code pd.minUncachedTokens}; -1 on an aggregated fleet
 * @param disaggregated completed requests served by a prefill and a decode engine (the gateway's
 *     {@code x-kvgate-prefill-endpoint} header)
 * @param itlGaps gaps between consecutive content events measured by the clients
 * @param itlP50Ms inter-token latency percentiles over all gaps of all streamed requests, in
 *     simulated milliseconds; NaN without gaps
 * @param itlRequestP99MedianMs the median over requests (with at least one gap) of each request's
 *     own 99th-percentile gap
 * @param itlQuantilesMs the ITL distribution at 200 evenly spaced quantiles (for the CDF plot)
 * @param itlBurstShare the share of gaps shorter than half the engines' decode step, which no
 *     engine produces: tokens the harness delivered late and together because the machine could not
 *     keep up; above a few percent the cell's ITL and TTFT measure the harness
 * @param indexMode {@code approximate} or {@code precise}: what the gateway's index learned the
 *     caches from
 * @param directRequests requests sent straight to an engine, bypassing the gateway
 * @param directTtftP50Ms TTFT percentiles of the direct requests (simulated ms); NaN without any
 * @param judgedRequests completed gateway-routed requests with both the gateway's prediction
 *     ({@code x-kvgate-predicted-cached-tokens}) and the engine's {@code cached_tokens}: the
 *     requests a phantom hit can be judged on (policies that predict nothing have none)
 * @param phantomHits of those, the requests priced on a phantom hit: the gateway predicted at least
 *     one block ({@code blockSizeTokens}) more cached tokens than the engine found
 * @param indexView per engine at the end of the cell: the gateway's view of its cache against the
 *     engine's own count; empty if the launcher exposes no view
 * @param restart what the restart of engine 0 did; null without {@code --restart-engine-at}
 * @param gateways the cell's gateways ({@link Gateways#label()}: {@code 1}, {@code 3}, {@code 3c})
 * @param cluster what the cluster of a clustered cell did; null otherwise
 */
public record PolicyResult(
    String policy,
    long requests,
    long errors,
    double hitRate,
    double ttftP50Ms,
    double ttftP90Ms,
    double ttftP99Ms,
    double e2eP50Ms,
    double e2eP99Ms,
    double throughputRps,
    double outputTokensPerS,
    double prefillImbalance,
    List<Long> prefillPerEngine,
    double[] ttftSortedMs,
    List<int[]> loadOverTime,
    String fleet,
    long minUncachedTokens,
    long disaggregated,
    long itlGaps,
    double itlP50Ms,
    double itlP99Ms,
    double itlRequestP99MedianMs,
    double[] itlQuantilesMs,
    double itlBurstShare,
    String indexMode,
    long directRequests,
    double directTtftP50Ms,
    double directTtftP99Ms,
    long judgedRequests,
    long phantomHits,
    List<EngineView> indexView,
    Restart restart,
    String gateways,
    Cluster cluster) {

  /**
   * The cluster of a clustered cell ({@code Nc} gateways), from every gateway's cluster meters
   * between the start and the end of the cell's traffic.
   *
   * @param gateways gateways in the cluster
   * @param membersAtEnd the fewest gateways any of them saw in its cluster view at the end (all of
   *     them unless one left: then the cell did not measure a whole cluster)
   * @param propagations peers' index writes the gateways applied ({@code
   *     kvgate_cluster_propagation} counts, summed)
   * @param propagationP50WallMs the median delay from an index write on one gateway to its
   *     application on a peer, over every gateway's histogram merged, in wall milliseconds (the
   *     cluster runs on the wall clock: at speed S a delay stands for S times as much simulated
   *     time); NaN without a write
   * @param propagationP99WallMs the same at the 99th percentile
   * @param sentBytes cluster message bytes the gateways published ({@code
   *     kvgate_cluster_sent_bytes}, every message type: index deltas, load, heartbeats)
   * @param sentBytesPerRequest {@code sentBytes} per gateway-routed request of the cell
   */
  public record Cluster(
      int gateways,
      int membersAtEnd,
      long propagations,
      double propagationP50WallMs,
      double propagationP99WallMs,
      double sentBytes,
      double sentBytesPerRequest) {}

  /**
   * One engine's cache as the gateway saw it at the end of a cell, against the engine's own count.
   *
   * @param url the engine's base URL
   * @param mode its index mode in the gateway ({@code precise}, {@code approximate}, {@code stale})
   * @param indexBlocks blocks the gateway's index holds for it
   * @param reportedCachedBlocks cached blocks it last reported on its event stream; -1 without one
   * @param engineCachedBlocks cached blocks it holds, read from the engine itself
   * @param resets restarts and cache resets the gateway detected on it
   */
  public record EngineView(
      String url,
      String mode,
      long indexBlocks,
      long reportedCachedBlocks,
      long engineCachedBlocks,
      long resets) {}

  /**
   * The restart of engine 0 in a cell, and the gateway-routed requests dispatched to it in the
   * minute after.
   *
   * @param engine the restarted engine's URL
   * @param atMs when it restarted, simulated ms since the cell's first request
   * @param routedAfter gateway-routed requests dispatched to it within {@link #WINDOW_MS} after the
   *     restart that completed with a judgeable prediction
   * @param phantomAfter of those, the requests priced on a phantom hit (prediction at least a block
   *     above the engine's {@code cached_tokens})
   * @param lastPhantomAfterMs how long after the restart the last of them was sent, simulated ms;
   *     NaN if none
   * @param lastPhantomAfterWallMs the same in wall-clock ms (the gateway's scrape and event
   *     intervals are wall-clock); NaN if none
   * @param hitRateBefore engine 0's own hit rate (its hit over queried prompt tokens) in the minute
   *     before the restart; NaN without traffic
   * @param hitRateAfter the same in the minute after
   * @param windowHitRates engine 0's hit rate per {@link #STEP_MS} window from a minute before to a
   *     minute after the restart (12 windows; NaN where the engine saw no prompt or the cell ended)
   */
  public record Restart(
      String engine,
      double atMs,
      long routedAfter,
      long phantomAfter,
      double lastPhantomAfterMs,
      double lastPhantomAfterWallMs,
      double hitRateBefore,
      double hitRateAfter,
      double[] windowHitRates) {

    /** The span looked at on either side of the restart: one simulated minute. */
    public static final long WINDOW_MS = 60_000;

    /** The width of the finer windows. */
    public static final long STEP_MS = 10_000;
  }

  /** The cell's name: fleet and policy, with the threshold when the fleet is disaggregated. */
  public String cell() {
    return cell(false);
  }

  /** The cell's name, with its index mode after the policy if {@code withMode}. */
  public String cell(boolean withMode) {
    String m = withMode ? " " + indexMode : "";
    if (minUncachedTokens < 0) return fleet + " " + policy + m;
    return fleet + " " + policy + m + " min=" + minUncachedTokens;
  }

  /** Blocks the gateway's index holds over all engines; -1 without a view. */
  public long indexBlocks() {
    return indexView.isEmpty() ? -1 : indexView.stream().mapToLong(EngineView::indexBlocks).sum();
  }

  /** Blocks the engines hold by their own count; -1 without a view. */
  public long engineCachedBlocks() {
    return indexView.isEmpty()
        ? -1
        : indexView.stream().mapToLong(EngineView::engineCachedBlocks).sum();
  }

  /** The largest difference between the index's and an engine's own count; -1 without a view. */
  public long indexMaxDiffBlocks() {
    return indexView.stream()
        .mapToLong(v -> Math.abs(v.indexBlocks() - v.engineCachedBlocks()))
        .max()
        .orElse(-1);
  }

  /** Restarts and cache resets the gateway detected over all engines. */
  public long indexResets() {
    return indexView.stream().mapToLong(EngineView::resets).sum();
  }
}

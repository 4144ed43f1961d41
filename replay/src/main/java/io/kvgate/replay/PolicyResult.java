package io.kvgate.replay;

import java.util.List;

/**
 * One cell's replay: a policy on a fleet layout (and, on a disaggregated fleet, one {@code
 * pd.minUncachedTokens}).
 *
 * @param policy the policy
 * @param requests requests sent
 * @param errors failed, dropped or non-2xx requests
 * @param hitRate on an aggregated fleet, cached prompt tokens / prompt tokens, as the engines
 *     counted them; on a disaggregated fleet, 1 - prompt tokens the engines computed / prompt
 *     tokens of the completed requests (a decode leg's transferred tokens are no hit: its prefill
 *     leg computed them)
 * @param ttftP50Ms TTFT percentiles in simulated milliseconds (wall time × speed)
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
    double itlBurstShare) {

  /** The cell's name: policy, with the fleet and threshold when the fleet is disaggregated. */
  public String cell() {
    if (minUncachedTokens < 0) return fleet + " " + policy;
    return fleet + " " + policy + " min=" + minUncachedTokens;
  }
}

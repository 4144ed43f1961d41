package io.kvgate.replay;

import java.util.List;

/**
 * One policy's replay.
 *
 * @param policy the policy
 * @param requests requests sent
 * @param errors failed, dropped or non-2xx requests
 * @param hitRate cached prompt tokens / prompt tokens, as the engines counted them
 * @param ttftP50Ms TTFT percentiles in simulated milliseconds (wall time × speed)
 * @param e2eP50Ms end-to-end latency percentiles in simulated milliseconds
 * @param throughputRps completed requests per simulated second
 * @param outputTokensPerS generated tokens per simulated second
 * @param prefillImbalance max / mean of the prompt tokens each engine actually prefilled
 * @param prefillPerEngine prompt tokens each engine prefilled
 * @param ttftSortedMs every request's TTFT, ascending (for the CDF plot)
 * @param loadOverTime per sample second (simulated), per engine: running + waiting requests
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
    List<int[]> loadOverTime) {}

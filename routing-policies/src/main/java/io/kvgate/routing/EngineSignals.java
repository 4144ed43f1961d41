package io.kvgate.routing;

/**
 * Load as an engine reports it on its own {@code /metrics} (vLLM: {@code
 * vllm:num_requests_waiting}, {@code vllm:num_requests_running}, {@code vllm:kv_cache_usage_perc};
 * SGLang: {@code sglang:num_queue_reqs}, {@code sglang:num_running_reqs}, {@code
 * sglang:token_usage}).
 *
 * @param waiting requests queued in the engine, not yet scheduled
 * @param running requests in the engine's running batch
 * @param kvCacheUsage fraction of KV blocks in use, 0..1
 * @param asOfNanos {@link System#nanoTime()}-based time of the scrape; consumers compare it with
 *     their own clock to decide staleness
 */
public record EngineSignals(double waiting, double running, double kvCacheUsage, long asOfNanos) {

  /** No scrape yet: all zero, infinitely old. */
  public static final EngineSignals NONE = new EngineSignals(0, 0, 0, Long.MIN_VALUE);

  public boolean isKnown() {
    return asOfNanos != Long.MIN_VALUE;
  }

  /**
   * True if the scrape is older than {@code maxAgeNanos} at {@code nowNanos} (or never happened).
   */
  public boolean isStale(long nowNanos, long maxAgeNanos) {
    return !isKnown() || nowNanos - asOfNanos > maxAgeNanos;
  }
}

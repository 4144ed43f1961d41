package io.kvgate.gateway.health;

/**
 * The few engine gauges kvgate routes on, read from Prometheus text exposition. Request counts are
 * summed over label sets (one engine process may report several data-parallel ranks). Knows vLLM's
 * names ({@code vllm:num_requests_waiting}, {@code vllm:num_requests_running}, {@code
 * vllm:kv_cache_usage_perc}, the older {@code vllm:gpu_cache_usage_perc}, {@code
 * vllm:cache_config_info}) and SGLang's ({@code sglang:num_queue_reqs}, {@code
 * sglang:num_running_reqs}, {@code sglang:token_usage}, {@code sglang:num_used_tokens}, {@code
 * sglang:max_total_num_tokens}; {@code python/sglang/srt/metrics/collector.py}, where {@code
 * token_usage} is {@code num_used_tokens / max_total_num_tokens} and neither counts evictable
 * cached tokens).
 *
 * @param waiting queued requests
 * @param running running requests
 * @param kvCacheUsage KV usage 0..1 (the maximum over label sets)
 * @param capacityTokens KV capacity in tokens the engine states: {@code vllm:cache_config_info}'s
 *     {@code num_gpu_blocks × block_size}, else {@code sglang:max_total_num_tokens}; 0 if neither
 *     (the maximum over label sets: data-parallel ranks are not summed)
 * @param usedTokens KV tokens the engine holds for requests, {@code sglang:num_used_tokens} (the
 *     maximum over label sets), or -1 if absent; with {@code sglangTokenUsage} it gives the
 *     capacity exactly
 * @param sglangTokenUsage {@code sglang:token_usage} (the maximum over label sets), or -1 if absent
 * @param hasLoad whether any load metric was present
 * @param processStartSeconds {@code process_start_time_seconds} (Unix epoch seconds), NaN if
 *     absent; it moves when the engine process restarts
 * @param counters the engine's own counters ({@code vllm:*_total}, {@code sglang:*_total}), each
 *     summed over its label sets; a counter going backwards means a new process
 * @param cacheConfig {@code vllm:cache_config_info}'s label set as text (sorted as exposed), empty
 *     if absent; a change means the engine was restarted with another cache configuration
 */
public record EngineMetricsText(
    double waiting,
    double running,
    double kvCacheUsage,
    long capacityTokens,
    double usedTokens,
    double sglangTokenUsage,
    boolean hasLoad,
    double processStartSeconds,
    java.util.Map<String, Double> counters,
    String cacheConfig) {

  public EngineMetricsText {
    counters = java.util.Map.copyOf(counters);
  }

  /** The engine reports used tokens and usage together, so their ratio is its capacity. */
  public boolean hasExactUsage() {
    return usedTokens >= 0 && sglangTokenUsage >= 0;
  }

  public static EngineMetricsText parse(String text) {
    double waiting = 0;
    double running = 0;
    double usage = 0;
    long capacityTokens = 0;
    long sglangMaxTokens = 0;
    double used = -1;
    double sglangUsage = -1;
    boolean any = false;
    double processStart = Double.NaN;
    java.util.Map<String, Double> counters = new java.util.HashMap<>();
    String cacheConfig = "";
    int pos = 0;
    int n = text.length();
    while (pos < n) {
      int end = text.indexOf('\n', pos);
      if (end < 0) end = n;
      if (text.charAt(pos) != '#') {
        String line = text.substring(pos, end);
        String name = metricName(line);
        switch (name) {
          case "vllm:num_requests_waiting", "sglang:num_queue_reqs" -> {
            waiting += value(line);
            any = true;
          }
          case "vllm:num_requests_running", "sglang:num_running_reqs" -> {
            running += value(line);
            any = true;
          }
          case "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc" -> {
            usage = Math.max(usage, value(line));
            any = true;
          }
          case "sglang:token_usage" -> {
            double v = value(line);
            usage = Math.max(usage, v);
            sglangUsage = Math.max(sglangUsage, v);
            any = true;
          }
          case "sglang:num_used_tokens" -> used = Math.max(used, value(line));
          case "sglang:max_total_num_tokens" ->
              sglangMaxTokens = Math.max(sglangMaxTokens, (long) value(line));
          case "process_start_time_seconds" -> processStart = value(line);
          case "vllm:cache_config_info" -> {
            int open = line.indexOf('{');
            int close = line.lastIndexOf('}');
            if (open >= 0 && close > open) cacheConfig = line.substring(open + 1, close);
            long blocks = labelLong(line, "num_gpu_blocks");
            long blockSize = labelLong(line, "block_size");
            if (blocks > 0 && blockSize > 0)
              capacityTokens = Math.max(capacityTokens, blocks * blockSize);
          }
          default -> {
            if (name.endsWith("_total")
                && (name.startsWith("vllm:") || name.startsWith("sglang:"))) {
              counters.merge(name, value(line), Double::sum);
            }
          }
        }
      }
      pos = end + 1;
    }
    if (capacityTokens == 0) capacityTokens = sglangMaxTokens;
    return new EngineMetricsText(
        waiting,
        running,
        usage,
        capacityTokens,
        used,
        sglangUsage,
        any,
        processStart,
        counters,
        cacheConfig);
  }

  private static String metricName(String line) {
    int i = 0;
    while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') i++;
    return line.substring(0, i);
  }

  private static double value(String line) {
    int close = line.lastIndexOf('}');
    int start = close >= 0 ? close + 1 : line.indexOf(' ');
    if (start < 0) return 0;
    String rest = line.substring(start).trim();
    int sp = rest.indexOf(' ');
    try {
      double v = Double.parseDouble(sp >= 0 ? rest.substring(0, sp) : rest);
      return Double.isFinite(v) ? v : 0;
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static long labelLong(String line, String label) {
    String key = label + "=\"";
    int i = line.indexOf(key);
    if (i < 0) return 0;
    int start = i + key.length();
    int end = line.indexOf('"', start);
    try {
      return end > start ? Long.parseLong(line.substring(start, end)) : 0;
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}

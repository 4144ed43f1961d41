package io.kvgate.gateway.health;

/**
 * The few engine gauges kvgate routes on, read from Prometheus text exposition. Values of one
 * metric are summed over its label sets (one engine process may report several data-parallel
 * ranks). Knows vLLM's names ({@code vllm:num_requests_waiting}, {@code vllm:num_requests_running},
 * {@code vllm:kv_cache_usage_perc}, the older {@code vllm:gpu_cache_usage_perc}) and SGLang's
 * ({@code sglang:num_queue_reqs}, {@code sglang:num_running_reqs}, {@code sglang:token_usage}).
 *
 * @param waiting queued requests
 * @param running running requests
 * @param kvCacheUsage KV usage 0..1 (the maximum over label sets)
 * @param capacityTokens KV capacity in tokens from {@code vllm:cache_config_info}, or 0 if absent
 * @param hasLoad whether any load metric was present
 */
public record EngineMetricsText(double waiting, double running, double kvCacheUsage, long capacityTokens, boolean hasLoad) {

  public static EngineMetricsText parse(String text) {
    double waiting = 0;
    double running = 0;
    double usage = 0;
    long capacityTokens = 0;
    boolean any = false;
    int pos = 0;
    int n = text.length();
    while (pos < n) {
      int end = text.indexOf('\n', pos);
      if (end < 0) end = n;
      if (text.charAt(pos) != '#') {
        String line = text.substring(pos, end);
        String name = metricName(line);
        switch (name) {
          case "vllm:num_requests_waiting", "sglang:num_queue_reqs" -> { waiting += value(line); any = true; }
          case "vllm:num_requests_running", "sglang:num_running_reqs" -> { running += value(line); any = true; }
          case "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage" -> {
            usage = Math.max(usage, value(line));
            any = true;
          }
          case "vllm:cache_config_info" -> {
            long blocks = labelLong(line, "num_gpu_blocks");
            long blockSize = labelLong(line, "block_size");
            if (blocks > 0 && blockSize > 0) capacityTokens = Math.max(capacityTokens, blocks * blockSize);
          }
          default -> { }
        }
      }
      pos = end + 1;
    }
    return new EngineMetricsText(waiting, running, usage, capacityTokens, any);
  }

  private static String metricName(String line) {
    int i = 0;
    while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') i++;
    return line.substring(0, i);
  }

  private static double value(String line) {
    int close = line.lastIndexOf('}');
    String rest = line.substring(close >= 0 ? close + 1 : line.indexOf(' ')).trim();
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

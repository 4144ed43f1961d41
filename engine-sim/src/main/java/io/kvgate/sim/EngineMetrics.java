package io.kvgate.sim;

import java.util.Locale;

/**
 * Counters and histograms of one engine, rendered as Prometheus text exposition with vLLM's metric
 * names ({@code vllm/v1/metrics/loggers.py}) and labels {@code model_name}, {@code engine} (vLLM's
 * engine index; always "0" here, one engine per server).
 *
 * <p>One instance per engine process: a {@linkplain SimEngine#restart() restart} starts a fresh
 * one, so counters restart at 0 and {@code process_start_time_seconds} moves forward, as a new
 * process's Prometheus metrics do.
 *
 * <p>Single writer per field: the engine's event loop, except the KV event stream's fields ({@link
 * #kvBatchesDropped}, {@link #kvReconnects}, {@link #kvStreamConnected}), which the {@link
 * KvEventPublisher}'s thread writes. Fields are volatile so {@link SimEngine#stats()} and {@code
 * /metrics} may read them from any thread. Latency histograms are in <em>simulated</em> seconds,
 * i.e. what the modelled GPU would report; divide by {@code speed} for wall time.
 */
final class EngineMetrics {

  /** vLLM's TTFT buckets. */
  static final double[] TTFT_BUCKETS = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0
  };

  /** vLLM's inter-token latency buckets. */
  static final double[] ITL_BUCKETS = {
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0
  };

  /** vLLM's request latency buckets. */
  static final double[] E2E_BUCKETS = {
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0
  };

  volatile long requests;
  volatile long promptTokens;
  volatile long prefixCacheQueries;
  volatile long prefixCacheHits;
  volatile long cacheHitRequests;
  volatile long generationTokens;
  volatile long finishedRequests;
  volatile long aborted;
  volatile long disconnects;
  volatile long prefillTokensComputed;
  volatile long transferredTokens;
  volatile long steps;

  /**
   * Simulated nanoseconds during which the engine had at least one request waiting or running
   * ({@code kvgate_sim_busy_seconds_total}); counted up to the core's latest advance, so a scrape
   * during a step lags by at most one step.
   */
  volatile long busyNanos;

  volatile long injectedErrors;
  volatile long bootstrapFailed;
  volatile int bootstrapWaiting;
  volatile long kvEventsPublished;
  volatile long kvBatchesDropped;
  volatile long kvReconnects;
  volatile boolean kvStreamConnected;

  /** The process's start, Unix epoch seconds ({@code process_start_time_seconds}). */
  final double startTimeSeconds;

  final Histogram timeToFirstToken = new Histogram(TTFT_BUCKETS);
  final Histogram interTokenLatency = new Histogram(ITL_BUCKETS);
  final Histogram e2eLatency = new Histogram(E2E_BUCKETS);

  EngineMetrics(double startTimeSeconds) {
    this.startTimeSeconds = startTimeSeconds;
  }

  /** A cumulative Prometheus histogram over fixed upper bounds, in seconds. */
  static final class Histogram {
    final double[] bounds;
    final long[] counts;
    volatile long count;
    volatile double sumSeconds;

    Histogram(double[] bounds) {
      this.bounds = bounds;
      this.counts = new long[bounds.length];
    }

    void observeNanos(long nanos) {
      double s = nanos / 1e9;
      for (int i = 0; i < bounds.length; i++) {
        if (s <= bounds[i]) counts[i]++;
      }
      sumSeconds += s;
      count++;
    }
  }

  /**
   * Renders the exposition; {@code running}, {@code waiting}, {@code usage} are current gauges.
   * {@code usage} must be computed as vLLM v1 does ({@code BlockPool.get_usage}): blocks referenced
   * by requests over all blocks, cached blocks that no request references counted as free (see
   * {@link KvBlockPool#usage()}). {@code numGpuBlocks <= 0} omits {@code vllm:cache_config_info},
   * as engines that do not state their capacity do. {@code prefixCacheBlocks} is the number of
   * blocks in the prefix cache now.
   */
  String render(
      String model,
      String engineId,
      int running,
      int waiting,
      double usage,
      int blockSize,
      int numGpuBlocks,
      int prefixCacheBlocks) {
    String labels = "model_name=\"" + escape(model) + "\",engine=\"" + escape(engineId) + "\"";
    StringBuilder b = new StringBuilder(4096);
    // the Python process collector's metric, unlabelled, as vLLM exposes it
    b.append("# HELP process_start_time_seconds Start time of the process since unix epoch in")
        .append(" seconds.\n")
        .append("# TYPE process_start_time_seconds gauge\n")
        .append("process_start_time_seconds ")
        .append(String.format(Locale.ROOT, "%.3f", startTimeSeconds))
        .append('\n');
    // vLLM's cache configuration info gauge: the KV capacity a router can size its index by.
    if (numGpuBlocks > 0) {
      b.append("# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n")
          .append("# TYPE vllm:cache_config_info gauge\n")
          .append("vllm:cache_config_info{block_size=\"")
          .append(blockSize)
          .append("\",engine=\"")
          .append(escape(engineId))
          .append("\",model_name=\"")
          .append(escape(model))
          .append("\",num_gpu_blocks=\"")
          .append(numGpuBlocks)
          .append("\"} 1.0\n");
    }
    gauge(
        b,
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        labels,
        running);
    gauge(
        b,
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        labels,
        waiting);
    gauge(
        b, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels, usage);
    counter(
        b,
        "vllm:prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        labels,
        prefixCacheQueries);
    counter(
        b,
        "vllm:prefix_cache_hits",
        "Prefix cache hits, in terms of number of cached tokens.",
        labels,
        prefixCacheHits);
    counter(b, "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, promptTokens);
    counter(
        b,
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        labels,
        generationTokens);
    b.append("# HELP vllm:request_success Count of successfully processed requests.\n")
        .append("# TYPE vllm:request_success counter\n")
        .append("vllm:request_success_total{")
        .append(labels)
        .append(",finished_reason=\"length\"} ")
        .append(finishedRequests)
        .append('\n');
    counter(
        b,
        "kvgate_sim_client_disconnects",
        "Requests aborted because the client disconnected.",
        labels,
        disconnects);
    counter(
        b,
        "kvgate_sim_prefill_tokens_computed",
        "Prompt tokens run through prefill (not cached, not transferred).",
        labels,
        prefillTokensComputed);
    counter(
        b,
        "kvgate_sim_kv_transfer_tokens",
        "Prompt tokens received from a remote prefill engine.",
        labels,
        transferredTokens);
    counter(
        b,
        "kvgate_sim_bootstrap_failed",
        "SGLang decode legs computed locally because their bootstrap room did not come"
            + " (sglang:num_bootstrap_failed_reqs).",
        labels,
        bootstrapFailed);
    gauge(
        b,
        "kvgate_sim_bootstrap_waiting_requests",
        "SGLang decode legs waiting for their bootstrap room.",
        labels,
        bootstrapWaiting);
    counter(
        b,
        "kvgate_sim_injected_errors",
        "Requests answered 500 by the error-rate fault knob.",
        labels,
        injectedErrors);
    gauge(
        b,
        "kvgate_sim_prefix_cache_blocks",
        "Blocks in the prefix cache (resident and hashed), the engine's own count.",
        labels,
        prefixCacheBlocks);
    counter(
        b,
        "kvgate_sim_kv_events_published",
        "KV events (stored, removed, cleared, load reports) put into event batches.",
        labels,
        kvEventsPublished);
    counter(
        b,
        "kvgate_sim_kv_event_batches_dropped",
        "KV event batches dropped because the outbox of unacknowledged batches was full.",
        labels,
        kvBatchesDropped);
    counter(
        b,
        "kvgate_sim_kv_events_reconnects",
        "KV event streams opened again after a failed or ended stream.",
        labels,
        kvReconnects);
    gauge(
        b,
        "kvgate_sim_kv_events_stream_connected",
        "1 while the KV event stream is open and acknowledged, else 0.",
        labels,
        kvStreamConnected ? 1 : 0);
    b.append("# HELP kvgate_sim_busy_seconds Simulated seconds during which the engine had at")
        .append(" least one request waiting or running.\n")
        .append("# TYPE kvgate_sim_busy_seconds counter\n")
        .append("kvgate_sim_busy_seconds_total{")
        .append(labels)
        .append("} ")
        .append(num(busyNanos / 1e9))
        .append('\n');
    histogram(
        b,
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        labels,
        timeToFirstToken);
    histogram(
        b,
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        labels,
        interTokenLatency);
    histogram(
        b,
        "vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.",
        labels,
        e2eLatency);
    return b.toString();
  }

  private static void gauge(StringBuilder b, String name, String help, String labels, double v) {
    b.append("# HELP ")
        .append(name)
        .append(' ')
        .append(help)
        .append('\n')
        .append("# TYPE ")
        .append(name)
        .append(" gauge\n")
        .append(name)
        .append('{')
        .append(labels)
        .append("} ")
        .append(num(v))
        .append('\n');
  }

  private static void counter(StringBuilder b, String name, String help, String labels, long v) {
    b.append("# HELP ")
        .append(name)
        .append(' ')
        .append(help)
        .append('\n')
        .append("# TYPE ")
        .append(name)
        .append(" counter\n")
        .append(name)
        .append("_total{")
        .append(labels)
        .append("} ")
        .append(v)
        .append('\n');
  }

  private static void histogram(
      StringBuilder b, String name, String help, String labels, Histogram h) {
    b.append("# HELP ")
        .append(name)
        .append(' ')
        .append(help)
        .append('\n')
        .append("# TYPE ")
        .append(name)
        .append(" histogram\n");
    long count = h.count;
    for (int i = 0; i < h.bounds.length; i++) {
      b.append(name)
          .append("_bucket{")
          .append(labels)
          .append(",le=\"")
          .append(num(h.bounds[i]))
          .append("\"} ")
          .append(Math.min(h.counts[i], count))
          .append('\n');
    }
    b.append(name)
        .append("_bucket{")
        .append(labels)
        .append(",le=\"+Inf\"} ")
        .append(count)
        .append('\n');
    b.append(name)
        .append("_sum{")
        .append(labels)
        .append("} ")
        .append(num(h.sumSeconds))
        .append('\n');
    b.append(name).append("_count{").append(labels).append("} ").append(count).append('\n');
  }

  private static String num(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v) + ".0";
    return String.format(Locale.ROOT, "%s", v);
  }

  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }
}

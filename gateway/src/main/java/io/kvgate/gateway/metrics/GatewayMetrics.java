package io.kvgate.gateway.metrics;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * kvgate's own meters, all named {@code kvgate_*} in base units, with low-cardinality tags (model,
 * endpoint, status, kind, policy). Meters are created once per tag set and cached, so the request
 * path does a map lookup, not a registry lookup with tag sorting.
 */
public final class GatewayMetrics {

  /** Buckets that matter for LLM latencies: from a fast cache hit to a long generation. */
  private static final Duration[] LATENCY_SLOS = {
    Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
    Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
    Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(20),
    Duration.ofSeconds(30), Duration.ofSeconds(60)
  };

  private final PrometheusMeterRegistry registry;
  private final ConcurrentHashMap<MeterKey, Counter> counters = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<MeterKey, Timer> timers = new ConcurrentHashMap<>();

  /**
   * A meter's name and tags as a map key: looked up on every request, so compared by the strings
   * themselves (their hash codes are cached) rather than by a key string built for each lookup.
   */
  private record MeterKey(String name, String[] tags) {
    @Override
    public boolean equals(Object o) {
      return o instanceof MeterKey k && name.equals(k.name) && Arrays.equals(tags, k.tags);
    }

    @Override
    public int hashCode() {
      return 31 * name.hashCode() + Arrays.hashCode(tags);
    }
  }

  /** Status codes as tag values, without a new string per request. */
  private static final String[] STATUS = new String[600];

  static {
    for (int i = 0; i < STATUS.length; i++) STATUS[i] = Integer.toString(i);
  }

  private static String status(int code) {
    return code >= 0 && code < STATUS.length ? STATUS[code] : Integer.toString(code);
  }

  private final DistributionSummary predictionError;
  private final ConcurrentHashMap<String, PredictionAgreement> agreements =
      new ConcurrentHashMap<>();
  private static final java.util.logging.Logger LOG =
      java.util.logging.Logger.getLogger(GatewayMetrics.class.getName());
  private final ConcurrentHashMap<String, KvCapacityGauges> kvCapacities =
      new ConcurrentHashMap<>();

  /**
   * Binds the JVM meters and kvgate's own to {@code registry}, which should come from {@link
   * #newRegistry()}: that is where the meter filters are configured, before Vert.x or anything else
   * registers a meter (Micrometer applies a filter only to meters registered after it).
   */
  public GatewayMetrics(PrometheusMeterRegistry registry) {
    this.registry = registry;
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    predictionError =
        DistributionSummary.builder("kvgate_prefix_prediction_error_tokens")
            .description(
                "|predicted - engine-reported| cached prompt tokens per request, when the engine reports cached_tokens")
            .baseUnit("tokens")
            .serviceLevelObjectives(1, 16, 64, 256, 1024, 4096, 16384)
            .register(registry);
  }

  /** The segment cache's effect: long messages recognised instead of re-hashed, and its memory. */
  public void bindSegmentCache(io.kvgate.routing.prefix.SegmentHashCache cache) {
    io.micrometer.core.instrument.FunctionCounter.builder(
            "kvgate_prefix_segment_cache_hits", cache, c -> c.hits())
        .description("Long prompt segments (messages) recognised and not hashed again")
        .register(registry);
    io.micrometer.core.instrument.FunctionCounter.builder(
            "kvgate_prefix_segment_cache_misses", cache, c -> c.misses())
        .description("Long prompt segments hashed because they were not remembered")
        .register(registry);
    io.micrometer.core.instrument.FunctionCounter.builder(
            "kvgate_prefix_segment_cache_hit_chars", cache, c -> c.hitChars())
        .description("Prompt characters not hashed thanks to the segment cache")
        .register(registry);
    Gauge.builder("kvgate_prefix_segment_cache_retained_bytes", cache, c -> c.retainedBytes())
        .description("Approximate memory retained by the segment cache (text and hashes)")
        .baseUnit("bytes")
        .register(registry);
  }

  /**
   * The parse budget ({@code limits.parseBudgetBytes}): its size, its use, who waits for it. The
   * suppliers are held strongly (Micrometer holds a gauge's object weakly by default).
   */
  public void bindParseBudget(
      java.util.function.LongSupplier capacity,
      java.util.function.LongSupplier inUse,
      java.util.function.IntSupplier waiting) {
    Gauge.builder("kvgate_parse_budget_bytes", capacity, c -> c.getAsLong())
        .strongReference(true)
        .description(
            "Body bytes that may be parsed on worker threads at once (limits.parseBudgetBytes)")
        .baseUnit("bytes")
        .register(registry);
    Gauge.builder("kvgate_parse_budget_in_use_bytes", inUse, u -> u.getAsLong())
        .strongReference(true)
        .description("Body bytes being parsed and keyed on worker threads now")
        .baseUnit("bytes")
        .register(registry);
    Gauge.builder("kvgate_parse_waiting_requests", waiting, w -> w.getAsInt())
        .strongReference(true)
        .description("Requests whose body waits for room in the parse budget")
        .register(registry);
  }

  /**
   * A request refused while being parsed: over a per-request limit (reason = the error code, e.g.
   * too_many_messages) or after waiting limits.parseQueueTimeout for the budget (queue_timeout).
   */
  public void parseRefused(String reason) {
    counter(
            "kvgate_parse_refusals",
            "Requests refused by a parse limit (400, reason = the error code) or the parse budget"
                + " (503, reason = queue_timeout)",
            "reason",
            reason)
        .increment();
  }

  /**
   * A registry with Prometheus defaults and kvgate's meter filters, configured here, before any
   * meter exists: the registry is handed to Vert.x's metrics when Vert.x is built, and Vert.x
   * registers its own meters then, before a {@code GatewayMetrics} is created.
   */
  public static PrometheusMeterRegistry newRegistry() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    // Two binder meters whose Prometheus names promtool's linter rejects (an abbreviated unit,
    // a _count suffix on a gauge); the same facts are in process_cpu_usage and jvm_* meters.
    registry
        .config()
        .meterFilter(
            MeterFilter.deny(
                id ->
                    id.getName().equals("process.cpu.time")
                        || id.getName().equals("system.cpu.count")));
    return registry;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The client connection count next to its cap ({@code listener.maxConnections}). */
  public void bindConnections(java.util.function.IntSupplier open, int max) {
    Gauge.builder("kvgate_listener_open_connections", open, o -> o.getAsInt())
        .description("Client connections open now")
        .strongReference(true)
        .register(registry);
    Gauge.builder("kvgate_listener_max_connections", () -> max)
        .description("The cap on open client connections (listener.maxConnections)")
        .register(registry);
  }

  /** A client connection accepted beyond the cap (answered 503 or closed). */
  public void connectionRefused() {
    counter(
            "kvgate_listener_refused_connections",
            "Client connections beyond listener.maxConnections, answered 503 too_many_connections"
                + " or closed")
        .increment();
  }

  /**
   * Client connections by what they are doing ({@code kvgate_listener_connections{phase}}: header,
   * body, active, idle) and the timeouts that bound each waiting phase.
   */
  public void bindConnectionPhases(
      java.util.function.ToIntFunction<String> count,
      java.util.List<String> phases,
      java.util.Map<String, java.time.Duration> timeouts) {
    for (String phase : phases) {
      Gauge.builder("kvgate_listener_connections", () -> count.applyAsInt(phase))
          .description(
              "Client connections now reading a request head, reading a body, with a request in"
                  + " flight (active), or kept alive with none (idle)")
          .tag("phase", phase)
          .register(registry);
    }
    timeouts.forEach(
        (reason, d) ->
            Gauge.builder("kvgate_listener_timeout_seconds", () -> d.toNanos() / 1e9)
                .description("listener.headerTimeout, bodyTimeout and idleTimeout")
                .tag("reason", reason)
                .baseUnit("seconds")
                .register(registry));
  }

  /**
   * A client connection closed by a listener timeout ({@code header}, {@code body}, {@code idle}).
   */
  public void listenerTimeout(String reason) {
    counter(
            "kvgate_listener_timeouts",
            "Client connections closed by listener.headerTimeout, bodyTimeout or idleTimeout",
            "reason",
            reason)
        .increment();
  }

  /** A request refused at the HTTP layer (400 malformed, 414 URI too long, 431 head too large). */
  public void invalidRequest(int status) {
    counter(
            "kvgate_listener_invalid_requests",
            "Requests refused before routing: 400 malformed, 414 URI too long, 431 head too large",
            "status",
            Integer.toString(status))
        .increment();
  }

  /** The busiest client address's connections next to the per-client cap (0 = no cap). */
  public void bindClientConnections(java.util.function.IntSupplier busiest, int max) {
    Gauge.builder("kvgate_listener_busiest_client_connections", busiest, b -> b.getAsInt())
        .description("Connections open now from the client address holding the most")
        .strongReference(true)
        .register(registry);
    Gauge.builder("kvgate_listener_max_connections_per_client", () -> max)
        .description("The cap on one client address's connections (0 = none)")
        .register(registry);
  }

  /** A connection beyond listener.maxConnectionsPerClient (answered 503 or closed). */
  public void clientConnectionRefused() {
    counter(
            "kvgate_listener_refused_client_connections",
            "Client connections beyond listener.maxConnectionsPerClient, answered 503"
                + " too_many_connections or closed")
        .increment();
  }

  /**
   * Gauges for one endpoint: in-flight requests, pending prefill tokens, health (1 healthy, 0
   * ejected).
   */
  public void bindEndpoint(String model, EndpointState e) {
    Gauge.builder("kvgate_endpoint_in_flight_requests", e, s -> s.localInFlight())
        .description("Requests this gateway has dispatched to the endpoint and not yet finished")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
    Gauge.builder("kvgate_endpoint_pending_prefill_tokens", e, s -> s.localPendingPrefillTokens())
        .description(
            "Prompt tokens this gateway dispatched to the endpoint whose prefill has not finished")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
    Gauge.builder("kvgate_endpoint_healthy", e, s -> s.healthy() ? 1 : 0)
        .description(
            "1 if the endpoint is admitted, 0 if ejected by health checks (this gateway's or, in"
                + " a cluster, a peer's)")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
    Gauge.builder("kvgate_endpoint_engine_waiting_requests", e, s -> s.signals().waiting())
        .description("Waiting requests the engine last reported on its /metrics")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
    Gauge.builder("kvgate_endpoint_engine_kv_cache_usage_ratio", e, s -> s.signals().kvCacheUsage())
        .description("KV-cache usage the engine last reported, 0..1")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
  }

  /**
   * {@code kvgate_endpoint_labels}, always 1 (an info metric; the Prometheus client reserves the
   * {@code _info} suffix): one series per endpoint carrying its URL, role and placement labels as
   * tags ({@code label_<key>}, like kube-state-metrics' {@code kube_node_labels}), so dashboards
   * can group any per-endpoint series by cloud, region or zone with {@code * on(endpoint)
   * group_left(label_region) kvgate_endpoint_labels}. Every endpoint carries every tag of {@code
   * labelTags} (the union over the fleet, named by {@link GatewayConfig#labelTag}; empty where it
   * has none), since one metric name has one tag set.
   */
  public void bindEndpointInfo(
      String model, EndpointState e, java.util.SortedSet<String> labelTags) {
    List<Tag> tags = new ArrayList<>();
    tags.add(Tag.of("model", model));
    tags.add(Tag.of("endpoint", e.id()));
    tags.add(Tag.of("url", e.endpoint().url().toString()));
    tags.add(Tag.of("role", e.endpoint().role().wireName()));
    java.util.Map<String, String> byTag = new java.util.HashMap<>();
    e.endpoint().labels().forEach((k, v) -> byTag.put(GatewayConfig.labelTag(k), v));
    for (String tag : labelTags) tags.add(Tag.of(tag, byTag.getOrDefault(tag, "")));
    Gauge.builder("kvgate_endpoint_labels", () -> 1)
        .description("Endpoint metadata: URL, role and placement labels (label_<key>); always 1")
        .tags(tags)
        .register(registry);
  }

  /**
   * The KV capacity the prefix index assumes for one endpoint, in the gateway's blocks, and where
   * it came from: {@code configured} ({@code models[].endpoints[].capacityBlocks}), {@code engine}
   * (stated by the engine), {@code learned} (estimated from its usage) or {@code default} ({@code
   * routing.capacityBlocks}). One series per endpoint, re-tagged when the source changes. Also the
   * learned estimate, whether applied or not (0 until stable), so a learned figure can be checked
   * against an engine that states its own.
   */
  public void kvCapacity(
      String model, String endpoint, String source, long blocks, long learnedBlocks) {
    KvCapacityGauges g =
        kvCapacities.computeIfAbsent(
            model + '|' + endpoint,
            k -> {
              KvCapacityGauges n = new KvCapacityGauges();
              Gauge.builder(
                      "kvgate_endpoint_kv_capacity_learned_blocks",
                      n.learned,
                      java.util.concurrent.atomic.AtomicLong::get)
                  .description(
                      "KV capacity learned from the engine's usage, in gateway blocks (0 until the estimate is stable)")
                  .tags("model", model, "endpoint", endpoint)
                  .register(registry);
              return n;
            });
    g.learned.set(learnedBlocks);
    g.blocks.set(blocks);
    synchronized (g) {
      if (source.equals(g.source)) return;
      if (g.gauge != null) registry.remove(g.gauge);
      g.source = source;
      g.gauge =
          Gauge.builder(
                  "kvgate_endpoint_kv_capacity_blocks",
                  g.blocks,
                  java.util.concurrent.atomic.AtomicLong::get)
              .description(
                  "KV capacity the prefix index assumes for the endpoint, in gateway blocks, by source (engine, learned, default)")
              .tags("model", model, "endpoint", endpoint, "source", source)
              .register(registry);
    }
  }

  private static final class KvCapacityGauges {
    final java.util.concurrent.atomic.AtomicLong blocks =
        new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicLong learned =
        new java.util.concurrent.atomic.AtomicLong();
    String source;
    Gauge gauge;
  }

  private Counter counter(String name, String description, String... tags) {
    return counters.computeIfAbsent(
        new MeterKey(name, tags),
        k -> Counter.builder(name).description(description).tags(tags).register(registry));
  }

  private Timer timer(String name, String description, String... tags) {
    return timers.computeIfAbsent(
        new MeterKey(name, tags),
        k ->
            Timer.builder(name)
                .description(description)
                .tags(tags)
                .serviceLevelObjectives(LATENCY_SLOS)
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofMinutes(10))
                .register(registry));
  }

  /** One finished request, by the endpoint that served it ({@code none} if none did). */
  public void request(String model, String endpoint, int status, long durationNanos) {
    counter(
            "kvgate_requests",
            "Requests answered, by model, endpoint and HTTP status",
            "model",
            model,
            "endpoint",
            endpoint,
            "status",
            status(status))
        .increment();
    timer(
            "kvgate_request_duration_seconds",
            "Request duration, receipt of the body to the end of the response",
            "model",
            model)
        .record(durationNanos, TimeUnit.NANOSECONDS);
  }

  /** Time from receiving the request to relaying the upstream's first byte. */
  public void timeToFirstByte(String model, String endpoint, long nanos) {
    timer(
            "kvgate_time_to_first_byte_seconds",
            "Time from request receipt to the first upstream response byte relayed",
            "model",
            model,
            "endpoint",
            endpoint)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * An interactive request's time to first byte, split by whether batch lines were in flight when
   * it was routed (batch lines themselves are not recorded here).
   */
  public void interactiveFirstByte(String model, boolean batchRunning, long nanos) {
    timer(
            "kvgate_interactive_ttft_seconds",
            "Interactive requests' time from receipt to the first upstream byte relayed, by whether"
                + " batch lines were in flight when the request was routed",
            "model",
            model,
            "batch_running",
            batchRunning ? "true" : "false")
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * How a request of a disaggregated model was served: {@code mode} {@code disaggregated} or {@code
   * whole}, with the reason a request was served whole ({@code short_uncached}, {@code not_keyed},
   * {@code no_prefill_endpoint}, {@code prefill_failed}; {@code none} when disaggregated).
   */
  public void pdRequest(String model, String mode, String reason) {
    counter(
            "kvgate_pd_requests",
            "Requests of disaggregated models by how they were served",
            "model",
            model,
            "mode",
            mode,
            "reason",
            reason)
        .increment();
  }

  /** A prefill leg's duration, send to its whole answer (vLLM) or to its answer's end (SGLang). */
  public void pdPrefill(String model, String endpoint, String outcome, long nanos) {
    timer(
            "kvgate_pd_prefill_seconds",
            "Prefill leg time by endpoint and outcome (ok, failed)",
            "model",
            model,
            "endpoint",
            endpoint,
            "outcome",
            outcome)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /** A decode leg's time from its send to its first response byte. */
  public void pdDecodeFirstByte(String model, String endpoint, long nanos) {
    timer(
            "kvgate_pd_decode_first_byte_seconds",
            "Decode leg time from its send to its first response byte",
            "model",
            model,
            "endpoint",
            endpoint)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * A prefill answer without every KV-transfer field the decode side needs (a real decode engine
   * would silently recompute the prompt); treated as a prefill failure.
   */
  public void pdTransferIncomplete(String model, String endpoint) {
    counter(
            "kvgate_pd_transfer_incomplete",
            "Prefill answers missing KV-transfer fields the decode leg needs",
            "model",
            model,
            "endpoint",
            endpoint)
        .increment();
  }

  /**
   * A disaggregated request served whole instead ({@code no_prefill_endpoint}, {@code
   * prefill_failed}), or refused with 503 when {@code pd.fallback} is {@code fail} ({@code action}
   * {@code aggregate} or {@code fail}).
   */
  public void pdFallback(String model, String reason, String action) {
    counter(
            "kvgate_pd_fallbacks",
            "Disaggregated requests that fell back to whole serving or failed, by reason",
            "model",
            model,
            "reason",
            reason,
            "action",
            action)
        .increment();
  }

  /**
   * A leg tried again: {@code leg} {@code prefill} or {@code decode}; {@code reason} the failure
   * kind ({@code connect}, {@code status_5xx}, {@code reset}, {@code timeout}, {@code
   * transfer_incomplete}, {@code prefill_failed}, ...).
   */
  public void pdRetry(String model, String leg, String reason) {
    counter(
            "kvgate_pd_retries",
            "Leg retries of disaggregated requests by leg and reason",
            "model",
            model,
            "leg",
            leg,
            "reason",
            reason)
        .increment();
  }

  /** Requests in flight per pool of a disaggregated model ({@code role} prefill, decode, both). */
  public void bindPool(String model, String role, java.util.function.IntSupplier inFlight) {
    Gauge.builder("kvgate_pool_in_flight_requests", inFlight, s -> s.getAsInt())
        .strongReference(true)
        .description("Requests in flight on a disaggregated model's pool, by role")
        .tags("model", model, "role", role)
        .register(registry);
  }

  /**
   * An upstream failure: {@code connect}, {@code reset}, {@code first_byte_timeout}, {@code
   * idle_timeout}, {@code status_5xx}, ...
   */
  public void upstreamError(String model, String endpoint, String kind) {
    counter(
            "kvgate_upstream_errors",
            "Upstream failures by kind",
            "model",
            model,
            "endpoint",
            endpoint,
            "kind",
            kind)
        .increment();
  }

  public void retry(String model, String endpoint) {
    counter(
            "kvgate_retries",
            "Attempts retried on another endpoint after a failure before the first byte",
            "model",
            model,
            "endpoint",
            endpoint)
        .increment();
  }

  /** Retries in flight next to what the retry budget allows now. */
  public void bindRetryBudget(
      java.util.function.IntSupplier inFlight, java.util.function.IntSupplier allowed) {
    Gauge.builder("kvgate_retries_in_flight", inFlight, s -> s.getAsInt())
        .description("Requests in a retry attempt now")
        .strongReference(true)
        .register(registry);
    Gauge.builder("kvgate_retry_budget_allowed", allowed, s -> s.getAsInt())
        .description(
            "Retries the budget allows in flight now: limits.retryBudget of the requests in flight,"
                + " at least limits.minRetriesInFlight")
        .strongReference(true)
        .register(registry);
  }

  /** A retry not made because the retry budget was spent. */
  public void retryBudgetExhausted(String model) {
    counter(
            "kvgate_retry_budget_exhausted",
            "Failed attempts not retried because retries in flight reached limits.retryBudget",
            "model",
            model)
        .increment();
  }

  public void clientDisconnect(String model, String endpoint) {
    counter(
            "kvgate_client_disconnects",
            "Requests whose client went away before the response ended; the upstream request was cancelled",
            "model",
            model,
            "endpoint",
            endpoint)
        .increment();
  }

  /** A request that could not be keyed for prefix routing (never silently routed as a miss). */
  public void unkeyed(String model, String reason) {
    counter(
            "kvgate_routing_unkeyed_requests",
            "Requests kvgate could not render into a prompt key",
            "model",
            model,
            "reason",
            reason)
        .increment();
  }

  public void routed(String model, String policy, String endpoint) {
    counter(
            "kvgate_routing_decisions",
            "Routing decisions by policy and chosen endpoint",
            "model",
            model,
            "policy",
            policy,
            "endpoint",
            endpoint)
        .increment();
  }

  public void healthTransition(String model, String endpoint, boolean healthy) {
    counter(
            "kvgate_endpoint_health_transitions",
            "Endpoint ejections (to=ejected) and re-admissions (to=healthy)",
            "model",
            model,
            "endpoint",
            endpoint,
            "to",
            healthy ? "healthy" : "ejected")
        .increment();
  }

  public void policyReload(String model, boolean ok) {
    counter(
            "kvgate_policy_reloads",
            "Policy file reloads, by outcome",
            "model",
            model,
            "outcome",
            ok ? "applied" : "rejected")
        .increment();
  }

  /**
   * Predicted vs engine-reported cached prompt tokens for one request; logs a warning when the two
   * stop agreeing for the model (see {@link PredictionAgreement}) and a line when they agree again.
   */
  public void prefixPrediction(String model, long predicted, long reported) {
    counter(
            "kvgate_prefix_predicted_cached_tokens",
            "Prompt tokens kvgate predicted to be cached on the endpoint it chose",
            "model",
            model)
        .increment(predicted);
    counter(
            "kvgate_prefix_reported_cached_tokens",
            "Prompt tokens the engine reported as cached (usage.prompt_tokens_details.cached_tokens)",
            "model",
            model)
        .increment(reported);
    predictionError.record(Math.abs(predicted - reported));
    PredictionAgreement a =
        agreements.computeIfAbsent(
            model,
            m -> {
              PredictionAgreement created = new PredictionAgreement();
              Gauge.builder(
                      "kvgate_prefix_prediction_agreement_ratio",
                      created,
                      PredictionAgreement::agreement)
                  .description(
                      "min/max of predicted and engine-reported cached tokens over about the last minute (1 = agree)")
                  .tags("model", m)
                  .register(registry);
              return created;
            });
    switch (a.record(predicted, reported, System.nanoTime())) {
      case COLLAPSED ->
          LOG.warning(
              String.format(
                  java.util.Locale.ROOT,
                  "model %s: prefix predictions disagree with the engines: kvgate predicted %.0f cached tokens, the engines"
                      + " reported %.0f (last minute, agreement %.2f). The engines may use another chat template or block"
                      + " size, or hold less KV than the index assumes (see docs/ROUTING.md).",
                  model,
                  a.predicted(),
                  a.reported(),
                  a.agreement()));
      case RECOVERED ->
          LOG.info(
              String.format(
                  java.util.Locale.ROOT,
                  "model %s: prefix predictions agree with the engines again (agreement %.2f)",
                  model,
                  a.agreement()));
      case NONE -> {}
    }
  }

  /**
   * A request refused by authentication or authorisation: {@code missing_key}, {@code invalid_key},
   * {@code model_not_allowed}, {@code priority_not_allowed}, {@code not_admin}.
   */
  public void authRefused(String reason) {
    counter(
            "kvgate_auth_refused",
            "Requests refused by authentication (401) or authorisation (403/404) by reason",
            "reason",
            reason)
        .increment();
  }

  /** A request admitted for {@code tenant} (after authentication and rate limits). */
  public void tenantRequest(String tenant) {
    counter("kvgate_tenant_requests", "Requests admitted per tenant", "tenant", tenant).increment();
  }

  /**
   * Tokens charged to {@code tenant}'s rate limits: {@code prompt} (estimated) or {@code
   * completion}.
   */
  public void tenantTokens(String tenant, String kind, long tokens) {
    if (tokens <= 0) return;
    counter(
            "kvgate_tenant_tokens",
            "Tokens charged to a tenant: prompt (estimated at admission) and completion (the response's usage)",
            "tenant",
            tenant,
            "kind",
            kind)
        .increment(tokens);
  }

  /** A request refused 429 by a key's {@code requests} or {@code tokens} limit. */
  public void rateLimited(String tenant, String limit) {
    counter(
            "kvgate_rate_limited",
            "Requests refused 429 by a key's rate limit (limit = requests or tokens)",
            "tenant",
            tenant,
            "limit",
            limit)
        .increment();
  }

  /** How much of a key's rate limits is used (the larger of its two budgets), 0 to 1 and beyond. */
  public void bindRateLimitUtilisation(
      String key, String tenant, java.util.function.DoubleSupplier used) {
    Gauge.builder("kvgate_rate_limit_utilisation_ratio", used, u -> u.getAsDouble())
        .description(
            "Share of a key's rate-limit budget in use (the larger of requests and tokens; above 1 ="
                + " in debt after completions)")
        .tags("key", key, "tenant", tenant)
        .strongReference(true)
        .register(registry);
  }

  /**
   * The drain state: 0 serving, 1 draining (ready 503, still accepting), 2 refusing new requests.
   */
  public void bindDrain(
      java.util.function.IntSupplier phase, java.util.function.IntSupplier inFlight) {
    Gauge.builder("kvgate_drain_phase", phase, p -> p.getAsInt())
        .description("0 serving, 1 draining (/ready 503, still accepting), 2 refusing new requests")
        .strongReference(true)
        .register(registry);
    Gauge.builder("kvgate_in_flight_requests", inFlight, p -> p.getAsInt())
        .description("Requests being proxied now (all models)")
        .strongReference(true)
        .register(registry);
  }

  /**
   * A request refused because the gateway is shutting down, or a stream it ended at the deadline.
   */
  public void drainRefused(String what) {
    counter(
            "kvgate_drain_refused",
            "Requests refused 503 while shutting down (refused) or ended by the drain deadline (cut)",
            "what",
            what)
        .increment();
  }

  // --- Outlier ejection and bounded logging (gray failures) ---

  /**
   * An endpoint ejected: {@code health_check}, {@code consecutive_failures}, {@code error_rate} or
   * {@code probation}.
   */
  public void ejection(String model, String endpoint, String reason) {
    counter(
            "kvgate_endpoint_ejections",
            "Endpoint ejections by reason (health_check, consecutive_failures, error_rate, probation)",
            "model",
            model,
            "endpoint",
            endpoint,
            "reason",
            reason)
        .increment();
  }

  /** An ejection not made because health.maxEjectionPercent keeps the endpoint in service. */
  public void ejectionSkipped(String model, String endpoint, String reason) {
    counter(
            "kvgate_endpoint_ejections_skipped",
            "Ejections not made because health.maxEjectionPercent (or the last endpoint in service) kept the endpoint",
            "model",
            model,
            "endpoint",
            endpoint,
            "reason",
            reason)
        .increment();
  }

  /** The failed share of the endpoint's requests over health.errorRateWindow. */
  public void bindErrorRate(
      String model, EndpointState e, java.util.function.DoubleSupplier errorRate) {
    Gauge.builder("kvgate_endpoint_error_rate_ratio", errorRate::getAsDouble)
        .description(
            "Failed share of the endpoint's requests over health.errorRateWindow (ejected above health.errorRateThreshold)")
        .tags("model", model, "endpoint", e.id())
        .register(registry);
  }

  /** Log lines of {@code category} suppressed by the log rate limit. */
  public void logSuppressed(String category, long lines) {
    counter(
            "kvgate_log_suppressed",
            "Log lines suppressed by the per-category log rate limit (logging.maxLinesPerInterval)",
            "category",
            category)
        .increment(lines);
  }

  /** An access-log line queued for writing. */
  public void accessLogLine() {
    counter("kvgate_access_log_lines", "Access-log lines queued for writing (sampled requests)")
        .increment();
  }

  /** An access-log line dropped because the writer's queue was full. */
  public void accessLogDropped() {
    counter(
            "kvgate_access_log_dropped",
            "Sampled access-log lines dropped because the log writer's queue was full")
        .increment();
  }
}

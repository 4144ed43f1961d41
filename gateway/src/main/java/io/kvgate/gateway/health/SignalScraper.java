package io.kvgate.gateway.health;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.time.Duration;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;

/**
 * Scrapes each engine's {@code /metrics} on an interval and publishes its load as {@link
 * EngineSignals} on the endpoint's state: waiting and running requests and KV-cache usage, from
 * vLLM's or SGLang's metric names (whichever the engine exposes). A failed scrape leaves the
 * previous signals to age: policies treat signals older than their {@code maxAge} as unknown.
 *
 * <p><b>KV capacity.</b> It also sizes the prefix index's per-endpoint capacity, converted to the
 * gateway's block size, by precedence:
 *
 * <ol>
 *   <li>{@code configured}: {@code models[].endpoints[].capacityBlocks}, set at start and never
 *       replaced (the operator knows best, e.g. behind a proxy that hides the engine's metrics);
 *   <li>{@code engine}: the capacity the engine states ({@code vllm:cache_config_info}'s {@code
 *       num_gpu_blocks × block_size}, or {@code sglang:max_total_num_tokens}), applied as is;
 *   <li>{@code learned}: for engines that do not state it, a {@link KvCapacityEstimator} per
 *       endpoint learns it from the usage the engine reports, compared with the tokens kvgate has
 *       in flight there (or, for SGLang, with the tokens the engine says it uses); applied only
 *       when stable and more than 10% away from the capacity in force;
 *   <li>{@code default}: {@code routing.capacityBlocks} until one of the above is known.
 * </ol>
 *
 * A configured or stated capacity is never replaced by a learned one. Everything runs on the event
 * loop that calls {@link #start}: the estimator is a few array operations per scrape, nothing
 * blocks.
 */
public final class SignalScraper {

  /** Where an endpoint's capacity in the prefix index came from, in precedence order. */
  public enum CapacitySource {
    CONFIGURED,
    ENGINE,
    LEARNED,
    DEFAULT;

    public String tag() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final Vertx vertx;
  private final HttpClient client;
  private final Duration interval;
  private final int gatewayBlockTokens;
  private final GatewayMetrics metrics;
  private final KvCapacityEstimator.Settings estimatorSettings;
  private final Map<EndpointState, Capacity> capacities = new IdentityHashMap<>();
  private long timer = -1;
  private volatile java.util.function.BiConsumer<EndpointState, EngineMetricsText> onScrape =
      (e, m) -> {};

  public SignalScraper(Vertx vertx, HttpClient client, Duration interval, int gatewayBlockTokens) {
    this(vertx, client, interval, gatewayBlockTokens, null, KvCapacityEstimator.Settings.DEFAULTS);
  }

  /**
   * @param metrics where to publish each endpoint's capacity and its source, or null
   * @param estimatorSettings how capacities are learned from usage
   */
  public SignalScraper(
      Vertx vertx,
      HttpClient client,
      Duration interval,
      int gatewayBlockTokens,
      GatewayMetrics metrics,
      KvCapacityEstimator.Settings estimatorSettings) {
    this.vertx = vertx;
    this.client = client;
    this.interval = interval;
    this.gatewayBlockTokens = gatewayBlockTokens;
    this.metrics = metrics;
    this.estimatorSettings = estimatorSettings;
  }

  /**
   * Called with every successful scrape, on the scraping event loop (the index's reset detection
   * reads the engine's process start time, counters and cache configuration from it).
   */
  public void onScrape(java.util.function.BiConsumer<EndpointState, EngineMetricsText> listener) {
    this.onScrape = java.util.Objects.requireNonNull(listener);
  }

  /**
   * The engine behind {@code e} stated its KV capacity ({@code tokens}) outside its metrics, on its
   * KV-event stream: applied as a stated capacity ({@link CapacitySource#ENGINE}) unless the
   * operator configured one.
   */
  public void statedCapacity(EndpointState e, long tokens) {
    Capacity c = capacity(e);
    if (c != null && tokens > 0) c.stated(tokens);
  }

  /**
   * Whether {@code e}'s engine feeds the index its own events (precise). A precise endpoint's
   * stated capacity gets {@link #precise headroom}: kvgate's routing writes a prompt's blocks
   * before the engine reports what it evicted to make room, and an index exactly at the engine's
   * capacity would evict the oldest blocks itself (parents before a newer child) on every such
   * write. The headroom is an eighth of the capacity, at least 64 blocks; the engine's removals
   * then keep the index at the engine's own size.
   */
  public void precise(EndpointState e, boolean precise) {
    Capacity c = capacity(e);
    if (c != null) c.precise(precise);
  }

  public void start(List<ModelRoute> routes) {
    synchronized (capacities) {
      for (ModelRoute r : routes) {
        for (EndpointState e : r.endpoints()) {
          Capacity c = new Capacity(r, e, new KvCapacityEstimator(estimatorSettings));
          capacities.put(e, c);
          c.publish();
        }
      }
    }
    Runnable round = () -> routes.forEach(r -> r.endpoints().forEach(e -> scrape(r, e)));
    round.run();
    timer = vertx.setPeriodic(interval.toMillis(), t -> round.run());
  }

  public void stop() {
    if (timer >= 0) vertx.cancelTimer(timer);
  }

  /**
   * Where the capacity of {@code e} came from, or null for an endpoint this scraper does not know.
   */
  public CapacitySource capacitySource(EndpointState e) {
    Capacity c = capacity(e);
    return c == null ? null : c.source();
  }

  /** The learned estimate for {@code e} in gateway blocks, 0 until stable (or unknown endpoint). */
  public long learnedCapacityBlocks(EndpointState e) {
    Capacity c = capacity(e);
    return c == null ? 0 : c.learnedBlocks();
  }

  private Capacity capacity(EndpointState e) {
    synchronized (capacities) {
      return capacities.get(e);
    }
  }

  private void scrape(ModelRoute route, EndpointState e) {
    RequestOptions opts =
        route
            .target(e)
            .request(HttpMethod.GET, "/metrics", interval)
            .setIdleTimeout(Math.max(interval.toMillis(), 1000));
    // kvgate's counters as the scrape leaves: compared with those on its return, they tell whether
    // the engine's snapshot can be matched to them
    long activeBefore = e.activeTokens();
    int inFlightBefore = e.localInFlight();
    // scrapes of a slow engine overlap and may be answered out of order: only an answer newer
    // than the last one used counts (an older one would show counters going backwards)
    Capacity order = capacity(e);
    long sent = order == null ? 0 : order.sent();
    client
        .request(opts)
        .compose(req -> req.send())
        .compose(
            resp ->
                resp.statusCode() == 200
                    ? resp.body()
                    : io.vertx.core.Future.failedFuture("status " + resp.statusCode()))
        .onSuccess(
            body -> {
              if (order != null && !order.newest(sent)) return;
              EngineMetricsText m = EngineMetricsText.parse(body.toString());
              onScrape.accept(e, m);
              if (!m.hasLoad()) return;
              e.setSignals(
                  new EngineSignals(m.waiting(), m.running(), m.kvCacheUsage(), System.nanoTime()));
              Capacity c = capacity(e);
              if (c != null) {
                c.update(
                    m,
                    new KvCapacityEstimator.Observation(
                        activeBefore,
                        e.activeTokens(),
                        inFlightBefore,
                        e.localInFlight(),
                        m.kvCacheUsage(),
                        m.running(),
                        m.waiting()));
              }
            });
  }

  /** One endpoint's capacity bookkeeping. */
  private final class Capacity {
    private final ModelRoute route;
    private final EndpointState endpoint;
    private final KvCapacityEstimator estimator;
    private CapacitySource source;
    private boolean precise;
    private long statedTokens;

    Capacity(ModelRoute route, EndpointState endpoint, KvCapacityEstimator estimator) {
      this.route = route;
      this.endpoint = endpoint;
      this.estimator = estimator;
      this.source =
          route.capacityConfigured(endpoint) ? CapacitySource.CONFIGURED : CapacitySource.DEFAULT;
    }

    synchronized CapacitySource source() {
      return source;
    }

    synchronized long learnedBlocks() {
      return estimator.stable() ? toBlocks(estimator.estimateTokens()) : 0;
    }

    synchronized void update(EngineMetricsText m, KvCapacityEstimator.Observation o) {
      // learn even when the engine states its capacity: the learned gauge then validates the
      // estimator
      if (m.hasExactUsage()) {
        estimator.offerExact(m.usedTokens(), m.sglangTokenUsage());
      } else {
        estimator.offer(o);
      }
      int slot = endpoint.slot();
      long current = route.index().capacityBlocks(slot);
      if (source == CapacitySource.CONFIGURED) {
        // the operator's figure stands; the learned gauge still shows what the engine suggests
      } else if (m.capacityTokens() > 0) {
        statedTokens = m.capacityTokens();
        long blocks = statedBlocks(m.capacityTokens());
        if (blocks != current) route.index().setCapacityBlocks(slot, blocks);
        source = CapacitySource.ENGINE;
      } else if (source != CapacitySource.ENGINE) {
        OptionalLong proposal = estimator.proposeCapacity(current * gatewayBlockTokens);
        if (proposal.isPresent()) {
          route.index().setCapacityBlocks(slot, toBlocks(proposal.getAsLong()));
          source = CapacitySource.LEARNED;
        }
      }
      publish();
    }

    private long scrapesSent;
    private long newestAnswered;

    synchronized long sent() {
      return ++scrapesSent;
    }

    /** True if the answer to scrape {@code n} is newer than every answer used so far. */
    synchronized boolean newest(long n) {
      if (n <= newestAnswered) return false;
      newestAnswered = n;
      return true;
    }

    synchronized void precise(boolean on) {
      if (precise == on) return;
      precise = on;
      if (source == CapacitySource.ENGINE && statedTokens > 0) stated(statedTokens);
    }

    /** Blocks for a stated capacity, with headroom when the endpoint is precise. */
    private long statedBlocks(long tokens) {
      long blocks = toBlocks(tokens);
      return precise ? blocks + Math.max(64, blocks / 8) : blocks;
    }

    synchronized void stated(long tokens) {
      if (source == CapacitySource.CONFIGURED) return;
      statedTokens = tokens;
      long blocks = statedBlocks(tokens);
      if (blocks != route.index().capacityBlocks(endpoint.slot())) {
        route.index().setCapacityBlocks(endpoint.slot(), blocks);
      }
      if (source != CapacitySource.ENGINE) {
        source = CapacitySource.ENGINE;
        publish();
      }
    }

    synchronized void publish() {
      if (metrics != null) {
        metrics.kvCapacity(
            route.name(),
            endpoint.id(),
            source.tag(),
            route.index().capacityBlocks(endpoint.slot()),
            learnedBlocks());
      }
    }

    private long toBlocks(long tokens) {
      return Math.max(1, tokens / gatewayBlockTokens);
    }
  }
}

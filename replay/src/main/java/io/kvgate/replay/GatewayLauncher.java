package io.kvgate.replay;

import io.kvgate.sim.Role;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.Locale;

/**
 * Starts a gateway for one replay cell in front of the given engines. The gateway module provides
 * the real one ({@code kvgate replay}); the replay module does not depend on the gateway.
 */
@FunctionalInterface
public interface GatewayLauncher {

  Future<RunningGateway> start(Vertx vertx, Spec spec);

  /**
   * What the gateway serves.
   *
   * @param policy the model's policy (for a disaggregated model: the prefill pool's policy)
   * @param model the model name the engines serve
   * @param engines every engine of the fleet with its role
   * @param pd the disaggregation settings; null when every engine has role {@code both}
   * @param indexMode {@link IndexMode#PRECISE}: the gateway must listen for KV event streams (gRPC,
   *     loopback, {@link RunningGateway#kvEventsPort()}); the replay then connects every engine's
   *     publisher to it before traffic
   * @param healthTimeScale the gateway's active health-check interval and ejection time run this
   *     many times faster than its defaults (1: the defaults). The replay passes the engines' speed
   *     in cells that restart an engine: the restart cuts the engine's requests in flight, the
   *     gateway ejects it for its base ejection time (30 s of wall time by default, 10 simulated
   *     minutes at speed 20), and only on the simulated clock does it come back within the minute
   *     measured after the restart, as it would at speed 1
   * @param gateways how many gateways to start over the same engines, each its own gateway with
   *     this configuration; the replay sends request {@code i} to gateway {@code i mod gateways}
   *     ({@link RunningGateway#baseUrls()})
   * @param clustered whether the gateways form one cluster (a cluster name of their own, loopback
   *     members); the launcher completes once every one has caught up and sees all the others
   */
  record Spec(
      String policy,
      String model,
      List<Engine> engines,
      Pd pd,
      IndexMode indexMode,
      double healthTimeScale,
      int gateways,
      boolean clustered) {
    public Spec {
      engines = List.copyOf(engines);
      java.util.Objects.requireNonNull(indexMode, "indexMode");
      if (!(healthTimeScale >= 1) || Double.isInfinite(healthTimeScale))
        throw new IllegalArgumentException("health time scale must be >= 1");
      new Gateways(gateways, clustered); // validates
    }

    /** One gateway. */
    public Spec(
        String policy,
        String model,
        List<Engine> engines,
        Pd pd,
        IndexMode indexMode,
        double healthTimeScale) {
      this(policy, model, engines, pd, indexMode, healthTimeScale, 1, false);
    }

    /** An approximate-index gateway (no KV event listener) with the default health timing. */
    public Spec(String policy, String model, List<Engine> engines, Pd pd) {
      this(policy, model, engines, pd, IndexMode.APPROXIMATE, 1);
    }

    /** The URLs of the engines of one role, in fleet order. */
    public List<String> urls(Role role) {
      return engines.stream().filter(e -> e.role() == role).map(Engine::url).toList();
    }

    /** Every engine's URL, in fleet order. */
    public List<String> urls() {
      return engines.stream().map(Engine::url).toList();
    }
  }

  /** One engine: its base URL and its role. */
  record Engine(String url, Role role) {}

  /**
   * Prefill/decode disaggregation settings of the gateway's model.
   *
   * @param protocol the engines' protocol
   * @param minUncachedTokens requests whose uncached prompt part on the chosen decode endpoint is
   *     below this are served whole there; 0 disaggregates every request
   */
  record Pd(PdProtocol protocol, long minUncachedTokens) {}

  /** The wire protocol between the gateway and the prefill and decode engines. */
  enum PdProtocol {
    /** vLLM's {@code kv_transfer_params}: the prefill leg, then the decode leg. */
    VLLM,
    /** SGLang's bootstrap fields, sent to both engines at once. */
    SGLANG;

    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code vllm} or {@code sglang}. */
    public static PdProtocol parse(String s) {
      for (PdProtocol p : values()) if (p.wireName().equals(s)) return p;
      throw new IllegalArgumentException("P/D protocol must be vllm or sglang (got '" + s + "')");
    }
  }

  /**
   * What the gateway's prefix index learns each engine's cache from, one dimension of the replay's
   * cells ({@code --index-modes}).
   */
  enum IndexMode {
    /** kvgate's own model of each cache, written from its routing decisions. */
    APPROXIMATE,
    /** The engines' KV events, streamed to the gateway's gRPC listener. */
    PRECISE;

    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code approximate} or {@code precise}. */
    public static IndexMode parse(String s) {
      for (IndexMode m : values()) if (m.wireName().equals(s == null ? null : s.trim())) return m;
      throw new IllegalArgumentException(
          "index mode must be approximate or precise (got '" + s + "')");
    }
  }

  /**
   * The gateway's view of one engine's cache, next to what the engine last told it.
   *
   * @param url the engine's base URL as the gateway is configured with it
   * @param mode the engine's index mode as the gateway reports it ({@code precise}, {@code
   *     approximate}, {@code stale})
   * @param indexBlocks blocks the gateway's prefix index holds for the engine ({@code index_blocks}
   *     of {@code GET /admin/endpoints})
   * @param reportedCachedBlocks cached blocks the engine last reported on its event stream ({@code
   *     engine_cached_blocks}); -1 without a stream
   * @param resets restarts and cache resets the gateway detected on the engine
   */
  record EngineIndexView(
      String url, String mode, long indexBlocks, long reportedCachedBlocks, long resets) {}

  /**
   * One gateway's cluster meters, cumulative since it started: the delay with which its peers'
   * index writes reached it ({@code kvgate_cluster_propagation}, a histogram) and the bytes it
   * published ({@code kvgate_cluster_sent_bytes}, all message types).
   *
   * @param gatewayId the gateway's id in the cluster
   * @param members gateways in its cluster view, itself included
   * @param propagationBoundsMs the histogram's bucket upper bounds, wall ms, ascending
   * @param propagationCumulative writes applied with a delay at most each bound (cumulative)
   * @param propagations writes applied from peers in all (beyond the last bound included)
   * @param sentBytes cluster message bytes published
   */
  record ClusterMeters(
      String gatewayId,
      int members,
      double[] propagationBoundsMs,
      long[] propagationCumulative,
      long propagations,
      double sentBytes) {
    public ClusterMeters {
      if (propagationBoundsMs.length != propagationCumulative.length)
        throw new IllegalArgumentException("one cumulative count per bucket bound");
    }

    /** What these meters counted since {@code before} (an earlier reading of the same gateway). */
    public ClusterMeters since(ClusterMeters before) {
      java.util.Map<Double, Long> earlier = new java.util.HashMap<>();
      for (int i = 0; i < before.propagationBoundsMs.length; i++)
        earlier.put(before.propagationBoundsMs[i], before.propagationCumulative[i]);
      long[] c = new long[propagationCumulative.length];
      for (int i = 0; i < c.length; i++)
        c[i] =
            Math.max(
                0, propagationCumulative[i] - earlier.getOrDefault(propagationBoundsMs[i], 0L));
      return new ClusterMeters(
          gatewayId,
          members,
          propagationBoundsMs,
          c,
          Math.max(0, propagations - before.propagations),
          Math.max(0, sentBytes - before.sentBytes));
    }

    /**
     * The gateways' meters as one: buckets added up bound by bound (the gateways run one
     * configuration, so their histograms share their bounds), writes and bytes summed, the fewest
     * members any of them saw.
     */
    public static ClusterMeters merge(List<ClusterMeters> all) {
      java.util.TreeMap<Double, Long> buckets = new java.util.TreeMap<>();
      long n = 0;
      double bytes = 0;
      int members = Integer.MAX_VALUE;
      for (ClusterMeters m : all) {
        for (int i = 0; i < m.propagationBoundsMs.length; i++)
          buckets.merge(m.propagationBoundsMs[i], m.propagationCumulative[i], Long::sum);
        n += m.propagations;
        bytes += m.sentBytes;
        members = Math.min(members, m.members);
      }
      // cumulative counts add up bound by bound: every gateway's histogram has the same bounds
      double[] bounds = buckets.keySet().stream().mapToDouble(Double::doubleValue).toArray();
      long[] cumulative = buckets.values().stream().mapToLong(Long::longValue).toArray();
      return new ClusterMeters("all", all.isEmpty() ? 0 : members, bounds, cumulative, n, bytes);
    }

    /**
     * The {@code q} quantile of the propagation delay, wall ms, interpolated linearly within its
     * bucket as Prometheus's {@code histogram_quantile} does; the last bound if it lies beyond it;
     * NaN without a write.
     */
    public double propagationQuantileMs(double q) {
      if (propagations <= 0 || propagationBoundsMs.length == 0) return Double.NaN;
      double rank = q * propagations;
      double lower = 0;
      long below = 0;
      for (int i = 0; i < propagationBoundsMs.length; i++) {
        long c = propagationCumulative[i];
        if (c >= rank && c > below)
          return lower + (propagationBoundsMs[i] - lower) * (rank - below) / (c - below);
        lower = propagationBoundsMs[i];
        below = c;
      }
      return propagationBoundsMs[propagationBoundsMs.length - 1];
    }
  }

  /** A started gateway, or several over the same engines ({@link Spec#gateways()}). */
  interface RunningGateway {
    /** The first gateway's base URL. */
    String baseUrl();

    /** Every gateway's base URL, in gateway order (gateway {@code k} is {@code gw-k}). */
    default List<String> baseUrls() {
      return List.of(baseUrl());
    }

    /**
     * Every clustered gateway's cluster meters, read now, in gateway order; empty if the gateways
     * are not clustered. Read before and after a cell's traffic, never on an event loop.
     */
    default List<ClusterMeters> clusterMeters() {
      return List.of();
    }

    /**
     * The loopback port of the gateway's KV event listener ({@code kvgate.v1.KvEventService}), or
     * -1 if it has none (an {@link IndexMode#APPROXIMATE} spec).
     */
    default int kvEventsPort() {
      return -1;
    }

    /**
     * The (first) gateway's view of every engine's cache, in the spec's engine order; empty if the
     * gateway does not expose one (a stand-in proxy). Read at the end of a cell, so it may take a
     * lock per engine; never called on an event loop that the gateway needs.
     */
    default List<EngineIndexView> indexView() {
      return List.of();
    }

    Future<Void> close();
  }
}

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
   */
  record Spec(
      String policy,
      String model,
      List<Engine> engines,
      Pd pd,
      IndexMode indexMode,
      double healthTimeScale) {
    public Spec {
      engines = List.copyOf(engines);
      java.util.Objects.requireNonNull(indexMode, "indexMode");
      if (!(healthTimeScale >= 1) || Double.isInfinite(healthTimeScale))
        throw new IllegalArgumentException("health time scale must be >= 1");
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

  /** A started gateway. */
  interface RunningGateway {
    String baseUrl();

    /**
     * The loopback port of the gateway's KV event listener ({@code kvgate.v1.KvEventService}), or
     * -1 if it has none (an {@link IndexMode#APPROXIMATE} spec).
     */
    default int kvEventsPort() {
      return -1;
    }

    /**
     * The gateway's view of every engine's cache, in the spec's engine order; empty if the gateway
     * does not expose one (a stand-in proxy). Read at the end of a cell, so it may take a lock per
     * engine; never called on an event loop that the gateway needs.
     */
    default List<EngineIndexView> indexView() {
      return List.of();
    }

    Future<Void> close();
  }
}

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
   */
  record Spec(String policy, String model, List<Engine> engines, Pd pd) {
    public Spec {
      engines = List.copyOf(engines);
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

  /** A started gateway. */
  interface RunningGateway {
    String baseUrl();

    Future<Void> close();
  }
}

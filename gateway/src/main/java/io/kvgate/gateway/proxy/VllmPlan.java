package io.kvgate.gateway.proxy;

import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.routing.Decision;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * vLLM's disaggregated protocol (NixlConnector {@code kv_transfer_params}, as vLLM's own proxy
 * {@code tests/v1/kv_connector/nixl_integration/toy_proxy_server.py} at {@code 030ea52e} runs it):
 * the prefill leg first, a one-token non-streaming request whose answer carries the transfer
 * parameters; then the decode leg, the client's own body plus those parameters, relayed.
 *
 * <p>Retries. A prefill leg that fails (connection, 5xx, timeout, an answer missing a transfer
 * field) is tried on the next prefill endpoint, up to {@code pd.maxPrefillAttempts}, then falls
 * back. A decode attempt that could not connect wrote nothing, so its transfer parameters are still
 * unread and the next decode endpoint reuses them; a decode attempt that failed after its request
 * went out may have pulled the blocks (the prefill side frees them once read), so both legs are run
 * again, the prefill on the same endpoint first (it now holds the prompt in its cache).
 */
final class VllmPlan extends PdPlan {

  private JsonObject params;

  /** The prefill endpoint of {@link #params}. */
  private Decision.Candidate paramsFrom;

  VllmPlan(UpstreamProxy.Legs legs) {
    super(legs);
  }

  @Override
  public Future<Target> next(int i, String lastKind) {
    if (lastKind != null) decodeAt++;
    if (whole) return decodeCandidate(null).map(legs::whole);
    if (params != null && "connect".equals(lastKind)) {
      return decodeCandidate(null).map(this::decodeTarget);
    }
    params = null;
    return decodeCandidate(null).compose(d -> prefill(null));
  }

  /** Runs prefill legs until one answers, then the decode target; or falls back. */
  private Future<Target> prefill(OpenAiException last) {
    if (closed()) return Future.failedFuture(ended());
    if (!prefillLeft()) return fallback(last);
    Decision.Candidate p = prefillRanked.get(prefillAt);
    leg = legs.prefill(p, legs.x.pd().prefillBody(), true);
    return leg.run()
        .compose(
            answer -> {
              leg = null;
              params = answer;
              paramsFrom = p;
              return decodeCandidate(null).map(this::decodeTarget);
            },
            err -> {
              leg = null;
              if (err instanceof PrefillLeg.Failure f && !f.retriable) {
                return Future.failedFuture(f.error);
              }
              OpenAiException e = errorOf(err);
              if (err instanceof PrefillLeg.Failure f && f.kind.equals("aborted")) {
                return Future.failedFuture(e);
              }
              if (err instanceof PrefillLeg.Failure f && prefillFailed(f)) return prefill(e);
              return fallback(e);
            });
  }

  private Target decodeTarget(Decision.Candidate d) {
    return legs.decodeLeg(
        d, PdBodies.vllmDecode(legs.x.parsed().raw(), params), paramsFrom.endpoint());
  }
}

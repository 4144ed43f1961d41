package io.kvgate.gateway.proxy;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.openai.OpenAiRequest;
import io.kvgate.routing.Decision;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.vertx.core.http.HttpServerRequest;

/**
 * One client request on its way through the gateway: everything the proxy needs, built by the
 * request path before the first attempt.
 *
 * @param request the client's HTTP request (its response is written by the proxy)
 * @param parsed the parsed body
 * @param routing what the policy saw
 * @param route the model's fleet
 * @param router the policy that made {@code decision} (kept even if a reload swaps it meanwhile)
 * @param decision the ranked endpoints
 * @param requestId the {@code x-request-id}
 * @param startNanos when the request's head arrived, before its body was read
 * @param onEnd told, once, when the exchange ends: the prompt tokens the engine reported (-1 when
 *     it did not) and the completion tokens it used (usage, or its streamed events; 0 when none
 *     reached the client), for the client key's token budget
 * @param pd how a disaggregated model serves this request, or null for an aggregated model; then
 *     {@code router} and {@code decision} are the decode side's
 * @param lane whether this is a batch line, or an interactive request routed while batch lines were
 *     in flight or not
 * @param onFirstByte run once, on the request's event loop, when the first response byte is relayed
 *     or, without one, when the exchange ends; null for nothing
 */
public record Exchange(
    HttpServerRequest request,
    OpenAiRequest parsed,
    RoutingRequest routing,
    ModelRoute route,
    Router router,
    Decision decision,
    String requestId,
    long startNanos,
    TokensUsed onEnd,
    Disaggregation pd,
    Lane lane,
    Runnable onFirstByte) {

  /** Which traffic an exchange is, for the interactive time-to-first-byte split. */
  public enum Lane {
    /** An interactive request routed while no batch line was in flight. */
    INTERACTIVE,
    /** An interactive request routed while batch lines were in flight. */
    BESIDE_BATCH,
    /** A line of a batch ({@code /v1/batches}). */
    BATCH
  }

  /** An interactive exchange. */
  public Exchange(
      HttpServerRequest request,
      OpenAiRequest parsed,
      RoutingRequest routing,
      ModelRoute route,
      Router router,
      Decision decision,
      String requestId,
      long startNanos,
      TokensUsed onEnd,
      Disaggregation pd) {
    this(
        request,
        parsed,
        routing,
        route,
        router,
        decision,
        requestId,
        startNanos,
        onEnd,
        pd,
        Lane.INTERACTIVE,
        null);
  }

  /** An exchange of an aggregated model. */
  public Exchange(
      HttpServerRequest request,
      OpenAiRequest parsed,
      RoutingRequest routing,
      ModelRoute route,
      Router router,
      Decision decision,
      String requestId,
      long startNanos,
      TokensUsed onEnd) {
    this(request, parsed, routing, route, router, decision, requestId, startNanos, onEnd, null);
  }

  /**
   * A disaggregated model's plan for this request.
   *
   * @param router the model's leg router (kept even if a reload swaps it meanwhile)
   * @param decision how to serve the request
   * @param prefillBody the vLLM prefill leg's body (the client's, made a one-token non-streaming
   *     request with {@code kv_transfer_params}), or null (SGLang, or served whole)
   */
  public record Disaggregation(
      io.kvgate.routing.pd.DisaggregatedRouter router,
      io.kvgate.routing.pd.DisaggregatedRouter.PdDecision decision,
      io.vertx.core.buffer.Buffer prefillBody) {}

  /** What an exchange used, for the client key's token budget. */
  @FunctionalInterface
  public interface TokensUsed {
    void ended(long reportedPromptTokens, long completionTokens);
  }
}

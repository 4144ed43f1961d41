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
    TokensUsed onEnd) {

  /** What an exchange used, for the client key's token budget. */
  @FunctionalInterface
  public interface TokensUsed {
    void ended(long reportedPromptTokens, long completionTokens);
  }
}

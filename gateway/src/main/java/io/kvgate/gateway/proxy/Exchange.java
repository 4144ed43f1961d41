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
 * @param onEnd told, once, how many completion tokens the exchange used when it ends (usage, or its
 *     streamed events; 0 when none reached the client), for the client key's token budget
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
    java.util.function.LongConsumer onEnd) {}

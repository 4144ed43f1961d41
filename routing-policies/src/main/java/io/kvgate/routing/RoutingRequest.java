package io.kvgate.routing;

import io.kvgate.routing.prefix.BlockChain;

/**
 * What a policy knows about one request. Built once per request by the gateway (the only place that
 * hashes the prompt); policies never see the body.
 *
 * @param model the requested model
 * @param adapter LoRA adapter name, or null (requests for an adapter prefer endpoints that have it)
 * @param sessionKey {@code x-session-id} header or the body's {@code user} field, or null
 * @param chain chained block hashes of the rendered prompt; {@link BlockChain#EMPTY} when the
 *     request could not be keyed (see {@code keyed})
 * @param promptTokens estimated prompt tokens (the load this request brings to a prefill)
 * @param keyed false if the gateway could not render this request into a prompt (counted in a
 *     metric, never silently routed as a miss)
 * @param maxTokens the completion tokens the client asked for at most ({@code
 *     max_completion_tokens}, else {@code max_tokens}); 0 when it set no limit
 */
public record RoutingRequest(
    String model,
    String adapter,
    String sessionKey,
    BlockChain chain,
    long promptTokens,
    boolean keyed,
    long maxTokens) {

  /** A request without a completion limit. */
  public RoutingRequest(
      String model,
      String adapter,
      String sessionKey,
      BlockChain chain,
      long promptTokens,
      boolean keyed) {
    this(model, adapter, sessionKey, chain, promptTokens, keyed, 0);
  }

  /** A request with only a model: no key, no session. */
  public static RoutingRequest unkeyed(String model) {
    return new RoutingRequest(model, null, null, BlockChain.EMPTY, 0, false);
  }
}

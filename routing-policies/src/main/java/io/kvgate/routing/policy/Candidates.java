package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.PrefixMatch;
import java.util.List;

/**
 * One routing decision's inputs after filtering, shared by every scorer and the picker so that the
 * prompt is matched against the index once.
 *
 * @param request the request
 * @param endpoints the endpoints that passed the filters (at least one)
 * @param match the prefix match, or {@code PrefixMatch.none} when no plugin needs it or the request
 *     is not keyed
 * @param nowNanos the decision's clock
 * @param context the policy's context
 */
public record Candidates(
    RoutingRequest request,
    List<EndpointState> endpoints,
    PrefixMatch match,
    long nowNanos,
    RoutingContext context) {

  public int size() {
    return endpoints.size();
  }

  public EndpointState get(int i) {
    return endpoints.get(i);
  }

  /** Leading blocks of the request cached at candidate {@code i}. */
  public int matched(int i) {
    return match.matched(endpoints.get(i).slot());
  }

  /** Prompt tokens per hashed block, derived from the chain (characters) and the token estimate. */
  public double tokensPerBlock() {
    long units = request.chain().totalUnits();
    if (units <= 0 || request.promptTokens() <= 0) return request.chain().blockSize() / 4.0;
    return request.chain().blockSize() * (double) request.promptTokens() / units;
  }

  /** Prompt tokens predicted cached at candidate {@code i}. */
  public double cachedTokens(int i) {
    return Math.min(request.promptTokens(), matched(i) * tokensPerBlock());
  }
}

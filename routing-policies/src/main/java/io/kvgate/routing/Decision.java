package io.kvgate.routing;

import java.util.List;

/**
 * A policy's answer: endpoints best first. The gateway sends to the first and, when an attempt
 * fails before any response byte, retries on the next ones in order.
 *
 * <p>Under a policy with preference tiers ({@code label-tier-filter}) the ranking holds the chosen
 * tier's endpoints first, ranked by the policy's picker, then each later tier's, ranked by the same
 * picker among themselves, so that a retry reaches the next tier once the chosen tier has no other
 * candidate. Each candidate names its tier.
 *
 * @param ranked candidates, best first; empty when nothing passed the filters
 * @param promptBlocks blocks in the request's chain (the denominator of predicted hits)
 * @param reason why the list is empty or how the choice was made, for logs; never null
 * @param failover why the first candidate is not in the most preferred tier: {@link
 *     #FAILOVER_UNAVAILABLE} or {@link #FAILOVER_SATURATED}; null when it is, or without tiers
 */
public record Decision(List<Candidate> ranked, int promptBlocks, String reason, String failover) {

  /** The more preferred tiers had no endpoint that passed the filters before the tier filter. */
  public static final String FAILOVER_UNAVAILABLE = "unavailable";

  /** A more preferred tier had endpoints, all of them saturated. */
  public static final String FAILOVER_SATURATED = "saturated";

  public Decision {
    ranked = List.copyOf(ranked);
  }

  /** A decision without tiers. */
  public Decision(List<Candidate> ranked, int promptBlocks, String reason) {
    this(ranked, promptBlocks, reason, null);
  }

  public static Decision none(String reason) {
    return new Decision(List.of(), 0, reason);
  }

  public boolean isEmpty() {
    return ranked.isEmpty();
  }

  public Candidate first() {
    return ranked.get(0);
  }

  /**
   * One ranked endpoint.
   *
   * @param endpoint the endpoint
   * @param score the policy's total score (higher is better; comparable only within one decision,
   *     and only among candidates of one tier)
   * @param matchedBlocks leading blocks of the request predicted to be in this endpoint's cache
   * @param tier the name of the endpoint's tier (its label value), or null when the policy has no
   *     tiers
   * @param tierRank the tier's place in the configured preference order, 0 = most preferred (0
   *     without tiers)
   */
  public record Candidate(
      EndpointState endpoint, double score, int matchedBlocks, String tier, int tierRank) {

    /** A candidate of a policy without tiers. */
    public Candidate(EndpointState endpoint, double score, int matchedBlocks) {
      this(endpoint, score, matchedBlocks, null, 0);
    }
  }
}

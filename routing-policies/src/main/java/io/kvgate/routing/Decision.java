package io.kvgate.routing;

import java.util.List;

/**
 * A policy's answer: endpoints best first. The gateway sends to the first and, when an attempt
 * fails before any response byte, retries on the next ones in order.
 *
 * @param ranked candidates, best first; empty when nothing passed the filters
 * @param promptBlocks blocks in the request's chain (the denominator of predicted hits)
 * @param reason why the list is empty or how the choice was made, for logs; never null
 */
public record Decision(List<Candidate> ranked, int promptBlocks, String reason) {

  public Decision {
    ranked = List.copyOf(ranked);
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
   * @param score the policy's total score (higher is better; comparable only within one decision)
   * @param matchedBlocks leading blocks of the request predicted to be in this endpoint's cache
   */
  public record Candidate(EndpointState endpoint, double score, int matchedBlocks) {}
}

package io.kvgate.gateway.metrics;

import io.kvgate.routing.Decision;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which preference tier served each request, and the requests served outside the most preferred
 * tier with the reason, for policies with a {@code label-tier-filter}: on a dashboard, failover is
 * {@code kvgate_tier_requests_total} moving from one tier to the next together with {@code
 * kvgate_tier_failovers_total}, fail-back the same in reverse. Tags are the model and the tier's
 * configured label value, so their number is bounded by the policy.
 */
public final class TierMetrics {

  /** A retry crossed to a less preferred tier than the decision's first choice. */
  public static final String CAUSE_RETRY = "retry";

  private final MeterRegistry registry;
  private final ConcurrentHashMap<String, Counter> counters = new ConcurrentHashMap<>();

  public TierMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  /**
   * The response relayed to the client came from {@code served}, a candidate of {@code decision};
   * nothing is recorded for a policy without tiers.
   */
  public void served(String model, Decision decision, Decision.Candidate served) {
    String tier = served.tier();
    if (tier == null) return;
    counter(
            "kvgate_tier_requests",
            "Requests whose response came from an endpoint of this tier (label-tier-filter)",
            "model",
            model,
            "tier",
            tier)
        .increment();
    if (served.tierRank() == 0) return;
    String cause =
        served.tierRank() > decision.first().tierRank() ? CAUSE_RETRY : decision.failover();
    if (cause == null) return;
    counter(
            "kvgate_tier_failovers",
            "Requests served outside the most preferred tier, by serving tier and cause: the"
                + " preferred tiers were unavailable or saturated, or a retry crossed tiers",
            "model",
            model,
            "tier",
            tier,
            "cause",
            cause)
        .increment();
  }

  private Counter counter(String name, String description, String... tags) {
    String key = name + '|' + String.join("|", tags);
    return counters.computeIfAbsent(
        key, k -> Counter.builder(name).description(description).tags(tags).register(registry));
  }
}

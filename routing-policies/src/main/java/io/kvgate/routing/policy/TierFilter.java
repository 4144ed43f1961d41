package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import java.util.List;

/**
 * A filter that orders the endpoints into preference tiers instead of only narrowing them. A
 * compiled policy runs the rest of its profile (later filters, scorers, picker) on each group
 * separately and concatenates the rankings in group order: the picker only ever compares endpoints
 * of one group, the first non-empty group is the decision's choice, and the later groups are where
 * a retry goes once the chosen group has no other candidate.
 */
public interface TierFilter extends Filter {

  /**
   * The groups in ranking order; empty groups may be left out.
   *
   * @param endpoints the endpoints that passed the earlier filters
   */
  List<Group> groups(RoutingRequest request, List<EndpointState> endpoints, long nowNanos);

  /**
   * One group of endpoints of one tier.
   *
   * @param tier the tier's name
   * @param rank the tier's place in the preference order, 0 = most preferred
   * @param endpoints the group's endpoints
   * @param failover when this group is the decision's first choice, why the more preferred tiers
   *     were passed over ({@link io.kvgate.routing.Decision#FAILOVER_UNAVAILABLE} or {@link
   *     io.kvgate.routing.Decision#FAILOVER_SATURATED}); null for the most preferred tier
   */
  record Group(String tier, int rank, List<EndpointState> endpoints, String failover) {
    public Group {
      endpoints = List.copyOf(endpoints);
    }
  }

  /** As a plain filter: the endpoints of the first non-empty group, else all. */
  @Override
  default List<EndpointState> apply(
      RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    for (Group g : groups(request, endpoints, nowNanos)) {
      if (!g.endpoints().isEmpty()) return g.endpoints();
    }
    return endpoints;
  }
}

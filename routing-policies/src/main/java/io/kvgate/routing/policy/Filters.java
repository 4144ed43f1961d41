package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** The filter plugins. Each keeps the input list when nothing is removed (no allocation). */
final class Filters {

  private Filters() {}

  private static List<EndpointState> keep(List<EndpointState> in, Predicate<EndpointState> p) {
    int n = in.size();
    int i = 0;
    while (i < n && p.test(in.get(i))) i++;
    if (i == n) return in;
    List<EndpointState> out = new ArrayList<>(n);
    for (int j = 0; j < n; j++) if (p.test(in.get(j))) out.add(in.get(j));
    return out;
  }

  /** {@code healthy-filter}: admitted by health checks. */
  static final class HealthyFilter implements Filter {
    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      return keep(in, EndpointState::healthy);
    }
  }

  /**
   * {@code lora-filter}: a request for an adapter prefers endpoints that have it loaded; when none
   * has, all stay (the engine loads it on demand).
   */
  static final class LoraFilter implements Filter, ReadsEndpointFields {
    @Override
    public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
      return java.util.Set.of(io.kvgate.routing.EndpointField.ADAPTERS);
    }

    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      if (r.adapter() == null) return in;
      List<EndpointState> with = keep(in, e -> e.endpoint().adapters().contains(r.adapter()));
      return with.isEmpty() ? in : with;
    }
  }

  /**
   * {@code label-tier-filter}: preference tiers on a label, e.g. {@code {label: region, tiers:
   * [us-east, eu-west]}}: the endpoints of the first tier that has any; else all (untiered
   * endpoints are the last resort).
   */
  record LabelTierFilter(
      @Param(doc = "the endpoint label whose values form the tiers, e.g. region", required = true)
          String label,
      @Param(doc = "label values, most preferred first", required = true) List<String> tiers)
      implements Filter {
    static final LabelTierFilter DEFAULTS = new LabelTierFilter(null, List.of());

    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      for (String tier : tiers) {
        List<EndpointState> t = keep(in, e -> tier.equals(e.endpoint().label(label)));
        if (!t.isEmpty()) return t;
      }
      return in;
    }
  }
}

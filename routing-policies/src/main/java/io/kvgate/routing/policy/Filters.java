package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Role;
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

  /** {@code healthy-filter}: admitted by health checks and not draining. */
  static final class HealthyFilter implements Filter {
    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      return keep(in, e -> e.healthy() && !e.draining());
    }
  }

  /** {@code model-filter}: serves the request's model (a fleet shared by several models). */
  static final class ModelFilter implements Filter {
    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      return keep(in, e -> e.endpoint().model().equals(r.model()));
    }
  }

  /**
   * {@code role-filter}: can run the given phase ({@code both} keeps aggregated endpoints only).
   */
  record RoleFilter(Role role) implements Filter {
    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      return switch (role) {
        case PREFILL -> keep(in, e -> e.endpoint().role().prefills());
        case DECODE -> keep(in, e -> e.endpoint().role().decodes());
        case BOTH -> keep(in, e -> e.endpoint().role() == Role.BOTH);
      };
    }
  }

  /**
   * {@code lora-filter}: a request for an adapter prefers endpoints that have it loaded; when none
   * has, all stay (the engine loads it on demand).
   */
  static final class LoraFilter implements Filter {
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
  record LabelTierFilter(String label, List<String> tiers) implements Filter {
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

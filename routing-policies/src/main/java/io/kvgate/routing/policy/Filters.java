package io.kvgate.routing.policy;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.kvgate.routing.RoutingRequest;
import java.time.Duration;
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
   * {@code label-tier-filter}: preference tiers on a label, e.g. {@code {label: cloud, tiers: [aws,
   * gcp]}}. The endpoints of the most preferred tier that has an unsaturated one are the choice;
   * the other tiers' unsaturated endpoints follow in preference order (where a retry goes),
   * endpoints whose label is not among the tiers after them (tier {@code untiered}), and saturated
   * endpoints last, again in tier order. So a tier is left when it has no endpoint that passed the
   * earlier filters (healthy-filter: none healthy) or when all of its endpoints are saturated, and
   * taken back by the next request once it has an unsaturated one again: no stickiness. When every
   * endpoint is saturated the most preferred tier takes the request (saturation moves overflow, it
   * refuses nothing).
   *
   * <p>An endpoint is saturated when kvgate's own count of its requests in flight reaches {@code
   * maxInFlight} × its weight, when the prompt tokens dispatched to it and not yet prefilled reach
   * {@code maxPendingPrefillTokens} × its weight, or when its engine's last scrape (no older than
   * {@code maxSignalAge}) reports a KV-cache usage above {@code maxKvCacheUsage}.
   */
  record LabelTierFilter(
      @Param(doc = "the endpoint label whose values form the tiers, e.g. cloud", required = true)
          String label,
      @Param(doc = "label values, most preferred first", required = true) List<String> tiers,
      @Param(
              doc =
                  "saturated at this many requests in flight per unit of weight (kvgate's count); 0 = no bound",
              min = 0,
              max = 1_000_000)
          int maxInFlight,
      @Param(
              doc =
                  "saturated at this many prompt tokens dispatched and not yet prefilled per unit of weight; 0 = no bound",
              min = 0,
              max = 1e12)
          long maxPendingPrefillTokens,
      @Param(
              doc =
                  "saturated above this engine-reported KV-cache usage (fresh scrapes); 1 = no bound",
              min = 0,
              max = 1)
          double maxKvCacheUsage,
      @Param(doc = "engine signals older than this are not used for saturation")
          Duration maxSignalAge)
      implements TierFilter, ReadsEndpointFields {

    /** The name of the group of endpoints whose label is not among the tiers. */
    static final String UNTIERED = "untiered";

    static final LabelTierFilter DEFAULTS =
        new LabelTierFilter(null, List.of(), 256, 131_072, 0.95, Duration.ofSeconds(5));

    /** True if {@code e} should take no more work while a less preferred tier has room. */
    boolean saturated(EndpointState e, long now) {
      double w = e.endpoint().weight();
      if (maxInFlight > 0 && e.inFlight() >= maxInFlight * w) return true;
      if (maxPendingPrefillTokens > 0 && e.pendingPrefillTokens() >= maxPendingPrefillTokens * w)
        return true;
      EngineSignals s = e.signals();
      return maxKvCacheUsage < 1
          && !s.isStale(now, maxSignalAge.toNanos())
          && s.kvCacheUsage() > maxKvCacheUsage;
    }

    private int rank(EndpointState e) {
      String v = e.endpoint().label(label);
      int k = v == null ? -1 : tiers.indexOf(v);
      return k < 0 ? tiers.size() : k;
    }

    private String name(int rank) {
      return rank < tiers.size() ? tiers.get(rank) : UNTIERED;
    }

    @Override
    @SuppressWarnings("unchecked")
    public List<TierFilter.Group> groups(RoutingRequest r, List<EndpointState> in, long now) {
      int n = tiers.size() + 1;
      List<EndpointState>[] open = new List[n];
      List<EndpointState>[] full = new List[n];
      for (EndpointState e : in) {
        int k = rank(e);
        List<EndpointState>[] into = saturated(e, now) ? full : open;
        if (into[k] == null) into[k] = new ArrayList<>();
        into[k].add(e);
      }
      // Why a group's tier would be chosen over the more preferred ones: a more preferred tier
      // that had endpoints, all saturated, or none at all.
      String[] failover = new String[n];
      boolean saturatedBefore = false;
      for (int k = 0; k < n; k++) {
        failover[k] =
            k == 0
                ? null
                : saturatedBefore ? Decision.FAILOVER_SATURATED : Decision.FAILOVER_UNAVAILABLE;
        if (full[k] != null && open[k] == null) saturatedBefore = true;
      }
      List<TierFilter.Group> out = new ArrayList<>();
      for (int k = 0; k < n; k++) {
        if (open[k] != null) out.add(new TierFilter.Group(name(k), k, open[k], failover[k]));
      }
      for (int k = 0; k < n; k++) {
        if (full[k] != null) out.add(new TierFilter.Group(name(k), k, full[k], failover[k]));
      }
      return out;
    }

    @Override
    public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
      return java.util.Set.of(io.kvgate.routing.EndpointField.WEIGHT);
    }
  }
}

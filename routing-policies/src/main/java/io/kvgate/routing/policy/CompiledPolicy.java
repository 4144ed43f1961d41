package io.kvgate.routing.policy;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.PrefixMatch;
import java.util.ArrayList;
import java.util.List;

/**
 * A compiled profile: filters, then the weighted sum of scorers, then the picker. Immutable arrays;
 * the only per-request work is the plugins' own. The shared prefix index is matched once per
 * request, and only when a plugin reads the match; it is taught on every dispatch when a plugin
 * uses it, so the index learns where each prompt's blocks now live.
 */
final class CompiledPolicy implements Router {

  private final String name;
  private final RoutingContext context;
  private final Filter[] filters;
  private final String[] filterNames;
  private final Scorer[] scorers;
  private final double[] weights;
  private final Picker picker;
  private final boolean usesPrefix;
  private final DispatchAware[] listeners;
  private final java.util.Set<io.kvgate.routing.EndpointField> fieldsRead;

  CompiledPolicy(
      String name,
      RoutingContext context,
      List<Filter> filters,
      List<String> filterNames,
      List<Scorer> scorers,
      List<Double> weights,
      Picker picker,
      List<DispatchAware> listeners) {
    this.name = name;
    this.context = context;
    this.filters = filters.toArray(Filter[]::new);
    this.filterNames = filterNames.toArray(String[]::new);
    this.scorers = scorers.toArray(Scorer[]::new);
    this.weights = weights.stream().mapToDouble(Double::doubleValue).toArray();
    this.picker = picker;
    boolean prefix = picker.usesPrefix();
    for (Scorer s : this.scorers) prefix |= s.usesPrefix();
    this.usesPrefix = prefix;
    this.listeners = listeners.toArray(DispatchAware[]::new);
    java.util.Set<io.kvgate.routing.EndpointField> fields =
        java.util.EnumSet.noneOf(io.kvgate.routing.EndpointField.class);
    List<Object> plugins = new ArrayList<>(filters);
    plugins.addAll(scorers);
    plugins.add(picker);
    for (Object p : plugins) {
      if (p instanceof ReadsEndpointFields r) fields.addAll(r.endpointFields());
    }
    this.fieldsRead = java.util.Collections.unmodifiableSet(fields);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public Decision route(RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    if (endpoints.isEmpty()) return Decision.none("no endpoints");
    Ranking r = new Ranking(request, nowNanos);
    rank(0, endpoints, null, 0, r);
    if (r.ranked.isEmpty()) return Decision.none(r.why);
    return new Decision(r.ranked, request.chain().length(), name, r.failover);
  }

  /** One decision in progress: the candidates ranked so far and what the groups reported. */
  private final class Ranking {
    final RoutingRequest request;
    final long now;
    final List<Decision.Candidate> ranked = new ArrayList<>();
    PrefixMatch match;
    String why;
    String failover;

    Ranking(RoutingRequest request, long now) {
      this.request = request;
      this.now = now;
    }

    /** The prefix match, computed once per decision (it does not depend on the candidates). */
    PrefixMatch match() {
      if (match == null) {
        match =
            usesPrefix && request.keyed()
                ? context.index().match(request.chain(), now)
                : PrefixMatch.none(request.chain().length());
      }
      return match;
    }
  }

  /**
   * Runs the profile from filter {@code from} on {@code in} and appends the ranking to {@code r}. A
   * {@link TierFilter} splits {@code in} into groups, each of which runs the rest of the profile on
   * its own (so the picker compares endpoints of one tier only) and is appended in group order.
   */
  private void rank(int from, List<EndpointState> in, String tier, int tierRank, Ranking r) {
    for (int f = from; f < filters.length; f++) {
      if (filters[f] instanceof TierFilter t) {
        List<TierFilter.Group> groups = t.groups(r.request, in, r.now);
        for (TierFilter.Group g : groups) {
          if (g.endpoints().isEmpty()) continue;
          boolean before = r.ranked.isEmpty();
          // The first tier filter of a profile names the tiers.
          rank(
              f + 1,
              g.endpoints(),
              tier == null ? g.tier() : tier,
              tier == null ? g.rank() : tierRank,
              r);
          if (before && !r.ranked.isEmpty() && tier == null) r.failover = g.failover();
        }
        if (r.ranked.isEmpty() && r.why == null) r.why = filterNames[f] + " left no endpoint";
        return;
      }
      in = filters[f].apply(r.request, in, r.now);
      if (in.isEmpty()) {
        if (r.why == null) r.why = filterNames[f] + " left no endpoint";
        return;
      }
    }
    Candidates c = new Candidates(r.request, in, r.match(), r.now, context);
    int n = in.size();
    double[] totals = new double[n];
    if (scorers.length > 0) {
      double[] s = new double[n];
      for (int j = 0; j < scorers.length; j++) {
        scorers[j].score(c, s);
        for (int i = 0; i < n; i++) totals[i] += weights[j] * s[i];
      }
    }
    int[] order = new int[n];
    picker.pick(c, totals, order);
    for (int k = 0; k < n; k++) {
      int i = order[k];
      r.ranked.add(new Decision.Candidate(in.get(i), totals[i], c.matched(i), tier, tierRank));
    }
  }

  @Override
  public java.util.Set<io.kvgate.routing.EndpointField> endpointFieldsRead() {
    return fieldsRead;
  }

  @Override
  public boolean predictsCachedPrefix() {
    return usesPrefix;
  }

  @Override
  public boolean writesOnDispatch() {
    return usesPrefix || listeners.length > 0;
  }

  @Override
  public void onDispatched(RoutingRequest request, EndpointState endpoint, long nowNanos) {
    if (usesPrefix && request.keyed())
      context.index().recordRouted(endpoint.slot(), request.chain(), nowNanos);
    for (DispatchAware l : listeners) l.onDispatched(request, endpoint, nowNanos);
  }
}

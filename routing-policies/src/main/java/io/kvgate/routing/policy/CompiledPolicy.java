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
    List<EndpointState> in = endpoints;
    for (int f = 0; f < filters.length; f++) {
      in = filters[f].apply(request, in, nowNanos);
      if (in.isEmpty()) {
        return Decision.none(
            endpoints.isEmpty() ? "no endpoints" : filterNames[f] + " left no endpoint");
      }
    }
    PrefixMatch match =
        usesPrefix && request.keyed()
            ? context.index().match(request.chain(), nowNanos)
            : PrefixMatch.none(request.chain().length());
    Candidates c = new Candidates(request, in, match, nowNanos, context);
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
    List<Decision.Candidate> ranked = new ArrayList<>(n);
    for (int k = 0; k < n; k++) {
      int i = order[k];
      ranked.add(new Decision.Candidate(in.get(i), totals[i], c.matched(i)));
    }
    return new Decision(ranked, request.chain().length(), name);
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

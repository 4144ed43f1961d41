package io.kvgate.routing.policy;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.PrefixMatch;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A compiled profile: filters, then the weighted sum of scorers, then the picker. Immutable arrays;
 * the only per-request work is the plugins' own. The shared prefix index is matched once per
 * request, and only when a plugin reads the match; it is taught on every dispatch when a plugin
 * uses it, so the index learns where each prompt's blocks now live.
 *
 * <p>{@link #explain} runs the same {@link #rank} with a {@link Trace} that records what each
 * filter removed, each scorer's scores and the picker's account; on {@link #route} the trace is
 * null and that bookkeeping costs a null check per filter and per group, nothing more.
 */
final class CompiledPolicy implements Router {

  private final String name;
  private final RoutingContext context;
  private final Filter[] filters;
  private final String[] filterNames;
  private final Scorer[] scorers;
  private final String[] scorerNames;
  private final double[] weights;
  private final Picker picker;
  private final String pickerName;
  private final boolean usesPrefix;
  private final DispatchAware[] listeners;
  private final java.util.Set<io.kvgate.routing.EndpointField> fieldsRead;

  CompiledPolicy(
      String name,
      RoutingContext context,
      List<Filter> filters,
      List<String> filterNames,
      List<Scorer> scorers,
      List<String> scorerNames,
      List<Double> weights,
      Picker picker,
      String pickerName,
      List<DispatchAware> listeners) {
    this.name = name;
    this.context = context;
    this.filters = filters.toArray(Filter[]::new);
    this.filterNames = filterNames.toArray(String[]::new);
    this.scorers = scorers.toArray(Scorer[]::new);
    this.scorerNames = scorerNames.toArray(String[]::new);
    this.weights = weights.stream().mapToDouble(Double::doubleValue).toArray();
    this.picker = picker;
    this.pickerName = pickerName;
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
    Ranking r = new Ranking(request, nowNanos, context, null);
    rank(0, endpoints, null, 0, r);
    return decision(r);
  }

  private Decision decision(Ranking r) {
    if (r.ranked.isEmpty()) return Decision.none(r.why);
    return new Decision(r.ranked, r.request.chain().length(), name, r.failover);
  }

  /**
   * One decision in progress: the candidates ranked so far and what the groups reported; with a
   * {@link Trace} when explaining.
   */
  private final class Ranking {
    final RoutingRequest request;
    final long now;
    final RoutingContext context;
    final Trace trace;
    final List<Decision.Candidate> ranked = new ArrayList<>();
    PrefixMatch match;
    String why;
    String failover;

    /**
     * @param context the plugins' context: the policy's own for {@code route}; for {@code explain}
     *     the same index with a random source of its own
     * @param trace where explain records what each plugin did; null for {@code route}
     */
    Ranking(RoutingRequest request, long now, RoutingContext context, Trace trace) {
      this.request = request;
      this.now = now;
      this.context = context;
      this.trace = trace;
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
        if (r.trace != null) r.trace.removedOutside(in, groups, filterNames[f]);
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
      List<EndpointState> kept = filters[f].apply(r.request, in, r.now);
      if (r.trace != null && kept != in) r.trace.removed(in, kept, filterNames[f]);
      in = kept;
      if (in.isEmpty()) {
        if (r.why == null) r.why = filterNames[f] + " left no endpoint";
        return;
      }
    }
    Candidates c = new Candidates(r.request, in, r.match(), r.now, r.context);
    int n = in.size();
    double[] totals = new double[n];
    double[][] scores = r.trace == null ? null : new double[scorers.length][];
    if (scorers.length > 0) {
      double[] s = new double[n];
      for (int j = 0; j < scorers.length; j++) {
        scorers[j].score(c, s);
        if (scores != null) scores[j] = s.clone();
        for (int i = 0; i < n; i++) totals[i] += weights[j] * s[i];
      }
    }
    int[] order = new int[n];
    if (r.trace == null) {
      picker.pick(c, totals, order);
    } else {
      double[] raw = totals.clone();
      PickerExplanation why = picker.explain(c, totals, order);
      r.trace.groups.add(new Ranked(c, raw, scores, order, why, tier));
    }
    for (int k = 0; k < n; k++) {
      int i = order[k];
      r.ranked.add(new Decision.Candidate(in.get(i), totals[i], c.matched(i), tier, tierRank));
    }
  }

  /**
   * Runs the profile as {@link #route} does, through the same {@link #rank}, recording what each
   * filter removed, each scorer's scores and the picker's account ({@link Picker#explain} instead
   * of {@link Picker#pick}): so the ranking is the one {@code route} makes at this moment, wherever
   * it is deterministic. The plugins get a context with the same index and a random source of its
   * own, so ties and samples are drawn without moving the routing's random sequence. Nothing is
   * written: index lookups only read, {@link #onDispatched} is not called, and the pickers' explain
   * leaves their state (round-robin's turn, SGLang's trees) as it was.
   */
  @Override
  public Explanation explain(RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    RoutingContext own =
        new RoutingContext(context.model(), context.index(), new java.util.SplittableRandom());
    Trace trace = new Trace();
    Ranking r = new Ranking(request, nowNanos, own, trace);
    Decision d;
    if (endpoints.isEmpty()) {
      d = Decision.none("no endpoints");
    } else {
      rank(0, endpoints, null, 0, r);
      d = decision(r);
    }
    // What the index says each endpoint holds, also when no plugin of this policy reads it.
    PrefixMatch indexed =
        usesPrefix
            ? r.match()
            : request.keyed()
                ? context.index().match(request.chain(), nowNanos)
                : PrefixMatch.none(request.chain().length());
    List<Explanation.Row> rows = new ArrayList<>();
    java.util.Set<EndpointState> ranked =
        java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (Ranked g : trace.groups) {
      for (int k = 0; k < g.order.length; k++) {
        int i = g.order[k];
        EndpointState e = g.candidates.get(i);
        ranked.add(e);
        List<Explanation.ScorerScore> scores = new ArrayList<>(scorers.length);
        for (int j = 0; j < scorers.length; j++) {
          scores.add(new Explanation.ScorerScore(scorerNames[j], g.scores[j][i], weights[j]));
        }
        rows.add(
            new Explanation.Row(
                e.id(),
                null,
                rows.size() + 1,
                null,
                indexed.matched(e.slot()),
                g.totals[i],
                scores,
                g.picker.termsOf(i),
                g.tier));
      }
    }
    for (EndpointState e : endpoints) {
      if (ranked.contains(e)) continue;
      rows.add(
          new Explanation.Row(
              e.id(),
              null,
              0,
              trace.removedBy.get(e),
              indexed.matched(e.slot()),
              0,
              List.of(),
              List.of(),
              null));
    }
    String winner = d.isEmpty() ? null : d.first().endpoint().id();
    return new Explanation(
        request.model(),
        name,
        request.chain().length(),
        request.keyed() ? request.chain().blockSize() : 0,
        d,
        rows,
        winner,
        reason(d, trace, endpoints));
  }

  /** Why the winner won, or why there is none. */
  private String reason(Decision d, Trace trace, List<EndpointState> endpoints) {
    if (endpoints.isEmpty()) return "no winner: the model has no endpoints";
    String removed = removals(trace, endpoints);
    if (d.isEmpty()) return "no winner: " + d.reason() + " (" + removed + ")";
    Ranked g = trace.groups.get(0);
    int w = g.order[0];
    StringBuilder sb = new StringBuilder(g.candidates.get(w).id()).append(" won");
    if (g.tier != null) {
      sb.append(" in tier ").append(g.tier);
      if (Decision.FAILOVER_UNAVAILABLE.equals(d.failover())) {
        sb.append(" (failover: no more preferred tier had an endpoint that passed the filters)");
      } else if (Decision.FAILOVER_SATURATED.equals(d.failover())) {
        sb.append(" (failover: every endpoint of a more preferred tier is saturated)");
      }
    }
    if (g.order.length == 1) {
      sb.append(": the only candidate").append(g.tier != null ? " of its tier" : "");
    } else {
      sb.append(": ").append(pickerName).append(": ").append(g.picker.reason());
      if (scorers.length > 0) sb.append(separation(g));
    }
    if (!removed.isEmpty()) sb.append(". Filtered out: ").append(removed);
    return sb.append('.').toString();
  }

  /**
   * For a picker that reads scores: the winner's and the runner-up's totals, and the scorer whose
   * weighted difference moved the totals most in the direction they differ.
   */
  private String separation(Ranked g) {
    int w = g.order[0];
    int u = g.order[1];
    double diff = g.totals[w] - g.totals[u];
    if (diff == 0) return "";
    int most = 0;
    double mostGap = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < scorers.length; j++) {
      double gap = Math.signum(diff) * weights[j] * (g.scores[j][w] - g.scores[j][u]);
      if (gap > mostGap) {
        mostGap = gap;
        most = j;
      }
    }
    String winnerId = g.candidates.get(w).id();
    String runnerUp = g.candidates.get(u).id();
    String detail =
        scorerNames[most]
            + " ("
            + Words.num(g.scores[most][w])
            + " against "
            + Words.num(g.scores[most][u])
            + " at weight "
            + Words.num(weights[most])
            + ")";
    return diff > 0
        ? "; weighted score "
            + Words.num(g.totals[w])
            + " against runner-up "
            + runnerUp
            + "'s "
            + Words.num(g.totals[u])
            + ", separated most by "
            + detail
        : "; weighted score "
            + Words.num(g.totals[w])
            + ", below runner-up "
            + runnerUp
            + "'s "
            + Words.num(g.totals[u])
            + " ("
            + detail
            + " favoured "
            + runnerUp
            + " over "
            + winnerId
            + " most)";
  }

  /** {@code e3 by healthy-filter, e4 by lora-filter}; empty when no filter removed any. */
  private static String removals(Trace trace, List<EndpointState> endpoints) {
    List<String> out = new ArrayList<>();
    for (EndpointState e : endpoints) {
      String f = trace.removedBy.get(e);
      if (f != null) out.add(e.id() + " by " + f);
    }
    return Words.list(out);
  }

  /** What explain records while {@link #rank} runs: removals by filter, and each ranked group. */
  private static final class Trace {
    final Map<EndpointState, String> removedBy = new IdentityHashMap<>();
    final List<Ranked> groups = new ArrayList<>();

    void removed(List<EndpointState> before, List<EndpointState> after, String filter) {
      java.util.Set<EndpointState> kept =
          java.util.Collections.newSetFromMap(new IdentityHashMap<>());
      kept.addAll(after);
      for (EndpointState e : before) if (!kept.contains(e)) removedBy.putIfAbsent(e, filter);
    }

    /** Endpoints a tier filter put in no group. */
    void removedOutside(List<EndpointState> in, List<TierFilter.Group> groups, String filter) {
      List<EndpointState> grouped = new ArrayList<>();
      for (TierFilter.Group g : groups) grouped.addAll(g.endpoints());
      removed(in, grouped, filter);
    }
  }

  /**
   * One group the picker ranked (all candidates, or one tier's).
   *
   * @param totals the weighted totals before the picker saw them
   * @param scores per scorer, per candidate
   */
  private record Ranked(
      Candidates candidates,
      double[] totals,
      double[][] scores,
      int[] order,
      PickerExplanation picker,
      String tier) {}

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

package io.kvgate.routing;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What a router would do with one request, and why, without doing it ({@link Router#explain}): the
 * decision {@link Router#route} would make at that moment, one row per endpoint of the request's
 * model, the winner and a reason in words. An immutable snapshot of live state: the load counters
 * and the index it read may change the moment after.
 *
 * <p>Rows come ranked ones first, in rank order, then the endpoints that were not ranked (filtered
 * out), in the order the router was given them. For a disaggregated model ({@code
 * DisaggregatedRouter.explain}, which adds the mode and the prefill winner around this) the decode
 * side's rows come first, then the prefill side's, each row naming its {@link Side}.
 *
 * <p>Explanations are built for an operator's question (the admin API), not per request: they cost
 * a routing decision plus a few small objects per endpoint, and no policy builds one on {@code
 * route}.
 *
 * @param model the request's model
 * @param policy the policy's name ({@link Router#name()}); for a disaggregated model the prefill
 *     side's policy, the model's own
 * @param promptBlocks full blocks in the request's chain (0 for a request that could not be keyed)
 * @param blockSize units (characters) per block of the request's chain; 0 for a request that could
 *     not be keyed
 * @param decision the decision as {@code route} would make it (for a disaggregated model, the
 *     decode side's: the endpoint that decodes, or serves the request whole)
 * @param rows every endpoint the router was given, ranked ones first
 * @param winner the first-ranked endpoint's id; null when none passed the filters
 * @param reason why the winner won, or why there is none, in words
 */
public record Explanation(
    String model,
    String policy,
    int promptBlocks,
    int blockSize,
    Decision decision,
    List<Row> rows,
    String winner,
    String reason) {

  public Explanation {
    Objects.requireNonNull(decision, "decision");
    Objects.requireNonNull(reason, "reason");
    rows = List.copyOf(rows);
  }

  /** The side of a disaggregated model a row ranks for. */
  public enum Side {
    PREFILL,
    DECODE;

    /** The API spelling: {@code prefill}, {@code decode}. */
    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * One endpoint.
   *
   * @param endpoint the endpoint's id
   * @param side the side it ranks for; null unless the model is disaggregated
   * @param rank 1-based place in the ranking; 0 when it was not ranked
   * @param filteredBy the configured name of the filter that removed it; null when ranked, or when
   *     the router cannot say (the {@link Router#explain} default; a disaggregated model's prefill
   *     pool when the request is served whole, which ranks no prefill endpoint)
   * @param matchedBlocks leading blocks of the prompt the model's prefix index says the endpoint
   *     holds (also for policies that ignore the index, and for endpoints filtered out; 0 where the
   *     router cannot say)
   * @param score the weighted total of the policy's scorers (0 when it has none: the picker then
   *     ranks by its own {@link #terms}); comparable only among rows of one tier and side
   * @param scorers each scorer's score in [0, 1] with its configured name and weight, in profile
   *     order; empty when not ranked, or when the router cannot say
   * @param terms the picker's own numbers for this endpoint (for the cache-aware pickers their
   *     prices, e.g. {@code price}, {@code queue}, {@code uncached}); empty when it has none
   * @param tier the tier the endpoint was ranked in; null without tiers or when not ranked
   */
  public record Row(
      String endpoint,
      Side side,
      int rank,
      String filteredBy,
      int matchedBlocks,
      double score,
      List<ScorerScore> scorers,
      List<Term> terms,
      String tier) {

    public Row {
      Objects.requireNonNull(endpoint, "endpoint");
      scorers = List.copyOf(scorers);
      terms = List.copyOf(terms);
    }

    /** This row on {@code side} of a disaggregated model. */
    public Row onSide(Side side) {
      return new Row(endpoint, side, rank, filteredBy, matchedBlocks, score, scorers, terms, tier);
    }

    /** The picker's term of that name, or NaN. */
    public double term(String name) {
      for (Term t : terms) if (t.name().equals(name)) return t.value();
      return Double.NaN;
    }
  }

  /**
   * One scorer's view of one endpoint.
   *
   * @param scorer the scorer's configured plugin name
   * @param score its score in [0, 1], 1 the best (relative to the other candidates of the
   *     endpoint's tier, for scorers that normalise by the maximum)
   * @param weight its weight in the profile
   */
  public record ScorerScore(String scorer, double score, double weight) {}

  /**
   * A named number a picker computed for one endpoint.
   *
   * @param name snake_case, e.g. {@code price}
   * @param value its value (tokens, blocks, requests or a ratio, as the picker documents)
   */
  public record Term(String name, double value) {}

  /** The ranked endpoints' ids in rank order (both sides' for a disaggregated model). */
  public List<String> ranking() {
    List<String> out = new ArrayList<>();
    for (Row r : rows) if (r.rank() > 0) out.add(r.endpoint());
    return out;
  }

  /** The ranked endpoints' ids of one side, in rank order. */
  public List<String> ranking(Side side) {
    List<String> out = new ArrayList<>();
    for (Row r : rows) if (r.rank() > 0 && r.side() == side) out.add(r.endpoint());
    return out;
  }

  /**
   * The row of endpoint {@code id} (for a disaggregated model, the first: an endpoint belongs to
   * one side); throws {@link IllegalArgumentException} naming the rows if there is none.
   */
  public Row row(String id) {
    for (Row r : rows) if (r.endpoint().equals(id)) return r;
    throw new IllegalArgumentException(
        "no row for endpoint '"
            + id
            + "' (rows: "
            + rows.stream().map(Row::endpoint).toList()
            + ")");
  }

  /**
   * The explanation any router can give from its decision alone: ranks, totals, predicted matches
   * and tiers of the ranked endpoints, the others unranked without a filter or match, and the
   * decision's own reason. {@link Router#explain}'s default.
   */
  public static Explanation of(
      String policy, RoutingRequest request, List<EndpointState> endpoints, Decision d) {
    List<Row> rows = new ArrayList<>();
    java.util.Set<EndpointState> ranked =
        java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    int rank = 0;
    for (Decision.Candidate c : d.ranked()) {
      ranked.add(c.endpoint());
      rows.add(
          new Row(
              c.endpoint().id(),
              null,
              ++rank,
              null,
              c.matchedBlocks(),
              c.score(),
              List.of(),
              List.of(),
              c.tier()));
    }
    for (EndpointState e : endpoints) {
      if (!ranked.contains(e))
        rows.add(new Row(e.id(), null, 0, null, 0, 0, List.of(), List.of(), null));
    }
    String winner = d.isEmpty() ? null : d.first().endpoint().id();
    String reason =
        d.isEmpty()
            ? "no winner: " + d.reason()
            : winner
                + " ranked first by "
                + policy
                + (d.reason().equals(policy) ? "" : " (" + d.reason() + ")")
                + "; this router explains no more than its ranking";
    return new Explanation(
        request.model(),
        policy,
        request.chain().length(),
        request.keyed() ? request.chain().blockSize() : 0,
        d,
        rows,
        winner,
        reason);
  }
}

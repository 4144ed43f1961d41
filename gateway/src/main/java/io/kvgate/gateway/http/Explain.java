package io.kvgate.gateway.http;

import io.kvgate.gateway.admin.AdminOps;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.index.IndexHealth;
import io.kvgate.gateway.index.IndexMode;
import io.kvgate.proto.v1.ExplainResponse;
import io.kvgate.proto.v1.ExplainedEndpoint;
import io.kvgate.proto.v1.ScorerScore;
import io.kvgate.proto.v1.Term;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.pd.DisaggregatedRouter;
import java.util.HashMap;
import java.util.Map;

/**
 * The admin API's explain: a model's router explains a keyed request ({@link
 * io.kvgate.routing.Router#explain}, {@link DisaggregatedRouter#explain}) and this maps the answer
 * onto {@link ExplainResponse}, adding each endpoint's index mode.
 */
final class Explain {

  private Explain() {}

  static ExplainResponse of(
      ModelRoute route,
      RoutingRequest routing,
      boolean generation,
      IndexHealth health,
      long nowNanos) {
    DisaggregatedRouter pd = route.pd();
    Explanation x;
    ExplainResponse.Builder b = ExplainResponse.newBuilder();
    if (pd == null) {
      x = route.router().explain(routing, route.routable(), nowNanos);
    } else {
      DisaggregatedRouter.PdExplanation p =
          pd.explain(routing, generation, route.routable(), nowNanos);
      x = p.explanation();
      b.setPdMode(p.wireMode())
          .setUncachedTokens(p.decision().uncachedTokens())
          .setMinUncachedTokens(p.minUncachedTokens())
          .setDecodePolicy(p.decodePolicy());
      if (p.prefillWinner() != null) b.setPrefillWinner(p.prefillWinner());
    }
    Map<String, EndpointState> byId = new HashMap<>();
    for (EndpointState e : route.endpoints()) byId.put(e.id(), e);
    b.setModel(route.name())
        .setPolicy(x.policy())
        .setPromptBlocks(x.promptBlocks())
        .setBlockSizeChars(x.blockSize())
        .setReason(x.reason());
    if (x.winner() != null) b.setWinner(x.winner());
    for (Explanation.Row r : x.rows()) {
      ExplainedEndpoint.Builder e =
          ExplainedEndpoint.newBuilder()
              .setId(r.endpoint())
              .setRank(r.rank())
              .setMatchedBlocks(r.matchedBlocks())
              .setScore(r.score())
              .setIndexMode(mode(health, byId.get(r.endpoint())));
      if (r.filteredBy() != null) e.setFilteredBy(r.filteredBy());
      if (r.tier() != null) e.setTier(r.tier());
      if (r.side() != null) e.setSide(r.side().wireName());
      for (Explanation.ScorerScore s : r.scorers()) {
        e.addScorers(
            ScorerScore.newBuilder()
                .setScorer(s.scorer())
                .setScore(s.score())
                .setWeight(s.weight()));
      }
      for (Explanation.Term t : r.terms()) {
        e.addTerms(Term.newBuilder().setName(t.name()).setValue(t.value()));
      }
      b.addEndpoints(e);
    }
    return b.build();
  }

  private static io.kvgate.proto.v1.IndexMode mode(IndexHealth health, EndpointState e) {
    return AdminOps.proto(health == null || e == null ? IndexMode.APPROXIMATE : health.mode(e));
  }
}

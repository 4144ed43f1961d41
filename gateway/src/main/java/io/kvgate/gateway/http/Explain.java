package io.kvgate.gateway.http;

import io.kvgate.gateway.admin.AdminOps;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.index.IndexHealth;
import io.kvgate.gateway.index.IndexMode;
import io.kvgate.proto.v1.ExplainResponse;
import io.kvgate.proto.v1.ExplainedEndpoint;
import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.pd.DisaggregatedRouter;
import java.util.HashSet;
import java.util.Set;

/** Builds the admin API's {@link ExplainResponse} from a model's routers. */
final class Explain {

  private Explain() {}

  static ExplainResponse of(
      ModelRoute route,
      RoutingRequest routing,
      boolean generation,
      IndexHealth health,
      long nowNanos) {
    ExplainResponse.Builder b =
        ExplainResponse.newBuilder()
            .setModel(route.name())
            .setPolicy(route.router().name())
            .setPromptBlocks(routing.chain().length());
    DisaggregatedRouter pd = route.pd();
    if (pd == null) {
      Decision d = route.router().route(routing, route.routable(), nowNanos);
      rows(b, route, d, "", health);
      b.setReason(d.reason());
      if (!d.isEmpty()) b.setWinner(d.first().endpoint().id());
      return b.build();
    }
    DisaggregatedRouter.PdDecision d = pd.route(routing, generation, route.routable(), nowNanos);
    rows(b, route, d.decode(), "decode", health);
    if (d.prefill() != null) rows(b, route, d.prefill(), "prefill", health);
    b.setPdMode(d.mode().name().toLowerCase(java.util.Locale.ROOT));
    if (!d.decode().isEmpty()) b.setWinner(d.decode().first().endpoint().id());
    if (d.prefill() != null && !d.prefill().isEmpty())
      b.setPrefillWinner(d.prefill().first().endpoint().id());
    b.setReason(d.reason().wireName() + "; decode: " + d.decode().reason());
    return b.build();
  }

  private static void rows(
      ExplainResponse.Builder b, ModelRoute route, Decision d, String side, IndexHealth health) {
    Set<EndpointState> ranked = new HashSet<>();
    int rank = 0;
    for (Decision.Candidate c : d.ranked()) {
      ranked.add(c.endpoint());
      b.addEndpoints(
          ExplainedEndpoint.newBuilder()
              .setId(c.endpoint().id())
              .setRank(++rank)
              .setMatchedBlocks(c.matchedBlocks())
              .setScore(c.score())
              .setTier(c.tier() == null ? "" : c.tier())
              .setIndexMode(mode(health, c.endpoint()))
              .setSide(side));
    }
  }

  private static io.kvgate.proto.v1.IndexMode mode(IndexHealth health, EndpointState e) {
    return AdminOps.proto(health == null ? IndexMode.APPROXIMATE : health.mode(e));
  }
}

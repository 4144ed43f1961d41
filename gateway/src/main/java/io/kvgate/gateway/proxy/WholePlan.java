package io.kvgate.gateway.proxy;

import io.kvgate.routing.pd.DisaggregatedRouter;
import io.vertx.core.Future;

/**
 * Every attempt sends the client's body, unchanged, to the next-ranked endpoint: an aggregated
 * model's requests, and the requests of a disaggregated model that are served whole (short uncached
 * part, no prompt, no prefill pool).
 */
final class WholePlan implements AttemptPlan {

  private final UpstreamProxy.Legs legs;

  WholePlan(UpstreamProxy.Legs legs) {
    this.legs = legs;
  }

  @Override
  public int maxAttempts() {
    return legs.wholeAttempts(legs.x.decision());
  }

  @Override
  public Future<Target> next(int i, String lastKind) {
    return Future.succeededFuture(legs.whole(legs.x.decision().ranked().get(i)));
  }

  @Override
  public void dispatched(Target t) {
    legs.dispatched(DisaggregatedRouter.Leg.DECODE, t.candidate().endpoint());
  }

  @Override
  public void close() {}
}

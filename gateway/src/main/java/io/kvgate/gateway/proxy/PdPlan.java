package io.kvgate.gateway.proxy;

import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.routing.Decision;
import io.kvgate.routing.pd.DisaggregatedRouter;
import io.vertx.core.Future;
import java.util.List;

/**
 * What the two disaggregated protocols share: the prefill and decode rankings, the cursor into
 * each, the bound on prefill failures, and the fallback once the prefill pool cannot serve (to
 * whole attempts on the decode side, or 503, as {@code pd.fallback} says).
 *
 * <p>Cursors: a failed prefill leg moves to the next prefill endpoint; a failed decode attempt to
 * the next decode endpoint; a prefill endpoint that served stays first (it now holds the prompt).
 */
abstract class PdPlan implements AttemptPlan {

  protected final UpstreamProxy.Legs legs;
  protected final List<Decision.Candidate> prefillRanked;
  protected final List<Decision.Candidate> decodeRanked;
  protected int prefillAt;
  protected int decodeAt;
  protected int prefillFailures;

  /** The prefill leg running now, if any. */
  protected PrefillLeg leg;

  /** Served whole on the decode side from now on (the prefill pool failed). */
  protected boolean whole;

  private boolean closed;

  PdPlan(UpstreamProxy.Legs legs) {
    this.legs = legs;
    DisaggregatedRouter.PdDecision d = legs.x.pd().decision();
    this.prefillRanked = d.prefill().ranked();
    this.decodeRanked = d.decode().ranked();
  }

  @Override
  public int maxAttempts() {
    // Decode attempts, plus the attempts a concurrent prefill's failure may cost (SGLang).
    return legs.wholeAttempts(legs.x.decision()) + legs.pd().maxPrefillAttempts();
  }

  /** The next decode-side candidate, or a failed future when none is left. */
  protected Future<Decision.Candidate> decodeCandidate(OpenAiException last) {
    if (decodeAt >= decodeRanked.size()) {
      return Future.failedFuture(
          new Exhausted(
              last != null
                  ? last
                  : OpenAiException.upstream(
                      503,
                      "no_healthy_endpoint",
                      "no decode endpoint left for model '" + legs.model() + "'")));
    }
    return Future.succeededFuture(decodeRanked.get(decodeAt));
  }

  /** True if another prefill endpoint may be tried. */
  protected boolean prefillLeft() {
    return !whole
        && prefillFailures < legs.pd().maxPrefillAttempts()
        && prefillAt < prefillRanked.size();
  }

  /** A prefill leg failed: the next prefill endpoint, counted; false if none may be tried. */
  protected boolean prefillFailed(PrefillLeg.Failure f) {
    prefillFailures++;
    prefillAt++;
    if (prefillLeft()) {
      legs.metrics().pdRetry(legs.model(), "prefill", f.kind);
      return true;
    }
    return false;
  }

  /**
   * The prefill pool could not serve this request: a whole attempt on the decode side, or the
   * exchange fails with 503 ({@code pd.fallback: fail}).
   */
  protected Future<Target> fallback(OpenAiException cause) {
    if (!legs.pd().fallbackAggregate()) {
      legs.metrics().pdFallback(legs.model(), "prefill_failed", "fail");
      return Future.failedFuture(
          OpenAiException.upstream(
              503,
              "prefill_unavailable",
              "no prefill endpoint of model '"
                  + legs.model()
                  + "' could serve the request"
                  + (cause == null ? "" : " (last: " + cause.getMessage() + ")")
                  + "; retry later"));
    }
    legs.metrics().pdFallback(legs.model(), "prefill_failed", "aggregate");
    whole = true;
    return decodeCandidate(cause).map(legs::whole);
  }

  @Override
  public void dispatched(Target t) {
    legs.dispatched(DisaggregatedRouter.Leg.DECODE, t.candidate().endpoint());
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (leg != null) leg.abort();
  }

  /** True once the exchange ended: no new leg may start. */
  protected boolean closed() {
    return closed;
  }

  /** The error of a step attempted after the exchange ended (never reaches a client). */
  protected static OpenAiException ended() {
    return OpenAiException.upstream(499, "aborted", "the exchange has ended");
  }

  /** The failure as the exchange's error. */
  protected static OpenAiException errorOf(Throwable t) {
    if (t instanceof PrefillLeg.Failure f) return f.error;
    if (t instanceof OpenAiException e) return e;
    return OpenAiException.upstream(502, "upstream_failed", String.valueOf(t.getMessage()));
  }
}

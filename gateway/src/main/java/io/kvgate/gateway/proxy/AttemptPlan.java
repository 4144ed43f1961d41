package io.kvgate.gateway.proxy;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;

/**
 * Where each attempt of an exchange goes and what it sends: the ranked endpoints in order for an
 * aggregated model ({@link WholePlan}); for a disaggregated one, a decode (or whole) attempt after
 * the prefill leg it needs ({@link VllmPlan}, {@link SglangPlan}). The {@link UpstreamProxy}'s
 * flight owns the attempt it relays (its lease, timeouts, retries, relay); a plan owns its prefill
 * legs and their leases, and releases them in {@link #close}.
 */
interface AttemptPlan {

  /**
   * The failure of {@link #next} when no candidate is left: the flight then ends with the last
   * attempt's error, if there was one.
   */
  final class Exhausted extends RuntimeException {
    final io.kvgate.gateway.openai.OpenAiException error;

    Exhausted(io.kvgate.gateway.openai.OpenAiException error) {
      super(error.getMessage(), null, false, false);
      this.error = error;
    }
  }

  /** Attempts the flight may make at most. */
  int maxAttempts();

  /**
   * The target of attempt {@code i}, after whatever must happen first (a prefill leg); fails with
   * the error that ends the exchange when none can be made.
   *
   * @param lastKind how attempt {@code i - 1} failed ({@code connect}: no request was written;
   *     {@code prefill_failed}: its prefill leg failed), null for the first
   */
  Future<Target> next(int i, String lastKind);

  /** The flight holds a connection to {@code t}'s endpoint and writes its request now. */
  void dispatched(Target t);

  /** Ends the plan's prefill legs still running and releases their leases. Idempotent. */
  void close();

  /**
   * One attempt's endpoint and body.
   *
   * @param candidate the endpoint relayed to the client (decode side, or the only one)
   * @param body what is sent to it
   * @param prefillTokens tokens it is expected to prefill
   * @param contextTokens the prompt it holds while it runs
   * @param decodeTokens the completion tokens it may generate (the request's limit; 0 unknown)
   * @param prefill the endpoint that ran (or runs) this attempt's prefill leg, or null
   */
  record Target(
      Decision.Candidate candidate,
      Buffer body,
      long prefillTokens,
      long contextTokens,
      long decodeTokens,
      EndpointState prefill) {

    /** True for a decode leg of a disaggregated request. */
    boolean disaggregated() {
      return prefill != null;
    }
  }
}

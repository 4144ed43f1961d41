package io.kvgate.routing;

import java.util.List;

/**
 * A compiled routing policy. Thread-safe: called concurrently from every event-loop thread, must
 * not block and must not do I/O (microseconds per call).
 *
 * <p>Lifecycle per request: {@link #route} once; then {@link #onDispatched} for every attempt that
 * reaches its endpoint: the gateway calls it once it holds a connection to the endpoint and is
 * about to write the request, so an attempt whose connection was refused teaches the index nothing
 * (a dead endpoint is never believed to hold the prompt).
 */
public interface Router {

  /** The policy name, as in metric tags and logs. */
  String name();

  /**
   * Ranks endpoints for a request.
   *
   * @param request the keyed request
   * @param endpoints all endpoints serving the request's model (filters decide which are usable)
   * @param nowNanos current {@link System#nanoTime()}-based time, injected for testability
   */
  Decision route(RoutingRequest request, List<EndpointState> endpoints, long nowNanos);

  /**
   * What {@link #route} would decide for {@code request} at this moment, and why, without routing
   * it: nothing is dispatched, recorded or charged ({@link #onDispatched} is never called, no load
   * is acquired, no index is written). For an operator's question (the admin API), not per request.
   *
   * <p>The default calls {@link #route} and reports its ranking ({@link Explanation#of}): ranks,
   * totals, predicted matches and tiers, no scorer breakdown, no filter names. It is side-effect
   * free exactly when {@code route} is; a router whose {@code route} advances state (a round-robin
   * counter) must override it. The compiled policies do, with each filter's, scorer's and the
   * picker's part ({@link io.kvgate.routing.policy.Picker#explain}).
   *
   * @param request the keyed request
   * @param endpoints all endpoints serving the request's model, as for {@link #route}
   * @param nowNanos current {@link System#nanoTime()}-based time
   */
  default Explanation explain(
      RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    return Explanation.of(name(), request, endpoints, route(request, endpoints, nowNanos));
  }

  /** The request is being written to {@code endpoint} (a connection to it is held). */
  void onDispatched(RoutingRequest request, EndpointState endpoint, long nowNanos);

  /**
   * True if this router's decisions carry a prediction of each candidate's cached prefix ({@link
   * Decision.Candidate#matchedBlocks} from the model's prefix index), which the gateway then checks
   * against what the engine reports. False for policies that never consult the index (round-robin,
   * least-loaded, a peer's own data structure): their matched blocks are 0 by construction, and
   * comparing that with the engine's hits would report a disagreement that is not one.
   */
  default boolean predictsCachedPrefix() {
    return false;
  }

  /**
   * The configured endpoint properties this policy reads; the gateway refuses, with their YAML
   * paths, endpoint settings outside this set (they would do nothing).
   */
  default java.util.Set<EndpointField> endpointFieldsRead() {
    return java.util.Set.of();
  }

  /**
   * True if {@link #onDispatched} does real work (a prefix-index write proportional to the prompt),
   * so a gateway may run it off its event loop for long prompts; false if it is a no-op.
   */
  default boolean writesOnDispatch() {
    return true;
  }
}

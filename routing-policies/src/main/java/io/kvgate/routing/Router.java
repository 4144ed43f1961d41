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

package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;

/** A plugin with its own state that learns from dispatches (e.g. a per-worker approximate tree). */
public interface DispatchAware {
  void onDispatched(RoutingRequest request, EndpointState endpoint, long nowNanos);
}

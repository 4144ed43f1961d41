package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import java.util.List;

/**
 * Narrows the endpoints a request may go to. Pure and thread-safe; returns its input when it keeps
 * all.
 */
public interface Filter {
  List<EndpointState> apply(RoutingRequest request, List<EndpointState> endpoints, long nowNanos);
}

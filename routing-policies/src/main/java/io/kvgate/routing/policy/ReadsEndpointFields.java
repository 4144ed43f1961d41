package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointField;
import java.util.Set;

/**
 * Implemented by a filter, scorer or picker that reads configured endpoint properties (weight,
 * adapters): a policy reads a property only if one of its plugins does, and the gateway refuses
 * endpoint settings the policy in force would ignore.
 */
public interface ReadsEndpointFields {
  Set<EndpointField> endpointFields();
}

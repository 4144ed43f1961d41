package io.kvgate.routing;

/**
 * A configured property of an {@link Endpoint} that some policies read and others ignore. A policy
 * says which it reads ({@link Router#endpointFieldsRead()}), so the gateway can refuse a setting
 * that the policy in force would silently ignore.
 */
public enum EndpointField {
  /** {@link Endpoint#weight()}: relative capacity. */
  WEIGHT,
  /** {@link Endpoint#adapters()}: LoRA adapters loaded on the endpoint. */
  ADAPTERS
}

package io.kvgate.routing.policy;

import io.kvgate.routing.prefix.PrefixIndex;
import java.util.random.RandomGenerator;

/**
 * What a compiled policy may use besides the request: the model's prefix index (owned by the
 * gateway, one per model, kept across policy reloads) and a random source (seeded in tests).
 *
 * @param model the model the policy routes
 * @param index the model's prefix index
 * @param random tie-breaking and sampling; access is synchronized by the policies, so any generator
 *     works
 */
public record RoutingContext(String model, PrefixIndex index, RandomGenerator random) {}

package io.kvgate.gateway.auth;

import java.util.Objects;
import java.util.Set;

/**
 * A client API key as configured: its hash, never the key itself.
 *
 * @param name a name for logs and metrics (never the key)
 * @param tenant the team or customer the key belongs to (metrics are tagged with it)
 * @param hash the salted hash the presented key must match
 * @param models the models (and adapters) the key may use; empty = every model served
 * @param limits the key's own rate limits; {@link RateLimits#INHERIT} takes the config's default
 * @param priority whether requests with this key may set a scheduling priority ({@code
 *     x-kvgate-priority} or the body's {@code priority})
 * @param admin whether the key may use the admin operations ({@code /metrics}, {@code /admin/*},
 *     the gRPC admin service) and publish KV events
 * @param kvEvents whether the key may publish KV events on the gRPC listener (an engine's or its
 *     sidecar's key, without the admin operations)
 */
public record ApiKey(
    String name,
    String tenant,
    KeyHash hash,
    Set<String> models,
    RateLimits limits,
    boolean priority,
    boolean admin,
    boolean kvEvents) {

  /** Who a request is when no key is configured (auth off): every model, the default limits. */
  public static final ApiKey ANONYMOUS =
      new ApiKey("anonymous", "anonymous", null, Set.of(), RateLimits.INHERIT, true, false);

  /** A key without the right to publish KV events (unless it is an admin key). */
  public ApiKey(
      String name,
      String tenant,
      KeyHash hash,
      Set<String> models,
      RateLimits limits,
      boolean priority,
      boolean admin) {
    this(name, tenant, hash, models, limits, priority, admin, false);
  }

  public ApiKey {
    Objects.requireNonNull(name);
    Objects.requireNonNull(tenant);
    models = Set.copyOf(models);
    Objects.requireNonNull(limits);
  }

  /** Whether the key may use {@code model}. */
  public boolean allows(String model) {
    return models.isEmpty() || models.contains(model);
  }

  @Override
  public String toString() {
    return "ApiKey[" + name + ", tenant=" + tenant + "]";
  }
}

package io.kvgate.gateway.health;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * Endpoint health, active and passive.
 *
 * <ul>
 *   <li>Active: every {@code health.interval}, {@code GET /health} on each endpoint; a 2xx within
 *       {@code health.timeout} is a success, anything else a failure.
 *   <li>Passive: the proxy reports request failures (refused, reset, 5xx, timeouts) and successes.
 *   <li>{@code failureThreshold} consecutive failures of either kind eject the endpoint (policies'
 *       healthy filters skip it); one successful active check re-admits it. A request success
 *       resets the failure count but does not re-admit: ejected endpoints get no requests anyway.
 * </ul>
 */
public final class HealthChecker {

  private static final Logger LOG = Logger.getLogger(HealthChecker.class.getName());

  private final Vertx vertx;
  private final HttpClient client;
  private final GatewayConfig.Health config;
  private final GatewayMetrics metrics;
  private final Map<EndpointState, AtomicInteger> failures = new ConcurrentHashMap<>();
  private long timer = -1;

  public HealthChecker(
      Vertx vertx, HttpClient client, GatewayConfig.Health config, GatewayMetrics metrics) {
    this.vertx = vertx;
    this.client = client;
    this.config = config;
    this.metrics = metrics;
  }

  /** Starts periodic active checks of every endpoint, one round at once. */
  public void start(List<ModelRoute> routes) {
    Runnable round = () -> routes.forEach(r -> r.endpoints().forEach(e -> check(r, e)));
    round.run();
    timer = vertx.setPeriodic(config.interval().toMillis(), t -> round.run());
  }

  public void stop() {
    if (timer >= 0) vertx.cancelTimer(timer);
  }

  private void check(ModelRoute route, EndpointState e) {
    String model = route.name();
    RequestOptions opts =
        route
            .target(e)
            .request(HttpMethod.GET, "/health", config.timeout())
            .setIdleTimeout(config.timeout().toMillis());
    client
        .request(opts)
        .compose(req -> req.send())
        .compose(resp -> resp.body().map(b -> resp.statusCode()))
        .onComplete(
            ar -> {
              if (ar.succeeded() && ar.result() / 100 == 2) {
                failures(e).set(0);
                setHealthy(model, e, true, "active check passed");
              } else {
                recordFailure(model, e);
              }
            });
  }

  private AtomicInteger failures(EndpointState e) {
    return failures.computeIfAbsent(e, k -> new AtomicInteger());
  }

  /** A failed request or check; ejects at the threshold. */
  public void recordFailure(String model, EndpointState e) {
    if (failures(e).incrementAndGet() >= config.failureThreshold()) {
      setHealthy(model, e, false, config.failureThreshold() + " consecutive failures");
    }
  }

  /** A successful request: resets the failure count. */
  public void recordSuccess(String model, EndpointState e) {
    failures(e).set(0);
  }

  private void setHealthy(String model, EndpointState e, boolean healthy, String why) {
    if (e.healthy() == healthy) return;
    e.setHealthy(healthy);
    metrics.healthTransition(model, e.id(), healthy);
    LOG.info(
        "endpoint "
            + e.id()
            + " of model '"
            + model
            + "' "
            + (healthy ? "re-admitted" : "ejected")
            + ": "
            + why);
  }
}

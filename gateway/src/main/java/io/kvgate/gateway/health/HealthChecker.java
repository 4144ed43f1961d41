package io.kvgate.gateway.health;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.config.ConfigNode;
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
 *   <li>{@code failureThreshold} consecutive failed checks, or as many consecutive failed requests,
 *       eject the endpoint (policies' healthy filters skip it). A passing check resets the first
 *       count, a successful request the second.
 *   <li>Re-admission: an endpoint ejected by failed checks is re-admitted by one passing check. One
 *       ejected by failed requests (outlier ejection) stays out for {@code baseEjectionTime},
 *       doubled for each further request-failure ejection (at most 10×, reset by a successful
 *       request), however its {@code /health} answers: an engine that passes {@code /health} but
 *       fails requests is not let back every check interval. After that a passing check re-admits
 *       it on probation: its first failed request ejects it again at once, its first successful one
 *       ends the probation (half-open, with real requests as the probe).
 * </ul>
 */
public final class HealthChecker {

  private static final Logger LOG = Logger.getLogger(HealthChecker.class.getName());

  private final Vertx vertx;
  private final HttpClient client;
  private final GatewayConfig.Health config;
  private final GatewayMetrics metrics;

  /**
   * Consecutive failed checks, and consecutive failed requests: a passing check resets only the
   * first.
   */
  private final Map<EndpointState, AtomicInteger> failures = new ConcurrentHashMap<>();

  private final Map<EndpointState, AtomicInteger> requestFailures = new ConcurrentHashMap<>();
  private final Map<EndpointState, Outlier> outliers = new ConcurrentHashMap<>();

  /** Outlier-ejection state of one endpoint; guarded by its own monitor. */
  private static final class Outlier {
    int ejections;
    long outUntilNanos;
    boolean byRequests;
    boolean probation;
  }

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
                checkPassed(model, e);
              } else {
                recordCheckFailure(model, e);
              }
            });
  }

  private AtomicInteger failures(EndpointState e) {
    return failures.computeIfAbsent(e, k -> new AtomicInteger());
  }

  private Outlier outlier(EndpointState e) {
    return outliers.computeIfAbsent(e, k -> new Outlier());
  }

  /**
   * A passing active check: re-admits, unless the endpoint serves out a request-failure ejection.
   */
  private void checkPassed(String model, EndpointState e) {
    Outlier o = outlier(e);
    synchronized (o) {
      if (!e.healthy() && o.byRequests) {
        if (System.nanoTime() - o.outUntilNanos < 0) return;
        o.probation = true;
        o.byRequests = false;
      }
    }
    failures(e).set(0);
    setHealthy(model, e, true, "active check passed");
  }

  /** A failed active check; ejects at the threshold. */
  private void recordCheckFailure(String model, EndpointState e) {
    if (failures(e).incrementAndGet() >= config.failureThreshold()) {
      setHealthy(model, e, false, config.failureThreshold() + " consecutive failures");
    }
  }

  /**
   * A failed request (refused, reset, 5xx, timeout); ejects at the threshold, or at once on
   * probation, for the ejection time.
   */
  public void recordFailure(String model, EndpointState e) {
    Outlier o = outlier(e);
    boolean eject;
    String why;
    synchronized (o) {
      int n = requestFailures.computeIfAbsent(e, k -> new AtomicInteger()).incrementAndGet();
      eject = e.healthy() && (o.probation || n >= config.failureThreshold());
      why = o.probation ? "a failed request on probation" : n + " consecutive failures";
      if (eject) {
        o.ejections = Math.min(o.ejections + 1, 10);
        long outFor = config.baseEjectionTime().toNanos() * Math.min(10, 1L << (o.ejections - 1));
        o.outUntilNanos = System.nanoTime() + outFor;
        o.byRequests = true;
        o.probation = false;
        requestFailures.get(e).set(0);
        why += ", out for " + ConfigNode.formatDuration(java.time.Duration.ofNanos(outFor));
      }
    }
    if (eject) setHealthy(model, e, false, why);
  }

  /** A successful request: resets the request-failure count and ends a probation. */
  public void recordSuccess(String model, EndpointState e) {
    AtomicInteger n = requestFailures.get(e);
    if (n != null) n.set(0);
    Outlier o = outliers.get(e);
    if (o != null) {
      synchronized (o) {
        if (o.probation) {
          o.probation = false;
          o.ejections = 0;
        }
      }
    }
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

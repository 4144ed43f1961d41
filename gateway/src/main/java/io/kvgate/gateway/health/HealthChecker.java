package io.kvgate.gateway.health;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.log.LogLimiter;
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
import java.util.logging.Level;
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
 *   <li>Error rate (Envoy's {@code failure_percentage}): a failed request that brings the failed
 *       share of the endpoint's requests over {@code health.errorRateWindow} above {@code
 *       health.errorRateThreshold}, with at least {@code health.errorRateMinRequests} requests in
 *       the window, ejects it too, so that an engine failing 30% of its requests between successes
 *       is kept out. This ejection leaves at least one endpoint of the model in service and stays
 *       within {@code health.maxEjectionPercent} of the model's endpoints.
 *   <li>Re-admission: an endpoint ejected by failed checks is re-admitted by one passing check. One
 *       ejected by failed requests (outlier ejection) stays out for {@code baseEjectionTime},
 *       doubled for each further request-failure ejection (at most 10×; back to the base time once
 *       it stayed in service that long), however its {@code /health} answers: an engine that passes
 *       {@code /health} but fails requests is not let back every check interval. After that a
 *       passing check re-admits it on probation: its first failed request ejects it again at once,
 *       its first successful one ends the probation (half-open, with real requests as the probe).
 * </ul>
 */
public final class HealthChecker {

  private static final Logger LOG = Logger.getLogger(HealthChecker.class.getName());

  private final Vertx vertx;
  private final HttpClient client;
  private final GatewayConfig.Health config;
  private final GatewayMetrics metrics;

  /** Consecutive failed checks (consecutive failed requests are counted in {@link Outlier}). */
  private final Map<EndpointState, AtomicInteger> failures = new ConcurrentHashMap<>();

  private final Map<EndpointState, Outlier> outliers = new ConcurrentHashMap<>();

  /** Outlier-ejection state of one endpoint; guarded by its own monitor. */
  private static final class Outlier {
    int consecutive;
    int ejections;
    long outUntilNanos;
    long readmittedNanos;
    boolean byRequests;
    boolean probation;
    ErrorWindow window;
  }

  /** Each model's endpoints, for the error-rate ejection's share of a fleet. */
  private final Map<String, List<EndpointState>> fleets = new ConcurrentHashMap<>();

  private long timer = -1;

  /** Serializes health transitions, so that each is made, counted and logged once. */
  private final Object transitions = new Object();

  private final Map<String, ModelRoute> routesByName =
      new java.util.concurrent.ConcurrentHashMap<>();

  private final LogLimiter logs;

  public HealthChecker(
      Vertx vertx, HttpClient client, GatewayConfig.Health config, GatewayMetrics metrics) {
    this(vertx, client, config, metrics, LogLimiter.defaults(metrics::logSuppressed));
  }

  /** Ejections and re-admissions log through {@code logs} (category {@code health}). */
  public HealthChecker(
      Vertx vertx,
      HttpClient client,
      GatewayConfig.Health config,
      GatewayMetrics metrics,
      LogLimiter logs) {
    this.logs = logs;
    this.vertx = vertx;
    this.client = client;
    this.config = config;
    this.metrics = metrics;
  }

  /** Starts periodic active checks of every endpoint, one round at once. */
  public void start(List<ModelRoute> routes) {
    routes.forEach(r -> fleets.put(r.name(), List.copyOf(r.endpoints())));
    routes.forEach(r -> routesByName.put(r.name(), r));
    routes.forEach(
        r -> r.endpoints().forEach(e -> metrics.bindErrorRate(r.name(), e, () -> errorRate(e))));
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
      if (!e.localHealthy() && o.byRequests) {
        if (System.nanoTime() - o.outUntilNanos < 0) return;
        o.probation = true;
        o.byRequests = false;
        o.readmittedNanos = System.nanoTime();
      }
    }
    failures(e).set(0);
    setHealthy(model, e, true, "active check passed", null);
  }

  /** A failed active check; ejects at the threshold. */
  private void recordCheckFailure(String model, EndpointState e) {
    if (failures(e).incrementAndGet() >= config.failureThreshold()) {
      setHealthy(
          model, e, false, config.failureThreshold() + " consecutive failures", "health_check");
    }
  }

  /**
   * A failed request (refused, reset, 5xx, timeout); ejects at the consecutive-failure threshold,
   * above the error-rate threshold, or at once on probation, for the ejection time.
   */
  public void recordFailure(String model, EndpointState e) {
    recordOutcome(model, e, false);
  }

  /**
   * A successful request (any answer below 500 relayed to its end): resets the consecutive-failure
   * count and ends a probation.
   */
  public void recordSuccess(String model, EndpointState e) {
    recordOutcome(model, e, true);
  }

  private void recordOutcome(String model, EndpointState e, boolean success) {
    Outlier o = outlier(e);
    long now = System.nanoTime();
    String reason = null;
    String why = null;
    boolean ejectedHere = false;
    synchronized (o) {
      if (o.window == null) o.window = new ErrorWindow(config.errorRate().window());
      o.window.record(success, now);
      if (success) {
        o.consecutive = 0;
        o.probation = false;
        return;
      }
      int n = ++o.consecutive;
      if (!e.localHealthy()) return;
      if (o.probation) {
        reason = "probation";
        why = "a failed request on probation";
      } else if (n >= config.failureThreshold()) {
        reason = "consecutive_failures";
        why = n + " consecutive failures";
      } else if (errorRateExceeded(o, now)) {
        // The fleet-wide guard and the ejection are one step, so that two endpoints failing at
        // once on two event loops cannot both pass the guard.
        synchronized (transitions) {
          if (!mayEjectByErrorRate(model, e)) {
            metrics.ejectionSkipped(model, e.id(), "error_rate");
            return;
          }
          e.setHealthy(false);
          ejectedHere = true;
        }
        reason = "error_rate";
        why =
            String.format(
                java.util.Locale.ROOT,
                "%d of its last %d requests failed (over %s), above health.errorRateThreshold %s",
                o.window.failures(now),
                o.window.requests(now),
                ConfigNode.formatDuration(config.errorRate().window()),
                config.errorRate().threshold());
      } else {
        return;
      }
      // The multiplier decays: an endpoint that stayed in service for the base ejection time since
      // its last re-admission starts again from the base time.
      if (o.readmittedNanos != 0 && now - o.readmittedNanos > config.baseEjectionTime().toNanos()) {
        o.ejections = 0;
      }
      o.ejections = Math.min(o.ejections + 1, 10);
      long outFor = config.baseEjectionTime().toNanos() * Math.min(10, 1L << (o.ejections - 1));
      o.outUntilNanos = now + outFor;
      o.byRequests = true;
      o.probation = false;
      o.consecutive = 0;
      o.window.clear();
      why += ", out for " + ConfigNode.formatDuration(java.time.Duration.ofNanos(outFor));
    }
    if (ejectedHere) announce(model, e, false, why, reason);
    else setHealthy(model, e, false, why, reason);
  }

  private boolean errorRateExceeded(Outlier o, long now) {
    GatewayConfig.ErrorRate r = config.errorRate();
    return r.enabled()
        && o.window.requests(now) >= r.minRequests()
        && o.window.failedShare(now) > r.threshold();
  }

  /**
   * Error-rate ejection keeps at least one endpoint of the model in service, and ejects only while
   * the model's ejected endpoints stay within {@code health.maxEjectionPercent}.
   */
  private boolean mayEjectByErrorRate(String model, EndpointState e) {
    List<EndpointState> fleet = fleets.get(model);
    if (fleet == null || !fleet.contains(e)) return true;
    // Out of service: ejected, or drained by an operator.
    ModelRoute route = routesByName.get(model);
    long out =
        fleet.stream().filter(x -> !x.healthy() || route != null && route.drained(x)).count() + 1;
    return out < fleet.size()
        && out * 100 <= (long) fleet.size() * config.errorRate().maxEjectionPercent();
  }

  /** The failed share of {@code e}'s requests over the error-rate window ending now. */
  public double errorRate(EndpointState e) {
    Outlier o = outliers.get(e);
    if (o == null) return 0;
    synchronized (o) {
      return o.window == null ? 0 : o.window.failedShare(System.nanoTime());
    }
  }

  /**
   * Ejects or re-admits {@code e}; an ejection is counted under {@code reason} only by the caller
   * that made the transition (a failed check and a failed request may race to eject).
   */
  private void setHealthy(
      String model, EndpointState e, boolean healthy, String why, String reason) {
    synchronized (transitions) {
      if (e.localHealthy() == healthy) return;
      e.setHealthy(healthy);
    }
    announce(model, e, healthy, why, reason);
  }

  /** Counts and logs a transition made by the caller. */
  private void announce(String model, EndpointState e, boolean healthy, String why, String reason) {
    metrics.healthTransition(model, e.id(), healthy);
    if (!healthy) metrics.ejection(model, e.id(), reason);
    logs.log(
        LOG,
        Level.INFO,
        "health",
        () ->
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

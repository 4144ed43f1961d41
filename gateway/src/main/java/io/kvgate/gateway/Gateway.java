package io.kvgate.gateway;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.health.HealthChecker;
import io.kvgate.gateway.health.SignalScraper;
import io.kvgate.gateway.http.ConnectionLimit;
import io.kvgate.gateway.http.GatewayRoutes;
import io.kvgate.gateway.log.AccessLog;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.proxy.UpstreamProxy;
import io.kvgate.routing.policy.PluginRegistry;
import io.kvgate.routing.policy.PolicyException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Deployable;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.PoolOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A running gateway: the HTTP listener, one {@link ModelRoute} per model, the upstream client,
 * health checks, engine-signal scraping and policy hot reload. Start it with {@link #start}; the
 * demo, the tests and the trace replay run it in-process, {@code kvgate serve} runs it alone.
 */
public final class Gateway {

  /**
   * Source of the negative "shared random port" numbers that stand for port 0 (see {@link
   * #listen}).
   */
  private static final AtomicInteger SHARED_RANDOM_PORTS = new AtomicInteger();

  private final Vertx vertx;
  private final GatewayConfig config;
  private final List<ModelRoute> routes;
  private final GatewayMetrics metrics;
  private final HttpClient client;
  private final HealthChecker health;
  private final SignalScraper signals;
  private final PolicyWatcher policyWatcher;
  private final LogLimiter logs;
  private final AccessLog accessLog;
  private long logFlushTimer = -1;
  private String deployment;
  private final List<Integer> ports = new CopyOnWriteArrayList<>();
  private int port;
  private GatewayRoutes handler;

  private Gateway(
      Vertx vertx, GatewayConfig config, PrometheusMeterRegistry registry, PluginRegistry plugins)
      throws PolicyException {
    this.vertx = vertx;
    this.config = config;
    List<ModelRoute> rs = new ArrayList<>();
    for (int i = 0; i < config.models().size(); i++) {
      rs.add(
          new ModelRoute(config.models().get(i), config.routing(), plugins, "models[" + i + "]"));
    }
    this.routes = List.copyOf(rs);
    this.metrics = new GatewayMetrics(registry);
    routes.forEach(r -> r.endpoints().forEach(e -> metrics.bindEndpoint(r.name(), e)));
    java.util.SortedSet<String> labelTags = new java.util.TreeSet<>();
    for (ModelRoute r : routes) {
      for (var e : r.endpoints()) {
        for (String k : e.endpoint().labels().keySet()) labelTags.add(GatewayConfig.labelTag(k));
      }
    }
    routes.forEach(
        r -> r.endpoints().forEach(e -> metrics.bindEndpointInfo(r.name(), e, labelTags)));
    this.client =
        vertx
            .httpClientBuilder()
            .with(
                new HttpClientOptions()
                    .setKeepAlive(true)
                    .setTcpNoDelay(true)
                    .setConnectTimeout((int) config.timeouts().connect().toMillis())
                    .setMaxInitialLineLength(64 * 1024)
                    .setMaxHeaderSize(64 * 1024))
            .with(new PoolOptions().setHttp1MaxSize(config.pool().maxConnectionsPerEndpoint()))
            // An engine's connection reset reaches the exchange using it (as a failed attempt,
            // counted in kvgate_upstream_errors_total); Vert.x's own SEVERE line per reset would
            // repeat it once per event in an error storm.
            .withConnectHandler(conn -> conn.exceptionHandler(err -> {}))
            .build();
    this.logs =
        new LogLimiter(
            config.logging().maxLinesPerInterval(),
            config.logging().interval(),
            metrics::logSuppressed);
    this.accessLog = new AccessLog(config.logging().accessLog(), metrics);
    this.health = new HealthChecker(vertx, client, config.health(), metrics, logs);
    this.signals =
        new SignalScraper(
            vertx,
            client,
            config.routing().signalsInterval(),
            config.routing().blockSizeTokens(),
            metrics,
            io.kvgate.gateway.health.KvCapacityEstimator.Settings.DEFAULTS);
    this.policyWatcher = new PolicyWatcher(vertx, metrics, logs);
  }

  /**
   * Starts a gateway on {@code vertx}. Fails if a policy does not compile or the port cannot be
   * bound. Uses a fresh Prometheus registry.
   */
  public static Future<Gateway> start(Vertx vertx, GatewayConfig config) {
    return start(vertx, config, GatewayMetrics.newRegistry());
  }

  /**
   * As {@link #start(Vertx, GatewayConfig)}, with the registry {@code /metrics} serves (Vert.x's
   * own meters included when it was built with it).
   */
  public static Future<Gateway> start(
      Vertx vertx, GatewayConfig config, PrometheusMeterRegistry registry) {
    return start(vertx, config, registry, PluginRegistry.builtIn());
  }

  /**
   * As {@link #start(Vertx, GatewayConfig, PrometheusMeterRegistry)}, with the policy plugin types
   * of {@code plugins} (the built-ins extended by code outside the routing library), for the
   * policies at start and their hot reloads.
   */
  public static Future<Gateway> start(
      Vertx vertx, GatewayConfig config, PrometheusMeterRegistry registry, PluginRegistry plugins) {
    Gateway g;
    try {
      g = new Gateway(vertx, config, registry, plugins);
    } catch (PolicyException e) {
      return Future.failedFuture(e);
    }
    return g.listen();
  }

  private Future<Gateway> listen() {
    UpstreamProxy proxy =
        new UpstreamProxy(vertx, client, config, metrics, health, logs, accessLog);
    handler = new GatewayRoutes(vertx, config, routes, proxy, metrics, client);
    // One server per event loop on one port: Vert.x shares the listening socket and spreads
    // accepted connections round-robin, so every loop relays (a server created outside a verticle
    // would put every connection on one loop). Port 0 is asked as a negative port, Vert.x's
    // "random port shared by the servers that ask for this same value", unique per gateway so that
    // two gateways in one process never share.
    int configured = config.listener().port();
    int bindPort = configured != 0 ? configured : -SHARED_RANDOM_PORTS.incrementAndGet();
    HttpServerOptions options =
        new HttpServerOptions()
            .setHost(config.listener().host())
            .setPort(bindPort)
            .setTcpNoDelay(true)
            .setMaxInitialLineLength(64 * 1024)
            .setMaxHeaderSize(64 * 1024)
            .setCompressionSupported(false)
            // HTTP/1.1 only: with cleartext HTTP/2 on, Vert.x waits for a connection's first bytes
            // before
            // it is an HTTP connection, so silent connections would escape listener.maxConnections.
            .setHttp2ClearTextEnabled(false);
    GatewayRoutes h = handler;
    ConnectionLimit limit = new ConnectionLimit(vertx, config.listener().maxConnections(), metrics);
    Supplier<Deployable> server =
        () ->
            new VerticleBase() {
              @Override
              public Future<?> start() {
                return vertx
                    .createHttpServer(options)
                    .connectionHandler(limit::onConnection)
                    .requestHandler(
                        req -> {
                          if (!limit.refuse(req)) h.handle(req);
                        })
                    .listen()
                    .onSuccess(s -> ports.add(s.actualPort()));
              }
            };
    return vertx
        .deployVerticle(
            server, new DeploymentOptions().setInstances(config.listener().eventLoops()))
        .map(
            id -> {
              deployment = id;
              port = ports.get(0);
              health.start(routes);
              logFlushTimer =
                  vertx.setPeriodic(config.logging().interval().toMillis(), t -> logs.flush());
              signals.start(routes);
              policyWatcher.start(routes);
              handler.start();
              return this;
            })
        .recover(e -> close().transform(ignored -> Future.failedFuture(e)));
  }

  /** The bound port (useful when the config asked for port 0). */
  public int port() {
    return port;
  }

  /** The port of every HTTP server instance, one per event loop (all equal to {@link #port()}). */
  public List<Integer> serverPorts() {
    return List.copyOf(ports);
  }

  public GatewayConfig config() {
    return config;
  }

  /** The models served, in config order. */
  public List<ModelRoute> routes() {
    return routes;
  }

  /** The model named {@code name}, or null. */
  public ModelRoute route(String name) {
    Map<String, ModelRoute> byName =
        routes.stream().collect(Collectors.toMap(ModelRoute::name, Function.identity()));
    return byName.get(name);
  }

  /** The endpoints' health bookkeeping (active checks and request outcomes). */
  public HealthChecker health() {
    return health;
  }

  public PrometheusMeterRegistry registry() {
    return metrics.registry();
  }

  /**
   * Stops listening and stops background checks; in-flight exchanges end with their connections.
   */
  public Future<Void> close() {
    health.stop();
    if (logFlushTimer >= 0) vertx.cancelTimer(logFlushTimer);
    logs.flush();
    accessLog.close();
    signals.stop();
    policyWatcher.stop();
    if (handler != null) handler.stop();
    Future<Void> undeployed =
        deployment == null ? Future.succeededFuture() : vertx.undeploy(deployment);
    deployment = null;
    return undeployed.transform(v -> client.close());
  }
}

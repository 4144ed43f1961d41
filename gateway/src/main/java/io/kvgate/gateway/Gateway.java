package io.kvgate.gateway;

import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.auth.LocalRateLimiter;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.health.HealthChecker;
import io.kvgate.gateway.health.SignalScraper;
import io.kvgate.gateway.http.AdminRoutes;
import io.kvgate.gateway.http.Admission;
import io.kvgate.gateway.http.ConnectionLimit;
import io.kvgate.gateway.http.ConnectionTimeouts;
import io.kvgate.gateway.http.DrainState;
import io.kvgate.gateway.http.GatewayRoutes;
import io.kvgate.gateway.http.HttpRefusals;
import io.kvgate.gateway.http.ListenerTls;
import io.kvgate.gateway.log.AccessLog;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.gateway.proxy.UpstreamProxy;
import io.kvgate.routing.config.ConfigNode;
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
import io.vertx.core.json.JsonObject;
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
  private int adminPort = -1;
  private GatewayRoutes handler;
  private UpstreamProxy proxy;
  private io.vertx.core.http.HttpServer adminServer;
  private io.kvgate.gateway.batch.BatchLane batchLane;

  /** The listener's header, body and idle timeouts (their per-loop sweeps stop at close). */
  private ConnectionTimeouts connectionTimeouts;

  private final io.kvgate.gateway.index.IndexHealth indexHealth;
  private io.kvgate.gateway.index.KvEventIngest kvEvents;
  private io.kvgate.gateway.grpc.GrpcListener grpc;
  private io.kvgate.gateway.cluster.ClusterNode cluster;
  private LocalRateLimiter limiter;
  private int grpcPort = -1;
  private final DrainState drainState = new DrainState();
  private Future<Void> drained;
  private final io.vertx.core.Promise<Void> whenDrained = io.vertx.core.Promise.promise();
  private static final java.util.logging.Logger LOG =
      java.util.logging.Logger.getLogger(Gateway.class.getName());

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
    for (ModelRoute r : routes) {
      if (!r.model().pd().enabled()) continue;
      for (io.kvgate.routing.Role role : io.kvgate.routing.Role.values()) {
        List<io.kvgate.routing.EndpointState> pool =
            r.endpoints().stream().filter(e -> e.endpoint().role() == role).toList();
        if (pool.isEmpty()) continue;
        metrics.bindPool(
            r.name(),
            role.wireName(),
            () -> pool.stream().mapToInt(io.kvgate.routing.EndpointState::localInFlight).sum());
      }
    }
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
    this.indexHealth =
        new io.kvgate.gateway.index.IndexHealth(
            routes,
            new io.kvgate.gateway.index.IndexMetrics(registry),
            logs,
            config.routing().blockSizeTokens());
    signals.onScrape(indexHealth::observeScrape);
    indexHealth.onPrecise(signals::precise);
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
    GatewayConfig.Admin adm = config.admin();
    if (adm.enabled() && adm.port() != 0 && adm.port() == config.listener().port()) {
      // Vert.x would share one socket between the API and the admin servers, handing every
      // other connection to the admin routes.
      return Future.failedFuture(
          new IllegalArgumentException(
              "the admin listener's port ("
                  + adm.port()
                  + ") is the API listener's: give the admin listener another port (admin.port,"
                  + " --admin-port) or turn it off (--admin-port -1)"));
    }
    GatewayConfig.Grpc grpcConfig = config.grpc();
    if (grpcConfig.enabled()
        && grpcConfig.port() != 0
        && (grpcConfig.port() == config.listener().port()
            || adm.enabled() && grpcConfig.port() == adm.port())) {
      return Future.failedFuture(
          new IllegalArgumentException(
              "the gRPC listener's port ("
                  + grpcConfig.port()
                  + ") is taken by the API or admin listener: give it another (grpc.port,"
                  + " --grpc-port)"));
    }
    proxy = new UpstreamProxy(vertx, client, config, metrics, health, logs, accessLog);
    proxy.indexHealth(indexHealth);
    metrics.bindDrain(drainState::phase, this::inFlight);
    KeyRing keys = new KeyRing(config.auth().keys());
    limiter = new LocalRateLimiter(config.auth().rateLimit());
    Admission admission = new Admission(keys, limiter, metrics);
    handler =
        new GatewayRoutes(vertx, config, routes, proxy, metrics, client, admission, drainState);
    handler.setIndexHealth(indexHealth);
    GatewayRoutes api = handler;
    io.kvgate.gateway.admin.AdminOps ops =
        new io.kvgate.gateway.admin.AdminOps(
            routes, indexHealth, health, policyWatcher, (path, body) -> api.explain(path, body));
    AdminRoutes admin =
        new AdminRoutes(
            metrics,
            routes,
            handler,
            policyWatcher,
            this::startDrain,
            keys,
            ops,
            vertx,
            config.limits().maxBodyBytes());
    handler.setAdmin(admin);
    if (config.cluster().enabled()) {
      cluster =
          new io.kvgate.gateway.cluster.ClusterNode(
              vertx,
              config.cluster(),
              routes,
              limiter,
              keys,
              policyWatcher,
              metrics.registry(),
              logs);
      handler.setClusterCaughtUp(cluster::caughtUp);
      admin.setCluster(cluster);
    }
    warnAboutOpenDoors(keys);
    Future<Void> lane = Future.succeededFuture();
    if (config.batch().enabled()) {
      java.util.function.Function<String, io.kvgate.gateway.auth.ApiKey> keyByName =
          name ->
              !keys.enabled()
                  ? io.kvgate.gateway.auth.ApiKey.ANONYMOUS
                  : keys.keys().stream()
                      .filter(k -> k.name().equals(name))
                      .findFirst()
                      .orElse(null);
      lane =
          io.kvgate.gateway.batch.BatchLane.open(
                  vertx, config.batch(), routes, keyByName, metrics.registry())
              .map(
                  l -> {
                    batchLane = l;
                    handler.setBatch(l.gate(), new io.kvgate.gateway.batch.BatchApi(l));
                    return null;
                  });
    }
    // One server per event loop on one port: Vert.x shares the listening socket and spreads
    // accepted connections round-robin, so every loop relays (a server created outside a verticle
    // would put every connection on one loop). Port 0 is asked as a negative port, Vert.x's
    // "random port shared by the servers that ask for this same value", unique per gateway so that
    // two gateways in one process never share.
    int configured = config.listener().port();
    int bindPort = configured != 0 ? configured : -SHARED_RANDOM_PORTS.incrementAndGet();
    GatewayConfig.ClientConnections conn = config.listener().connections();
    HttpServerOptions options =
        new HttpServerOptions()
            .setHost(config.listener().host())
            .setPort(bindPort)
            .setTcpNoDelay(true)
            .setMaxInitialLineLength(conn.maxUriBytes() + HttpRefusals.REQUEST_LINE_OVERHEAD)
            .setMaxHeaderSize(conn.maxHeaderBytes())
            .setCompressionSupported(false)
            // No WebSocket is served: without these, a handler that looks for a WebSocket upgrade
            // sits in every connection's pipeline and sees every request.
            .setPerFrameWebSocketCompressionSupported(false)
            .setPerMessageWebSocketCompressionSupported(false)
            // HTTP/1.1 only: with cleartext HTTP/2 on, Vert.x waits for a connection's first bytes
            // before
            // it is an HTTP connection, so silent connections would escape listener.maxConnections.
            .setHttp2ClearTextEnabled(false);
    if (config.batch().enabled()) {
      options.setMaxFormAttributeSize(io.kvgate.gateway.batch.BatchApi.UNNAMED_FILE_BYTES);
    }
    ListenerTls.apply(options, config.listener().tls());
    GatewayRoutes h = handler;
    ConnectionLimit limit =
        new ConnectionLimit(
            vertx, config.listener().maxConnections(), conn.maxConnectionsPerClient(), metrics);
    ConnectionTimeouts timeouts = new ConnectionTimeouts(conn, metrics);
    connectionTimeouts = timeouts;
    Supplier<Deployable> server =
        () ->
            new VerticleBase() {
              @Override
              public Future<?> start() {
                return vertx
                    .createHttpServer(options)
                    .connectionHandler(
                        c -> {
                          limit.onConnection(c);
                          timeouts.onConnection(c);
                        })
                    .invalidRequestHandler(HttpRefusals.handler(conn, metrics))
                    .requestHandler(
                        req -> {
                          timeouts.onRequest(req);
                          if (!limit.refuse(req)) h.handle(req);
                        })
                    .listen()
                    .onSuccess(s -> ports.add(s.actualPort()));
              }
            };
    return lane.compose(
            v ->
                vertx.deployVerticle(
                    server, new DeploymentOptions().setInstances(config.listener().eventLoops())))
        .map(
            id -> {
              deployment = id;
              port = ports.get(0);
              return id;
            })
        .compose(id -> listenAdmin(admin))
        .compose(v -> listenGrpc(keys, ops))
        .compose(v -> cluster == null ? Future.<Void>succeededFuture() : cluster.start())
        .map(
            v -> {
              health.start(routes);
              logFlushTimer =
                  vertx.setPeriodic(config.logging().interval().toMillis(), t -> logs.flush());
              signals.start(routes);
              policyWatcher.start(routes);
              handler.start();
              if (batchLane != null) {
                batchLane.start(
                    config.listener().host(),
                    port,
                    config.listener().tls() != null,
                    cluster == null ? null : cluster.hazelcast());
              }
              return this;
            })
        .recover(e -> close().transform(ignored -> Future.failedFuture(e)));
  }

  /**
   * The gRPC listener, when enabled: the KV-event service feeding the prefix index and the admin
   * service.
   */
  private Future<Void> listenGrpc(KeyRing keys, io.kvgate.gateway.admin.AdminOps ops) {
    GatewayConfig.Grpc g = config.grpc();
    if (!g.enabled()) return Future.succeededFuture();
    java.util.concurrent.ExecutorService executor =
        io.kvgate.gateway.grpc.GrpcListener.newExecutor();
    kvEvents =
        new io.kvgate.gateway.index.KvEventIngest(
            indexHealth,
            config.routing().blockSizeChars(),
            config.routing().blockSizeTokens(),
            signals::statedCapacity,
            executor,
            logs);
    return io.kvgate.gateway.grpc.GrpcListener.start(
            vertx,
            g,
            keys,
            List.of(kvEvents, new io.kvgate.gateway.admin.AdminGrpcService(ops)),
            executor)
        .onFailure(e -> executor.shutdownNow())
        .map(
            l -> {
              grpc = l;
              grpcPort = l.port();
              return null;
            });
  }

  /** How long an admin connection may stay silent. */
  static final int ADMIN_IDLE_SECONDS = 30;

  /** The admin listener, when enabled: one server (admin traffic is light) on its own port. */
  private Future<Void> listenAdmin(AdminRoutes admin) {
    GatewayConfig.Admin a = config.admin();
    if (!a.enabled()) return Future.succeededFuture();
    HttpServerOptions options =
        new HttpServerOptions()
            .setHost(a.host())
            .setPort(a.port())
            .setTcpNoDelay(true)
            .setHttp2ClearTextEnabled(false)
            // Admin requests are short: a connection silent this long is closed, so slow or idle
            // clients cannot pile up on the operator's port.
            .setIdleTimeout(ADMIN_IDLE_SECONDS)
            .setIdleTimeoutUnit(java.util.concurrent.TimeUnit.SECONDS);
    ListenerTls.apply(options, a.tls());
    return vertx
        .createHttpServer(options)
        .requestHandler(admin::handleListener)
        .listen()
        .map(
            s -> {
              adminServer = s;
              adminPort = s.actualPort();
              return null;
            });
  }

  /** Logs, loudly, a network-reachable listener nobody has to authenticate to. */
  private void warnAboutOpenDoors(KeyRing keys) {
    if (!keys.enabled() && !loopback(config.listener().host())) {
      LOG.warning(
          "AUTH IS OFF: no client API keys are configured (auth.keys, auth.keysFile,"
              + " --api-keys-file) and the API listens on "
              + config.listener().host()
              + ", beyond loopback: anyone who reaches it can use every model");
    }
    if (config.admin().enabled() && !keys.hasAdminKey() && !loopback(config.admin().host())) {
      LOG.warning(
          "THE ADMIN LISTENER IS OPEN: it listens on "
              + config.admin().host()
              + ", beyond loopback, and no key has admin: true: anyone who reaches it can drain"
              + " the gateway");
    }
    if (config.grpc().enabled()
        && !keys.hasAdminKey()
        && !keys.hasKvEventsKey()
        && !loopback(config.grpc().host())) {
      LOG.warning(
          "THE gRPC LISTENER IS OPEN: it listens on "
              + config.grpc().host()
              + ", beyond loopback, and no key has admin: true: anyone who reaches it can feed the"
              + " prefix index and drain endpoints");
    }
  }

  private static boolean loopback(String host) {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
  }

  /**
   * Starts a graceful drain once (SIGTERM, {@code POST /admin/drain}): {@code /ready} answers 503
   * at once; after {@code drain.grace} new requests are refused; requests in flight run until they
   * end or {@code drain.timeout} passes, when those still running are ended with an OpenAI-shaped
   * error (an SSE error event for streams); then the gateway closes. Returns what the drain does.
   */
  private JsonObject startDrain() {
    drain();
    return new JsonObject()
        .put("draining", true)
        .put("in_flight_requests", inFlight())
        .put("grace", ConfigNode.formatDuration(config.drain().grace()))
        .put("timeout", ConfigNode.formatDuration(config.drain().timeout()));
  }

  /** As {@link #startDrain}; the future completes when the gateway is closed (idempotent). */
  public synchronized Future<Void> drain() {
    if (drained != null) return drained;
    drainState.advance(DrainState.DRAINING);
    // Batch lines stop at once: they stay pending in the store and run at the next start.
    if (batchLane != null) batchLane.pause();
    LOG.info(
        "draining: /ready answers 503; new requests refused in "
            + ConfigNode.formatDuration(config.drain().grace())
            + ", requests in flight ("
            + inFlight()
            + ") ended after a further "
            + ConfigNode.formatDuration(config.drain().timeout()));
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    drained = done.future();
    drained.onComplete(ar -> whenDrained.tryComplete());
    vertx.setTimer(
        Math.max(1, config.drain().grace().toMillis()),
        t -> {
          drainState.advance(DrainState.CLOSING);
          long deadline = System.nanoTime() + config.drain().timeout().toNanos();
          awaitIdle(deadline, false, done);
        });
    return drained;
  }

  /**
   * Waits (polling every 20 ms) for the last request in flight to end; at {@code deadline}, ends
   * those still running and waits a little more for their error events to be written.
   */
  private void awaitIdle(long deadline, boolean cut, io.vertx.core.Promise<Void> done) {
    if (inFlight() == 0 || (cut && System.nanoTime() > deadline)) {
      LOG.info(
          inFlight() == 0
              ? "drained: no request in flight; closing"
              : "drain: " + inFlight() + " requests did not end; closing anyway");
      close().onComplete(done);
      return;
    }
    if (!cut && System.nanoTime() > deadline) {
      LOG.warning(
          "drain timeout: ending "
              + inFlight()
              + " requests still in flight with a server_shutting_down error");
      OpenAiException shutDown =
          new OpenAiException(
              503,
              "server_error",
              null,
              "server_shutting_down",
              "this kvgate instance shut down before the response ended (drain.timeout "
                  + ConfigNode.formatDuration(config.drain().timeout())
                  + "); retry the request");
      handler.endPending(shutDown);
      proxy.endAll(shutDown);
      long grace = System.nanoTime() + 2_000_000_000L;
      vertx.setTimer(20, t -> awaitIdle(grace, true, done));
      return;
    }
    vertx.setTimer(20, t -> awaitIdle(deadline, cut, done));
  }

  /**
   * Completes when a drain (SIGTERM, {@code POST /admin/drain}) has closed the gateway, however it
   * was started: {@code kvgate serve} exits then.
   */
  public Future<Void> whenDrained() {
    return whenDrained.future();
  }

  /**
   * Requests accepted and not yet answered: being proxied, or still arriving, waiting for the parse
   * budget or being parsed.
   */
  public int inFlight() {
    return (proxy == null ? 0 : proxy.inFlight()) + (handler == null ? 0 : handler.pending());
  }

  /** Where the gateway is in a drain. */
  public DrainState drainState() {
    return drainState;
  }

  /** Event loops with a sweep of proxied exchanges' deadlines (one per loop that proxied). */
  public int deadlineSweeps() {
    return proxy == null ? 0 : proxy.deadlineSweeps();
  }

  /** The batch lane, or null when it is off. */
  public io.kvgate.gateway.batch.BatchLane batchLane() {
    return batchLane;
  }

  /** This gateway's cluster member, or null when clustering is off. */
  public io.kvgate.gateway.cluster.ClusterNode cluster() {
    return cluster;
  }

  /** The gRPC listener's port, or -1 when it is off. */
  public int grpcPort() {
    return grpcPort;
  }

  /** Per engine, what the prefix index knows and the detected resets. */
  public io.kvgate.gateway.index.IndexHealth indexHealth() {
    return indexHealth;
  }

  /** The admin listener's port, or -1 when it is off. */
  public int adminPort() {
    return adminPort;
  }

  /** The budget of body bytes parsed at once ({@code limits.parseBudgetBytes}). */
  public io.kvgate.gateway.http.ParseBudget parseBudget() {
    return handler.parseBudget();
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

  /**
   * Completes once every clustered gateway of {@code gs} has caught up and sees all of them as
   * members (at once when none is clustered); fails after 60 s. For in-process clusters (the
   * demo's, the replay's).
   */
  public static Future<Void> formed(Vertx vertx, List<Gateway> gs) {
    return formed(vertx, gs, System.nanoTime());
  }

  private static Future<Void> formed(Vertx vertx, List<Gateway> gs, long since) {
    boolean all =
        gs.stream()
            .allMatch(
                g ->
                    g.cluster == null
                        || g.cluster.caughtUp()
                            && g.cluster.hazelcast().getCluster().getMembers().size() == gs.size());
    if (all) return Future.succeededFuture();
    if (System.nanoTime() - since > 60_000_000_000L)
      return Future.failedFuture(gs.size() + " gateways did not form one cluster within 60 s");
    io.vertx.core.Promise<Void> p = io.vertx.core.Promise.promise();
    vertx.setTimer(20, t -> formed(vertx, gs, since).onComplete(p));
    return p.future();
  }

  /** The API keys' rate-limit buckets. */
  public LocalRateLimiter rateLimiter() {
    return limiter;
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
    // The batch lane lets go of its lines first, so the listener's close does not fail them.
    Future<Void> lanePaused =
        batchLane == null ? Future.succeededFuture() : batchLane.pause().otherwiseEmpty();
    return lanePaused.transform(p -> closeAll());
  }

  private Future<Void> closeAll() {
    health.stop();
    if (connectionTimeouts != null) connectionTimeouts.close();
    if (proxy != null) proxy.close();
    if (logFlushTimer >= 0) vertx.cancelTimer(logFlushTimer);
    logs.flush();
    accessLog.close();
    signals.stop();
    policyWatcher.stop();
    if (handler != null) handler.stop();
    Future<Void> undeployed =
        deployment == null ? Future.succeededFuture() : vertx.undeploy(deployment);
    deployment = null;
    if (kvEvents != null) kvEvents.closeAll();
    if (batchLane != null) {
      io.kvgate.gateway.batch.BatchLane l = batchLane;
      batchLane = null;
      undeployed = undeployed.transform(v -> l.close());
    }
    if (cluster != null) {
      io.kvgate.gateway.cluster.ClusterNode c = cluster;
      undeployed = undeployed.transform(v -> c.close());
    }
    if (grpc != null) {
      io.kvgate.gateway.grpc.GrpcListener l = grpc;
      grpc = null;
      undeployed = undeployed.transform(v -> l.close(vertx));
    }
    if (adminServer != null) {
      io.vertx.core.http.HttpServer a = adminServer;
      adminServer = null;
      undeployed = undeployed.transform(v -> a.close());
    }
    return undeployed.transform(v -> client.close());
  }
}

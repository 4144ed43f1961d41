package io.kvgate.sim;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import java.util.UUID;

/**
 * A simulated vLLM-like inference engine serving the OpenAI API over HTTP, or https with {@link
 * SimEngineConfig#tls()}.
 *
 * <p>Endpoints: {@code POST /v1/chat/completions}, {@code POST /v1/completions} (streaming SSE and
 * non-streaming, {@code usage} with {@code prompt_tokens_details.cached_tokens}, {@code
 * stream_options.include_usage}), {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}
 * (vLLM metric names), SGLang's {@code GET /server_info} and {@code GET /get_server_info}. A {@link
 * Role#PREFILL} engine also runs an SGLang bootstrap server ({@link BootstrapServer}) on {@link
 * #bootstrapPort()}. Prompts go through {@link PromptTokenizer}; scheduling, the prefix cache and
 * timing are the {@link EngineCore}'s, driven by one chained Vert.x timer on this engine's own
 * event loop (a deployed verticle), with simulated time = wall time &times; {@code speed}.
 *
 * <p>The parts: {@link EngineRoutes} (HTTP routes), {@link CompletionRequest} (body validation),
 * {@link CompletionResponse} (SSE and JSON encoding), {@link ApiError} (error bodies), {@link
 * FaultInjector} (the {@link SimEngineConfig.Faults} knobs), {@link EngineClock} (simulated time,
 * the step timer); this class binds the server and owns the lifecycle and {@link #stats()}.
 *
 * <p>Start with {@link #start}; every method is thread-safe. {@link #close()} stops the server.
 */
public final class SimEngine {

  private final Vertx vertx;
  private final SimEngineConfig config;
  private final String engineId = UUID.randomUUID().toString();
  private final EngineMetrics metrics = new EngineMetrics();
  private final EngineCore core;
  private final FaultInjector faults;
  private final EngineClock clock;
  private final EngineRoutes routes;
  private final BootstrapServer bootstrap;
  private final EngineVerticle verticle = new EngineVerticle();
  private volatile int port;
  private volatile int bootstrapPort = -1;
  private volatile boolean stopped;
  private BootstrapClient bootstrapClient;
  private volatile int running;
  private volatile int waiting;
  private volatile double usage;
  private volatile int cachedBlocks;

  private HttpServer server;
  private HttpServer bootstrapHttp;
  private String deploymentId;

  private SimEngine(Vertx vertx, SimEngineConfig config) {
    this.vertx = vertx;
    this.config = config;
    this.core = new EngineCore(config, metrics);
    this.faults = new FaultInjector(vertx, config.faults(), metrics);
    this.clock = new EngineClock(vertx, config.speed(), core, this::publishGauges);
    this.bootstrap = config.role() == Role.PREFILL ? new BootstrapServer(vertx) : null;
    this.routes = new EngineRoutes(this, core, metrics, clock, faults);
  }

  /**
   * Starts an engine on its own event loop and binds {@code config.host():config.port()} (0 =
   * ephemeral). With {@link SimEngineConfig.Faults#refuseConnections()} the port is bound and
   * released again, so the engine exists but connections to it are refused.
   */
  public static Future<SimEngine> start(Vertx vertx, SimEngineConfig config) {
    SimEngine engine = new SimEngine(vertx, config);
    return vertx
        .deployVerticle(engine.verticle)
        .map(
            id -> {
              engine.deploymentId = id;
              return engine;
            });
  }

  /** The bound port. */
  public int port() {
    return port;
  }

  /**
   * The bound port of this engine's SGLang bootstrap server ({@link
   * SimEngineConfig#bootstrapPort()} or the ephemeral port it got), or -1 if it has none (only
   * {@link Role#PREFILL} engines do).
   */
  public int bootstrapPort() {
    return bootstrapPort;
  }

  /**
   * {@code http://host:port}, or {@code https://host:port} with {@link SimEngineConfig#tls()}: the
   * base URL to configure as an upstream.
   */
  public String url() {
    return (config.tls() == null ? "http://" : "https://") + config.host() + ":" + port;
  }

  public SimEngineConfig config() {
    return config;
  }

  /** This engine's id, reported as {@code remote_engine_id} in P/D responses. */
  public String engineId() {
    return engineId;
  }

  /** A snapshot of the counters; gauges are as of the last engine event. */
  public EngineStats stats() {
    EngineMetrics m = metrics;
    return new EngineStats(
        m.requests,
        running,
        waiting,
        m.promptTokens,
        m.prefixCacheHits,
        m.cacheHitRequests,
        m.prefixCacheQueries,
        m.prefixCacheHits,
        m.generationTokens,
        m.finishedRequests,
        m.disconnects,
        m.prefillTokensComputed,
        m.transferredTokens,
        m.bootstrapFailed,
        m.bootstrapWaiting,
        bootstrap == null ? 0 : bootstrap.rooms(),
        usage,
        cachedBlocks);
  }

  /** The bootstrap server of a prefill engine, else null. Event loop only. */
  BootstrapServer bootstrapServer() {
    return bootstrap;
  }

  /** The client a decode engine takes bootstrap rooms with, else null. Event loop only. */
  BootstrapClient bootstrapClient() {
    return bootstrapClient;
  }

  /** True once the engine is being undeployed: nothing new enters its core. */
  boolean stopped() {
    return stopped;
  }

  /** Stops listening, drops open connections and undeploys the engine. Idempotent. */
  public Future<Void> close() {
    String id = deploymentId;
    if (id == null) return Future.succeededFuture();
    deploymentId = null;
    return vertx.undeploy(id).recover(e -> Future.succeededFuture());
  }

  // ---- event loop side -------------------------------------------------------------------

  private final class EngineVerticle extends VerticleBase {
    @Override
    public Future<?> start() {
      clock.start();
      if (config.role() == Role.DECODE) bootstrapClient = new BootstrapClient(vertx);
      HttpServerOptions options = new HttpServerOptions();
      if (config.tls() != null) {
        options.setSsl(true).setKeyCertOptions(config.tls().keyCertOptions());
      }
      server = vertx.createHttpServer(options).requestHandler(routes);
      Future<HttpServer> listening = server.listen(config.port(), config.host());
      if (bootstrap != null) {
        // SGLang's bootstrap server is plain http on the engine's host, whatever the API serves
        bootstrapHttp = vertx.createHttpServer().requestHandler(bootstrap);
        listening =
            listening.compose(
                s ->
                    bootstrapHttp
                        .listen(config.bootstrapPort(), config.host())
                        .map(
                            b -> {
                              bootstrapPort = b.actualPort();
                              return s;
                            }));
      }
      return listening.compose(
          s -> {
            port = s.actualPort();
            return faults.onListening(s, bootstrapHttp);
          });
    }

    @Override
    public Future<?> stop() {
      stopped = true;
      clock.stop();
      Future<Void> client =
          bootstrapClient == null ? Future.succeededFuture() : bootstrapClient.close();
      if (faults.dead()) return client;
      return bootstrapHttp == null
          ? Future.join(client, server.close())
          : Future.join(client, server.close(), bootstrapHttp.close());
    }
  }

  /** Publishes the core's gauges for {@link #stats()}; runs after every advance of the core. */
  private void publishGauges() {
    running = core.running();
    waiting = core.waiting();
    usage = core.pool().usage();
    cachedBlocks = core.pool().cachedBlocks();
  }
}

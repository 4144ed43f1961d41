package io.kvgate.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simulated vLLM-like inference engine serving the OpenAI API over HTTP.
 *
 * <p>Endpoints: {@code POST /v1/chat/completions}, {@code POST /v1/completions} (streaming SSE and
 * non-streaming, {@code usage} with {@code prompt_tokens_details.cached_tokens}, {@code
 * stream_options.include_usage}), {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}
 * (vLLM metric names). Prompts go through {@link PromptTokenizer}; scheduling, the prefix cache and
 * timing are the {@link EngineCore}'s, driven by one chained Vert.x timer on this engine's own
 * event loop (a deployed verticle), with simulated time = wall time &times; {@code speed}.
 *
 * <p>Start with {@link #start}; every method is thread-safe. {@link #close()} stops the server.
 */
public final class SimEngine {

  private static final AtomicLong REQUEST_SEQ = new AtomicLong();

  private final Vertx vertx;
  private final SimEngineConfig config;
  private final String engineId = UUID.randomUUID().toString();
  private final EngineMetrics metrics = new EngineMetrics();
  private final EngineCore core;
  private final FaultInjector faults;
  private final EngineClock clock;
  private final EngineVerticle verticle = new EngineVerticle();
  private final long createdEpochSeconds = System.currentTimeMillis() / 1000;
  private volatile int port;
  private volatile int running;
  private volatile int waiting;
  private volatile double usage;
  private volatile int cachedBlocks;

  private HttpServer server;
  private String deploymentId;

  private SimEngine(Vertx vertx, SimEngineConfig config) {
    this.vertx = vertx;
    this.config = config;
    this.core = new EngineCore(config, metrics);
    this.faults = new FaultInjector(vertx, config.faults(), metrics);
    this.clock = new EngineClock(vertx, config.speed(), core, this::publishGauges);
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

  /** {@code http://host:port}, the base URL to configure as an upstream. */
  public String url() {
    return "http://" + config.host() + ":" + port;
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
        usage,
        cachedBlocks);
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
      server = vertx.createHttpServer().requestHandler(SimEngine.this::handle);
      Future<HttpServer> listening = server.listen(config.port(), config.host());
      return listening.compose(
          s -> {
            port = s.actualPort();
            return faults.onListening(s);
          });
    }

    @Override
    public Future<?> stop() {
      clock.stop();
      return faults.dead() ? Future.succeededFuture() : server.close();
    }
  }

  /** Publishes the core's gauges for {@link #stats()}; runs after every advance of the core. */
  private void publishGauges() {
    running = core.running();
    waiting = core.waiting();
    usage = core.pool().usage();
    cachedBlocks = core.pool().cachedBlocks();
  }

  private void handle(HttpServerRequest req) {
    if (faults.dead()) {
      // the server is closing; a keep-alive connection may still deliver a request before it goes
      req.connection().close();
      return;
    }
    String path = req.path();
    HttpMethod method = req.method();
    if (method == HttpMethod.GET && path.equals("/health")) {
      req.response().end();
    } else if (method == HttpMethod.GET && path.equals("/metrics")) {
      req.response()
          .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
          .end(
              metrics.render(
                  config.model(),
                  "0",
                  core.running(),
                  core.waiting(),
                  core.pool().usage(),
                  config.blockSizeTokens(),
                  config.exportCacheConfigInfo() ? config.capacityBlocks() : 0));
    } else if (method == HttpMethod.GET && path.equals("/v1/models")) {
      ObjectNode model =
          CompletionResponse.JSON
              .createObjectNode()
              .put("id", config.model())
              .put("object", "model")
              .put("created", createdEpochSeconds)
              .put("owned_by", "vllm")
              .put("root", config.model())
              .put("max_model_len", config.maxModelLen());
      model.putNull("parent");
      ObjectNode list = CompletionResponse.JSON.createObjectNode().put("object", "list");
      list.putArray("data").add(model);
      CompletionResponse.sendJson(req.response(), 200, list);
    } else if (method == HttpMethod.POST && path.equals("/v1/chat/completions")) {
      accept(req, true);
    } else if (method == HttpMethod.POST && path.equals("/v1/completions")) {
      accept(req, false);
    } else {
      sendError(
          req.response(),
          404,
          "NotFoundError",
          null,
          "no route "
              + method
              + " "
              + path
              + "; this engine serves /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics");
    }
  }

  private void accept(HttpServerRequest req, boolean chat) {
    if (faults.intercept(req)) return;
    req.body()
        .onSuccess(body -> faults.beforeFirstByte(req.response(), () -> generate(req, body, chat)));
  }

  private void generate(HttpServerRequest req, Buffer body, boolean chat) {
    HttpServerResponse resp = req.response();
    if (resp.closed()) return;
    CompletionRequest parsed;
    try {
      parsed = CompletionRequest.parse(body, chat, config);
    } catch (ApiError e) {
      e.send(resp);
      return;
    }
    String requestId = req.getHeader("x-request-id");
    if (requestId == null || requestId.isEmpty())
      requestId = UUID.randomUUID().toString().replace("-", "");
    CompletionResponse ex =
        new CompletionResponse(
            this,
            resp,
            chat,
            parsed.stream(),
            parsed.includeUsage(),
            parsed.remoteDecode(),
            (chat ? "chatcmpl-" : "cmpl-") + requestId,
            faults.streamOut(resp));
    long now = clock.now();
    SimRequest r =
        new SimRequest(
            REQUEST_SEQ.incrementAndGet(),
            parsed.tokens(),
            KvBlockPool.chainHashes(parsed.tokens(), config.blockSizeTokens()),
            parsed.maxTokens(),
            parsed.remotePrefill(),
            now,
            ex);
    resp.closeHandler(
        v -> {
          if (ex.closedEarly()) {
            metrics.disconnects++;
            core.abort(r);
            clock.pump();
          }
        });
    core.submit(r, now);
    clock.pump();
  }

  private static void sendError(
      HttpServerResponse resp, int status, String type, String param, String message) {
    new ApiError(status, type, param, message).send(resp);
  }
}

package io.kvgate.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
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
    JsonNode root;
    try {
      root = CompletionResponse.JSON.readTree(body.getBytes());
    } catch (java.io.IOException e) {
      sendError(
          resp,
          400,
          "BadRequestError",
          null,
          "malformed JSON body: "
              + (e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
      return;
    }
    if (root == null || !root.isObject()) {
      sendError(resp, 400, "BadRequestError", null, "the request body must be a JSON object");
      return;
    }
    JsonNode model = root.get("model");
    if (model == null || !model.isTextual()) {
      sendError(resp, 400, "BadRequestError", "model", "'model' is required; see GET /v1/models");
      return;
    }
    if (!model.asText().equals(config.model())) {
      sendError(
          resp,
          404,
          "NotFoundError",
          "model",
          "The model `" + model.asText() + "` does not exist.");
      return;
    }
    int[] tokens;
    try {
      tokens =
          chat
              ? PromptTokenizer.encode(PromptTokenizer.renderChat(root.get("messages")))
              : completionPrompt(root.get("prompt"));
    } catch (IllegalArgumentException e) {
      sendError(resp, 400, "BadRequestError", chat ? "messages" : "prompt", e.getMessage());
      return;
    }
    int n = tokens.length;
    if (n == 0) {
      sendError(resp, 400, "BadRequestError", chat ? "messages" : "prompt", "the prompt is empty");
      return;
    }
    Integer requested;
    try {
      requested = intField(root, "max_completion_tokens");
      if (requested == null) requested = intField(root, "max_tokens");
    } catch (IllegalArgumentException e) {
      sendError(resp, 400, "BadRequestError", "max_tokens", e.getMessage());
      return;
    }
    if (requested != null && requested < 1) {
      sendError(
          resp,
          400,
          "BadRequestError",
          "max_tokens",
          "max_tokens must be at least 1, got " + requested);
      return;
    }
    int maxTokens;
    if (requested != null) maxTokens = requested;
    else if (chat)
      maxTokens = Math.max(1, Math.min(config.defaultChatMaxTokens(), config.maxModelLen() - n));
    else maxTokens = 16;
    if (n + maxTokens > config.maxModelLen()) {
      sendError(
          resp,
          400,
          "BadRequestError",
          null,
          "This model's maximum context length is "
              + config.maxModelLen()
              + " tokens. However, you requested "
              + (n + maxTokens)
              + " tokens ("
              + n
              + " in the messages, "
              + maxTokens
              + " in the completion). Please reduce the length of the messages or completion.");
      return;
    }
    int blocks = core.blocksNeeded(n, maxTokens);
    if (blocks > config.capacityBlocks()) {
      sendError(
          resp,
          400,
          "BadRequestError",
          null,
          "the request needs "
              + blocks
              + " KV blocks but the engine has "
              + config.capacityBlocks()
              + "; shorten the prompt or max_tokens");
      return;
    }
    boolean remoteDecode = false;
    boolean remotePrefill = false;
    JsonNode kv = root.get("kv_transfer_params");
    if (kv != null && kv.isObject()) {
      remoteDecode = kv.path("do_remote_decode").asBoolean(false);
      boolean wantsRemotePrefill = kv.path("do_remote_prefill").asBoolean(false);
      if (remoteDecode && config.role() == Role.DECODE) {
        sendError(
            resp,
            400,
            "BadRequestError",
            "kv_transfer_params",
            "this engine has the decode role; send do_remote_decode (prefill leg) requests to a prefill engine");
        return;
      }
      if (wantsRemotePrefill && config.role() == Role.PREFILL) {
        sendError(
            resp,
            400,
            "BadRequestError",
            "kv_transfer_params",
            "this engine has the prefill role; send do_remote_prefill (decode leg) requests to a decode engine");
        return;
      }
      // vLLM: "Got invalid KVTransferParams" unless every pull coordinate is present; then it
      // computes locally.
      remotePrefill =
          wantsRemotePrefill
              && present(kv, "remote_block_ids")
              && present(kv, "remote_engine_id")
              && present(kv, "remote_request_id")
              && present(kv, "remote_host")
              && present(kv, "remote_port");
    }
    boolean stream = root.path("stream").asBoolean(false);
    boolean includeUsage =
        stream && root.path("stream_options").path("include_usage").asBoolean(false);
    String requestId = req.getHeader("x-request-id");
    if (requestId == null || requestId.isEmpty())
      requestId = UUID.randomUUID().toString().replace("-", "");
    CompletionResponse ex =
        new CompletionResponse(
            this,
            resp,
            chat,
            stream,
            includeUsage,
            remoteDecode,
            (chat ? "chatcmpl-" : "cmpl-") + requestId,
            faults.streamOut(resp));
    long now = clock.now();
    SimRequest r =
        new SimRequest(
            REQUEST_SEQ.incrementAndGet(),
            tokens,
            KvBlockPool.chainHashes(tokens, config.blockSizeTokens()),
            maxTokens,
            remotePrefill,
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

  private static boolean present(JsonNode kv, String field) {
    JsonNode v = kv.get(field);
    return v != null && !v.isNull();
  }

  private static Integer intField(JsonNode root, String field) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.canConvertToInt()) throw new IllegalArgumentException(field + " must be an integer");
    return v.asInt();
  }

  private static int[] completionPrompt(JsonNode prompt) {
    if (prompt == null || prompt.isNull())
      throw new IllegalArgumentException("'prompt' is required");
    if (prompt.isTextual()) return PromptTokenizer.encode(prompt.asText());
    if (prompt.isArray()) {
      if (prompt.isEmpty()) throw new IllegalArgumentException("'prompt' is empty");
      JsonNode first = prompt.get(0);
      if (first.isInt()) return tokenIds(prompt);
      if (prompt.size() != 1) {
        throw new IllegalArgumentException(
            "batched prompts are not simulated; send one prompt per request");
      }
      return first.isTextual() ? PromptTokenizer.encode(first.asText()) : tokenIds(first);
    }
    throw new IllegalArgumentException(
        "'prompt' must be a string, an array of token ids, or an array of one string");
  }

  private static int[] tokenIds(JsonNode array) {
    if (!array.isArray())
      throw new IllegalArgumentException("'prompt' must contain strings or token id arrays");
    int[] ids = new int[array.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode t = array.get(i);
      if (!t.isInt() || t.asInt() < 0)
        throw new IllegalArgumentException("token ids must be non-negative integers");
      ids[i] = t.asInt();
    }
    return ids;
  }

  private static void sendError(
      HttpServerResponse resp, int status, String type, String param, String message) {
    new ApiError(status, type, param, message).send(resp);
  }
}

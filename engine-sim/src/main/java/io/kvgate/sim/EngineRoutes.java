package io.kvgate.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.sim.CompletionRequest.Bootstrap;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An engine's HTTP routes: {@code GET /health}, {@code GET /metrics}, {@code GET /v1/models},
 * SGLang's {@code GET /server_info} and {@code GET /get_server_info} (as {@link
 * SimEngineConfig#serverInfo()} says), {@code POST /v1/chat/completions} and {@code POST
 * /v1/completions} (through the {@link FaultInjector}, {@link CompletionRequest} validation, then
 * the {@link EngineCore}), 404 for anything else. Runs on the engine's event loop.
 *
 * <p>SGLang P/D legs: on a prefill engine a request with a {@code bootstrap_room} registers the
 * room on the engine's {@link BootstrapServer} when its prefill is done; on a decode engine it
 * first waits for the room ({@link BootstrapClient}), then enters the core as a decode leg if it
 * came, or as a local prefill (counted in {@code kvgate_sim_bootstrap_failed_total}) if not.
 */
final class EngineRoutes implements Handler<HttpServerRequest> {

  /** Request sequence numbers, unique across the engines of this JVM. */
  private static final AtomicLong REQUEST_SEQ = new AtomicLong();

  private final SimEngine engine;
  private final SimEngineConfig config;
  private final EngineCore core;
  private final EngineMetrics metrics;
  private final EngineClock clock;
  private final FaultInjector faults;
  private final long createdEpochSeconds = System.currentTimeMillis() / 1000;

  /** Routes of process {@code life} of {@code engine}. */
  EngineRoutes(SimEngine engine, SimEngine.Life life, FaultInjector faults) {
    this.engine = engine;
    this.config = engine.config();
    this.core = life.core;
    this.metrics = life.metrics;
    this.clock = life.clock;
    this.faults = faults;
  }

  @Override
  public void handle(HttpServerRequest req) {
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
                  config.exportCacheConfigInfo() ? config.capacityBlocks() : 0,
                  core.pool().cachedBlocks()));
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
    } else if (method == HttpMethod.GET
        && (path.equals("/server_info") && config.serverInfo() == SimEngineConfig.ServerInfo.BOTH
            || path.equals("/get_server_info")
                && config.serverInfo() != SimEngineConfig.ServerInfo.NONE)) {
      CompletionResponse.sendJson(req.response(), 200, serverInfo());
    } else if (method == HttpMethod.POST && path.equals("/reset_prefix_cache")) {
      resetPrefixCache(req);
    } else if (method == HttpMethod.POST && path.equals(RESTART_PATH)) {
      restart(req);
    } else if (method == HttpMethod.POST && path.equals("/v1/chat/completions")) {
      accept(req, true);
    } else if (method == HttpMethod.POST && path.equals("/v1/completions")) {
      accept(req, false);
    } else {
      new ApiError(
              404,
              "NotFoundError",
              null,
              "no route "
                  + method
                  + " "
                  + path
                  + "; this engine serves /v1/chat/completions, /v1/completions, /v1/models, /health,"
                  + " /metrics, POST /reset_prefix_cache, POST "
                  + RESTART_PATH
                  + " and, as configured, /server_info, /get_server_info")
          .send(req.response());
    }
  }

  /**
   * SGLang's server info: a flat object of server arguments plus scheduler facts, with the fields a
   * P/D router reads ({@code disaggregation_mode}, {@code disaggregation_bootstrap_port}) and the
   * capacity ones ({@code page_size}, {@code max_total_num_tokens}).
   */
  private ObjectNode serverInfo() {
    Role role = config.role();
    return CompletionResponse.JSON
        .createObjectNode()
        .put("model_path", config.model())
        .put("served_model_name", config.model())
        .put("host", config.host())
        .put("port", engine.port())
        .put("context_length", config.maxModelLen())
        .put("page_size", config.blockSizeTokens())
        .put("max_total_num_tokens", (long) config.capacityBlocks() * config.blockSizeTokens())
        .put("max_running_requests", config.maxNumSeqs())
        .put("chunked_prefill_size", config.maxNumBatchedTokens())
        .put("tp_size", 1)
        .put("dp_size", 1)
        .put("pp_size", 1)
        .put(
            "disaggregation_mode",
            role == Role.PREFILL ? "prefill" : role == Role.DECODE ? "decode" : "null")
        // SGLang reports its configured --disaggregation-bootstrap-port (default 8998) whatever
        // the mode; only a prefill engine runs the server
        .put(
            "disaggregation_bootstrap_port",
            role == Role.PREFILL ? engine.bootstrapPort() : SGLANG_DEFAULT_BOOTSTRAP_PORT);
  }

  /** The simulator's own route that restarts the engine process ({@link SimEngine#restart()}). */
  static final String RESTART_PATH = "/kvgate_sim/restart";

  /**
   * vLLM's {@code POST /reset_prefix_cache?reset_running_requests=&reset_external=}: 200 with an
   * empty body when the cache was reset, 409 {@code {"detail":"Prefix cache reset failed."}} when
   * requests holding blocks prevent it (vLLM's answer since it reports the outcome), 422 for a
   * query parameter that is not a boolean (FastAPI's validation status). {@code reset_external}
   * resets a connector's external cache in vLLM; the simulator has none, so it changes nothing.
   */
  private void resetPrefixCache(HttpServerRequest req) {
    Boolean running = queryBool(req, "reset_running_requests");
    Boolean external = queryBool(req, "reset_external");
    if (running == null || external == null) {
      CompletionResponse.sendJson(
          req.response(),
          422,
          CompletionResponse.JSON
              .createObjectNode()
              .put(
                  "detail",
                  "reset_running_requests and reset_external must be booleans (true or false)"));
      return;
    }
    if (engine.resetPrefixCacheOnLoop(running)) {
      req.response().end();
    } else {
      CompletionResponse.sendJson(
          req.response(),
          409,
          CompletionResponse.JSON.createObjectNode().put("detail", "Prefix cache reset failed."));
    }
  }

  /** A boolean query parameter: false when absent, null when not a boolean. */
  private static Boolean queryBool(HttpServerRequest req, String name) {
    String v = req.getParam(name);
    if (v == null) return false;
    return switch (v.toLowerCase(java.util.Locale.ROOT)) {
      case "true", "1", "yes", "on" -> true;
      case "false", "0", "no", "off" -> false;
      default -> null;
    };
  }

  /**
   * {@code POST /kvgate_sim/restart}: restarts the engine process ({@link SimEngine#restart()}),
   * answers 200 {@code {"instance_id", "process_start_time_seconds"}} and then closes the asking
   * connection too, as the restarted process would have.
   */
  private void restart(HttpServerRequest req) {
    String instanceId = engine.restartOnLoop(req.connection());
    ObjectNode body =
        CompletionResponse.JSON
            .createObjectNode()
            .put("instance_id", instanceId)
            .put("process_start_time_seconds", engine.processStartTimeSeconds());
    req.response()
        .putHeader("content-type", "application/json")
        .putHeader("connection", "close")
        .end(body.toString())
        .onComplete(x -> req.connection().close());
  }

  /** SGLang's default {@code --disaggregation-bootstrap-port}. */
  static final int SGLANG_DEFAULT_BOOTSTRAP_PORT = 8998;

  private void accept(HttpServerRequest req, boolean chat) {
    if (faults.intercept(req, metrics)) return;
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
            engine,
            resp,
            chat,
            parsed.stream(),
            parsed.includeUsage(),
            parsed.remoteDecode(),
            (chat ? "chatcmpl-" : "cmpl-") + requestId,
            faults.streamOut(resp));
    long arrival = clock.now();
    Bootstrap bootstrap = parsed.bootstrap();
    long[] hashes = parsed.blockHashes();
    if (bootstrap != null && config.role() == Role.DECODE) {
      awaitRoom(resp, parsed, hashes, bootstrap, ex, arrival);
      return;
    }
    SimRequest.Sink sink = ex;
    if (bootstrap != null) {
      // a prefill leg: the room is registered when the prefill is done, before the answer goes out
      BootstrapServer rooms = engine.bootstrapServer();
      long room = bootstrap.room();
      sink =
          (r, index, last, t) -> {
            if (index == 0) rooms.register(room, r.promptTokens(), r.blockHashes);
            ex.onToken(r, index, last, t);
          };
    }
    SimRequest r =
        new SimRequest(
            REQUEST_SEQ.incrementAndGet(),
            parsed.tokens(),
            hashes,
            parsed.maxTokens(),
            parsed.remotePrefill(),
            arrival,
            sink);
    resp.closeHandler(
        v -> {
          if (ex.closedEarly()) {
            metrics.disconnects++;
            core.abort(r);
            clock.pump();
          }
        });
    core.submit(r, arrival);
    clock.pump();
  }

  /**
   * A decode leg of SGLang's protocol: waits (at most {@code bootstrapTimeout}, simulated) for the
   * prefill engine to register the room, then submits the request as a decode leg if the room came
   * and holds this prompt, else as a local prefill, counted as a bootstrap failure. A client that
   * leaves while the request waits cancels the wait; nothing reaches the core.
   */
  private void awaitRoom(
      HttpServerResponse resp,
      CompletionRequest parsed,
      long[] hashes,
      Bootstrap bootstrap,
      CompletionResponse ex,
      long arrival) {
    long timeoutWallNanos = (long) (config.bootstrapTimeout().toNanos() / config.speed());
    metrics.bootstrapWaiting++;
    BootstrapClient.Wait wait =
        engine
            .bootstrapClient()
            .take(bootstrap.host(), bootstrap.port(), bootstrap.room(), timeoutWallNanos);
    SimRequest[] submitted = {null};
    resp.closeHandler(
        v -> {
          if (!ex.closedEarly()) return;
          metrics.disconnects++;
          if (submitted[0] == null) {
            wait.cancel();
          } else {
            core.abort(submitted[0]);
            clock.pump();
          }
        });
    wait.future()
        .onComplete(
            ar -> {
              metrics.bootstrapWaiting--;
              if (wait.cancelled() || resp.closed() || engine.stopped()) return;
              BootstrapClient.Room room = ar.result();
              boolean transferred =
                  room != null
                      && room.promptTokens() == parsed.tokens().length
                      && Arrays.equals(room.blockHashes(), hashes);
              if (!transferred) metrics.bootstrapFailed++;
              SimRequest r =
                  new SimRequest(
                      REQUEST_SEQ.incrementAndGet(),
                      parsed.tokens(),
                      hashes,
                      parsed.maxTokens(),
                      transferred,
                      arrival,
                      ex);
              submitted[0] = r;
              core.submit(r, clock.now());
              clock.pump();
            });
  }
}

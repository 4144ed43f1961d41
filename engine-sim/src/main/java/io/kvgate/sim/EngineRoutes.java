package io.kvgate.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An engine's HTTP routes: {@code GET /health}, {@code GET /metrics}, {@code GET /v1/models},
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions} (through the {@link
 * FaultInjector}, {@link CompletionRequest} validation, then the {@link EngineCore}), 404 for
 * anything else. Runs on the engine's event loop.
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

  EngineRoutes(
      SimEngine engine,
      EngineCore core,
      EngineMetrics metrics,
      EngineClock clock,
      FaultInjector faults) {
    this.engine = engine;
    this.config = engine.config();
    this.core = core;
    this.metrics = metrics;
    this.clock = clock;
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
      new ApiError(
              404,
              "NotFoundError",
              null,
              "no route "
                  + method
                  + " "
                  + path
                  + "; this engine serves /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics")
          .send(req.response());
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
            engine,
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
}

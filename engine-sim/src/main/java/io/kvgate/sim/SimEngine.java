package io.kvgate.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
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

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final AtomicLong REQUEST_SEQ = new AtomicLong();
  private static final byte[] DONE =
      "data: [DONE]\n\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
  // chunk tails, pre-encoded: a token chunk is prefix (per request) + word + one of these
  private static final byte[] CHAT_SUFFIX =
      utf8("\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  private static final byte[] CHAT_LAST_SUFFIX =
      utf8("\"},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n");
  private static final byte[] TEXT_SUFFIX =
      utf8("\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}]}\n\n");
  private static final byte[] TEXT_LAST_SUFFIX =
      utf8("\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n");
  private static final String[] WORD_TEXT =
      ("the a of to and in is that it for on with as was at by an be this from"
              + " or are which have not had but were one all we when there can been has more if will no so"
              + " out up what about into time than them some could only other new these two may first then"
              + " do any like now my such over also back after use our work well way even because good")
          .split(" ");
  private static final byte[][] WORDS = new byte[WORD_TEXT.length][];

  static {
    for (int i = 0; i < WORD_TEXT.length; i++) {
      WORDS[i] = (" " + WORD_TEXT[i]).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

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
          JSON.createObjectNode()
              .put("id", config.model())
              .put("object", "model")
              .put("created", createdEpochSeconds)
              .put("owned_by", "vllm")
              .put("root", config.model())
              .put("max_model_len", config.maxModelLen());
      model.putNull("parent");
      ObjectNode list = JSON.createObjectNode().put("object", "list");
      list.putArray("data").add(model);
      sendJson(req.response(), 200, list);
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
      root = JSON.readTree(body.getBytes());
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
    Exchange ex =
        new Exchange(
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
    ex.request = r;
    resp.closeHandler(v -> ex.onClose());
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

  private static void sendJson(HttpServerResponse resp, int status, JsonNode body) {
    if (resp.closed() || resp.ended()) return;
    try {
      resp.setStatusCode(status)
          .putHeader("content-type", "application/json")
          .end(Buffer.buffer(JSON.writeValueAsBytes(body)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** vLLM's error body: {@code {"error":{"message","type","param","code"}}}. */
  static void sendError(
      HttpServerResponse resp, int status, String type, String param, String message) {
    ObjectNode err = JSON.createObjectNode();
    ObjectNode e = err.putObject("error").put("message", message).put("type", type);
    if (param == null) e.putNull("param");
    else e.put("param", param);
    e.put("code", status);
    sendJson(resp, status, err);
  }

  /** One HTTP exchange: renders tokens as they are generated. */
  private final class Exchange implements SimRequest.Sink {
    final HttpServerResponse resp;
    final boolean chat;
    final boolean stream;
    final boolean includeUsage;
    final boolean remoteDecode;
    final String id;
    final long created = System.currentTimeMillis() / 1000;
    SimRequest request;
    byte[] chunkPrefix;
    StringBuilder text;
    boolean done;
    final FaultInjector.StreamOut out;

    Exchange(
        HttpServerResponse resp,
        boolean chat,
        boolean stream,
        boolean includeUsage,
        boolean remoteDecode,
        String id,
        FaultInjector.StreamOut out) {
      this.resp = resp;
      this.chat = chat;
      this.stream = stream;
      this.includeUsage = includeUsage;
      this.remoteDecode = remoteDecode;
      this.id = id;
      this.out = out;
    }

    void onClose() {
      if (done) return;
      done = true;
      metrics.disconnects++;
      core.abort(request);
      clock.pump();
    }

    @Override
    public void onToken(SimRequest r, int index, boolean last, long nowNanos) {
      byte[] word = WORDS[(int) ((r.seq * 31 + index * 7L) % WORDS.length)];
      if (!stream) {
        if (text == null) text = new StringBuilder(r.maxTokens * 6);
        text.append(new String(word, java.nio.charset.StandardCharsets.UTF_8));
        if (last) finishJson(r);
        return;
      }
      if (resp.closed()) return; // the close handler is about to abort this request
      if (index == 0) startStream();
      Buffer b =
          Buffer.buffer(
              chunkPrefix.length + word.length + CHAT_LAST_SUFFIX.length + (last ? 512 : 0));
      b.appendBytes(chunkPrefix).appendBytes(word);
      b.appendBytes(
          chat ? (last ? CHAT_LAST_SUFFIX : CHAT_SUFFIX) : (last ? TEXT_LAST_SUFFIX : TEXT_SUFFIX));
      if (last) {
        done = true;
        if (includeUsage) {
          ObjectNode u =
              JSON.createObjectNode()
                  .put("id", id)
                  .put("object", chat ? "chat.completion.chunk" : "text_completion")
                  .put("created", created)
                  .put("model", config.model());
          u.putArray("choices");
          u.set("usage", usage(r));
          b.appendString("data: ").appendString(u.toString()).appendString("\n\n");
        }
        b.appendBytes(DONE);
      }
      write(b, last);
    }

    private void startStream() {
      String head =
          "data: {\"id\":\""
              + id
              + "\",\"object\":\""
              + (chat ? "chat.completion.chunk" : "text_completion")
              + "\",\"created\":"
              + created
              + ",\"model\":"
              + JSON.getNodeFactory().textNode(config.model())
              + ",\"choices\":[{\"index\":0,";
      chunkPrefix =
          (head + (chat ? "\"delta\":{\"content\":\"" : "\"text\":\""))
              .getBytes(java.nio.charset.StandardCharsets.UTF_8);
      resp.setChunked(true)
          .putHeader("content-type", "text/event-stream; charset=utf-8")
          .putHeader("cache-control", "no-cache");
      if (chat) {
        write(
            Buffer.buffer(
                head
                    + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"),
            false);
      }
    }

    private void write(Buffer b, boolean end) {
      out.write(b, end);
    }

    private void finishJson(SimRequest r) {
      done = true;
      ObjectNode o =
          JSON.createObjectNode()
              .put("id", id)
              .put("object", chat ? "chat.completion" : "text_completion")
              .put("created", created)
              .put("model", config.model());
      ArrayNode choices = o.putArray("choices");
      ObjectNode c = choices.addObject().put("index", 0);
      if (chat) {
        ObjectNode m =
            c.putObject("message").put("role", "assistant").put("content", text.toString());
        m.putNull("refusal");
        m.putArray("tool_calls");
      } else {
        c.put("text", text.toString());
      }
      c.putNull("logprobs");
      c.put("finish_reason", "length");
      c.putNull("stop_reason");
      o.set("usage", usage(r));
      o.putNull("prompt_logprobs");
      if (remoteDecode) {
        ObjectNode kv =
            o.putObject("kv_transfer_params")
                .put("do_remote_prefill", true)
                .put("do_remote_decode", false);
        ArrayNode ids = kv.putArray("remote_block_ids");
        int promptBlocks =
            (r.promptTokens() + config.blockSizeTokens() - 1) / config.blockSizeTokens();
        for (int i = 0; i < promptBlocks; i++) ids.add(r.blocks[i]);
        kv.put("remote_engine_id", engineId)
            .put("remote_request_id", id)
            .put("remote_host", config.host())
            .put("remote_port", port)
            .put("tp_size", 1)
            .put("remote_num_tokens", r.promptTokens())
            .put("transfer_mode", "pull");
      } else {
        o.putNull("kv_transfer_params");
      }
      sendJson(resp, 200, o);
    }

    private ObjectNode usage(SimRequest r) {
      ObjectNode u =
          JSON.createObjectNode()
              .put("prompt_tokens", r.promptTokens())
              .put("total_tokens", r.promptTokens() + r.generated)
              .put("completion_tokens", r.generated);
      u.putObject("prompt_tokens_details")
          .put("cached_tokens", r.cachedTokens + r.transferredTokens);
      return u;
    }
  }
}

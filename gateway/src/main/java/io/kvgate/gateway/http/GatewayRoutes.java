package io.kvgate.gateway.http;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.gateway.openai.OpenAiRequest;
import io.kvgate.gateway.openai.OpenAiRequestParser;
import io.kvgate.gateway.proxy.Exchange;
import io.kvgate.gateway.proxy.UpstreamProxy;
import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The request path, one step per line in {@link #handle}: request id, routes that need no body,
 * body limit, parse once, resolve the model, key, route, proxy. Every failure is rendered by {@link
 * OpenAiErrors} in OpenAI's shape.
 */
public final class GatewayRoutes implements Handler<HttpServerRequest> {

  private static final long MODELS_REFRESH_MILLIS = 30_000;

  private final Vertx vertx;
  private final GatewayConfig config;
  private final Map<String, ModelRoute> byName = new LinkedHashMap<>();
  private final Map<String, ModelRoute> byAdapter = new LinkedHashMap<>();

  /**
   * Model ids the endpoints report on their own /v1/models (adapters loaded there, aliases), to the
   * fleet reporting them.
   */
  private final Map<String, ModelRoute> reported = new ConcurrentHashMap<>();

  private final UpstreamProxy proxy;
  private final GatewayMetrics metrics;
  private final HttpClient client;
  private final RoutingKeyer keyer;
  private final ApiPaths apiPaths;
  private final Admission admission;
  private final DrainState drain;
  private AdminRoutes admin;
  private final OpenAiRequestParser.Bounds bounds;
  private final ParseBudget parseBudget;
  private final long createdSeconds = System.currentTimeMillis() / 1000;
  private long refreshTimer = -1;

  public GatewayRoutes(
      Vertx vertx,
      GatewayConfig config,
      List<ModelRoute> routes,
      UpstreamProxy proxy,
      GatewayMetrics metrics,
      HttpClient client,
      Admission admission,
      DrainState drain) {
    this.vertx = vertx;
    this.admission = admission;
    this.drain = drain;
    this.config = config;
    this.proxy = proxy;
    this.metrics = metrics;
    this.client = client;
    this.apiPaths = new ApiPaths(config.api().extraPaths());
    this.keyer =
        new RoutingKeyer(
            config.routing().blockSizeChars(),
            config.routing().charsPerToken(),
            new io.kvgate.routing.prefix.SegmentHashCache(config.routing().segmentCacheBytes()));
    metrics.bindSegmentCache(keyer.segments());
    this.bounds = config.limits().parse().bounds();
    this.parseBudget =
        new ParseBudget(
            vertx,
            config.limits().parse().parseBudgetBytes(),
            config.limits().parse().parseQueueTimeout());
    metrics.bindParseBudget(
        parseBudget::capacityBytes, parseBudget::inUseBytes, parseBudget::waiting);
    for (ModelRoute r : routes) {
      byName.put(r.name(), r);
      for (String a : r.adapters()) byAdapter.put(a, r);
    }
  }

  /**
   * Requests accepted and not yet proxied or answered (their body arriving, waiting for the parse
   * budget, being parsed), with the event loop each belongs to.
   */
  private final Map<HttpServerRequest, io.vertx.core.Context> pending = new ConcurrentHashMap<>();

  /** Requests accepted and not yet proxied or answered. */
  public int pending() {
    return pending.size();
  }

  /** Answers {@code error} to every request accepted and not yet proxied (a drain's deadline). */
  public void endPending(OpenAiException error) {
    pending.forEach(
        (req, ctx) ->
            ctx.runOnContext(
                v -> {
                  if (pending.remove(req) == null) return;
                  metrics.drainRefused("cut");
                  refuseUnread(req);
                  OpenAiErrors.send(req.response(), error);
                }));
  }

  /** The admin operations, served here to admin keys only. */
  private volatile io.kvgate.gateway.index.IndexHealth indexHealth;

  /** Where explain reads each endpoint's index mode. */
  public void setIndexHealth(io.kvgate.gateway.index.IndexHealth h) {
    this.indexHealth = h;
  }

  private volatile io.kvgate.gateway.batch.BatchGate gate;
  private volatile io.kvgate.gateway.batch.BatchApi batchApi;

  /** Serves the batch lane: its API, and its lines through the request path. */
  public void setBatch(
      io.kvgate.gateway.batch.BatchGate gate, io.kvgate.gateway.batch.BatchApi api) {
    this.gate = gate;
    this.batchApi = api;
  }

  public void setAdmin(AdminRoutes admin) {
    this.admin = admin;
  }

  /** Starts the periodic refresh of the models endpoints report. */
  public void start() {
    refreshTimer = vertx.setPeriodic(MODELS_REFRESH_MILLIS, t -> refreshReportedModels());
    refreshReportedModels();
  }

  /** The budget of body bytes parsed at once on worker threads. */
  public ParseBudget parseBudget() {
    return parseBudget;
  }

  /** Stops the periodic refresh. */
  public void stop() {
    if (refreshTimer >= 0) vertx.cancelTimer(refreshTimer);
    refreshTimer = -1;
  }

  /**
   * A random (version 4) UUID for a request that brought no {@code x-request-id}. From the calling
   * thread's own generator: {@link UUID#randomUUID} draws from the JVM's one {@code SecureRandom},
   * a lock every event loop would take per request, and an id needs to be unique, not secret.
   */
  static String newRequestId() {
    java.util.concurrent.ThreadLocalRandom r = java.util.concurrent.ThreadLocalRandom.current();
    long hi = r.nextLong() & ~0xF000L | 0x4000L; // version 4
    long lo = r.nextLong() & ~(0xC000L << 48) | 0x8000L << 48; // IETF variant
    return new UUID(hi, lo).toString();
  }

  @Override
  public void handle(HttpServerRequest req) {
    long start = System.nanoTime();
    String requestId = req.getHeader("x-request-id");
    if (requestId == null || requestId.isBlank() || requestId.length() > 200)
      requestId = newRequestId();
    HttpServerResponse resp = req.response();
    resp.putHeader("x-request-id", requestId);
    String path = req.path();
    try {
      ApiPaths.checkOriginForm(req.uri());
      if (req.method() == HttpMethod.GET && (path.equals("/health") || path.equals("/ready"))) {
        if (path.equals("/health")) json(resp, 200, new JsonObject().put("status", "ok"));
        else ready(resp);
        return;
      }
      if (drain.draining()) {
        // Clients reconnect, through the load balancer, to a gateway that is not leaving.
        resp.putHeader("connection", "close");
      }
      if (drain.closing()) {
        metrics.drainRefused("refused");
        resp.putHeader("retry-after", "1");
        refuseUnread(req);
        throw new OpenAiException(
            503,
            "server_error",
            null,
            "server_shutting_down",
            "this kvgate instance is shutting down; retry (another instance will answer)");
      }
      if (path.equals("/metrics") || path.startsWith("/admin/")) {
        if (admin != null && admission.isAdmin(req)) {
          admin.handle(req);
          return;
        }
        refuseUnread(req);
        throw OpenAiException.notFound(
            "unknown_url",
            path
                + " is served on the admin listener (admin.host:admin.port), or here to admin"
                + " keys only");
      }
      if (io.kvgate.gateway.batch.BatchApi.serves(path)) {
        ApiKey key;
        try {
          if (batchApi == null) {
            throw OpenAiException.notFound(
                "unknown_url",
                path + " is the batch lane's, and it is off here (batch.enabled, --no-batch)");
          }
          key = admission.authenticate(req);
          admission.admitRequest(key, resp);
        } catch (OpenAiException e) {
          refuseUnread(req);
          throw e;
        }
        batchApi.handle(req, key);
        return;
      }
      if (req.method() == HttpMethod.GET) {
        ApiKey key = admission.authenticate(req);
        if (path.equals("/v1/models")) {
          json(resp, 200, models(key));
        } else if (path.startsWith("/v1/models/")) {
          // Model ids may hold a '/' (org/model), sent raw or percent-encoded.
          model(resp, key, path.substring("/v1/models/".length()).replaceAll("%2[fF]", "/"));
        } else throw OpenAiException.notFound("unknown_url", "no route for GET " + path);
        return;
      }
      if (req.method() != HttpMethod.POST) {
        throw OpenAiException.notFound("unknown_url", "no route for " + req.method() + " " + path);
      }
      // Only the inference APIs are forwarded (ApiPaths), to an endpoint of the model the body
      // names; an engine's administration paths are not reachable through the gateway.
      if (!apiPaths.forwards(path)) {
        refuseUnread(req);
        ApiPaths.checkNormalised(path);
        throw OpenAiException.notFound(
            "unknown_url",
            "POST "
                + path
                + " is not an API kvgate forwards (it forwards "
                + apiPaths.describe()
                + "; add paths under api.extraPaths)");
      }
      // Who the client is and whether it is within its request rate, before its body is read. A
      // batch line sent by the lane is its batch owner's, and not rate-limited (the watermark
      // bounds it).
      io.kvgate.gateway.batch.BatchGate.Flight flight = gate == null ? null : gate.claim(req);
      ApiKey key;
      try {
        if (flight != null) {
          key = flight.key();
          if (key == null) {
            throw new OpenAiException(
                401,
                "invalid_request_error",
                null,
                "invalid_api_key",
                "The key that created this batch is no longer configured.");
          }
        } else {
          key = admission.authenticate(req);
          admission.admitRequest(key, resp);
        }
      } catch (OpenAiException e) {
        refuseUnread(req);
        throw e;
      }
      String id = requestId;
      // Accepted: from here until it is proxied or answered, a drain waits for it.
      pending.put(req, vertx.getOrCreateContext());
      BodyReader.read(req, config.limits().maxBodyBytes())
          .onComplete(
              ar -> {
                if (ar.failed()) {
                  if (ar.cause() instanceof OpenAiException e
                      && e.status() == 413
                      && req.version() != io.vertx.core.http.HttpVersion.HTTP_2) {
                    // HTTP/1.x: the rest of the body is never read into the request, so the
                    // connection cannot be reused. (HTTP/2 ends just this stream.)
                    refuseUnread(req);
                  }
                  fail(req, ar.cause(), start);
                  return;
                }
                Buffer body = ar.result();
                try {
                  JsonContentType.check(req.getHeader("content-type"));
                } catch (RuntimeException e) {
                  fail(req, e, start);
                  return;
                }
                if (body.length() < config.limits().offloadBodyBytes()) {
                  try {
                    dispatch(req, prepare(path, body, req.headers(), key), id, start, flight);
                  } catch (RuntimeException e) {
                    fail(req, e, start);
                  }
                  return;
                }
                // A long prompt is parsed and keyed on a worker thread, so that the milliseconds it
                // takes do not hold up the other connections of this event loop, once the parse
                // budget has room for its bytes; routing and proxying come back here.
                prepareOffloaded(req, path, body, key, id, start, flight);
              });
    } catch (RuntimeException e) {
      fail(req, e, start);
    }
  }

  /** Waits for the parse budget, then prepares on a worker thread and dispatches here. */
  private void prepareOffloaded(
      HttpServerRequest req,
      String path,
      Buffer body,
      ApiKey key,
      String id,
      long start,
      io.kvgate.gateway.batch.BatchGate.Flight flight) {
    MultiMap headers = req.headers();
    parseBudget
        .acquire(body.length())
        .onComplete(
            granted -> {
              if (granted.failed()) {
                metrics.parseRefused("queue_timeout");
                req.response()
                    .putHeader("retry-after", Long.toString(parseBudget.retryAfterSeconds()));
                fail(req, granted.cause(), start);
                return;
              }
              ParseBudget.Permit permit = granted.result();
              if (req.response().closed()) {
                // The client left while waiting: nothing to parse.
                permit.release();
                pending.remove(req);
                metrics.request("none", "none", 499, System.nanoTime() - start);
                return;
              }
              vertx
                  .executeBlocking(
                      () -> {
                        try {
                          return prepare(path, body, headers, key);
                        } finally {
                          permit.release();
                        }
                      },
                      false)
                  .onComplete(
                      pr -> {
                        if (pr.failed()) {
                          fail(req, pr.cause(), start);
                          return;
                        }
                        try {
                          dispatch(req, pr.result(), id, start, flight);
                        } catch (RuntimeException e) {
                          fail(req, e, start);
                        }
                      });
            });
  }

  /** A parsed, resolved and keyed request: all the CPU work of a request before routing. */
  private record Prepared(
      OpenAiRequest parsed,
      ModelRoute route,
      RoutingRequest routing,
      ApiKey key,
      io.vertx.core.buffer.Buffer prefillBody) {}

  /**
   * Parses, checks the key may use the model and priority asked for, resolves the model and keys
   * the request. Pure CPU, touches no connection: runs on a worker for long bodies.
   */
  private Prepared prepare(String path, Buffer body, MultiMap headers, ApiKey key) {
    OpenAiRequest parsed;
    try {
      parsed = OpenAiRequestParser.parse(path, body, bounds);
    } catch (OpenAiException e) {
      if (e.code() != null && e.status() == 400) metrics.parseRefused(e.code());
      throw e;
    }
    admission.checkModel(key, parsed.model());
    io.kvgate.gateway.proxy.PdBodies.checkNotReserved(parsed.body());
    Integer priority = admission.priority(key, headers, parsed);
    if (priority != null) parsed = Admission.withPriority(parsed, priority);
    Resolved r = resolve(parsed);
    ModelRoute route = r.route();
    RoutingRequest routing = keyer.key(parsed, headers, route.name(), r.adapter());
    // A vLLM prefill leg's body is built here, off the event loop for a long prompt.
    io.vertx.core.buffer.Buffer prefillBody =
        route.model().pd().protocol() == GatewayConfig.PdProtocol.VLLM && generation(parsed)
            ? io.kvgate.gateway.proxy.PdBodies.vllmPrefill(parsed.raw())
            : null;
    // Keyed: the exchange keeps the request without its prompt's tree (the bytes go upstream).
    return new Prepared(parsed.withoutPrompt(), route, routing, key, prefillBody);
  }

  /** The model route serving a request's {@code model}, and the LoRA adapter it names if any. */
  private record Resolved(ModelRoute route, String adapter) {}

  private Resolved resolve(OpenAiRequest parsed) {
    ModelRoute route = byName.get(parsed.model());
    String adapter = null;
    if (route == null && (route = byAdapter.get(parsed.model())) != null) adapter = parsed.model();
    if (route == null && (route = reported.get(parsed.model())) != null) adapter = parsed.model();
    if (route == null) {
      throw new OpenAiException(
          404,
          "invalid_request_error",
          "model",
          "model_not_found",
          "The model '"
              + parsed.model()
              + "' does not exist or is not served here; see GET /v1/models");
    }
    return new Resolved(route, adapter);
  }

  /**
   * Routes {@code body}, a request to {@code path} as a client would send it, without sending it or
   * recording anything: the admin API's explain. Parsed and keyed as the API does (the same errors
   * for a bad body or an unknown model); keys, rate limits and priorities are not applied.
   */
  public io.kvgate.proto.v1.ExplainResponse explain(String path, Buffer body) {
    if (!path.equals("/v1/chat/completions") && !path.equals("/v1/completions")) {
      throw OpenAiException.badRequest(
          "path", "explain takes /v1/chat/completions or /v1/completions (got " + path + ")");
    }
    OpenAiRequest parsed = OpenAiRequestParser.parse(path, body, bounds);
    io.kvgate.gateway.proxy.PdBodies.checkNotReserved(parsed.body());
    Resolved r = resolve(parsed);
    RoutingRequest routing =
        keyer.key(parsed, MultiMap.caseInsensitiveMultiMap(), r.route().name(), r.adapter());
    return Explain.of(r.route(), routing, generation(parsed), indexHealth, System.nanoTime());
  }

  /** Chat and text completions: the APIs a disaggregated model splits into two legs. */
  private static boolean generation(OpenAiRequest parsed) {
    return parsed.kind() == OpenAiRequest.Kind.CHAT
        || parsed.kind() == OpenAiRequest.Kind.COMPLETION;
  }

  /**
   * Routes a prepared request and starts proxying it (on the request's event loop). A batch line
   * ({@code flight} not null) is routed among the endpoints under the batch watermark only, or
   * deferred with a 503 the lane reads; an interactive request preempts the batch lines waiting for
   * their first token on the endpoint it is routed to.
   */
  private void dispatch(
      HttpServerRequest req,
      Prepared p,
      String requestId,
      long start,
      io.kvgate.gateway.batch.BatchGate.Flight flight) {
    if (flight == null) {
      dispatchNow(req, p, requestId, start, null);
      return;
    }
    // Batch lines are checked against the watermark, routed and their load counted one at a
    // time, so that two lines on two event loops never both take an endpoint's last batch slot.
    synchronized (gate) {
      dispatchNow(req, p, requestId, start, flight);
    }
  }

  private void dispatchNow(
      HttpServerRequest req,
      Prepared p,
      String requestId,
      long start,
      io.kvgate.gateway.batch.BatchGate.Flight flight) {
    ModelRoute route = p.route();
    // Answered meanwhile (a drain's deadline ended it): nothing more to do.
    if (pending.remove(req) == null) return;
    if (req.response().closed()) {
      // The client left while its body was being prepared: nothing was dispatched, nothing to undo.
      metrics.clientDisconnect(route.name(), "none");
      metrics.request(route.name(), "none", 499, System.nanoTime() - start);
      return;
    }
    ApiKey key = p.key();
    if (!p.routing().keyed()) metrics.unkeyed(route.name(), RoutingKeyer.NO_PROMPT);
    Router router = route.router();
    io.kvgate.routing.pd.DisaggregatedRouter pdRouter = route.pd();
    Exchange.Disaggregation pd = null;
    Decision decision;
    List<EndpointState> candidates = route.routable();
    if (flight != null) {
      candidates = gate.eligible(candidates);
      if (candidates.isEmpty()) {
        metrics.request(route.name(), "none", 503, System.nanoTime() - start);
        req.response().putHeader(io.kvgate.gateway.batch.BatchGate.DEFERRED, "1");
        OpenAiErrors.send(
            req.response(),
            OpenAiException.upstream(
                503,
                "batch_deferred",
                "no endpoint of '" + route.name() + "' is under the watermark"));
        return;
      }
    }
    if (pdRouter == null) {
      decision = router.route(p.routing(), candidates, System.nanoTime());
    } else {
      pd = disaggregation(route, pdRouter, p, candidates);
      decision = pd.decision().decode();
      router = pdRouter.decodeRouter();
    }
    if (decision.isEmpty()) {
      throw OpenAiException.upstream(
          503,
          "no_healthy_endpoint",
          "no healthy endpoint for model '"
              + route.name()
              + "' ("
              + decision.reason()
              + "); retry later");
    }
    // Charged only for a request that will be served (an estimate, reconciled with the engine's
    // usage.prompt_tokens when it ends). Batch lines are not rate-limited.
    long estimated = p.routing().promptTokens();
    if (flight == null) admission.admitTokens(key, estimated, req.response());
    Exchange.Lane lane = Exchange.Lane.INTERACTIVE;
    Runnable prefilled = null;
    if (flight != null) {
      lane = Exchange.Lane.BATCH;
      gate.bound(flight, decision.first().endpoint());
    } else if (gate != null) {
      if (gate.batchRunning()) lane = Exchange.Lane.BESIDE_BATCH;
      // Until its first byte, no batch line is sent to its endpoint, and those there without a
      // first token are preempted.
      prefilled = gate.interactive(decision.first().endpoint());
      if (pd != null && !pd.decision().prefill().isEmpty()) {
        Runnable decodeSide = prefilled;
        Runnable prefillSide = gate.interactive(pd.decision().prefill().first().endpoint());
        prefilled =
            () -> {
              decodeSide.run();
              prefillSide.run();
            };
      }
    }
    proxy.forward(
        new Exchange(
            req,
            p.parsed(),
            p.routing(),
            route,
            router,
            decision,
            requestId,
            start,
            flight != null
                ? (prompt, completion) -> {}
                : (prompt, completion) ->
                    admission.charge(key, completion + Math.max(0, prompt - estimated)),
            pd,
            lane,
            prefilled));
  }

  /**
   * How a disaggregated model serves a request: its legs' rankings, counted by mode; a request the
   * prefill pool cannot take falls back to whole serving, or is refused with 503 under {@code
   * pd.fallback: fail}.
   */
  private Exchange.Disaggregation disaggregation(
      ModelRoute route,
      io.kvgate.routing.pd.DisaggregatedRouter pdRouter,
      Prepared p,
      List<EndpointState> candidates) {
    io.kvgate.routing.pd.DisaggregatedRouter.PdDecision d =
        pdRouter.route(p.routing(), generation(p.parsed()), candidates, System.nanoTime());
    String mode = d.mode().name().toLowerCase(java.util.Locale.ROOT);
    if (d.reason() == io.kvgate.routing.pd.DisaggregatedRouter.Reason.NO_PREFILL_ENDPOINT) {
      boolean aggregate = route.model().pd().fallbackAggregate();
      metrics.pdFallback(route.name(), d.reason().wireName(), aggregate ? "aggregate" : "fail");
      if (!aggregate) {
        throw OpenAiException.upstream(
            503,
            "prefill_unavailable",
            "no healthy prefill endpoint for model '"
                + route.name()
                + "' ("
                + d.prefill().reason()
                + "); retry later");
      }
    }
    metrics.pdRequest(route.name(), mode, d.reason().wireName());
    return new Exchange.Disaggregation(pdRouter, d, p.prefillBody());
  }

  private void fail(HttpServerRequest req, Throwable t, long start) {
    pending.remove(req);
    OpenAiException e = OpenAiErrors.of(t);
    OpenAiErrors.send(req.response(), e);
    metrics.request("none", "none", e.status(), System.nanoTime() - start);
  }

  /**
   * A request refused before its body was read: the connection is not reused, and its close lingers
   * (drains what the client still writes) so that the client reads the answer instead of a reset.
   */
  private void refuseUnread(HttpServerRequest req) {
    if (req.method() == HttpMethod.GET || req.isEnded()) return;
    req.response().putHeader("connection", "close");
    req.response().endHandler(v -> BodyReader.closeLingering(vertx, req));
  }

  private volatile java.util.function.BooleanSupplier caughtUp;

  /**
   * In a cluster: whether this gateway has caught up with its peers' routing state; {@code /ready}
   * answers 503 until it has.
   */
  public void setClusterCaughtUp(java.util.function.BooleanSupplier caughtUp) {
    this.caughtUp = caughtUp;
  }

  /**
   * {@code /ready}: 200 when every model has a healthy endpoint that is not drained, the gateway is
   * not draining and, in a cluster, has caught up with its peers; else 503.
   */
  void ready(HttpServerResponse resp) {
    JsonObject models = new JsonObject();
    boolean ready = !drain.draining();
    for (ModelRoute r : byName.values()) {
      long healthy =
          r.routable().stream().filter(e -> e.healthy() && ModelRoute.servesWhole(e)).count();
      JsonObject m =
          new JsonObject()
              .put("healthy_endpoints", healthy)
              .put("endpoints", r.endpoints().size())
              .put("drained_endpoints", r.endpoints().size() - r.routable().size())
              .put("policy", r.router().name());
      if (r.pd() != null) {
        // healthy_endpoints counts the decode side, which serves every request (a request the
        // prefill pool cannot take falls back to it, or is refused, as pd.fallback says).
        m.put(
            "healthy_prefill_endpoints",
            r.routable().stream().filter(e -> e.healthy() && !ModelRoute.servesWhole(e)).count());
      }
      models.put(r.name(), m);
      ready &= healthy > 0;
    }
    java.util.function.BooleanSupplier c = caughtUp;
    if (c != null && !c.getAsBoolean()) ready = false;
    JsonObject body = new JsonObject().put("ready", ready).put("models", models);
    if (drain.draining()) body.put("draining", true);
    if (c != null) body.put("cluster_caught_up", c.getAsBoolean());
    json(resp, ready ? 200 : 503, body);
  }

  /** The models {@code key} may use. */
  private JsonObject models(ApiKey key) {
    JsonArray data = new JsonArray();
    for (ModelRoute r : byName.values()) {
      if (key.allows(r.name())) data.add(modelObject(r.name(), r.name()));
      for (String a : r.adapters()) if (key.allows(a)) data.add(modelObject(a, r.name()));
    }
    reported.forEach(
        (id, r) -> {
          if (!byName.containsKey(id) && !byAdapter.containsKey(id) && key.allows(id))
            data.add(modelObject(id, r.name()));
        });
    return new JsonObject().put("object", "list").put("data", data);
  }

  private JsonObject modelObject(String id, String root) {
    return new JsonObject()
        .put("id", id)
        .put("object", "model")
        .put("created", createdSeconds)
        .put("owned_by", "kvgate")
        .put("root", root);
  }

  private void model(HttpServerResponse resp, ApiKey key, String id) {
    admission.checkModel(key, id);
    ModelRoute r = byName.get(id);
    if (r == null) r = byAdapter.get(id);
    if (r == null) r = reported.get(id);
    if (r == null)
      throw OpenAiException.notFound(
          "model_not_found", "The model '" + id + "' does not exist; see GET /v1/models");
    json(resp, 200, modelObject(id, r.name()));
  }

  private static void json(HttpServerResponse resp, int status, JsonObject body) {
    resp.setStatusCode(status).putHeader("content-type", "application/json").end(body.toBuffer());
  }

  /** Asks every endpoint for its /v1/models and remembers ids not configured here. */
  private void refreshReportedModels() {
    for (ModelRoute r : byName.values()) {
      for (EndpointState e : r.endpoints()) discover(r, e, 0);
    }
  }

  /**
   * Asks one endpoint for its models. A failed ask (an engine still starting, a slow TLS handshake)
   * is asked again after 1 s, 2 s, 4 s... rather than at the next periodic refresh, so that an
   * engine's own model ids and adapters are served soon after it comes up.
   */
  private void discover(ModelRoute r, EndpointState e, int failures) {
    client
        .request(
            r.target(e)
                .request(HttpMethod.GET, "/v1/models", java.time.Duration.ofSeconds(2))
                .setIdleTimeout(5000))
        .compose(q -> q.send())
        .compose(
            resp ->
                resp.statusCode() == 200
                    ? resp.body()
                    : io.vertx.core.Future.failedFuture("status " + resp.statusCode()))
        .onSuccess(
            body -> {
              try {
                JsonArray data = new JsonObject(body).getJsonArray("data");
                if (data == null) return;
                for (int i = 0; i < data.size(); i++) {
                  String id = data.getJsonObject(i).getString("id");
                  if (id != null && !byName.containsKey(id)) reported.putIfAbsent(id, r);
                }
              } catch (RuntimeException ignored) {
                // Not an OpenAI model list: nothing to merge.
              }
            })
        .onFailure(
            err -> {
              long delay = 1000L << Math.min(failures, 4);
              if (refreshTimer >= 0 && delay < MODELS_REFRESH_MILLIS) {
                vertx.setTimer(
                    delay,
                    t -> {
                      if (refreshTimer >= 0) discover(r, e, failures + 1);
                    });
              }
            });
  }
}

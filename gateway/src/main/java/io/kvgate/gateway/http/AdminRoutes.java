package io.kvgate.gateway.http;

import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.function.Supplier;

/**
 * The operator's side of the gateway, on the admin listener (and on the API listener for admin
 * keys): {@code GET /metrics}, {@code /health}, {@code /ready}, {@code GET /admin/endpoints},
 * {@code POST /admin/endpoints/drain} and {@code /undrain} (one endpoint: no new requests, those
 * running finish), {@code POST /admin/drain} (the whole gateway, as on SIGTERM) and {@code POST
 * /admin/reload} (policy files read again now). Answers are JSON; errors in OpenAI's shape.
 */
public final class AdminRoutes implements Handler<HttpServerRequest> {

  private static final long MAX_BODY_BYTES = 64 * 1024;

  private final GatewayMetrics metrics;
  private final List<ModelRoute> routes;
  private final GatewayRoutes api;
  private final PolicyWatcher policies;
  private final Supplier<JsonObject> drainGateway;
  private final KeyRing keys;

  /**
   * @param drainGateway starts the gateway's drain (idempotent) and describes it
   * @param keys when it holds an admin key, requests on the admin listener must carry one
   */
  public AdminRoutes(
      GatewayMetrics metrics,
      List<ModelRoute> routes,
      GatewayRoutes api,
      PolicyWatcher policies,
      Supplier<JsonObject> drainGateway,
      KeyRing keys) {
    this.metrics = metrics;
    this.routes = routes;
    this.api = api;
    this.policies = policies;
    this.drainGateway = drainGateway;
    this.keys = keys;
  }

  /** The admin listener's entry: asks for an admin key when one is configured. */
  public void handleListener(HttpServerRequest req) {
    try {
      String path = req.path();
      boolean probe =
          req.method() == HttpMethod.GET && (path.equals("/health") || path.equals("/ready"));
      if (!probe && keys.hasAdminKey()) {
        if (!keys.isAdmin(req.getHeader("authorization"))) {
          metrics.authRefused("not_admin");
          req.response().putHeader("connection", "close");
          throw new OpenAiException(
              401,
              "invalid_request_error",
              null,
              "invalid_api_key",
              "the admin listener needs an admin key (Authorization: Bearer <key with admin: true>)");
        }
      }
      handle(req);
    } catch (RuntimeException e) {
      OpenAiErrors.send(req.response(), e);
    }
  }

  @Override
  public void handle(HttpServerRequest req) {
    HttpServerResponse resp = req.response();
    String path = req.path();
    try {
      if (req.method() == HttpMethod.GET) {
        switch (path) {
          case "/metrics" ->
              resp.putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                  .end(metrics.registry().scrape());
          case "/health" -> json(resp, 200, new JsonObject().put("status", "ok"));
          case "/ready" -> api.ready(resp);
          case "/admin/endpoints" -> json(resp, 200, endpoints());
          default -> throw OpenAiException.notFound("unknown_url", "no admin route GET " + path);
        }
        return;
      }
      if (req.method() != HttpMethod.POST) {
        throw OpenAiException.notFound(
            "unknown_url", "no admin route " + req.method() + " " + path);
      }
      switch (path) {
        case "/admin/drain" -> json(resp, 202, drainGateway.get());
        case "/admin/reload" ->
            policies
                .reloadAll(routes)
                .onComplete(
                    ar -> {
                      if (ar.failed()) {
                        OpenAiErrors.send(resp, ar.cause());
                        return;
                      }
                      JsonObject models = new JsonObject();
                      boolean ok = true;
                      for (var e : ar.result().entrySet()) {
                        ok &= e.getValue() == null;
                        models.put(
                            e.getKey(),
                            e.getValue() == null
                                ? new JsonObject().put("reloaded", true)
                                : new JsonObject()
                                    .put("reloaded", false)
                                    .put("problem", e.getValue()));
                      }
                      json(resp, ok ? 200 : 422, new JsonObject().put("models", models));
                    });
        case "/admin/endpoints/drain", "/admin/endpoints/undrain" ->
            body(req)
                .onComplete(
                    ar -> {
                      try {
                        if (ar.failed()) throw ar.cause();
                        json(resp, 200, drainEndpoint(ar.result(), path.endsWith("/drain")));
                      } catch (Throwable t) {
                        OpenAiErrors.send(resp, t);
                      }
                    });
        default -> throw OpenAiException.notFound("unknown_url", "no admin route POST " + path);
      }
    } catch (RuntimeException e) {
      OpenAiErrors.send(resp, e);
    }
  }

  private JsonObject drainEndpoint(JsonObject body, boolean drain) {
    String model = body.getValue("model") instanceof String s ? s : null;
    String id = body.getValue("endpoint") instanceof String s ? s : null;
    if (model == null || id == null) {
      throw OpenAiException.badRequest(
          null, "expected {\"model\": \"<model>\", \"endpoint\": \"<endpoint id>\"}");
    }
    ModelRoute route = routes.stream().filter(r -> r.name().equals(model)).findFirst().orElse(null);
    if (route == null || !route.setDrained(id, drain)) {
      throw OpenAiException.notFound(
          "endpoint_not_found",
          "model '" + model + "' has no endpoint '" + id + "'; see GET /admin/endpoints");
    }
    EndpointState e =
        route.endpoints().stream().filter(x -> x.id().equals(id)).findFirst().orElseThrow();
    return new JsonObject()
        .put("model", model)
        .put("endpoint", id)
        .put("drained", drain)
        .put("in_flight_requests", e.localInFlight());
  }

  private JsonObject endpoints() {
    JsonArray models = new JsonArray();
    for (ModelRoute r : routes) {
      JsonArray eps = new JsonArray();
      for (EndpointState e : r.endpoints()) {
        eps.add(
            new JsonObject()
                .put("id", e.id())
                .put("url", e.endpoint().url().toString())
                .put("role", e.endpoint().role().wireName())
                .put("labels", new JsonObject(new java.util.TreeMap<>(e.endpoint().labels())))
                .put("healthy", e.healthy())
                .put("drained", r.drained(e))
                .put("in_flight_requests", e.localInFlight())
                .put("pending_prefill_tokens", e.pendingPrefillTokens()));
      }
      models.add(
          new JsonObject()
              .put("model", r.name())
              .put("policy", r.router().name())
              .put("endpoints", eps));
    }
    return new JsonObject().put("models", models);
  }

  private static Future<JsonObject> body(HttpServerRequest req) {
    return BodyReader.read(req, MAX_BODY_BYTES)
        .map(
            b -> {
              try {
                return b.length() == 0 ? new JsonObject() : new JsonObject(b);
              } catch (DecodeException | ClassCastException e) {
                throw OpenAiException.badRequest(null, "request body must be a JSON object");
              }
            });
  }

  private static void json(HttpServerResponse resp, int status, JsonObject body) {
    resp.setStatusCode(status).putHeader("content-type", "application/json").end(body.toBuffer());
  }
}

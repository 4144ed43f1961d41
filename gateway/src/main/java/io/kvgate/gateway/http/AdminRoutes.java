package io.kvgate.gateway.http;

import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.function.Supplier;

/**
 * The operator's side of the gateway, on the admin listener (and on the API listener for admin
 * keys): {@code GET /metrics}, {@code /health}, {@code /ready}, {@code GET /admin/models}, {@code
 * GET /admin/endpoints[?model=M]}, {@code POST /admin/endpoints/drain} and {@code /undrain} (one
 * endpoint: no new requests, those running finish), {@code POST /admin/explain[?path=P]} (route a
 * request body without sending it), {@code POST /admin/drain} (the whole gateway, as on SIGTERM)
 * and {@code POST /admin/reload} (policy files read again now). The admin API's answers are its
 * protobuf messages ({@code proto/.../admin.proto}) as JSON with the .proto field names (proto3's
 * JSON mapping: 64-bit integers as strings); errors in OpenAI's shape.
 */
public final class AdminRoutes implements Handler<HttpServerRequest> {

  private static final long MAX_BODY_BYTES = 64 * 1024;

  private final GatewayMetrics metrics;
  private final List<ModelRoute> routes;
  private final GatewayRoutes api;
  private final PolicyWatcher policies;
  private final Supplier<JsonObject> drainGateway;
  private final KeyRing keys;
  private final io.kvgate.gateway.admin.AdminOps ops;
  private final io.vertx.core.Vertx vertx;
  private final long maxExplainBytes;

  private static final com.google.protobuf.util.JsonFormat.Printer JSON =
      com.google.protobuf.util.JsonFormat.printer()
          .preservingProtoFieldNames()
          .alwaysPrintFieldsWithNoPresence()
          .omittingInsignificantWhitespace();

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
      KeyRing keys,
      io.kvgate.gateway.admin.AdminOps ops,
      io.vertx.core.Vertx vertx,
      long maxExplainBytes) {
    this.ops = ops;
    this.vertx = vertx;
    this.maxExplainBytes = maxExplainBytes;
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

  private volatile io.kvgate.gateway.cluster.ClusterNode cluster;

  /** The cluster member {@code GET /admin/cluster} describes (null: clustering is off). */
  public void setCluster(io.kvgate.gateway.cluster.ClusterNode cluster) {
    this.cluster = cluster;
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
          case "/admin/models" -> proto(resp, 200, ops.models());
          case "/admin/endpoints" -> proto(resp, 200, ops.endpoints(req.getParam("model")));
          case "/admin/cluster" -> {
            io.kvgate.gateway.cluster.ClusterNode c = cluster;
            if (c == null) json(resp, 200, new JsonObject().put("enabled", false));
            else
              c.view()
                  .onComplete(
                      ar -> {
                        if (ar.succeeded()) json(resp, 200, ar.result().put("enabled", true));
                        else
                          OpenAiErrors.send(
                              resp,
                              new OpenAiException(
                                  500,
                                  "server_error",
                                  null,
                                  "cluster_view_failed",
                                  "the cluster view failed: " + ar.cause().getMessage()));
                      });
          }
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
                        proto(resp, 200, ops.drain(ref(ar.result()), path.endsWith("/drain")));
                      } catch (Throwable t) {
                        OpenAiErrors.send(resp, t);
                      }
                    });
        case "/admin/explain" -> explain(req);
        default -> throw OpenAiException.notFound("unknown_url", "no admin route POST " + path);
      }
    } catch (RuntimeException e) {
      OpenAiErrors.send(resp, e);
    }
  }

  private static io.kvgate.proto.v1.EndpointRef ref(JsonObject body) {
    for (String k : body.fieldNames()) {
      if (!k.equals("model") && !k.equals("endpoint")) {
        throw OpenAiException.badRequest(k, "unknown field '" + k + "'");
      }
    }
    return io.kvgate.proto.v1.EndpointRef.newBuilder()
        .setModel(body.getValue("model") instanceof String s ? s : "")
        .setEndpoint(body.getValue("endpoint") instanceof String s ? s : "")
        .build();
  }

  /**
   * {@code POST /admin/explain}: the body is a request as a client would send it; {@code ?path=}
   * names its API (default: chat completions). Keyed off the event loop for long bodies, like the
   * API does.
   */
  private void explain(HttpServerRequest req) {
    HttpServerResponse resp = req.response();
    String path = req.getParam("path", "/v1/chat/completions");
    BodyReader.read(req, maxExplainBytes)
        .compose(
            b ->
                b.length()
                        < io.kvgate.gateway.config.GatewayConfig.Limits.DEFAULT_OFFLOAD_BODY_BYTES
                    ? Future.succeededFuture(ops.explain(path, b))
                    : vertx.executeBlocking(() -> ops.explain(path, b), false))
        .onComplete(
            ar -> {
              if (ar.failed()) OpenAiErrors.send(resp, ar.cause());
              else proto(resp, 200, ar.result());
            });
  }

  private static void proto(
      HttpServerResponse resp, int status, com.google.protobuf.MessageOrBuilder message) {
    String text;
    try {
      text = JSON.print(message);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
    resp.setStatusCode(status).putHeader("content-type", "application/json").end(text);
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

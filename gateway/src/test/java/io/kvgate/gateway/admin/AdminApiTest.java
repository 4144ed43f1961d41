package io.kvgate.gateway.admin;

import static io.kvgate.gateway.TestSupport.HTTP;
import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.chat;
import static io.kvgate.gateway.TestSupport.config;
import static io.kvgate.gateway.TestSupport.eventually;
import static io.kvgate.gateway.TestSupport.get;
import static io.kvgate.gateway.TestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyHash;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.proto.v1.AdminServiceGrpc;
import io.kvgate.proto.v1.EndpointInfo;
import io.kvgate.proto.v1.EndpointRef;
import io.kvgate.proto.v1.ExplainRequest;
import io.kvgate.proto.v1.ExplainResponse;
import io.kvgate.proto.v1.IndexMode;
import io.kvgate.proto.v1.ListEndpointsRequest;
import io.kvgate.proto.v1.ListModelsRequest;
import io.kvgate.proto.v1.ModelInfo;
import io.kvgate.proto.v1.ReloadPoliciesRequest;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The admin API on a real gateway, over gRPC ({@code kvgate.v1.AdminService}) and over HTTP JSON on
 * the admin listener: the same answers both ways.
 */
class AdminApiTest {

  static final String MODEL = "m";
  final Vertx vertx = Vertx.vertx();
  SimFleet fleet;
  Gateway gateway;
  ManagedChannel channel;

  @AfterEach
  void stop() throws Exception {
    if (channel != null) channel.shutdownNow();
    if (gateway != null) await(gateway.close());
    if (fleet != null) await(fleet.close());
    await(vertx.close());
  }

  AdminServiceGrpc.AdminServiceBlockingStub start(GatewayConfig.Auth auth, String policy)
      throws Exception {
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 3, 0));
    GatewayConfig c =
        config(MODEL, fleet.urls(), policy)
            .withAuth(auth)
            .withGrpc(new GatewayConfig.Grpc(true, "127.0.0.1", 0, null));
    gateway = await(Gateway.start(vertx, c));
    channel =
        NettyChannelBuilder.forAddress("127.0.0.1", gateway.grpcPort()).usePlaintext().build();
    return AdminServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  CompletableFuture<HttpResponse<String>> stream(int maxTokens) {
    return HTTP.sendAsync(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(60))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(chat(MODEL, "a story", maxTokens, true)))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void listsModelsAndEndpointsTheSameOverGrpcAndHttp() throws Exception {
    var admin = start(GatewayConfig.Auth.NONE, "cache-aware");
    assertEquals(
        200,
        post(
                gateway.port(),
                "/v1/chat/completions",
                chat(MODEL, "hello there ".repeat(40), 2, false))
            .statusCode());
    ModelInfo m = admin.listModels(ListModelsRequest.getDefaultInstance()).getModels(0);
    assertEquals(MODEL, m.getName());
    assertEquals(3, m.getEndpoints());
    assertEquals(3, m.getHealthyEndpoints());
    assertTrue(m.getIndexEntries() > 0, "the request taught the index");
    List<EndpointInfo> eps =
        admin.listEndpoints(ListEndpointsRequest.getDefaultInstance()).getEndpointsList();
    assertEquals(3, eps.size());
    for (EndpointInfo e : eps) {
      assertEquals(IndexMode.INDEX_MODE_APPROXIMATE, e.getIndexMode(), "no event stream");
      assertEquals(-1, e.getEngineCachedBlocks());
      assertEquals("both", e.getRole());
    }
    long indexed = eps.stream().mapToLong(EndpointInfo::getIndexBlocks).sum();
    assertEquals(m.getIndexEntries(), indexed);

    JsonObject http = new JsonObject(get(gateway.adminPort(), "/admin/endpoints").body());
    assertEquals(3, http.getJsonArray("endpoints").size());
    JsonObject first = http.getJsonArray("endpoints").getJsonObject(0);
    assertEquals(eps.get(0).getId(), first.getString("id"));
    assertEquals("INDEX_MODE_APPROXIMATE", first.getString("index_mode"));
    assertEquals(String.valueOf(eps.get(0).getIndexBlocks()), first.getString("index_blocks"));
    JsonObject models = new JsonObject(get(gateway.adminPort(), "/admin/models").body());
    assertEquals(MODEL, models.getJsonArray("models").getJsonObject(0).getString("name"));
    HttpResponse<String> unknown = get(gateway.adminPort(), "/admin/endpoints?model=nope");
    assertEquals(404, unknown.statusCode());
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> admin.listEndpoints(ListEndpointsRequest.newBuilder().setModel("nope").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }

  @Test
  void aDrainedEndpointGetsNoNewRequestsWhileItsRunningStreamFinishes() throws Exception {
    var admin = start(GatewayConfig.Auth.NONE, "round-robin");
    String drained = gateway.route(MODEL).endpoints().get(0).id();
    List<CompletableFuture<HttpResponse<String>>> running =
        List.of(stream(150), stream(150), stream(150));
    eventually("three streams in flight", () -> gateway.inFlight() == 3);
    EndpointInfo info =
        admin.drainEndpoint(EndpointRef.newBuilder().setModel(MODEL).setEndpoint(drained).build());
    assertTrue(info.getDrained());
    assertEquals(1, info.getInFlight(), "round-robin put one stream there; it keeps running");
    Set<String> served = new HashSet<>();
    for (int i = 0; i < 9; i++) {
      served.add(
          post(gateway.port(), "/v1/chat/completions", chat(MODEL, "q" + i, 2, false))
              .headers()
              .firstValue("x-kvgate-endpoint")
              .orElseThrow());
    }
    assertFalse(served.contains(drained), "no new request on the drained endpoint: " + served);
    for (var f : running) {
      HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
      assertTrue(r.body().trim().endsWith("data: [DONE]"), "the running streams finished");
    }
    assertFalse(
        admin
            .undrainEndpoint(EndpointRef.newBuilder().setModel(MODEL).setEndpoint(drained).build())
            .getDrained());
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                admin.drainEndpoint(
                    EndpointRef.newBuilder().setModel(MODEL).setEndpoint("nope").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    assertEquals(
        Status.Code.INVALID_ARGUMENT,
        assertThrows(
                StatusRuntimeException.class,
                () -> admin.drainEndpoint(EndpointRef.getDefaultInstance()))
            .getStatus()
            .getCode());
  }

  @Test
  void explainNamesTheEndpointHoldingThePromptAndRecordsNothing() throws Exception {
    var admin = start(GatewayConfig.Auth.NONE, "cache-aware");
    String shared = "You are a careful assistant. ".repeat(80);
    String body =
        new JsonObject()
            .put("model", MODEL)
            .put(
                "messages",
                new io.vertx.core.json.JsonArray()
                    .add(new JsonObject().put("role", "system").put("content", shared))
                    .add(new JsonObject().put("role", "user").put("content", "first")))
            .put("max_tokens", 2)
            .encode();
    HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", body);
    String holder = r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    long indexBefore = gateway.route(MODEL).index().size();
    String next = body.replace("\"first\"", "\"second\"");
    ExplainResponse x =
        admin.explain(
            ExplainRequest.newBuilder()
                .setPath("/v1/chat/completions")
                .setBody(ByteString.copyFromUtf8(next))
                .build());
    assertEquals(holder, x.getWinner());
    assertEquals(MODEL, x.getModel());
    assertTrue(x.getPromptBlocks() > 20, "a long shared prompt: " + x.getPromptBlocks());
    var winner =
        x.getEndpointsList().stream()
            .filter(e -> e.getId().equals(holder))
            .findFirst()
            .orElseThrow();
    assertEquals(1, winner.getRank());
    assertTrue(winner.getMatchedBlocks() > 20, "it holds the shared prefix");
    assertFalse(x.getReason().isEmpty());
    assertFalse(winner.getTermsList().isEmpty(), "the cache-aware picker's prices: " + winner);
    assertEquals(3, x.getEndpointsCount(), "every endpoint has a row");
    assertEquals(indexBefore, gateway.route(MODEL).index().size(), "explain wrote nothing");
    assertEquals(0, gateway.inFlight());

    HttpResponse<String> http = post(gateway.adminPort(), "/admin/explain", next);
    assertEquals(200, http.statusCode(), http.body());
    assertEquals(holder, new JsonObject(http.body()).getString("winner"));
    HttpResponse<String> bad =
        post(
            gateway.adminPort(),
            "/admin/explain",
            "{\"model\": \"nope\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}");
    assertEquals(404, bad.statusCode());
    assertEquals(
        Status.Code.INVALID_ARGUMENT,
        assertThrows(
                StatusRuntimeException.class,
                () ->
                    admin.explain(
                        ExplainRequest.newBuilder().setBody(ByteString.copyFromUtf8("{")).build()))
            .getStatus()
            .getCode());
  }

  @Test
  void reloadWithoutPolicyFilesReloadsNothingAndSucceeds() throws Exception {
    var admin = start(GatewayConfig.Auth.NONE, "cache-aware");
    assertEquals(
        0, admin.reloadPolicies(ReloadPoliciesRequest.getDefaultInstance()).getReloadedCount());
  }

  @Test
  void withKeysConfiguredTheAdminServiceNeedsAnAdminKeyAndEventStreamsAnEventsKey()
      throws Exception {
    String secret = "sk-admin-" + "x".repeat(24);
    String events = "sk-events-" + "y".repeat(24);
    ApiKey adminKey =
        new ApiKey(
            "ops",
            "ops",
            KeyHash.of(secret),
            Set.of(),
            io.kvgate.gateway.auth.RateLimits.NONE,
            false,
            true);
    ApiKey eventsKey =
        new ApiKey(
            "sidecar",
            "ops",
            KeyHash.of(events),
            Set.of(),
            io.kvgate.gateway.auth.RateLimits.NONE,
            false,
            false,
            true);
    var admin =
        start(
            new GatewayConfig.Auth(
                List.of(adminKey, eventsKey), io.kvgate.gateway.auth.RateLimits.NONE),
            "cache-aware");
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> admin.listModels(ListModelsRequest.getDefaultInstance()));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertEquals(
        Status.Code.UNAUTHENTICATED,
        assertThrows(
                StatusRuntimeException.class,
                () ->
                    admin
                        .withInterceptors(bearer(events))
                        .listModels(ListModelsRequest.getDefaultInstance()))
            .getStatus()
            .getCode(),
        "an events key is no admin key");
    assertEquals(
        MODEL,
        admin
            .withInterceptors(bearer(secret))
            .listModels(ListModelsRequest.getDefaultInstance())
            .getModels(0)
            .getName());
    assertEquals(Status.Code.UNAUTHENTICATED, publishOne(null).getCode());
    assertEquals(Status.Code.OK, publishOne(events).getCode(), "an events key may publish");
  }

  static io.grpc.ClientInterceptor bearer(String key) {
    Metadata md = new Metadata();
    md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    return MetadataUtils.newAttachHeadersInterceptor(md);
  }

  /** Opens an event stream with {@code key} (or none), sends one batch: OK once it is acked. */
  Status publishOne(String key) throws Exception {
    var stub = io.kvgate.proto.v1.KvEventServiceGrpc.newStub(channel);
    if (key != null) stub = stub.withInterceptors(bearer(key));
    CompletableFuture<Status> outcome = new CompletableFuture<>();
    var out =
        stub.publish(
            new io.grpc.stub.StreamObserver<io.kvgate.proto.v1.PublishResponse>() {
              @Override
              public void onNext(io.kvgate.proto.v1.PublishResponse r) {
                if (r.hasAck()) outcome.complete(Status.OK);
              }

              @Override
              public void onError(Throwable t) {
                outcome.complete(Status.fromThrowable(t));
              }

              @Override
              public void onCompleted() {
                outcome.complete(Status.CANCELLED);
              }
            });
    out.onNext(
        io.kvgate.proto.v1.PublishRequest.newBuilder()
            .setHello(
                io.kvgate.proto.v1.Hello.newBuilder()
                    .setEndpoint(fleet.urls().get(0))
                    .setInstanceId("i")
                    .setHashScheme(io.kvgate.proto.v1.HashScheme.HASH_SCHEME_KVGATE_TEXT_XXH64)
                    .setBlockSizeChars(GatewayConfig.Routing.DEFAULT.blockSizeChars()))
            .build());
    out.onNext(
        io.kvgate.proto.v1.PublishRequest.newBuilder()
            .setBatch(io.kvgate.proto.v1.EventBatch.newBuilder().setSeq(0))
            .build());
    Status s = outcome.get(10, TimeUnit.SECONDS);
    out.onCompleted();
    return s;
  }
}

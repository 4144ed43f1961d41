package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Graceful drain as clients and operators see it: {@code /ready} 503 at once, new requests refused
 * after the grace, streams in flight finish (or end with an OpenAI-shaped error event at the
 * deadline); one endpoint drained gets no new requests; policies reloaded on request.
 */
class DrainTest {

  static final String MODEL = "m";
  Vertx vertx = Vertx.vertx();
  SimFleet fleet;
  Gateway gateway;

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    if (fleet != null) await(fleet.close());
    await(vertx.close());
  }

  Gateway start(int engines, GatewayConfig.Drain drain, String policy) throws Exception {
    // 8 ms per decode step: a 150-token stream lasts about 1.2 s, a 4000-token one half a minute.
    fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), engines, 0));
    gateway = await(Gateway.start(vertx, config(MODEL, fleet.urls(), policy).withDrain(drain)));
    return gateway;
  }

  CompletableFuture<HttpResponse<String>> stream(int maxTokens) {
    return HTTP.sendAsync(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(60))
            .header("content-type", "application/json")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    chat(MODEL, "tell me a story", maxTokens, true)))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void streamsInFlightFinishAndNewRequestsAreRefusedAfterTheGrace() throws Exception {
    start(
        2, new GatewayConfig.Drain(Duration.ofMillis(300), Duration.ofSeconds(30)), "round-robin");
    List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
    for (int i = 0; i < 20; i++) streams.add(stream(150));
    eventually("20 streams in flight", () -> gateway.inFlight() == 20);

    var done = gateway.drain().toCompletionStage().toCompletableFuture();
    HttpResponse<String> ready = get(gateway.port(), "/ready");
    assertEquals(503, ready.statusCode(), "ready flips at once");
    assertTrue(new JsonObject(ready.body()).getBoolean("draining"));

    eventually("refusing new requests", () -> gateway.drainState().closing());
    HttpResponse<String> late =
        post(gateway.port(), "/v1/chat/completions", chat(MODEL, "x", 4, false));
    assertEquals(503, late.statusCode());
    assertEquals("server_shutting_down", error(late).getString("code"));
    assertEquals("1", late.headers().firstValue("retry-after").orElseThrow());

    done.get(30, java.util.concurrent.TimeUnit.SECONDS);
    for (var f : streams) {
      HttpResponse<String> r = f.get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(200, r.statusCode());
      assertTrue(r.body().trim().endsWith("data: [DONE]"), "every stream finished: " + r.body());
      assertFalse(r.body().contains("\"error\""), r.body());
    }
    assertThrows(Exception.class, () -> get(gateway.port(), "/health"), "closed after the drain");
    gateway = null;
  }

  @Test
  void streamsStillRunningAtTheDeadlineEndWithAnOpenAiErrorEvent() throws Exception {
    start(1, new GatewayConfig.Drain(Duration.ofMillis(50), Duration.ofMillis(300)), "round-robin");
    List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
    for (int i = 0; i < 5; i++) streams.add(stream(4000));
    eventually("streams started", () -> gateway.inFlight() == 5);
    long t0 = System.nanoTime();
    gateway
        .drain()
        .toCompletionStage()
        .toCompletableFuture()
        .get(20, java.util.concurrent.TimeUnit.SECONDS);
    assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "the deadline held");
    for (var f : streams) {
      HttpResponse<String> r = f.get(10, java.util.concurrent.TimeUnit.SECONDS);
      String last = r.body().trim().substring(r.body().trim().lastIndexOf("data: ") + 6);
      JsonObject err = new JsonObject(last).getJsonObject("error");
      assertEquals("server_shutting_down", err.getString("code"), r.body());
      assertEquals("server_error", err.getString("type"));
    }
    gateway = null;
  }

  @Test
  void aDrainedEndpointGetsNoNewRequestsWhileItsStreamFinishes() throws Exception {
    start(2, GatewayConfig.Drain.DEFAULT, "round-robin");
    String drainedId = gateway.route(MODEL).endpoints().get(0).id();
    var running = stream(150);
    eventually("a stream in flight", () -> gateway.inFlight() == 1);

    HttpResponse<String> r =
        admin(
            "/admin/endpoints/drain",
            new JsonObject().put("model", MODEL).put("endpoint", drainedId));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(new JsonObject(r.body()).getBoolean("drained"));
    Set<String> served = new HashSet<>();
    for (int i = 0; i < 10; i++) {
      HttpResponse<String> c =
          post(gateway.port(), "/v1/chat/completions", chat(MODEL, "q" + i, 2, false));
      assertEquals(200, c.statusCode());
      served.add(c.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    }
    assertFalse(served.contains(drainedId), "no new request on the drained endpoint: " + served);
    JsonObject listed = new JsonObject(get(gateway.adminPort(), "/admin/endpoints").body());
    JsonObject ep = listed.getJsonArray("endpoints").getJsonObject(0);
    assertEquals(drainedId, ep.getString("id"));
    assertTrue(ep.getBoolean("drained"));
    assertEquals(1, ep.getInteger("in_flight"), "its stream still runs");
    assertEquals(
        "approximate", ep.getString("index_mode").replace("INDEX_MODE_", "").toLowerCase());
    HttpResponse<String> s = running.get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertTrue(s.body().trim().endsWith("data: [DONE]"), "the running stream finished");

    assertEquals(
        200,
        admin(
                "/admin/endpoints/undrain",
                new JsonObject().put("model", MODEL).put("endpoint", drainedId))
            .statusCode());
    served.clear();
    for (int i = 0; i < 4; i++) {
      served.add(
          post(gateway.port(), "/v1/chat/completions", chat(MODEL, "u" + i, 2, false))
              .headers()
              .firstValue("x-kvgate-endpoint")
              .orElseThrow());
    }
    assertTrue(served.contains(drainedId), "routed again after undrain: " + served);
    HttpResponse<String> unknown =
        admin(
            "/admin/endpoints/drain", new JsonObject().put("model", MODEL).put("endpoint", "nope"));
    assertEquals(404, unknown.statusCode());
    assertEquals("endpoint_not_found", error(unknown).getString("code"));
    assertEquals(400, admin("/admin/endpoints/drain", new JsonObject()).statusCode());
  }

  @Test
  void adminReloadReadsPolicyFilesNowAndReportsRefusals(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("p.yaml");
    Files.writeString(
        policy,
        "name: first\nplugins:\n  - {type: healthy-filter}\n  - {type: round-robin-picker}\n"
            + "profiles:\n  - name: default\n    plugins: [{ref: healthy-filter}, {ref: round-robin-picker}]\n");
    start(1, GatewayConfig.Drain.DEFAULT, policy.toString());
    Files.writeString(
        policy,
        "name: second\nplugins:\n  - {type: healthy-filter}\n  - {type: random-picker}\n"
            + "profiles:\n  - name: default\n    plugins: [{ref: healthy-filter}, {ref: random-picker}]\n");
    HttpResponse<String> ok = admin("/admin/reload", new JsonObject());
    assertEquals(200, ok.statusCode(), ok.body());
    assertTrue(
        new JsonObject(ok.body())
            .getJsonObject("models")
            .getJsonObject(MODEL)
            .getBoolean("reloaded"));
    assertEquals("second", gateway.route(MODEL).router().name());
    Files.writeString(policy, "plugins: [{type: no-such-plugin}]\n");
    HttpResponse<String> bad = admin("/admin/reload", new JsonObject());
    assertEquals(422, bad.statusCode());
    assertTrue(bad.body().contains("no-such-plugin"), bad.body());
  }

  @Test
  void aRequestStillArrivingAtTheDeadlineIsAnswered503NotDropped() throws Exception {
    start(1, new GatewayConfig.Drain(Duration.ofMillis(50), Duration.ofMillis(300)), "round-robin");
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(20_000);
      byte[] body = chat(MODEL, "hello", 4, false).getBytes();
      // The head and a first part of the body: accepted, its body still arriving.
      s.getOutputStream()
          .write(
              ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                      + "content-length: "
                      + body.length
                      + "\r\n\r\n")
                  .getBytes());
      s.getOutputStream().write(body, 0, 10);
      s.getOutputStream().flush();
      eventually("the request is counted in flight", () -> gateway.inFlight() == 1);
      gateway
          .drain()
          .toCompletionStage()
          .toCompletableFuture()
          .get(20, java.util.concurrent.TimeUnit.SECONDS);
      String answer = new String(s.getInputStream().readAllBytes());
      assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
      assertTrue(answer.contains("server_shutting_down"), answer);
    }
    gateway = null;
  }

  @Test
  void theAdminListenerCannotShareTheApiPort() throws Exception {
    int port;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      port = free.getLocalPort();
    }
    GatewayConfig c =
        config(MODEL, List.of("http://127.0.0.1:1"), "round-robin")
            .withListener(new GatewayConfig.Listener("127.0.0.1", port))
            .withAdmin(new GatewayConfig.Admin(true, "127.0.0.1", port));
    Exception e = assertThrows(Exception.class, () -> await(Gateway.start(vertx, c)));
    assertTrue(String.valueOf(e.getCause()).contains("is the API listener's"), e.toString());
  }

  HttpResponse<String> admin(String path, JsonObject body) throws Exception {
    return post(gateway.adminPort(), path, body.encode());
  }
}

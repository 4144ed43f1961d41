package io.kvgate.gateway.pd;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every failure path of both legs, in both protocols, against scripted engines: the request header
 * {@code x-test-prefill} picks how the prefill engine answers, {@code x-test-decode} how the decode
 * engine does. Each scenario checks the client's status, and that every lease on both pools is
 * released and every exchange's outcome recorded exactly once.
 */
class PdLegsTest {

  static Vertx vertx;
  static String prefillUrl;
  static String decodeUrl;
  static final int BOOTSTRAP_PORT = 18998;
  static final AtomicReference<JsonObject> lastPrefillBody = new AtomicReference<>();
  static final AtomicReference<JsonObject> lastDecodeBody = new AtomicReference<>();
  static final AtomicInteger decodeResets = new AtomicInteger();
  static final AtomicInteger prefillResets = new AtomicInteger();
  static final AtomicInteger prefillReceived = new AtomicInteger();
  Gateway gateway;
  double requestsBefore;

  @BeforeAll
  static void engines() throws Exception {
    vertx = Vertx.vertx();
    HttpServer p = vertx.createHttpServer().requestHandler(PdLegsTest::prefill);
    HttpServer d = vertx.createHttpServer().requestHandler(PdLegsTest::decode);
    prefillUrl = "http://127.0.0.1:" + await(p.listen(0, "127.0.0.1")).actualPort();
    decodeUrl = "http://127.0.0.1:" + await(d.listen(0, "127.0.0.1")).actualPort();
  }

  private static boolean common(HttpServerRequest req) {
    switch (req.path()) {
      case "/health" -> req.response().end("ok");
      case "/metrics" -> req.response().end("");
      case "/v1/models" -> req.response().end("{\"object\":\"list\",\"data\":[]}");
      case "/server_info" ->
          req.response()
              .end(
                  new JsonObject()
                      .put("disaggregation_mode", "prefill")
                      .put("disaggregation_bootstrap_port", BOOTSTRAP_PORT)
                      .encode());
      default -> {
        return false;
      }
    }
    return true;
  }

  static final String OK =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":"
          + "{\"prompt_tokens\":5,\"completion_tokens\":1,\"prompt_tokens_details\":"
          + "{\"cached_tokens\":0}}";

  private static void prefill(HttpServerRequest req) {
    if (common(req)) return;
    req.body()
        .onSuccess(
            b -> {
              JsonObject body = new JsonObject(b);
              lastPrefillBody.set(body);
              prefillReceived.incrementAndGet();
              var resp = req.response().putHeader("content-type", "application/json");
              req.connection()
                  .closeHandler(
                      v -> {
                        if (!resp.ended()) prefillResets.incrementAndGet();
                      });
              JsonObject params =
                  new JsonObject()
                      .put("do_remote_prefill", true)
                      .put("do_remote_decode", false)
                      .put("remote_block_ids", List.of(1, 2))
                      .put("remote_engine_id", "e")
                      .put("remote_request_id", "r")
                      .put("remote_host", "127.0.0.1")
                      .put("remote_port", 5600);
              switch (String.valueOf(req.getHeader("x-test-prefill"))) {
                case "ok" -> resp.end(OK + ",\"kv_transfer_params\":" + params.encode() + "}");
                case "incomplete" -> {
                  params.remove("remote_block_ids");
                  resp.end(OK + ",\"kv_transfer_params\":" + params.encode() + "}");
                }
                case "500" -> resp.setStatusCode(500).end("boom");
                case "400" ->
                    resp.setStatusCode(400)
                        .end(
                            "{\"error\":{\"message\":\"too long\",\"type\":\"BadRequestError\","
                                + "\"param\":\"messages\",\"code\":400}}");
                case "reset" -> req.connection().close();
                case "hang" -> {}
                case "late500" -> vertx.setTimer(150, t -> resp.setStatusCode(500).end("late"));
                default -> resp.setStatusCode(418).end("no mode");
              }
            });
  }

  private static void decode(HttpServerRequest req) {
    if (common(req)) return;
    req.body()
        .onSuccess(
            b -> {
              lastDecodeBody.set(new JsonObject(b));
              var resp = req.response();
              // The connection's close handler: Vert.x does not run a response's on a reset.
              req.connection()
                  .closeHandler(
                      v -> {
                        if (!resp.ended()) decodeResets.incrementAndGet();
                      });
              switch (String.valueOf(req.getHeader("x-test-decode"))) {
                case "ok" -> resp.putHeader("content-type", "application/json").end(OK + "}");
                case "slow" ->
                    vertx.setTimer(
                        300,
                        t -> {
                          if (!resp.closed())
                            resp.putHeader("content-type", "application/json").end(OK + "}");
                        });
                case "500" -> resp.setStatusCode(500).end("boom");
                case "reset" -> req.connection().close();
                case "hang" -> {}
                case "midstream" -> {
                  resp.setChunked(true).putHeader("content-type", "text/event-stream");
                  resp.write(
                          "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n")
                      .onComplete(v -> vertx.setTimer(20, t -> req.connection().close()));
                }
                default -> resp.setStatusCode(418).end("no mode");
              }
            });
  }

  @AfterAll
  static void stop() throws Exception {
    await(vertx.close());
  }

  @AfterEach
  void stopGateway() throws Exception {
    if (gateway != null) await(gateway.close());
    gateway = null;
  }

  private void start(GatewayConfig.PdProtocol protocol) throws Exception {
    start(protocol, Duration.ofMillis(400));
  }

  private void start(GatewayConfig.PdProtocol protocol, Duration prefillTimeout) throws Exception {
    GatewayConfig c =
        GatewayConfig.disaggregated(
            "m", protocol, List.of(prefillUrl), List.of(decodeUrl), List.of(), "round-robin");
    GatewayConfig.Model m =
        c.models()
            .get(0)
            .withPd(new GatewayConfig.Pd(protocol, 0, true, 2, prefillTimeout, 1L << 20));
    gateway =
        await(
            Gateway.start(
                vertx,
                config("m", List.of(decodeUrl), "round-robin")
                    .withModels(List.of(m))
                    .withTimeouts(
                        new GatewayConfig.Timeouts(
                            Duration.ofSeconds(2),
                            Duration.ofMillis(400),
                            Duration.ofMillis(400),
                            Duration.ofSeconds(30)))
                    .withHealth(
                        new GatewayConfig.Health(
                            Duration.ofSeconds(30), Duration.ofSeconds(2), 1000))));
    requestsBefore = count("kvgate_requests");
  }

  private double count(String name, String... tags) {
    return gateway.registry().find(name).tags(tags).counters().stream()
        .mapToDouble(c -> c.count())
        .sum();
  }

  private void balanced(String scenario) {
    eventually(
        scenario + ": outcome recorded", () -> count("kvgate_requests") - requestsBefore >= 1);
    assertEquals(1, count("kvgate_requests") - requestsBefore, scenario + ": one outcome");
    eventually(
        scenario + ": every lease released",
        () ->
            gateway.route("m").endpoints().stream()
                .allMatch(
                    e ->
                        e.inFlight() == 0
                            && e.pendingPrefillTokens() == 0
                            && e.activeTokens() == 0
                            && e.decodeTokens() == 0));
    for (EndpointState e : gateway.route("m").endpoints()) {
      assertEquals(0, e.inFlight(), scenario + ": leases open at " + e.id());
    }
  }

  static String body(boolean stream) {
    return new JsonObject()
        .put("model", "m")
        .put("max_tokens", 9)
        .put("stream", stream)
        .put(
            "messages",
            List.of(new JsonObject().put("role", "user").put("content", "hello ".repeat(200))))
        .encode();
  }

  @ParameterizedTest(name = "vllm prefill {0}, decode {1}")
  @CsvSource({
    "ok, ok, 200, true",
    "incomplete, ok, 200, false",
    "500, ok, 200, false",
    "reset, ok, 200, false",
    "hang, ok, 200, false",
    "400, ok, 400, false",
    "ok, 500, 502, true",
    "ok, reset, 502, true",
    "ok, hang, 504, true",
    "ok, midstream, 200, true",
  })
  void vllm(String prefillMode, String decodeMode, int status, boolean disaggregated)
      throws Exception {
    start(GatewayConfig.PdProtocol.VLLM);
    lastDecodeBody.set(null);
    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            body(decodeMode.equals("midstream")),
            "x-test-prefill",
            prefillMode,
            "x-test-decode",
            decodeMode);
    assertEquals(status, r.statusCode(), r.body());
    String scenario = prefillMode + "/" + decodeMode;
    balanced(scenario);
    if (status == 400) {
      assertEquals("too long", error(r).getString("message"));
      return;
    }
    JsonObject p = lastPrefillBody.get();
    assertEquals(false, p.getBoolean("stream"));
    assertEquals(1, p.getInteger("max_tokens"));
    assertEquals(1, p.getInteger("max_completion_tokens"));
    assertTrue(p.getJsonObject("kv_transfer_params").getBoolean("do_remote_decode"));
    JsonObject d = lastDecodeBody.get();
    assertNotNull(d, scenario);
    assertEquals(9, d.getInteger("max_tokens"), "the decode leg keeps the client's limit");
    assertEquals(disaggregated, d.containsKey("kv_transfer_params"), scenario);
    if (disaggregated) {
      assertEquals("r", d.getJsonObject("kv_transfer_params").getString("remote_request_id"));
    }
    if (prefillMode.equals("incomplete")) {
      assertEquals(1, count("kvgate_pd_transfer_incomplete"));
    }
    if (!disaggregated) {
      assertEquals(
          1, count("kvgate_pd_fallbacks", "reason", "prefill_failed", "action", "aggregate"));
    }
  }

  @org.junit.jupiter.api.Test
  void aClientLeavingDuringThePrefillLegEndsItAndReleasesEverything() throws Exception {
    for (GatewayConfig.PdProtocol protocol : GatewayConfig.PdProtocol.values()) {
      // Prefill legs may take long here: the client leaves first.
      start(protocol, Duration.ofMinutes(1));
      int before = prefillResets.get();
      int received = prefillReceived.get();
      byte[] payload = body(false).getBytes(java.nio.charset.StandardCharsets.UTF_8);
      try (java.net.Socket client = new java.net.Socket("127.0.0.1", gateway.port())) {
        client
            .getOutputStream()
            .write(
                ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        + "content-type: application/json\r\nx-test-prefill: hang\r\n"
                        + "x-test-decode: hang\r\ncontent-length: "
                        + payload.length
                        + "\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        client.getOutputStream().write(payload);
        client.getOutputStream().flush();
        // The client leaves once its prefill leg is running.
        eventually(protocol + ": prefill leg sent", () -> prefillReceived.get() > received);
      }
      balanced(protocol + ": client gone");
      eventually(protocol + ": prefill leg reset", () -> prefillResets.get() > before);
      assertEquals(1, count("kvgate_requests", "status", "499"), protocol.toString());
      await(gateway.close());
      gateway = null;
    }
  }

  @ParameterizedTest(name = "sglang prefill {0}, decode {1}")
  @CsvSource({
    "ok, ok, 200, true",
    "500, slow, 200, false",
    "late500, slow, 200, false",
    "400, slow, 400, false",
    "ok, 500, 502, true",
    "ok, hang, 504, true",
  })
  void sglang(String prefillMode, String decodeMode, int status, boolean disaggregated)
      throws Exception {
    start(GatewayConfig.PdProtocol.SGLANG);
    lastDecodeBody.set(null);
    int resetsBefore = decodeResets.get();
    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            body(false),
            "x-test-prefill",
            prefillMode,
            "x-test-decode",
            decodeMode);
    assertEquals(status, r.statusCode(), r.body());
    String scenario = prefillMode + "/" + decodeMode;
    balanced(scenario);
    if (status != 200) return;
    JsonObject d = lastDecodeBody.get();
    assertEquals(disaggregated, d.containsKey("bootstrap_room"), scenario);
    if (disaggregated) {
      JsonObject p = lastPrefillBody.get();
      assertEquals("127.0.0.1", d.getString("bootstrap_host"));
      assertEquals(BOOTSTRAP_PORT, d.getInteger("bootstrap_port"), "discovered at /server_info");
      assertEquals(p.getLong("bootstrap_room"), d.getLong("bootstrap_room"), "one room per pair");
      assertTrue(d.getLong("bootstrap_room") >= 0);
      assertEquals(9, p.getInteger("max_tokens"), "SGLang's prefill gets the client's body");
    } else if (prefillMode.equals("late500")) {
      // The decode attempt paired with the failed prefill had been sent: it was abandoned (reset)
      // before the request was served whole.
      eventually("decode attempt reset", () -> decodeResets.get() > resetsBefore);
    }
  }
}

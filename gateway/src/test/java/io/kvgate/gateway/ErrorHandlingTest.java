package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bad input gets a clear OpenAI-shaped error with the right status, and the gateway keeps serving.
 */
class ErrorHandlingTest {

  static Vertx vertx;
  static SimFleet fleet;
  static Gateway gateway;
  static final String MODEL = "m";

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(
            SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(50).build(), 2, 0));
    gateway =
        await(
            Gateway.start(
                vertx,
                config(MODEL, fleet.urls(), "round-robin")
                    .withLimits(new io.kvgate.gateway.config.GatewayConfig.Limits(64 * 1024, 3))));
  }

  @AfterAll
  static void stop() throws Exception {
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
  }

  private static JsonObject expect(int status, HttpResponse<String> r) {
    assertEquals(status, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
    return error(r);
  }

  @Test
  void malformedJsonIs400() throws Exception {
    JsonObject e =
        expect(
            400,
            post(gateway.port(), "/v1/chat/completions", "{\"model\": \"m\", \"messages\": ["));
    assertEquals("invalid_request_error", e.getString("type"));
    assertTrue(e.getString("message").contains("not valid JSON"), e.getString("message"));
  }

  @Test
  void wrongTypesNameTheParam() throws Exception {
    assertEquals(
        "model",
        expect(
                400,
                post(gateway.port(), "/v1/chat/completions", "{\"model\": 7, \"messages\": []}"))
            .getString("param"));
    assertEquals(
        "messages",
        expect(
                400,
                post(
                    gateway.port(),
                    "/v1/chat/completions",
                    "{\"model\": \"m\", \"messages\": \"hi\"}"))
            .getString("param"));
    assertEquals(
        "messages[0].role",
        expect(
                400,
                post(
                    gateway.port(),
                    "/v1/chat/completions",
                    "{\"model\": \"m\", \"messages\": [{\"content\": \"hi\"}]}"))
            .getString("param"));
    assertEquals(
        "max_tokens",
        expect(
                400,
                post(
                    gateway.port(),
                    "/v1/chat/completions",
                    "{\"model\": \"m\", \"max_tokens\": -1, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"))
            .getString("param"));
    assertEquals(
        "stream",
        expect(
                400,
                post(
                    gateway.port(),
                    "/v1/chat/completions",
                    "{\"model\": \"m\", \"stream\": \"yes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"))
            .getString("param"));
    assertEquals(
        "prompt",
        expect(400, post(gateway.port(), "/v1/completions", "{\"model\": \"m\", \"prompt\": 3}"))
            .getString("param"));
    assertEquals(
        "model",
        expect(400, post(gateway.port(), "/v1/completions", "{\"prompt\": \"x\"}"))
            .getString("param"));
    expect(400, post(gateway.port(), "/v1/chat/completions", "[1, 2]"));
  }

  @Test
  void otherPathsWithAModelAreForwarded() throws Exception {
    // The simulated engine has no /tokenize: its 404 comes back untouched, from the engine.
    HttpResponse<String> r =
        post(gateway.port(), "/tokenize", "{\"model\": \"m\", \"prompt\": \"hello\"}");
    assertEquals(404, r.statusCode());
    assertTrue(r.headers().firstValue("x-kvgate-endpoint").isPresent(), "reached an engine");
  }

  @Test
  void unknownModelIs404WithAHint() throws Exception {
    JsonObject e =
        expect(404, post(gateway.port(), "/v1/chat/completions", chat("nope", "hi", 4, false)));
    assertEquals("model_not_found", e.getString("code"));
    assertTrue(e.getString("message").contains("GET /v1/models"));
  }

  @Test
  void unknownRouteIs404() throws Exception {
    expect(404, get(gateway.port(), "/v2/whatever"));
    expect(404, post(gateway.port(), "/v1/something", "{\"no_model\": true}"));
    expect(404, post(gateway.port(), "/tokenize", "{\"prompt\": \"no model\"}"));
  }

  @Test
  void declaredOversizedBodyIs413BeforeReadingIt() throws Exception {
    // Declare 10 MiB but send only the head: the gateway must answer without waiting for the rest.
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + "Content-Length: 10485760\r\n\r\n{\"model\":")
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      // Read the response by its Content-Length: the connection itself stays open a little
      // while after it (the lingering close waits for the body the client announced).
      InputStream in = s.getInputStream();
      String head = readHead(in);
      assertTrue(head.startsWith("HTTP/1.1 413"), head);
      assertTrue(head.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), head);
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("(?i)content-length: (\\d+)").matcher(head);
      assertTrue(m.find(), head);
      String body = new String(in.readNBytes(Integer.parseInt(m.group(1))), StandardCharsets.UTF_8);
      assertTrue(body.contains("\"request_too_large\""), body);
    }
  }

  /** The status line and headers of an HTTP/1.1 response, up to the blank line. */
  private static String readHead(InputStream in) throws java.io.IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) break;
      head.append((char) b);
    }
    return head.toString();
  }

  @Test
  void chunkedOversizedBodyIs413() throws Exception {
    // A client still writing a body far over the limit must read the 413, not a reset: the gateway
    // drains the rest before closing (lingering close). Repeated, because a reset is a race.
    String big = "x".repeat(2 * 1024 * 1024);
    byte[] body = chat(MODEL, big, 4, false).getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < 20; i++) {
      HttpResponse<String> r =
          TestSupport.HTTP.send(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create(
                          "http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
                  .header("content-type", "application/json")
                  .POST(
                      java.net.http.HttpRequest.BodyPublishers.ofInputStream(
                          () -> new java.io.ByteArrayInputStream(body)))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      expect(413, r);
    }
  }

  @Test
  void gatewayKeepsServingAfterBadInput() throws Exception {
    for (int i = 0; i < 5; i++) post(gateway.port(), "/v1/chat/completions", "{{{");
    HttpResponse<String> ok =
        post(gateway.port(), "/v1/chat/completions", chat(MODEL, "hello", 4, false));
    assertEquals(200, ok.statusCode(), ok.body());
    assertNotNull(ok.headers().firstValue("x-kvgate-endpoint").orElse(null));
    assertNotNull(ok.headers().firstValue("x-request-id").orElse(null));
  }

  @Test
  void aPolicyThatPredictsNothingIsNotCheckedAgainstTheEngines() throws Exception {
    // round-robin never consults the prefix index, so the engines' cached tokens have nothing to
    // agree or disagree with: no agreement gauge, no "predictions disagree" warning.
    String prompt = "A shared document. ".repeat(400);
    for (int i = 0; i < 4; i++)
      assertEquals(
          200,
          post(gateway.port(), "/v1/chat/completions", chat(MODEL, prompt, 2, false)).statusCode());
    String metrics = get(gateway.adminPort(), "/metrics").body();
    assertFalse(metrics.contains("kvgate_prefix_prediction_agreement_ratio"), metrics);
    assertTrue(metrics.contains("kvgate_requests_total"));
  }

  @Test
  void requestIdIsPassedThrough() throws Exception {
    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            chat(MODEL, "hello", 4, false),
            "x-request-id",
            "abc-123");
    assertEquals("abc-123", r.headers().firstValue("x-request-id").orElseThrow());
  }

  @Test
  void ejectedFleetIs503() throws Exception {
    gateway.route(MODEL).endpoints().forEach(e -> e.setHealthy(false));
    try {
      JsonObject e =
          expect(503, post(gateway.port(), "/v1/chat/completions", chat(MODEL, "hi", 4, false)));
      assertEquals("server_error", e.getString("type"));
      assertEquals("no_healthy_endpoint", e.getString("code"));
    } finally {
      gateway.route(MODEL).endpoints().forEach(e -> e.setHealthy(true));
    }
    assertEquals(
        200,
        post(gateway.port(), "/v1/chat/completions", chat(MODEL, "hi", 4, false)).statusCode());
  }

  @Test
  void deadFleetIsEjectedAndNotReady() throws Exception {
    // Port 1 (tcpmux) is outside the ephemeral range: no server of this JVM can bind it between
    // the test's start and its checks, as one could reuse a port just closed.
    int dead = 1;
    Gateway g =
        await(
            Gateway.start(
                vertx,
                config(MODEL, java.util.List.of("http://127.0.0.1:" + dead), "round-robin")
                    .withHealth(
                        new io.kvgate.gateway.config.GatewayConfig.Health(
                            java.time.Duration.ofMillis(100),
                            java.time.Duration.ofMillis(500),
                            1))));
    try {
      long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
      while (get(g.port(), "/ready").statusCode() != 503) {
        if (System.nanoTime() > deadline) fail("a fleet of one dead endpoint never became unready");
        CompletableFutureSupport.yieldTo(vertx);
      }
      JsonObject e =
          expect(503, post(g.port(), "/v1/chat/completions", chat(MODEL, "hi", 4, false)));
      assertEquals("no_healthy_endpoint", e.getString("code"));
      assertTrue(
          get(g.adminPort(), "/metrics")
              .body()
              .contains("kvgate_endpoint_health_transitions_total"));
    } finally {
      await(g.close());
    }
  }

  @Test
  void modelsListsConfiguredModels() throws Exception {
    HttpResponse<String> r = get(gateway.port(), "/v1/models");
    assertEquals(200, r.statusCode());
    JsonObject body = new JsonObject(r.body());
    assertEquals("list", body.getString("object"));
    assertTrue(
        body.getJsonArray("data").stream()
            .anyMatch(o -> MODEL.equals(((JsonObject) o).getString("id"))));
    assertEquals(200, get(gateway.port(), "/health").statusCode());
  }
}

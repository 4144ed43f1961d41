package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.http.ParseBudget;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The per-request parse limits and the gateway-wide parse budget, as a client sees them: 400s that
 * name the limit, a large body that waits for the budget and is then served, a 503 with {@code
 * Retry-After} after the queue timeout, small bodies that never wait; and the metrics that show it.
 */
class ParseLimitsTest {

  static final String MODEL = "m";

  /** Bodies of at least this many bytes are parsed on a worker thread and take from the budget. */
  static final long OFFLOAD = 2048;

  static final long BUDGET = 64 * 1024;

  static Vertx vertx;
  static SimFleet fleet;
  static Gateway gateway;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 1, 0));
    GatewayConfig c = config(MODEL, fleet.urls(), "round-robin");
    gateway =
        await(
            Gateway.start(
                vertx,
                c.withLimits(
                    new GatewayConfig.Limits(1 << 20, 3, OFFLOAD)
                        .withParse(
                            new GatewayConfig.ParseLimits(
                                5, 6, 50_000, 10_000, BUDGET, Duration.ofMillis(300))))));
  }

  @AfterAll
  static void stop() throws Exception {
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
  }

  static double refusals(String reason) {
    var c = gateway.registry().find("kvgate_parse_refusals").tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  static double gauge(String name) {
    return gateway.registry().find(name).gauge().value();
  }

  /** A chat body of {@code n} messages whose contents make it about {@code bytes} long. */
  static String body(int n, int bytes) {
    JsonArray messages = new JsonArray();
    for (int i = 0; i < n; i++) {
      messages.add(
          new JsonObject().put("role", "user").put("content", "x".repeat(Math.max(1, bytes / n))));
    }
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", 2)
        .put("messages", messages)
        .encode();
  }

  static CompletableFuture<HttpResponse<String>> postAsync(String body) {
    return HTTP.sendAsync(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(30))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void eachLimitIsA400NamingItAndCounted() throws Exception {
    double before = refusals("too_many_messages");
    HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", body(6, 60));
    assertEquals(400, r.statusCode(), r.body());
    JsonObject e = error(r);
    assertEquals("invalid_request_error", e.getString("type"));
    assertEquals("too_many_messages", e.getString("code"));
    assertEquals("messages", e.getString("param"));
    assertEquals(before + 1, refusals("too_many_messages"));

    JsonArray parts = new JsonArray();
    for (int i = 0; i < 7; i++) parts.add(new JsonObject().put("type", "text").put("text", "p"));
    String manyParts =
        new JsonObject()
            .put("model", MODEL)
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", parts)))
            .encode();
    r = post(gateway.port(), "/v1/chat/completions", manyParts);
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("too_many_content_parts", error(r).getString("code"));
    assertEquals(1, refusals("too_many_content_parts"));

    // Over the prompt limit and over the offload threshold: refused on the worker thread.
    r = post(gateway.port(), "/v1/chat/completions", body(2, 60_000));
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("prompt_too_long", error(r).getString("code"));
    assertTrue(error(r).getString("message").contains("limits.maxPromptChars"));
    assertEquals(1, refusals("prompt_too_long"));

    // At the limits: served.
    assertEquals(200, post(gateway.port(), "/v1/chat/completions", body(5, 40_000)).statusCode());
    eventually("the budget is free again", () -> gauge("kvgate_parse_budget_in_use_bytes") == 0);
  }

  @Test
  void aLargeBodyWaitsForTheBudgetThenIsServedWhileSmallOnesPass() throws Exception {
    ParseBudget budget = gateway.parseBudget();
    assertEquals(BUDGET, gauge("kvgate_parse_budget_bytes"));
    ParseBudget.Permit held = await(budget.acquire(BUDGET - 1000));
    try {
      assertEquals(BUDGET - 1000, gauge("kvgate_parse_budget_in_use_bytes"));
      CompletableFuture<HttpResponse<String>> large = postAsync(body(2, 20_000));
      eventually("the large body waits", () -> gauge("kvgate_parse_waiting_requests") == 1);
      // A body under the offload threshold is parsed on its event loop: it does not wait.
      HttpResponse<String> small = post(gateway.port(), "/v1/chat/completions", body(1, 100));
      assertEquals(200, small.statusCode(), small.body());
      assertFalse(large.isDone(), "the large body still waits");
      held.release();
      held = null;
      HttpResponse<String> served = large.get(20, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(200, served.statusCode(), served.body());
      assertEquals(0, gauge("kvgate_parse_waiting_requests"));
      eventually("the budget is free again", () -> gauge("kvgate_parse_budget_in_use_bytes") == 0);
    } finally {
      if (held != null) held.release();
    }
  }

  @Test
  void aBodyThatWaitsPastTheQueueTimeoutGets503WithRetryAfter() throws Exception {
    ParseBudget budget = gateway.parseBudget();
    double before = refusals("queue_timeout");
    ParseBudget.Permit held = await(budget.acquire(BUDGET));
    try {
      HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", body(1, 10_000));
      assertEquals(503, r.statusCode(), r.body());
      JsonObject e = error(r);
      assertEquals("server_error", e.getString("type"));
      assertEquals("server_busy", e.getString("code"));
      assertTrue(e.getString("message").contains("300ms"), e.getString("message"));
      assertEquals("1", r.headers().firstValue("retry-after").orElse(null));
      assertEquals(before + 1, refusals("queue_timeout"));
      assertEquals(0, gauge("kvgate_parse_waiting_requests"));
    } finally {
      held.release();
    }
    assertEquals(200, post(gateway.port(), "/v1/chat/completions", body(1, 10_000)).statusCode());
  }

  @Test
  void aBodyLargerThanTheBudgetIsChargedTheWholeBudgetAndServed() throws Exception {
    // Fields kvgate does not read are skipped, not counted: a body of 5,000 tools is within every
    // limit, and at over 64 KiB it is larger than the budget, so it parses alone.
    JsonArray tools = new JsonArray();
    for (int i = 0; i < 5_000; i++) tools.add(new JsonObject().put("type", "function").put("i", i));
    String withTools = new JsonObject(body(1, 100)).put("tools", tools).encode();
    assertTrue(withTools.length() > BUDGET, "the body is larger than the budget");
    HttpResponse<String> ok = post(gateway.port(), "/v1/chat/completions", withTools);
    assertEquals(200, ok.statusCode(), ok.body());
    eventually("the budget is free again", () -> gauge("kvgate_parse_budget_in_use_bytes") == 0);
  }

  @Test
  void nonJsonContentTypesAre415() throws Exception {
    for (String type :
        new String[] {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data"}) {
      HttpResponse<String> r = postAs(type, body(1, 10));
      assertEquals(415, r.statusCode(), r.body());
      assertEquals("invalid_request_error", error(r).getString("type"));
      assertEquals("unsupported_media_type", error(r).getString("code"));
    }
    for (String type : new String[] {"application/json; charset=utf-8", "application/vnd.x+json"}) {
      assertEquals(200, postAs(type, body(1, 10)).statusCode(), type);
    }
  }

  static HttpResponse<String> postAs(String contentType, String body) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(30))
            .header("content-type", contentType)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }
}

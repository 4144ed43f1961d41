package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyHash;
import io.kvgate.gateway.auth.RateLimits;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Client keys as a client meets them: 401 without a configured key, a model outside the key's
 * allow-list looks absent, priority only from keys allowed to set one, {@code /metrics} only for
 * admin keys, and rate limits answered 429 with OpenAI's headers.
 */
class AuthTest {

  static final String ALL = "sk-test-all-models-0001";
  static final String ONLY_A = "sk-test-only-model-a-02";
  static final String PRIO = "sk-test-priority-key-03";
  static final String ADMIN = "sk-test-admin-key-00004";
  static final String SLOW = "sk-test-rate-limited-05";
  static final String TOKENS = "sk-test-token-limited-6";

  Vertx vertx = Vertx.vertx();
  Gateway gateway;
  final List<JsonObject> bodies = new CopyOnWriteArrayList<>();
  final AtomicLong completionTokens = new AtomicLong(3);
  final AtomicLong promptTokens = new AtomicLong(5);

  @BeforeEach
  void start() throws Exception {
    int port =
        await(
                vertx
                    .createHttpServer()
                    .requestHandler(
                        req -> {
                          if (!req.path().startsWith("/v1/")) {
                            req.response().end(req.path().equals("/v1/models") ? "{}" : "");
                            return;
                          }
                          req.body()
                              .onSuccess(
                                  b -> {
                                    JsonObject body = b.toJsonObject();
                                    bodies.add(body);
                                    req.response()
                                        .putHeader("content-type", "application/json")
                                        .end(
                                            new JsonObject()
                                                .put("id", "x")
                                                .put("model", body.getString("model"))
                                                .put("choices", new JsonArray())
                                                .put(
                                                    "usage",
                                                    new JsonObject()
                                                        .put("prompt_tokens", promptTokens.get())
                                                        .put(
                                                            "completion_tokens",
                                                            completionTokens.get()))
                                                .encode());
                                  });
                        })
                    .listen(0, "127.0.0.1"))
            .actualPort();
    String url = "http://127.0.0.1:" + port;
    List<Endpoint> eps = List.of(Endpoint.of("a", URI.create(url)));
    List<Endpoint> epsB = List.of(Endpoint.of("b", URI.create(url)));
    GatewayConfig base = config("a", List.of(url), "round-robin");
    List<ApiKey> keys =
        List.of(
            key("all", "team-x", ALL, Set.of(), RateLimits.INHERIT, false, false),
            key("only-a", "team-y", ONLY_A, Set.of("a"), RateLimits.INHERIT, false, false),
            key("prio", "team-x", PRIO, Set.of(), RateLimits.INHERIT, true, false),
            key("ops", "ops", ADMIN, Set.of(), RateLimits.INHERIT, false, true),
            // One request per 100 s: the second one in a test is refused whatever the timing.
            key("slow", "team-z", SLOW, Set.of(), new RateLimits(0.01, 0), false, false),
            key("tokens", "team-z", TOKENS, Set.of(), new RateLimits(0, 1000), false, false));
    gateway =
        await(
            Gateway.start(
                vertx,
                base.withModels(
                        List.of(
                            new GatewayConfig.Model("a", "round-robin", Set.of(), eps),
                            new GatewayConfig.Model("b", "round-robin", Set.of(), epsB)))
                    .withAuth(new GatewayConfig.Auth(keys, RateLimits.NONE))));
  }

  static ApiKey key(
      String name,
      String tenant,
      String key,
      Set<String> models,
      RateLimits limits,
      boolean priority,
      boolean admin) {
    return new ApiKey(name, tenant, KeyHash.of(key), models, limits, priority, admin);
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
  }

  HttpResponse<String> chatAs(String key, String model, String... headers) throws Exception {
    String[] h = new String[headers.length + 2];
    h[0] = "authorization";
    h[1] = "Bearer " + key;
    System.arraycopy(headers, 0, h, 2, headers.length);
    return post(gateway.port(), "/v1/chat/completions", chat(model, "hello", 8, false), h);
  }

  HttpResponse<String> getAs(int port, String path, String key) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(30));
    if (key != null) b.header("authorization", "Bearer " + key);
    return HTTP.send(b.GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void requestsWithoutAValidKeyAre401InOpenAisShape() throws Exception {
    HttpResponse<String> none =
        post(gateway.port(), "/v1/chat/completions", chat("a", "x", 4, false));
    assertEquals(401, none.statusCode());
    assertEquals("missing_api_key", error(none).getString("code"));
    assertEquals("invalid_request_error", error(none).getString("type"));

    HttpResponse<String> wrong = chatAs("sk-not-a-configured-key", "a");
    assertEquals(401, wrong.statusCode());
    assertEquals("invalid_api_key", error(wrong).getString("code"));
    assertFalse(wrong.body().contains("sk-not-a-configured-key"), "the key is not echoed");

    assertEquals(401, getAs(gateway.port(), "/v1/models", null).statusCode());
    assertEquals(200, getAs(gateway.port(), "/health", null).statusCode(), "probes stay open");
    assertEquals(200, chatAs(ALL, "a").statusCode());
    assertEquals(200, chatAs(ALL, "b").statusCode());
    assertEquals(2, bodies.size(), "only the authenticated requests reached the engine");
  }

  @Test
  void aModelOutsideTheAllowListLooksAbsent() throws Exception {
    assertEquals(200, chatAs(ONLY_A, "a").statusCode());
    HttpResponse<String> b = chatAs(ONLY_A, "b");
    assertEquals(404, b.statusCode());
    assertEquals("model_not_found", error(b).getString("code"));
    JsonArray listed =
        new JsonObject(getAs(gateway.port(), "/v1/models", ONLY_A).body()).getJsonArray("data");
    assertEquals(List.of("a"), listed.stream().map(m -> ((JsonObject) m).getString("id")).toList());
    assertEquals(404, getAs(gateway.port(), "/v1/models/b", ONLY_A).statusCode());
    assertEquals(200, getAs(gateway.port(), "/v1/models/b", ALL).statusCode());
  }

  @Test
  void priorityOnlyFromKeysAllowedToSetIt() throws Exception {
    HttpResponse<String> refused = chatAs(ALL, "a", "x-kvgate-priority", "-5");
    assertEquals(403, refused.statusCode());
    assertEquals("priority_not_allowed", error(refused).getString("code"));
    assertEquals("permission_error", error(refused).getString("type"));
    HttpResponse<String> inBody =
        post(
            gateway.port(),
            "/v1/chat/completions",
            new JsonObject(chat("a", "x", 4, false)).put("priority", -9).encode(),
            "authorization",
            "Bearer " + ALL);
    assertEquals(403, inBody.statusCode(), "a priority in the body is refused as well");
    assertEquals("priority", error(inBody).getString("param"));
    assertTrue(bodies.isEmpty());

    assertEquals(200, chatAs(PRIO, "a", "x-kvgate-priority", "-5").statusCode());
    assertEquals(-5, bodies.get(0).getInteger("priority"), "the engine gets the priority");
    assertEquals(
        "hello", bodies.get(0).getJsonArray("messages").getJsonObject(0).getString("content"));
    assertEquals(400, chatAs(PRIO, "a", "x-kvgate-priority", "high").statusCode());
  }

  @Test
  void metricsAndAdminNeedAnAdminKey() throws Exception {
    assertEquals(200, chatAs(ALL, "a").statusCode());
    assertEquals(404, getAs(gateway.port(), "/metrics", ALL).statusCode());
    assertEquals(404, getAs(gateway.port(), "/metrics", null).statusCode());
    HttpResponse<String> scrape = getAs(gateway.port(), "/metrics", ADMIN);
    assertEquals(200, scrape.statusCode());
    // The admin listener asks for the admin key too, once an admin key exists.
    assertEquals(401, getAs(gateway.adminPort(), "/metrics", null).statusCode());
    assertEquals(401, getAs(gateway.adminPort(), "/metrics", ALL).statusCode());
    assertEquals(200, getAs(gateway.adminPort(), "/ready", null).statusCode(), "probes stay open");
    String metrics = getAs(gateway.adminPort(), "/metrics", ADMIN).body();
    assertTrue(metrics.contains("kvgate_tenant_requests_total{tenant=\"team-x\"} 1.0"), metrics);
    assertTrue(metrics.contains("kvgate_auth_refused_total"), metrics);
    for (String secret : List.of(ALL, ONLY_A, PRIO, ADMIN, SLOW, TOKENS)) {
      assertFalse(metrics.contains(secret), "no key in the metrics");
    }
  }

  @Test
  void requestRateLimitIs429WithRetryAfterAndOpenAisHeaders() throws Exception {
    HttpResponse<String> first = chatAs(SLOW, "a");
    assertEquals(200, first.statusCode());
    assertEquals("1", first.headers().firstValue("x-ratelimit-limit-requests").orElseThrow());
    assertEquals("0", first.headers().firstValue("x-ratelimit-remaining-requests").orElseThrow());
    HttpResponse<String> second = chatAs(SLOW, "a");
    assertEquals(429, second.statusCode(), second.body());
    assertEquals("rate_limit_exceeded", error(second).getString("code"));
    assertEquals("requests", error(second).getString("type"));
    long retryAfter = Long.parseLong(second.headers().firstValue("retry-after").orElseThrow());
    assertTrue(retryAfter > 1 && retryAfter <= 100, "retry-after " + retryAfter);
    assertTrue(second.headers().firstValue("x-ratelimit-reset-requests").isPresent());
    assertEquals(1, bodies.size(), "the refused request never reached the engine");
    assertEquals(200, chatAs(ALL, "a").statusCode(), "other keys are not limited");
  }

  @Test
  void tokenLimitChargesCompletionsAndRefusesWhileInDebt() throws Exception {
    completionTokens.set(5000);
    HttpResponse<String> first = chatAs(TOKENS, "a");
    assertEquals(200, first.statusCode());
    // 1000 tokens a minute, 5000 completion tokens charged: in debt for about four minutes.
    HttpResponse<String> second = chatAs(TOKENS, "a");
    assertEquals(429, second.statusCode(), second.body());
    assertEquals("tokens", error(second).getString("type"));
    assertEquals("0", second.headers().firstValue("x-ratelimit-remaining-tokens").orElseThrow());
    long retryAfter = Long.parseLong(second.headers().firstValue("retry-after").orElseThrow());
    assertTrue(retryAfter > 60, "retry-after " + retryAfter);
    assertEquals(1, bodies.size());
  }

  @Test
  void theEnginesPromptCountReconcilesTheEstimate() throws Exception {
    // A short message whose request carries what kvgate does not count (a large tools schema,
    // say): the engine reports 5000 prompt tokens, and the key is charged for them.
    promptTokens.set(5000);
    completionTokens.set(0);
    assertEquals(200, chatAs(TOKENS, "a").statusCode());
    HttpResponse<String> next = chatAs(TOKENS, "a");
    assertEquals(429, next.statusCode(), next.body());
    assertEquals("tokens", error(next).getString("type"));
  }

  @Test
  void aPromptLargerThanTheTokenBudgetIsRefusedWithoutRetryAfter() throws Exception {
    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            chat("a", "word ".repeat(2000), 4, false),
            "authorization",
            "Bearer " + TOKENS);
    assertEquals(429, r.statusCode(), r.body());
    assertTrue(error(r).getString("message").contains("Request too large"), r.body());
    assertTrue(r.headers().firstValue("retry-after").isEmpty(), "waiting would not help");
    assertTrue(bodies.isEmpty());
  }
}

package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Through the real gateway and simulated engines: shared prefixes stick, overloaded endpoints are
 * avoided. {@link PrefixRoutingOffloadedTest} runs the same with every body parsed and keyed, and
 * every index write made, on worker threads (the long-prompt path).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrefixRoutingTest {

  static final String MODEL = "m";
  Vertx vertx;
  SimFleet fleet;
  Gateway gateway;

  /** Bodies at least this long are parsed and keyed off the event loop. */
  long offloadBodyBytes() {
    return GatewayConfig.Limits.DEFAULT.offloadBodyBytes();
  }

  @BeforeAll
  void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(
            SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(50).build(), 4, 0));
    gateway =
        await(
            Gateway.start(
                vertx,
                config(MODEL, fleet.urls(), "cache-aware")
                    .withLimits(
                        new GatewayConfig.Limits(
                            GatewayConfig.Limits.DEFAULT.maxBodyBytes(),
                            GatewayConfig.Limits.DEFAULT.maxAttempts(),
                            offloadBodyBytes()))));
  }

  @AfterAll
  void stop() throws Exception {
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
  }

  private static String body(String system, String question) {
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", 2)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "system").put("content", system))
                .add(new JsonObject().put("role", "user").put("content", question)))
        .encode();
  }

  private static long cachedTokens(HttpResponse<String> r) {
    return new JsonObject(r.body())
        .getJsonObject("usage")
        .getJsonObject("prompt_tokens_details")
        .getLong("cached_tokens");
  }

  @Test
  void sharedPrefixLandsOnTheSameEndpointAndHitsItsCache() throws Exception {
    String system = "Tenant A handbook: always answer in French. ".repeat(300);
    HttpResponse<String> first = post(gateway.port(), "/v1/chat/completions", body(system, "q1"));
    assertEquals(200, first.statusCode(), first.body());
    String endpoint = first.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    for (int i = 2; i <= 4; i++) {
      HttpResponse<String> next =
          post(gateway.port(), "/v1/chat/completions", body(system, "q" + i));
      assertEquals(endpoint, next.headers().firstValue("x-kvgate-endpoint").orElseThrow());
      assertTrue(cachedTokens(next) > 3000, "engine-reported cached tokens: " + cachedTokens(next));
      // The gateway says what it expected the engine to hold; here the engine holds all of it.
      long predicted =
          Long.parseLong(
              next.headers().firstValue("x-kvgate-predicted-cached-tokens").orElseThrow());
      assertTrue(
          predicted > 3000 && Math.abs(predicted - cachedTokens(next)) <= 16,
          "predicted " + predicted + ", engine " + cachedTokens(next));
    }
  }

  @Test
  void anOverloadedEndpointIsAvoidedEvenWithTheBestPrefix() throws Exception {
    String system = "Tenant B handbook: answer with haiku only. ".repeat(300);
    HttpResponse<String> first = post(gateway.port(), "/v1/chat/completions", body(system, "q1"));
    String holder = first.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    EndpointState hot =
        gateway.route(MODEL).endpoints().stream()
            .filter(e -> e.id().equals(holder))
            .findFirst()
            .orElseThrow();
    EndpointState.Lease burden = hot.acquire(5_000_000);
    try {
      HttpResponse<String> next = post(gateway.port(), "/v1/chat/completions", body(system, "q2"));
      assertEquals(200, next.statusCode());
      assertNotEquals(holder, next.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    } finally {
      burden.release();
    }
  }

  @Test
  void differentTenantsSpreadAcrossTheFleet() throws Exception {
    java.util.Set<String> used = new java.util.HashSet<>();
    for (int t = 0; t < 12; t++) {
      HttpResponse<String> r =
          post(
              gateway.port(),
              "/v1/chat/completions",
              body(("Tenant " + t + " rules. ").repeat(400), "hello"));
      used.add(r.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    }
    assertTrue(used.size() >= 3, "12 distinct prefixes should not pile onto " + used);
  }

  @Test
  void predictionAgreementIsExported() throws Exception {
    String system = "Tenant C: long shared document. ".repeat(300);
    post(gateway.port(), "/v1/chat/completions", body(system, "a"));
    post(gateway.port(), "/v1/chat/completions", body(system, "b"));
    String metrics = get(gateway.adminPort(), "/metrics").body();
    assertTrue(
        metrics.contains("kvgate_prefix_reported_cached_tokens_total{model=\"m\"}"), metrics);
    assertTrue(metrics.contains("kvgate_prefix_predicted_cached_tokens_total{model=\"m\"}"));
    assertTrue(metrics.contains("kvgate_prefix_prediction_agreement_ratio{model=\"m\"}"), metrics);
    assertTrue(metrics.contains("kvgate_requests_total{endpoint="));
    assertTrue(metrics.contains("kvgate_time_to_first_byte_seconds_bucket"));
    assertTrue(metrics.contains("jvm_memory_used_bytes"));
    // The second request's system prompt was recognised, not hashed again.
    java.util.regex.Matcher hits =
        java.util.regex.Pattern.compile("kvgate_prefix_segment_cache_hits_total ([0-9.]+)")
            .matcher(metrics);
    assertTrue(hits.find(), metrics);
    assertTrue(Double.parseDouble(hits.group(1)) >= 1, hits.group());
    // promtool check metrics rejects these two binder names; they are filtered out.
    assertFalse(metrics.contains("process_cpu_time_ns_total"));
    assertFalse(metrics.contains("system_cpu_count "));
  }
}

package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.http.Fault;
import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Upstream misbehaviour, played by WireMock: timeouts, 5xx, resets, refused connections, SSE relay.
 */
class UpstreamFailureTest {

  static final String OK_BODY =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
          + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}";

  static Vertx vertx;
  static WireMockServer a;
  static WireMockServer b;
  Gateway gateway;

  @BeforeAll
  static void startUpstreams() {
    vertx = Vertx.vertx();
    a = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    b = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    a.start();
    b.start();
  }

  @AfterAll
  static void stopUpstreams() throws Exception {
    a.stop();
    b.stop();
    await(vertx.close());
  }

  @AfterEach
  void stopGateway() throws Exception {
    if (gateway != null) await(gateway.close());
    a.resetAll();
    b.resetAll();
  }

  private static void healthy(WireMockServer s) {
    s.stubFor(get("/health").willReturn(ok()));
    s.stubFor(get("/metrics").willReturn(ok("")));
    s.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
  }

  /** Round-robin over [a, b] (or the given URLs), with short timeouts. */
  private Gateway start(List<String> urls, Duration firstByte, int attempts) throws Exception {
    GatewayConfig c =
        config("m", urls, "round-robin")
            .withTimeouts(
                new GatewayConfig.Timeouts(
                    Duration.ofSeconds(1),
                    firstByte,
                    Duration.ofSeconds(5),
                    Duration.ofSeconds(30)))
            .withLimits(new GatewayConfig.Limits(1 << 20, attempts));
    gateway = await(Gateway.start(vertx, c));
    return gateway;
  }

  private static String url(WireMockServer s) {
    return "http://127.0.0.1:" + s.port();
  }

  @Test
  void aSlowFirstByteIsRetriedElsewhereAnd504WhenEveryEndpointIsSlow() throws Exception {
    healthy(a);
    healthy(b);
    a.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY).withFixedDelay(3000)));
    b.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY).withFixedDelay(3000)));
    start(List.of(url(a), url(b)), Duration.ofMillis(300), 3);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
    assertEquals(504, r.statusCode(), r.body());
    assertEquals("upstream_timeout", error(r).getString("code"));
    assertTrue(
        error(r).getString("message").endsWith("sent no response within 300ms"),
        "durations read as in the config, not PT0.3S: " + error(r).getString("message"));
    // Nothing had reached the client: the second endpoint was tried, and timed out too.
    assertEquals(2.0, count("kvgate_routing_decisions"));
    assertEquals(1.0, count("kvgate_retries"));
    assertEquals(2.0, firstByteTimeouts());
  }

  @Test
  void aSlowFirstByteIsAnsweredByTheNextEndpoint() throws Exception {
    healthy(a);
    healthy(b);
    a.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY).withFixedDelay(3000)));
    b.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    start(List.of(url(a), url(b)), Duration.ofMillis(300), 3);
    for (int n = 0; n < 2; n++) {
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
      assertEquals(200, r.statusCode(), r.body());
    }
    assertEquals(1.0, firstByteTimeouts(), "round-robin sent one of the two to the slow one first");
  }

  @Test
  void anEmptyRetryBudgetRetriesNothing() throws Exception {
    healthy(a);
    healthy(b);
    a.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("boom")));
    b.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("boom")));
    GatewayConfig c =
        config("m", List.of(url(a), url(b)), "round-robin")
            .withLimits(
                new GatewayConfig.Limits(1 << 20, 3).withRetryBudget(0, 0, Duration.ofMillis(1)));
    gateway = await(Gateway.start(vertx, c));
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
    assertEquals(502, r.statusCode(), r.body());
    assertEquals(1.0, count("kvgate_routing_decisions"), "no retry");
    assertEquals(1.0, count("kvgate_retry_budget_exhausted"));
    assertEquals(0.0, gateway.registry().get("kvgate_retry_budget_allowed").gauge().value());
    assertEquals(0.0, gateway.registry().get("kvgate_retries_in_flight").gauge().value());
  }

  private double firstByteTimeouts() {
    return gateway
        .registry()
        .find("kvgate_upstream_errors")
        .tag("kind", "first_byte_timeout")
        .counters()
        .stream()
        .mapToDouble(c -> c.count())
        .sum();
  }

  private double count(String name) {
    return gateway.registry().find(name).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  @Test
  void fiveHundredIsRetriedOnTheNextEndpoint() throws Exception {
    healthy(a);
    healthy(b);
    a.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("boom")));
    b.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    start(List.of(url(a), url(b)), Duration.ofSeconds(5), 3);
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi " + i, 4, false));
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(
          "127.0.0.1:" + b.port(), r.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    }
  }

  @Test
  void lastAttempt5xxIs502WithTheEnginesMessage() throws Exception {
    healthy(a);
    a.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("engine exploded")));
    start(List.of(url(a)), Duration.ofSeconds(5), 3);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
    assertEquals(502, r.statusCode());
    assertTrue(error(r).getString("message").contains("engine exploded"));
  }

  @Test
  void connectionResetIsRetried() throws Exception {
    healthy(a);
    healthy(b);
    a.stubFor(
        post("/v1/chat/completions")
            .willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
    b.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    start(List.of(url(a), url(b)), Duration.ofSeconds(5), 2);
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi " + i, 4, false));
      assertEquals(200, r.statusCode(), r.body());
    }
  }

  @Test
  void refusedConnectionIsRetriedAndAllRefusedIs502() throws Exception {
    int dead;
    try (ServerSocket s = new ServerSocket(0)) {
      dead = s.getLocalPort();
    }
    healthy(b);
    b.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    start(List.of("http://127.0.0.1:" + dead, url(b)), Duration.ofSeconds(5), 2);
    for (int i = 0; i < 3; i++) {
      assertEquals(
          200,
          post(gateway.port(), "/v1/chat/completions", chat("m", "x" + i, 4, false)).statusCode());
    }
    await(gateway.close());
    start(List.of("http://127.0.0.1:" + dead), Duration.ofSeconds(5), 2);
    HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", chat("m", "x", 4, false));
    assertEquals(502, r.statusCode(), r.body());
    assertEquals("upstream_unavailable", error(r).getString("code"));
  }

  @Test
  void upstream4xxBodyPassesThroughUntouched() throws Exception {
    healthy(a);
    String body =
        "{\"error\":{\"message\":\"This model's maximum context length is 8 tokens\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}";
    a.stubFor(
        post("/v1/chat/completions")
            .willReturn(
                badRequest().withHeader("content-type", "application/json").withBody(body)));
    start(List.of(url(a)), Duration.ofSeconds(5), 3);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
    assertEquals(400, r.statusCode());
    assertEquals(body, r.body());
    assertEquals(
        1,
        a.getAllServeEvents().stream()
            .filter(e -> e.getRequest().getUrl().equals("/v1/chat/completions"))
            .count());
  }

  @Test
  void chunkedSseIsRelayedIntactAndBodyForwardedByteForByte() throws Exception {
    healthy(a);
    StringBuilder sse = new StringBuilder();
    for (int i = 0; i < 20; i++) {
      sse.append("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t")
          .append(i)
          .append("\"}}]}\n\n");
    }
    sse.append("data: [DONE]\n\n");
    a.stubFor(
        post("/v1/chat/completions")
            .willReturn(
                aResponse()
                    .withHeader("content-type", "text/event-stream")
                    .withBody(sse.toString())
                    .withChunkedDribbleDelay(10, 200)));
    start(List.of(url(a)), Duration.ofSeconds(5), 3);
    String body =
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"vendor_extra\":{\"x\":[1,2]}}";
    HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", body);
    assertEquals(200, r.statusCode());
    assertEquals(sse.toString(), r.body());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
    String forwarded =
        a.getAllServeEvents().stream()
            .filter(e -> e.getRequest().getUrl().equals("/v1/chat/completions"))
            .findFirst()
            .orElseThrow()
            .getRequest()
            .getBodyAsString();
    assertEquals(body, forwarded);
    JsonObject parsed = new JsonObject(forwarded);
    assertEquals(2, parsed.getJsonObject("vendor_extra").getJsonArray("x").size());
  }
}

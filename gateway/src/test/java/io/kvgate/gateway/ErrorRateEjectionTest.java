package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Error-rate ejection: an engine that fails a third of its requests, never three in a row, is kept
 * out by its failed share; the client's own 4xx never count; and a fleet failing everywhere keeps
 * one endpoint in service.
 */
class ErrorRateEjectionTest {

  static final String OK_BODY =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
          + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}";

  WireMockServer a;
  WireMockServer b;
  Vertx vertx;
  Gateway gateway;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    a = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    b = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    a.start();
    b.start();
    for (WireMockServer s : List.of(a, b)) {
      s.stubFor(get("/health").willReturn(ok()));
      s.stubFor(get("/metrics").willReturn(ok("")));
      s.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
    }
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    a.stop();
    b.stop();
  }

  /** Answers 500, 200, 200, 500, 200, 200, ...: a third fail, never two in a row. */
  private static void thirdFails(WireMockServer s) {
    String sc = "third";
    s.stubFor(
        post("/v1/chat/completions")
            .inScenario(sc)
            .whenScenarioStateIs(Scenario.STARTED)
            .willReturn(serverError().withBody("broken"))
            .willSetStateTo("ok1"));
    s.stubFor(
        post("/v1/chat/completions")
            .inScenario(sc)
            .whenScenarioStateIs("ok1")
            .willReturn(okJson(OK_BODY))
            .willSetStateTo("ok2"));
    s.stubFor(
        post("/v1/chat/completions")
            .inScenario(sc)
            .whenScenarioStateIs("ok2")
            .willReturn(okJson(OK_BODY))
            .willSetStateTo(Scenario.STARTED));
  }

  /** Round-robin over [a, b]: error rate above 20% over 10 s with at least 9 requests ejects. */
  private void startGateway() throws Exception {
    GatewayConfig c =
        config(
                "m",
                List.of("http://127.0.0.1:" + a.port(), "http://127.0.0.1:" + b.port()),
                "round-robin")
            .withHealth(
                new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 3)
                    .withErrorRate(
                        new GatewayConfig.ErrorRate(0.2, 9, Duration.ofSeconds(10), 50)));
    gateway = await(Gateway.start(vertx, c));
  }

  private static long chats(WireMockServer s) {
    return s.getAllServeEvents().stream()
        .filter(ev -> ev.getRequest().getUrl().equals("/v1/chat/completions"))
        .count();
  }

  private double counter(String name, String reason) {
    return gateway.registry().find(name).tag("reason", reason).counters().stream()
        .mapToDouble(c -> c.count())
        .sum();
  }

  private HttpResponse<String> send() throws Exception {
    return post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
  }

  @Test
  void interleavedFailuresEjectByErrorRateWhileClientsSeeNoFailure() throws Exception {
    a.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    thirdFails(b);
    startGateway();
    EndpointState bad = gateway.route("m").endpoints().get(1);
    for (int i = 0; i < 60; i++) {
      HttpResponse<String> r = send();
      assertEquals(200, r.statusCode(), "request " + i + " failed: " + r.body());
    }
    assertFalse(bad.healthy(), "b is ejected by its error rate");
    // b's pattern F,S,S,F,...: its 10th request (the 4th failure, 4/10 > 20%, 10 >= 9) ejects it;
    // 3 consecutive failures never happen.
    assertEquals(10, chats(b), "requests sent to the half-working engine before it stayed out");
    assertEquals(1, counter("kvgate_endpoint_ejections", "error_rate"));
    assertEquals(0, counter("kvgate_endpoint_ejections", "consecutive_failures"));
    assertEquals(60 + 4 - 10, chats(a), "a served the rest and b's four failures, retried");
  }

  @Test
  void clientErrorsNeverCountAsFailures() throws Exception {
    a.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    b.stubFor(
        post("/v1/chat/completions")
            .willReturn(
                aResponse()
                    .withStatus(400)
                    .withHeader("content-type", "application/json")
                    .withBody(
                        "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\","
                            + "\"param\":null,\"code\":null}}")));
    startGateway();
    int clientErrors = 0;
    for (int i = 0; i < 40; i++) if (send().statusCode() == 400) clientErrors++;
    assertEquals(20, clientErrors, "every request b served was relayed as its 400");
    assertTrue(gateway.route("m").endpoints().get(1).healthy(), "400s do not eject");
    assertEquals(0, gateway.health().errorRate(gateway.route("m").endpoints().get(1)));
    assertNull(gateway.registry().find("kvgate_endpoint_ejections").counter());
  }

  @Test
  void aFleetFailingEverywhereKeepsOneEndpointInService() throws Exception {
    thirdFails(a);
    thirdFails(b);
    startGateway();
    int ok = 0;
    for (int i = 0; i < 60; i++) if (send().statusCode() == 200) ok++;
    List<EndpointState> eps = gateway.route("m").endpoints();
    assertEquals(
        1, eps.stream().filter(EndpointState::healthy).count(), "one ejected, one kept in service");
    assertEquals(1, counter("kvgate_endpoint_ejections", "error_rate"));
    assertTrue(
        counter("kvgate_endpoint_ejections_skipped", "error_rate") >= 1,
        "the last endpoint's error rate was above the threshold, its ejection skipped");
    // The kept endpoint still answers two requests in three.
    assertTrue(ok >= 35, ok + " of 60 answered");
    assertTrue(ok < 60, "the kept endpoint's failures reach clients: there is nowhere to retry");
  }
}

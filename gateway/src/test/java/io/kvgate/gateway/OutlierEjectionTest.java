package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A half-working engine (passes {@code /health}, fails every request) is kept out: ejected by its
 * request failures, it is not re-admitted by passing checks until its ejection time has passed, and
 * once re-admitted a single failed request (probation) ejects it again.
 */
class OutlierEjectionTest {

  WireMockServer engine;
  Vertx vertx;
  Gateway gateway;

  @BeforeEach
  void start() {
    engine = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    engine.start();
    engine.stubFor(get("/health").willReturn(ok()));
    engine.stubFor(get("/metrics").willReturn(ok("")));
    engine.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
    engine.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("broken")));
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    engine.stop();
  }

  private EndpointState start(Duration baseEjection) throws Exception {
    gateway =
        await(
            Gateway.start(
                vertx,
                config("m", List.of("http://127.0.0.1:" + engine.port()), "round-robin")
                    .withHealth(
                        new GatewayConfig.Health(Duration.ofMillis(50), Duration.ofSeconds(2), 3)
                            .withBaseEjectionTime(baseEjection))));
    return gateway.route("m").endpoints().get(0);
  }

  private long healthChecks() {
    return engine.getAllServeEvents().stream()
        .filter(ev -> ev.getRequest().getUrl().equals("/health"))
        .count();
  }

  private void failOnce() throws Exception {
    assertEquals(
        502, post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false)).statusCode());
  }

  @Test
  void passingChecksDoNotReadmitDuringTheEjectionTime() throws Exception {
    EndpointState e = start(Duration.ofMinutes(10));
    for (int i = 0; i < 3; i++) failOnce();
    assertFalse(e.healthy(), "three failed requests eject it");
    long checks = healthChecks();
    eventually("five more passing health checks", () -> healthChecks() >= checks + 5);
    assertFalse(e.healthy(), "passing /health does not let it back within its ejection time");
  }

  @Test
  void afterTheEjectionTimeOneFailedRequestEjectsItAgain() throws Exception {
    EndpointState e = start(Duration.ofMillis(200));
    for (int i = 0; i < 3; i++) failOnce();
    assertFalse(e.healthy());
    eventually("re-admitted once the ejection time passed", e::healthy);
    failOnce();
    assertFalse(e.healthy(), "on probation, one failed request is enough");
  }
}

package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimTls;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An https engine with a self-signed certificate, reached by every caller of the endpoint URL: the
 * proxy, the active health check, the metrics scrape and model discovery. Trusted through {@code
 * caFile}, through {@code trustAll}, and refused when nothing trusts it.
 */
class HttpsEndpointTest {

  static final String MODEL = "m";
  static final String ENGINE_MODEL = "sim-behind-tls";
  static Vertx vertx;
  static SimEngine engine;
  static Path ca;
  Gateway gateway;

  @BeforeAll
  static void startEngine() throws Exception {
    vertx = Vertx.vertx();
    engine =
        await(
            SimEngine.start(
                vertx,
                SimEngineConfig.builder().model(ENGINE_MODEL).tls(SimTls.bundled()).build()));
    assertTrue(engine.url().startsWith("https://127.0.0.1:"), engine.url());
    ca = Files.createTempFile("kvgate-test-ca", ".pem");
    Files.write(ca, SimTls.bundledCertificatePem().getBytes());
  }

  @AfterAll
  static void stopEngine() throws Exception {
    await(vertx.close());
    Files.deleteIfExists(ca);
  }

  @AfterEach
  void stopGateway() throws Exception {
    if (gateway != null) await(gateway.close());
  }

  private Gateway start(GatewayConfig.UpstreamTls tls) throws Exception {
    Endpoint e = Endpoint.of(MODEL, URI.create(engine.url()));
    GatewayConfig c =
        config(MODEL, List.of(), "cache-aware")
            .withHealth(
                new GatewayConfig.Health(Duration.ofMillis(100), Duration.ofSeconds(2), 2)
                    .withBaseEjectionTime(Duration.ofMillis(100)));
    GatewayConfig.Model m =
        new GatewayConfig.Model(
            MODEL, "cache-aware", java.util.Set.of(), List.of(e), Map.of(), Map.of(e.id(), tls));
    c = c.withModels(List.of(m));
    gateway = await(Gateway.start(vertx, c));
    return gateway;
  }

  private void discovered() {
    eventually(
        "the engine's model discovered over https",
        () -> {
          try {
            return get(gateway.port(), "/v1/models").body().contains(ENGINE_MODEL);
          } catch (Exception e) {
            return false;
          }
        });
  }

  private double transitions(String to) {
    return gateway
        .registry()
        .find("kvgate_endpoint_health_transitions")
        .tag("to", to)
        .counters()
        .stream()
        .mapToDouble(c -> c.count())
        .sum();
  }

  private EndpointState endpoint() {
    return gateway.route(MODEL).endpoints().get(0);
  }

  @Test
  void aTrustedSelfSignedEngineServesEveryCaller() throws Exception {
    start(new GatewayConfig.UpstreamTls(ca.toString(), false, true));
    ModelRoute route = gateway.route(MODEL);
    assertTrue(route.target(endpoint()).ssl());

    // Model discovery: the engine's own model id is listed next to the configured one, and
    // requests naming it are routed to this model's fleet.
    discovered();

    // The proxy, streaming and not.
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat(ENGINE_MODEL, "hi", 4, false));
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(endpoint().id(), r.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    HttpResponse<String> s =
        post(gateway.port(), "/v1/chat/completions", chat(ENGINE_MODEL, "hi", 4, true));
    assertEquals(200, s.statusCode(), s.body());
    assertTrue(s.body().contains("data: [DONE]"), s.body());

    // The metrics scrape.
    eventually("engine signals scraped over https", () -> endpoint().signals().isKnown());

    // The active health check: eject the endpoint, and only a passing https check re-admits it.
    // (A transition to healthy can only be a re-admission, and only a passing active check
    // re-admits.)
    // (Counted from here: on a loaded machine a slow handshake may have failed two checks
    // earlier, an ejection and re-admission of their own.)
    eventually("healthy before the test ejects it", () -> endpoint().healthy());
    double before = transitions("healthy");
    gateway.health().recordFailure(MODEL, endpoint());
    gateway.health().recordFailure(MODEL, endpoint());
    assertFalse(endpoint().healthy(), "two failed requests eject it");
    eventually("re-admitted by an https health check", () -> endpoint().healthy());
    assertTrue(transitions("healthy") > before);
  }

  @Test
  void trustAllAcceptsTheEngineWithoutItsCertificate() throws Exception {
    start(new GatewayConfig.UpstreamTls(null, true, true));
    discovered();
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat(ENGINE_MODEL, "hi", 4, false));
    assertEquals(200, r.statusCode(), r.body());
  }

  @Test
  void anUntrustedCertificateIsRefusedEverywhere() throws Exception {
    start(GatewayConfig.UpstreamTls.DEFAULT);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat(MODEL, "hi", 4, false));
    assertTrue(r.statusCode() == 502 || r.statusCode() == 503, r.statusCode() + " " + r.body());
    JsonObject error = error(r);
    assertEquals("server_error", error.getString("type"));
    // The failing TLS handshakes of the health checks eject the endpoint.
    eventually("ejected: its certificate is not trusted", () -> !endpoint().healthy());
    assertFalse(endpoint().signals().isKnown(), "no scrape got through");
    assertFalse(get(gateway.port(), "/v1/models").body().contains(ENGINE_MODEL), "no discovery");
  }
}

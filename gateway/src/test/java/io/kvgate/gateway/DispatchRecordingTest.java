package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The prefix index learns where a prompt went only once a connection to that endpoint is held: an
 * attempt whose connection is refused must not make the index believe the dead endpoint holds the
 * prompt (which would pull the prompt's later requests towards it).
 */
class DispatchRecordingTest {

  Vertx vertx;
  Gateway gateway;
  Path policy;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    // One endpoint only passes the filter, so every attempt goes to it; the policy reads and
    // writes the prefix index.
    policy = Files.createTempFile("policy", ".yaml");
    Files.writeString(
        policy,
        """
        plugins:
          - {type: label-tier-filter, parameters: {label: zone, tiers: [a]}}
          - {type: prefix-affinity-scorer}
          - {type: max-score-picker}
        profiles:
          - {name: default, plugins: [label-tier-filter, prefix-affinity-scorer, max-score-picker]}
        """);
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    Files.deleteIfExists(policy);
  }

  @Test
  void aRefusedConnectionTeachesTheIndexNothing() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Endpoint dead =
        new Endpoint(
            "dead",
            URI.create("http://127.0.0.1:" + port),
            "m",
            Role.BOTH,
            Map.of("zone", "a"),
            1,
            Set.of());
    GatewayConfig base =
        config("m", List.of(), policy.toString())
            .withHealth(
                new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 1000));
    GatewayConfig c =
        base.withModels(
            List.of(new GatewayConfig.Model("m", policy.toString(), Set.of(), List.of(dead))));
    gateway = await(Gateway.start(vertx, c));
    EndpointState e = gateway.route("m").endpoints().get(0);
    String body = chat("m", "a prompt long enough to fill several blocks ".repeat(20), 4, false);

    HttpResponse<String> refused = post(gateway.port(), "/v1/chat/completions", body);
    assertEquals(502, refused.statusCode(), refused.body());
    assertEquals("upstream_unavailable", error(refused).getString("code"));
    assertEquals(
        0, gateway.route("m").index().heldBlocks(e.slot()), "nothing was written upstream");
    assertEquals(0, e.inFlight());

    // The same endpoint, now alive: a request written to it is recorded.
    await(SimEngine.start(vertx, SimEngineConfig.builder().model("m").port(port).build()));
    HttpResponse<String> served = post(gateway.port(), "/v1/chat/completions", body);
    assertEquals(200, served.statusCode(), served.body());
    assertTrue(gateway.route("m").index().heldBlocks(e.slot()) > 0, "the dispatch is recorded");

    // The endpoint's placement labels are published with it.
    String metrics = get(gateway.adminPort(), "/metrics").body();
    assertTrue(
        metrics.contains(
            "kvgate_endpoint_labels{endpoint=\"dead\",label_zone=\"a\",model=\"m\",role=\"both\",url=\"http://127.0.0.1:"
                + port
                + "\"} 1.0"),
        metrics.lines().filter(l -> l.contains("label_zone")).toList().toString());
  }
}

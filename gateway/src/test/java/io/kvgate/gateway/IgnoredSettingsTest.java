package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.Role;
import io.kvgate.routing.policy.PolicyException;
import io.vertx.core.Vertx;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Endpoint weights and adapters act only under policies that read them; under any other policy the
 * gateway refuses to start, naming each ignored setting's YAML path.
 */
class IgnoredSettingsTest {

  static Vertx vertx;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    await(vertx.close());
  }

  static GatewayConfig config(String policy, double weight, Set<String> adapters) {
    GatewayConfig base = TestSupport.config("m", List.of(), policy);
    Endpoint a =
        new Endpoint("a", URI.create("http://127.0.0.1:1"), "m", Role.BOTH, Map.of(), 1, Set.of());
    Endpoint b =
        new Endpoint(
            "b", URI.create("http://127.0.0.1:2"), "m", Role.BOTH, Map.of(), weight, adapters);
    return base.withModels(List.of(new GatewayConfig.Model("m", policy, Set.of(), List.of(a, b))));
  }

  @Test
  void weightsAndAdaptersThatThePolicyIgnoresAreRefused() {
    ExecutionException e =
        assertThrows(
            ExecutionException.class,
            () -> await(Gateway.start(vertx, config("round-robin", 2, Set.of("sql-lora")))));
    PolicyException p = assertInstanceOf(PolicyException.class, e.getCause());
    assertEquals(
        List.of(
            "models[0].endpoints[1].weight: policy 'round-robin' reads no endpoint weights"
                + " (in-flight-scorer, pending-prefill-scorer and cache-aware-picker do)",
            "models[0].endpoints[1].adapters: policy 'round-robin' reads no endpoint adapters"
                + " (lora-filter does)"),
        p.problems().stream().map(Object::toString).toList());
  }

  @Test
  void policiesThatReadThemStart() throws Exception {
    Gateway g = await(Gateway.start(vertx, config("cache-aware", 2, Set.of("sql-lora"))));
    await(g.close());
    Gateway ll = await(Gateway.start(vertx, config("least-loaded", 2, Set.of())));
    await(ll.close());
  }
}

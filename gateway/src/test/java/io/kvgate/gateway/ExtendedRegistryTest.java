package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.policy.Filter;
import io.kvgate.routing.policy.Param;
import io.kvgate.routing.policy.PluginRegistry;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plugin type registered by code outside the routing library reaches a running gateway: its
 * policy file compiles at start and on hot reload, and it routes.
 */
class ExtendedRegistryTest {

  /** Keeps only the endpoint at one position of the fleet. */
  record OnlyFilter(@Param(doc = "the position kept", min = 0, max = 255) int slot)
      implements Filter {
    static final OnlyFilter DEFAULTS = new OnlyFilter(0);

    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      return in.stream().filter(e -> e.slot() == slot).toList();
    }
  }

  static String policy(int slot) {
    return "plugins: [{type: only-filter, parameters: {slot: "
        + slot
        + "}}, {type: round-robin-picker}]\n"
        + "profiles: [{name: default, plugins: [only-filter, round-robin-picker]}]\n";
  }

  @Test
  void anExtensionTypeCompilesAtStartAndOnReloadAndRoutes(@TempDir Path dir) throws Exception {
    Vertx vertx = Vertx.vertx();
    SimFleet fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").speed(50).build(), 2, 0));
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy(1));
    PluginRegistry plugins =
        PluginRegistry.builtIn()
            .withFilter(
                "only-filter", "one endpoint", OnlyFilter.class, OnlyFilter.DEFAULTS, p -> p);
    Gateway gateway =
        await(
            Gateway.start(
                vertx,
                config("m", fleet.urls(), file.toString()),
                GatewayMetrics.newRegistry(),
                plugins));
    try {
      ModelRoute route = gateway.route("m");
      String second = route.endpoints().get(1).id();
      String first = route.endpoints().get(0).id();
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(second, r.headers().firstValue("x-kvgate-endpoint").orElseThrow());

      Files.writeString(file, policy(0));
      Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(5)));
      eventually(
          "the reloaded extension policy routes to the first endpoint",
          () -> {
            try {
              return first.equals(
                  post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false))
                      .headers()
                      .firstValue("x-kvgate-endpoint")
                      .orElse(""));
            } catch (Exception e) {
              return false;
            }
          });
    } finally {
      await(gateway.close());
      await(vertx.close());
    }
  }
}

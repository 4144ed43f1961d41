package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The gateway serves clients from several event loops, one HTTP server instance each, on one port.
 */
class EventLoopsTest {

  @Test
  void serversShareOnePortAndServeConcurrentClients() throws Exception {
    Vertx vertx = Vertx.vertx();
    SimFleet fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").speed(100).build(), 2, 0));
    GatewayConfig base = config("m", fleet.urls(), "cache-aware");
    Gateway gateway =
        await(Gateway.start(vertx, base.withListener(base.listener().withEventLoops(3))));
    try {
      assertEquals(List.of(gateway.port(), gateway.port(), gateway.port()), gateway.serverPorts());
      // Concurrent HTTP/1.1 requests, so separate connections, spread over the servers; all
      // answered.
      List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        calls.add(
            HTTP.sendAsync(
                HttpRequest.newBuilder(
                        java.net.URI.create(
                            "http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
                    .timeout(Duration.ofSeconds(30))
                    .header("content-type", "application/json")
                    .POST(
                        HttpRequest.BodyPublishers.ofString(chat("m", "hello " + i, 4, i % 2 == 0)))
                    .build(),
                HttpResponse.BodyHandlers.ofString()));
      }
      for (CompletableFuture<HttpResponse<String>> call : calls) {
        HttpResponse<String> r = call.get();
        assertEquals(200, r.statusCode(), r.body());
      }
    } finally {
      await(gateway.close());
      await(fleet.close());
      await(vertx.close());
    }
  }

  @Test
  void oneEventLoopIsAllowedAndZeroIsNot() {
    assertEquals(1, new GatewayConfig.Listener("h", 1, 1).eventLoops());
    assertThrows(IllegalArgumentException.class, () -> new GatewayConfig.Listener("h", 1, 0));
    assertEquals(
        Runtime.getRuntime().availableProcessors(), GatewayConfig.Listener.DEFAULT.eventLoops());
  }
}

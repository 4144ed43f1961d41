package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A configured capacity tops the precedence: the engine's own figure does not replace it. */
class ConfiguredCapacityTest {

  @Test
  void aConfiguredCapacityIsKeptAfterTheEngineStatesAnother() throws Exception {
    Vertx vertx = Vertx.vertx();
    SimEngine engine =
        await(
            SimEngine.start(
                vertx, SimEngineConfig.builder().model("m").capacityBlocks(2_000).build()));
    Gateway gateway = null;
    try {
      GatewayConfig config =
          GatewayConfigLoader.parse(
              """
          listener: {host: 127.0.0.1, port: 0}
          routing: {signalsInterval: 50ms}
          models:
            - name: m
              endpoints:
                - {url: "%s", capacityBlocks: 777}
          """
                  .formatted(engine.url()),
              "test.yaml");
      gateway = await(Gateway.start(vertx, config));
      EndpointState e = gateway.route("m").endpoints().get(0);
      assertEquals(777, gateway.route("m").index().capacityBlocks(e.slot()));
      // Wait (deadline polling) until a scrape has read the engine's stated 2,000 blocks and
      // published.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      String metrics = "";
      while (System.nanoTime() < deadline
          && !(e.signals().isKnown() && metrics.contains("source=\"configured\""))) {
        Thread.sleep(20);
        metrics = get(gateway.adminPort(), "/metrics").body();
      }
      assertTrue(e.signals().isKnown(), "the engine was scraped");
      assertTrue(metrics.contains("source=\"configured\""), metrics);
      assertEquals(
          777,
          gateway.route("m").index().capacityBlocks(e.slot()),
          "the engine's 2,000 blocks did not replace it");
    } finally {
      if (gateway != null) await(gateway.close());
      await(engine.close());
      await(vertx.close());
    }
  }
}

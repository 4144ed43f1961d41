package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.Vertx;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Gauges read through a supplier made for them (a method reference) keep reading after a garbage
 * collection: Micrometer holds a gauge's state object weakly unless told otherwise, and a gauge
 * whose state was collected reads NaN for the rest of the process.
 */
class GaugeReferencesTest {

  @Test
  void suppliedGaugesSurviveAGarbageCollection() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      Gateway gateway =
          await(Gateway.start(vertx, config("m", List.of("http://127.0.0.1:1"), "round-robin")));

      try {
        for (int i = 0; i < 3; i++) System.gc();
        for (String name :
            List.of(
                "kvgate_listener_open_connections",
                "kvgate_listener_busiest_client_connections",
                "kvgate_drain_phase",
                "kvgate_in_flight_requests",
                "kvgate_retries_in_flight",
                "kvgate_retry_budget_allowed")) {
          var gauge = gateway.registry().find(name).gauge();
          assertNotNull(gauge, name);
          assertFalse(Double.isNaN(gauge.value()), name + " reads NaN after a GC");
        }
      } finally {
        await(gateway.close());
      }
      // A disaggregated model's pool gauges too.
      gateway =
          await(
              Gateway.start(
                  vertx,
                  config("m", List.of("http://127.0.0.1:1"), "round-robin")
                      .withModels(
                          io.kvgate.gateway.config.GatewayConfig.disaggregated(
                                  "m",
                                  io.kvgate.gateway.config.GatewayConfig.PdProtocol.VLLM,
                                  List.of("http://127.0.0.1:1"),
                                  List.of("http://127.0.0.2:1"),
                                  List.of(),
                                  "round-robin")
                              .models())));
      try {
        for (int i = 0; i < 3; i++) System.gc();
        var pools = gateway.registry().find("kvgate_pool_in_flight_requests").gauges();
        assertEquals(2, pools.size());
        for (var g : pools) assertFalse(Double.isNaN(g.value()), g.getId() + " reads NaN");
      } finally {
        await(gateway.close());
      }
    } finally {
      await(vertx.close());
    }
  }
}

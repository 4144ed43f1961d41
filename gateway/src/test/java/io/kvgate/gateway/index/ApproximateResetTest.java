package io.kvgate.gateway.index;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.config;
import static io.kvgate.gateway.TestSupport.eventually;
import static io.kvgate.gateway.TestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Without event streams: an engine restart is found by the next metrics scrape and cleared. */
class ApproximateResetTest {

  static final String MODEL = "m";
  final Vertx vertx = Vertx.vertx();
  SimFleet fleet;
  Gateway gateway;

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    if (fleet != null) await(fleet.close());
    await(vertx.close());
  }

  @Test
  void aRestartSeenByTheScrapeClearsTheEngineAndRoutingRebuildsIt() throws Exception {
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 2, 0));
    GatewayConfig c = config(MODEL, fleet.urls(), "cache-aware");
    c =
        c.withRouting(
            new GatewayConfig.Routing(
                16, 4, 26_000, Duration.ofMinutes(10), Duration.ofMillis(100), 64L << 20));
    gateway = await(Gateway.start(vertx, c));
    String prompt = "A long system prompt that every turn shares. ".repeat(40);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", PreciseRoutingTest.body(prompt, "one"));
    String id = r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    EndpointState e =
        gateway.route(MODEL).endpoints().stream()
            .filter(x -> x.id().equals(id))
            .findFirst()
            .orElseThrow();
    IndexHealth.Engine engine = gateway.indexHealth().of(e);
    assertTrue(gateway.route(MODEL).index().heldBlocks(e.slot()) > 20);
    assertEquals(IndexMode.APPROXIMATE, engine.mode());
    int i = fleet.urls().indexOf(e.endpoint().url().toString().replaceAll("/$", ""));
    await(fleet.engines().get(i >= 0 ? i : 0).restart());
    eventually("the scrape finds the restart", () -> engine.resets() == 1);
    assertEquals(0, gateway.route(MODEL).index().heldBlocks(e.slot()));
    assertEquals(IndexMode.STALE, engine.mode());
    var counter =
        gateway.registry().find("kvgate_index_resets").tags("cause", "process_restart").counter();
    assertEquals(1.0, counter.count());
    // the next request dispatched there rebuilds it: drain the other engine so that it goes there
    for (EndpointState other : gateway.route(MODEL).endpoints()) {
      if (other != e) gateway.route(MODEL).setDrained(other.id(), true);
    }
    HttpResponse<String> two =
        post(gateway.port(), "/v1/chat/completions", PreciseRoutingTest.body(prompt, "two"));
    assertEquals(200, two.statusCode(), two.body());
    assertEquals(id, two.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    eventually("rebuilt by routing", () -> engine.mode() == IndexMode.APPROXIMATE);
  }
}

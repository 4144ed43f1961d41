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
import io.kvgate.sim.KvEventPublisher;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * End to end: simulated engines publish their real KV events to a gateway's gRPC listener; the
 * gateway routes on them, sees traffic that bypassed it, and notices restarts and cache resets.
 */
class PreciseRoutingTest {

  static final String MODEL = "m";
  final Vertx vertx = Vertx.vertx();
  SimFleet fleet;
  Gateway gateway;
  final List<KvEventPublisher> publishers = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 3, 0));
    gateway =
        await(
            Gateway.start(
                vertx,
                config(MODEL, fleet.urls(), "cache-aware")
                    .withGrpc(new GatewayConfig.Grpc(true, "127.0.0.1", 0, null))));
    for (SimEngine e : fleet.engines()) {
      publishers.add(e.publishKvEvents("127.0.0.1:" + gateway.grpcPort(), null));
    }
    for (KvEventPublisher p : publishers) await(p.firstAck());
  }

  @AfterEach
  void stop() throws Exception {
    for (KvEventPublisher p : publishers) await(p.close());
    if (gateway != null) await(gateway.close());
    if (fleet != null) await(fleet.close());
    await(vertx.close());
  }

  static String body(String system, String user) {
    return new JsonObject()
        .put("model", MODEL)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "system").put("content", system))
                .add(new JsonObject().put("role", "user").put("content", user)))
        .put("max_tokens", 2)
        .encode();
  }

  IndexHealth.Engine engine(int i) {
    return gateway.indexHealth().of(gateway.route(MODEL).endpoints().get(i));
  }

  JsonObject explain(String body) throws Exception {
    HttpResponse<String> r = post(gateway.adminPort(), "/admin/explain", body);
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  @Test
  void trafficThatBypassedTheGatewayIsRoutedOnAndRestartsAndResetsClearTheEngine()
      throws Exception {
    for (int i = 0; i < 3; i++) {
      IndexHealth.Engine e = engine(i);
      eventually("engine " + i + " precise", () -> e.mode() == IndexMode.PRECISE);
    }
    // another client warms engine 2 directly: only its events can tell the gateway
    String doc = "A long shared document about caches. ".repeat(60);
    HttpResponse<String> direct =
        post(fleet.engines().get(2).port(), "/v1/chat/completions", body(doc, "direct"));
    assertEquals(200, direct.statusCode(), direct.body());
    EndpointState e2 = gateway.route(MODEL).endpoints().get(2);
    eventually(
        "the engine's stored blocks reach the index",
        () -> gateway.route(MODEL).index().heldBlocks(e2.slot()) > 20);
    JsonObject x = explain(body(doc, "through kvgate"));
    assertEquals(e2.id(), x.getString("winner"), x.encodePrettily());
    HttpResponse<String> routed =
        post(gateway.port(), "/v1/chat/completions", body(doc, "through kvgate"));
    assertEquals(e2.id(), routed.headers().firstValue("x-kvgate-endpoint").orElseThrow());
    JsonObject usage = new JsonObject(routed.body()).getJsonObject("usage");
    assertTrue(
        usage.getJsonObject("prompt_tokens_details").getInteger("cached_tokens") > 300,
        "the engine hit what its events promised: " + usage);
    eventually(
        "the index's view equals the engine's own count",
        () -> engine(2).indexBlocks() == engine(2).engineCachedBlocks());

    // a restart empties the engine: the gateway forgets it at once, then follows the new instance
    String before = engine(2).instanceId();
    await(fleet.engines().get(2).restart());
    eventually(
        "the restart is seen and cleared",
        () -> !engine(2).instanceId().equals(before) && engine(2).resets() == 1);
    eventually(
        "the new instance is followed precisely",
        () -> engine(2).mode() == IndexMode.PRECISE && engine(2).streamLive());
    assertEquals(0, gateway.route(MODEL).index().heldBlocks(e2.slot()));
    JsonObject after = explain(body(doc, "after the restart"));
    for (Object o : after.getJsonArray("endpoints")) {
      assertEquals(0, ((JsonObject) o).getInteger("matched_blocks"), "no phantom: " + after);
    }

    // a cache reset on an engine that holds blocks: AllBlocksCleared
    post(fleet.engines().get(1).port(), "/v1/chat/completions", body(doc, "warm 1"));
    EndpointState e1 = gateway.route(MODEL).endpoints().get(1);
    eventually(
        "engine 1 holds blocks", () -> gateway.route(MODEL).index().heldBlocks(e1.slot()) > 20);
    assertTrue(await(fleet.engines().get(1).resetPrefixCache(false)));
    eventually("reset cleared", () -> gateway.route(MODEL).index().heldBlocks(e1.slot()) == 0);
    eventually(
        "the reset counted, the engine precise again after its batch",
        () -> engine(1).resets() == 1 && engine(1).mode() == IndexMode.PRECISE);
  }
}

package io.kvgate.gateway.pd;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SGLang's bootstrap protocol against simulated engines: the gateway discovers each prefill
 * engine's bootstrap port from the engine itself (here an ephemeral port, so a guess of 8998 would
 * fail), both engines get the same room, the decode engine receives the prompt's KV from the
 * prefill engine instead of computing it, and streams arrive whole.
 */
class PdSglangTest {

  static final String MODEL = "m";
  static Vertx vertx;
  static SimEngine prefill;
  static SimEngine legacyPrefill;
  static SimEngine decode;
  Gateway gateway;

  @BeforeAll
  static void engines() throws Exception {
    vertx = Vertx.vertx();
    SimEngineConfig base =
        SimEngineConfig.builder()
            .model(MODEL)
            .speed(50)
            .bootstrapTimeout(Duration.ofSeconds(10))
            .build();
    prefill = await(SimEngine.start(vertx, base.toBuilder().role(Role.PREFILL).build()));
    legacyPrefill =
        await(
            SimEngine.start(
                vertx,
                base.toBuilder()
                    .role(Role.PREFILL)
                    .serverInfo(SimEngineConfig.ServerInfo.LEGACY_ONLY)
                    .build()));
    decode = await(SimEngine.start(vertx, base.toBuilder().role(Role.DECODE).build()));
  }

  @AfterAll
  static void stop() throws Exception {
    await(vertx.close());
  }

  @AfterEach
  void stopGateway() throws Exception {
    if (gateway != null) await(gateway.close());
    gateway = null;
  }

  private void start(SimEngine p, long minUncached) throws Exception {
    GatewayConfig c =
        GatewayConfig.disaggregated(
            MODEL,
            GatewayConfig.PdProtocol.SGLANG,
            List.of(p.url()),
            List.of(decode.url()),
            List.of(),
            "cache-aware");
    GatewayConfig.Model m =
        c.models().get(0).withPd(c.models().get(0).pd().withMinUncachedTokens(minUncached));
    gateway =
        await(
            Gateway.start(
                vertx, config(MODEL, List.of(decode.url()), "cache-aware").withModels(List.of(m))));
  }

  private void disaggregated(SimEngine p, boolean stream) throws Exception {
    long pRequests = p.stats().requests();
    long dTransferred = decode.stats().transferredTokens();
    long dComputed = decode.stats().prefillTokensComputed();
    long dFailed = decode.stats().bootstrapFailed();
    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            PdVllmTest.chat("sg" + stream, 1200, 20, stream));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(p.url().endsWith(r.headers().firstValue("x-kvgate-prefill-endpoint").orElseThrow()));
    assertTrue(decode.url().endsWith(r.headers().firstValue("x-kvgate-endpoint").orElseThrow()));
    if (stream) {
      String[] events = r.body().split("\n\n");
      assertEquals("data: [DONE]", events[events.length - 1].trim());
      long tokens =
          java.util.Arrays.stream(events)
              .filter(e -> e.startsWith("data: {"))
              .map(e -> new JsonObject(e.substring(6)))
              .filter(e -> !e.getJsonArray("choices").isEmpty())
              .filter(
                  e ->
                      !e.getJsonArray("choices")
                          .getJsonObject(0)
                          .getJsonObject("delta")
                          .getString("content", "")
                          .isEmpty())
              .count();
      assertEquals(20, tokens, "every token, once, in order of arrival");
    } else {
      assertEquals(
          20, new JsonObject(r.body()).getJsonObject("usage").getInteger("completion_tokens"));
    }
    assertEquals(pRequests + 1, p.stats().requests(), "the prefill engine got the pair's body");
    eventually("decode counted", () -> decode.stats().transferredTokens() > dTransferred);
    assertEquals(dFailed, decode.stats().bootstrapFailed(), "the room was found: port discovered");
    assertEquals(
        dComputed + 1, decode.stats().prefillTokensComputed(), "KV received, not computed");
  }

  @Test
  void thePairSharesARoomAndTheBootstrapPortIsDiscovered() throws Exception {
    assertNotEquals(8998, prefill.bootstrapPort());
    start(prefill, 0);
    disaggregated(prefill, false);
    disaggregated(prefill, true);
  }

  @Test
  void anOlderEngineReportsItsPortAtGetServerInfo() throws Exception {
    start(legacyPrefill, 0);
    disaggregated(legacyPrefill, false);
  }

  @Test
  void aShortPromptGoesStraightToTheDecodeEngine() throws Exception {
    start(prefill, 256);
    long pRequests = prefill.stats().requests();
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", PdVllmTest.chat("short", 40, 5, false));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isEmpty());
    assertEquals(pRequests, prefill.stats().requests());
  }
}

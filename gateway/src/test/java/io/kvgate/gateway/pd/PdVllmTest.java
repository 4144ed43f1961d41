package io.kvgate.gateway.pd;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.EngineStats;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * vLLM's disaggregated protocol against simulated engines with the prefill and decode roles: every
 * long request prefills on a prefill engine (which computes the prompt) and decodes on a decode
 * engine (which receives the prompt's KV instead of computing it); streams arrive whole and in
 * order; a prompt whose uncached part is short goes straight to the decode side; the prefill pool
 * failing falls back to whole serving, or 503, as configured.
 */
class PdVllmTest {

  static final String MODEL = "m";
  static Vertx vertx;
  static final List<SimEngine> prefill = new ArrayList<>();
  static final List<SimEngine> decode = new ArrayList<>();
  Gateway gateway;

  @BeforeAll
  static void engines() throws Exception {
    vertx = Vertx.vertx();
    SimEngineConfig base = SimEngineConfig.builder().model(MODEL).speed(50).build();
    for (int i = 0; i < 2; i++) {
      prefill.add(await(SimEngine.start(vertx, base.toBuilder().role(Role.PREFILL).build())));
      decode.add(await(SimEngine.start(vertx, base.toBuilder().role(Role.DECODE).build())));
    }
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

  static List<String> urls(List<SimEngine> engines) {
    return engines.stream().map(SimEngine::url).toList();
  }

  static GatewayConfig pdConfig(List<String> prefillUrls, GatewayConfig.Pd pd) {
    GatewayConfig c =
        GatewayConfig.disaggregated(
            MODEL,
            GatewayConfig.PdProtocol.VLLM,
            prefillUrls,
            urls(decode),
            List.of(),
            "cache-aware");
    GatewayConfig.Model m = c.models().get(0).withPd(pd);
    return config(MODEL, List.of("http://unused:1"), "cache-aware").withModels(List.of(m));
  }

  private void start(GatewayConfig.Pd pd) throws Exception {
    start(urls(prefill), pd);
  }

  private void start(List<String> prefillUrls, GatewayConfig.Pd pd) throws Exception {
    gateway = await(Gateway.start(vertx, pdConfig(prefillUrls, pd)));
  }

  static GatewayConfig.Pd vllm() {
    return GatewayConfig.Pd.OFF.withProtocol(GatewayConfig.PdProtocol.VLLM);
  }

  /** A chat request whose prompt is about {@code tokens} tokens (4 chars each in the simulator). */
  static String chat(String tag, int tokens, int maxTokens, boolean stream) {
    String text = (tag + " ").repeat(Math.max(1, tokens * 4 / (tag.length() + 1)));
    JsonObject body =
        new JsonObject()
            .put("model", MODEL)
            .put("max_tokens", maxTokens)
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", text)));
    if (stream) {
      body.put("stream", true).put("stream_options", new JsonObject().put("include_usage", true));
    }
    return body.encode();
  }

  static long sum(List<SimEngine> engines, java.util.function.ToLongFunction<EngineStats> f) {
    return engines.stream().mapToLong(e -> f.applyAsLong(e.stats())).sum();
  }

  private double counter(String name, String... tags) {
    var c = gateway.registry().find(name).tags(tags).counters();
    return c.stream().mapToDouble(x -> x.count()).sum();
  }

  @Test
  void aLongPromptPrefillsOnAPrefillEngineAndDecodesOnADecodeEngine() throws Exception {
    start(vllm());
    long pRequests = sum(prefill, EngineStats::requests);
    long pComputed = sum(prefill, EngineStats::prefillTokensComputed);
    long dTransferred = sum(decode, EngineStats::transferredTokens);
    long dComputed = sum(decode, EngineStats::prefillTokensComputed);

    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("alpha", 2000, 7, false));

    assertEquals(200, r.statusCode(), r.body());
    String p = r.headers().firstValue("x-kvgate-prefill-endpoint").orElseThrow();
    String d = r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    assertTrue(prefill.stream().anyMatch(e -> e.url().endsWith(p)), p);
    assertTrue(decode.stream().anyMatch(e -> e.url().endsWith(d)), d);
    JsonObject body = new JsonObject(r.body());
    assertEquals(7, body.getJsonObject("usage").getInteger("completion_tokens"));
    int prompt = body.getJsonObject("usage").getInteger("prompt_tokens");
    // The decode engine received the prompt (all but the one token it recomputes)...
    assertEquals(
        prompt - 1,
        body.getJsonObject("usage")
            .getJsonObject("prompt_tokens_details")
            .getInteger("cached_tokens"));
    assertEquals(dTransferred + prompt - 1, sum(decode, EngineStats::transferredTokens));
    assertEquals(dComputed + 1, sum(decode, EngineStats::prefillTokensComputed));
    // ... which the prefill engine computed, once.
    assertEquals(pRequests + 1, sum(prefill, EngineStats::requests));
    assertEquals(pComputed + prompt, sum(prefill, EngineStats::prefillTokensComputed));
    assertEquals(1, counter("kvgate_pd_requests", "mode", "disaggregated"));
    assertFalse(
        r.body().contains("kv_transfer_params\":{"), "the client sees no transfer parameters");
  }

  @Test
  void aStreamArrivesWholeAndInOrder() throws Exception {
    start(vllm());
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("beta", 1500, 40, true));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isPresent());
    List<JsonObject> events = new ArrayList<>();
    String[] lines = r.body().split("\n\n");
    assertEquals("data: [DONE]", lines[lines.length - 1].trim());
    for (int i = 0; i < lines.length - 1; i++) {
      assertTrue(lines[i].startsWith("data: "), lines[i]);
      events.add(new JsonObject(lines[i].substring(6)));
    }
    // role delta, 40 token deltas, the usage chunk
    long tokens =
        events.stream()
            .filter(e -> !e.getJsonArray("choices").isEmpty())
            .filter(
                e ->
                    e.getJsonArray("choices")
                        .getJsonObject(0)
                        .getJsonObject("delta")
                        .containsKey("content"))
            .filter(
                e ->
                    !e.getJsonArray("choices")
                        .getJsonObject(0)
                        .getJsonObject("delta")
                        .getString("content")
                        .isEmpty())
            .count();
    assertEquals(40, tokens);
    assertEquals(
        40, events.get(events.size() - 1).getJsonObject("usage").getInteger("completion_tokens"));
    String id = events.get(0).getString("id");
    assertTrue(events.stream().allMatch(e -> id.equals(e.getString("id"))), "one stream, one id");
  }

  @Test
  void aShortPromptSkipsThePrefillPool() throws Exception {
    start(vllm().withMinUncachedTokens(256));
    long pRequests = sum(prefill, EngineStats::requests);
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("gamma", 60, 5, false));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isEmpty());
    String d = r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
    assertTrue(decode.stream().anyMatch(e -> e.url().endsWith(d)), d);
    assertEquals(pRequests, sum(prefill, EngineStats::requests));
    assertEquals(1, counter("kvgate_pd_requests", "mode", "whole", "reason", "short_uncached"));
  }

  @Test
  void aThresholdOfZeroDisaggregatesEvenShortPrompts() throws Exception {
    start(vllm().withMinUncachedTokens(0));
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("delta", 60, 5, false));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isPresent());
  }

  @Test
  void aDeadPrefillEndpointIsSkippedAndADeadPoolFallsBackToWholeServing() throws Exception {
    // One prefill endpoint refuses connections: the other serves every prefill leg.
    start(List.of("http://127.0.0.1:1", prefill.get(0).url()), vllm().withMinUncachedTokens(0));
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("eps" + i, 600, 3, false));
      assertEquals(200, r.statusCode(), r.body());
      assertTrue(
          prefill
              .get(0)
              .url()
              .endsWith(r.headers().firstValue("x-kvgate-prefill-endpoint").orElseThrow()));
    }
    await(gateway.close());
    // No prefill endpoint answers: served whole on the decode side, counted.
    start(List.of("http://127.0.0.1:1"), vllm().withMinUncachedTokens(0));
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("zeta", 600, 3, false));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isEmpty());
    assertEquals(
        1, counter("kvgate_pd_fallbacks", "reason", "prefill_failed", "action", "aggregate"));
  }

  @Test
  void aDeadPrefillPoolIsA503WhenFallbackIsFail() throws Exception {
    start(
        List.of("http://127.0.0.1:1"),
        vllm().withMinUncachedTokens(0).withFallbackAggregate(false));
    HttpResponse<String> r =
        post(gateway.port(), "/v1/chat/completions", chat("eta", 600, 3, false));
    assertEquals(503, r.statusCode(), r.body());
    assertEquals("prefill_unavailable", error(r).getString("code"));
    assertEquals(1, counter("kvgate_pd_fallbacks", "reason", "prefill_failed", "action", "fail"));
  }

  @Test
  void aPrefillAnswerWithoutTransferFieldsIsAFailedLegNotASilentRecompute() throws Exception {
    SimEngine broken =
        await(
            SimEngine.start(
                vertx,
                SimEngineConfig.builder()
                    .model(MODEL)
                    .speed(50)
                    .role(Role.PREFILL)
                    .faults(SimEngineConfig.Faults.NONE.withIncompleteKvTransfer(true))
                    .build()));
    try {
      start(List.of(broken.url()), vllm().withMinUncachedTokens(0));
      long dComputed = sum(decode, EngineStats::prefillTokensComputed);
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("iota", 800, 3, false));
      assertEquals(200, r.statusCode(), r.body());
      // Served whole on the decode side (counted), not sent on with parameters that would make
      // the decode engine recompute the prompt behind everyone's back.
      assertTrue(r.headers().firstValue("x-kvgate-prefill-endpoint").isEmpty());
      assertEquals(1, counter("kvgate_pd_transfer_incomplete"));
      assertEquals(
          1, counter("kvgate_pd_fallbacks", "reason", "prefill_failed", "action", "aggregate"));
      int prompt = new JsonObject(r.body()).getJsonObject("usage").getInteger("prompt_tokens");
      assertEquals(dComputed + prompt, sum(decode, EngineStats::prefillTokensComputed));
    } finally {
      await(broken.close());
    }
  }

  @Test
  void aClientCannotSetTransferParameters() throws Exception {
    start(vllm());
    JsonObject body =
        new JsonObject(chat("theta", 10, 3, false))
            .put("kv_transfer_params", new JsonObject().put("remote_host", "10.0.0.1"));
    HttpResponse<String> r = post(gateway.port(), "/v1/chat/completions", body.encode());
    assertEquals(400, r.statusCode());
    assertEquals("kv_transfer_params", error(r).getString("param"));
  }
}

package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Real HTTP over loopback against engines on ephemeral ports. */
class SimEngineHttpTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static Vertx vertx;
  private static HttpClient client;

  /** Fast engine: 1000x speed, so a 10 ms decode step is 10 us of wall time. */
  private static final SimEngineConfig FAST =
      SimEngineConfig.builder().speed(1000).capacityBlocks(2048).build();

  record Reply(int status, String body) {
    JsonNode json() {
      try {
        return JSON.readTree(body);
      } catch (Exception e) {
        throw new AssertionError("not JSON: " + body, e);
      }
    }
  }

  @BeforeAll
  static void setUp() {
    vertx = Vertx.vertx();
    client = vertx.createHttpClient(new HttpClientOptions(), new PoolOptions().setHttp1MaxSize(64));
  }

  @AfterAll
  static void tearDown() {
    client.close().await();
    vertx.close().await();
  }

  private static <T> T await(Future<T> f) {
    try {
      return f.await(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("timed out", e);
    }
  }

  private static Reply send(SimEngine e, HttpMethod method, String path, String body) {
    return await(
        client
            .request(
                new RequestOptions()
                    .setMethod(method)
                    .setHost("127.0.0.1")
                    .setPort(e.port())
                    .setURI(path))
            .compose(
                req ->
                    body == null
                        ? req.send()
                        : req.putHeader("content-type", "application/json").send(body))
            .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString()))));
  }

  private static Reply post(SimEngine e, String path, String body) {
    return send(e, HttpMethod.POST, path, body);
  }

  private static SimEngine start(SimEngineConfig c) {
    return await(SimEngine.start(vertx, c));
  }

  private static String chat(String content, int maxTokens, boolean stream) {
    ObjectNode o =
        JSON.createObjectNode()
            .put("model", SimEngineConfig.DEFAULT_MODEL)
            .put("max_tokens", maxTokens)
            .put("stream", stream);
    o.putArray("messages").addObject().put("role", "user").put("content", content);
    return o.toString();
  }

  /** Polls a condition on the event loop until it holds (for effects the test cannot await). */
  private static void eventually(BooleanSupplier condition) {
    Promise<Void> p = Promise.promise();
    long id =
        vertx.setPeriodic(
            2,
            t -> {
              if (condition.getAsBoolean()) p.tryComplete();
            });
    try {
      await(p.future());
    } finally {
      vertx.cancelTimer(id);
    }
  }

  @Test
  void chatCompletionReportsUsageAndCachedTokensOnRepeat() throws Exception {
    SimEngine e = start(FAST);
    try {
      String body = chat("lorem ipsum ".repeat(200), 7, false);
      Reply first = post(e, "/v1/chat/completions", body);
      assertEquals(200, first.status(), first.body());
      JsonNode j = first.json();
      assertEquals("chat.completion", j.get("object").asText());
      assertEquals("assistant", j.at("/choices/0/message/role").asText());
      assertEquals("length", j.at("/choices/0/finish_reason").asText());
      assertEquals(7, j.at("/choices/0/message/content").asText().trim().split(" ").length);
      int promptTokens =
          PromptTokenizer.countTokens(
              PromptTokenizer.renderChat(JSON.readTree(body).get("messages")));
      assertEquals(promptTokens, j.at("/usage/prompt_tokens").asInt());
      assertEquals(7, j.at("/usage/completion_tokens").asInt());
      assertEquals(promptTokens + 7, j.at("/usage/total_tokens").asInt());
      assertEquals(0, j.at("/usage/prompt_tokens_details/cached_tokens").asInt());
      JsonNode again = post(e, "/v1/chat/completions", body).json();
      assertEquals(
          (promptTokens - 1) / 16 * 16,
          again.at("/usage/prompt_tokens_details/cached_tokens").asInt());
      EngineStats s = e.stats();
      assertEquals(2, s.requests());
      assertEquals(1, s.cacheHitRequests());
      assertEquals(14, s.generationTokens());
      assertEquals(2L * promptTokens - s.cachedTokens(), s.prefillTokensComputed());
    } finally {
      await(e.close());
    }
  }

  @Test
  void streamingChatSendsVllmShapedChunksUsageAndDone() throws Exception {
    SimEngine e = start(FAST);
    try {
      ObjectNode o = (ObjectNode) JSON.readTree(chat("hello there", 5, true));
      o.putObject("stream_options").put("include_usage", true);
      Reply r = post(e, "/v1/chat/completions", o.toString());
      assertEquals(200, r.status());
      assertTrue(r.body().endsWith("data: [DONE]\n\n"));
      String[] events = r.body().split("\n\n");
      List<JsonNode> chunks = new ArrayList<>();
      for (String ev : events) {
        assertTrue(ev.startsWith("data: "), ev);
        if (!ev.equals("data: [DONE]")) chunks.add(JSON.readTree(ev.substring(6)));
      }
      assertEquals(1 + 5 + 1, chunks.size(), "role chunk, 5 tokens, usage chunk");
      assertEquals("assistant", chunks.get(0).at("/choices/0/delta/role").asText());
      Set<String> ids = new HashSet<>();
      for (JsonNode c : chunks) {
        assertEquals("chat.completion.chunk", c.get("object").asText());
        ids.add(c.get("id").asText());
      }
      assertEquals(1, ids.size());
      assertTrue(chunks.get(5).at("/choices/0/finish_reason").isTextual());
      assertTrue(chunks.get(4).at("/choices/0/finish_reason").isNull());
      JsonNode usage = chunks.get(6);
      assertEquals(0, usage.get("choices").size());
      assertEquals(5, usage.at("/usage/completion_tokens").asInt());
      assertTrue(usage.at("/usage/prompt_tokens_details/cached_tokens").isInt());
    } finally {
      await(e.close());
    }
  }

  @Test
  void completionsDefaultToSixteenTokensAndAcceptTokenIds() throws Exception {
    SimEngine e = start(FAST);
    try {
      Reply r =
          post(
              e,
              "/v1/completions",
              "{\"model\":\"kvgate-sim-8b\",\"prompt\":\"Once upon a time\",\"stream\":true}");
      assertEquals(200, r.status());
      int tokens = 0;
      for (String ev : r.body().split("\n\n")) {
        if (ev.equals("data: [DONE]")) continue;
        JsonNode c = JSON.readTree(ev.substring(6));
        assertEquals("text_completion", c.get("object").asText());
        assertFalse(c.at("/choices/0/text").asText().isEmpty());
        tokens++;
      }
      assertEquals(16, tokens);
      JsonNode ids =
          post(
                  e,
                  "/v1/completions",
                  "{\"model\":\"kvgate-sim-8b\",\"prompt\":[1,2,3,4,5],\"max_tokens\":2}")
              .json();
      assertEquals(5, ids.at("/usage/prompt_tokens").asInt());
      assertEquals("text_completion", ids.get("object").asText());
    } finally {
      await(e.close());
    }
  }

  @Test
  void modelsHealthAndErrorsLookLikeVllm() {
    SimEngine e = start(FAST.withMaxModelLen(100));
    try {
      assertEquals(200, send(e, HttpMethod.GET, "/health", null).status());
      JsonNode models = send(e, HttpMethod.GET, "/v1/models", null).json();
      assertEquals("kvgate-sim-8b", models.at("/data/0/id").asText());
      assertEquals(100, models.at("/data/0/max_model_len").asInt());

      Reply unknown =
          post(e, "/v1/chat/completions", chat("x", 1, false).replace("kvgate-sim-8b", "nope"));
      assertEquals(404, unknown.status());
      JsonNode err = unknown.json().get("error");
      assertEquals("NotFoundError", err.get("type").asText());
      assertEquals("model", err.get("param").asText());
      assertEquals(404, err.get("code").asInt());
      assertTrue(err.get("message").asText().contains("nope"));

      Reply malformed = post(e, "/v1/chat/completions", "{\"model\":");
      assertEquals(400, malformed.status());
      assertEquals("BadRequestError", malformed.json().at("/error/type").asText());

      Reply tooLong = post(e, "/v1/chat/completions", chat("y".repeat(400), 10, false));
      assertEquals(400, tooLong.status());
      assertTrue(
          tooLong.json().at("/error/message").asText().contains("maximum context length is 100"));
      assertEquals(0, e.stats().requests(), "rejected requests never reach the scheduler");
    } finally {
      await(e.close());
    }
  }

  @Test
  void metricsAreValidPrometheusWithVllmNames() {
    SimEngine e = start(FAST);
    try {
      String prompt = "m".repeat(800);
      post(e, "/v1/chat/completions", chat(prompt, 3, false));
      post(e, "/v1/chat/completions", chat(prompt, 3, false));
      String text = send(e, HttpMethod.GET, "/metrics", null).body();
      Set<String> typed = new HashSet<>();
      java.util.Map<String, String> types = new java.util.HashMap<>();
      for (String line : text.split("\n")) {
        if (line.startsWith("# TYPE ")) {
          String[] p = line.split(" ");
          typed.add(p[2]);
          types.put(p[2], p[3]);
          continue;
        }
        if (line.startsWith("# HELP ")) continue;
        if (line.startsWith("process_start_time_seconds ")) {
          // the process collector's metric carries no label, as vLLM's Python process has it
          assertTrue(Double.parseDouble(line.substring(line.indexOf(' ') + 1)) > 1.7e9, line);
          continue;
        }
        assertTrue(
            line.matches(
                "[a-zA-Z_:][a-zA-Z0-9_:]*\\{[^}]*model_name=\"kvgate-sim-8b\"[^}]*} [-+0-9.eE]+|.*\\+Inf.*"),
            line);
        String name = line.substring(0, line.indexOf('{'));
        String family = name.replaceAll("_(total|bucket|sum|count)$", "");
        assertTrue(typed.contains(family) || typed.contains(name), "no # TYPE for " + name);
        if ("counter".equals(types.get(family))) assertTrue(name.endsWith("_total"), name);
        Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
      for (String n :
          List.of(
              "vllm:num_requests_running",
              "vllm:num_requests_waiting",
              "vllm:kv_cache_usage_perc",
              "vllm:prefix_cache_queries",
              "vllm:prefix_cache_hits",
              "vllm:prompt_tokens",
              "vllm:generation_tokens",
              "vllm:time_to_first_token_seconds",
              "vllm:inter_token_latency_seconds",
              "vllm:e2e_request_latency_seconds",
              "kvgate_sim_client_disconnects")) {
        assertTrue(typed.contains(n), n);
      }
      assertTrue(text.contains("vllm:generation_tokens_total{model_name=\"kvgate-sim-8b\""));
      assertTrue(text.matches("(?s).*vllm:generation_tokens_total\\{[^}]*} 6\\n.*"));
      assertTrue(text.matches("(?s).*vllm:time_to_first_token_seconds_count\\{[^}]*} 2\\n.*"));
      assertTrue(
          text.matches("(?s).*vllm:inter_token_latency_seconds_count\\{[^}]*} 4\\n.*"),
          "2 gaps per 3-token request");
      assertTrue(text.matches("(?s).*vllm:prefix_cache_hits_total\\{[^}]*} [1-9][0-9]*\\n.*"));
    } finally {
      await(e.close());
    }
  }

  @Test
  void clientDisconnectStopsGenerationAndIsCounted() {
    // speed 1, 10 ms per token: 100000 tokens would take ~17 minutes
    SimEngine e = start(SimEngineConfig.builder().decodeMsPerToken(10).build());
    try {
      Promise<Void> firstChunk = Promise.promise();
      HttpClient own = vertx.createHttpClient();
      await(
          own.request(
                  new RequestOptions()
                      .setMethod(HttpMethod.POST)
                      .setHost("127.0.0.1")
                      .setPort(e.port())
                      .setURI("/v1/chat/completions"))
              .compose(req -> req.send(chat("stream me", 100_000, true)))
              .map(resp -> resp.handler(b -> firstChunk.tryComplete())));
      await(firstChunk.future());
      assertEquals(1, e.stats().running());
      await(own.close());
      eventually(() -> e.stats().disconnects() == 1);
      EngineStats s = e.stats();
      assertEquals(0, s.running());
      assertEquals(0.0, s.kvCacheUsage(), 1e-9, "blocks unpinned");
      assertTrue(s.generationTokens() < 100_000);
      assertEquals(0, s.finishedRequests());
    } finally {
      await(e.close());
    }
  }

  @Test
  void prefillAndDecodeFollowVllmKvTransferProtocol() throws Exception {
    SimEngine p = start(FAST.withRole(Role.PREFILL));
    SimEngine d = start(FAST.withRole(Role.DECODE));
    try {
      String prompt = "shared context ".repeat(300);
      ObjectNode pBody = (ObjectNode) JSON.readTree(chat(prompt, 1, false));
      pBody
          .putObject("kv_transfer_params")
          .put("do_remote_decode", true)
          .put("do_remote_prefill", false)
          .putNull("remote_engine_id")
          .putNull("remote_block_ids")
          .putNull("remote_host")
          .putNull("remote_port");
      JsonNode pr = post(p, "/v1/chat/completions", pBody.toString()).json();
      JsonNode kv = pr.get("kv_transfer_params");
      assertTrue(kv.get("do_remote_prefill").asBoolean());
      assertFalse(kv.get("do_remote_decode").asBoolean());
      assertEquals(p.engineId(), kv.get("remote_engine_id").asText());
      assertEquals(p.port(), kv.get("remote_port").asInt());
      assertEquals("127.0.0.1", kv.get("remote_host").asText());
      assertTrue(kv.get("remote_request_id").isTextual());
      int promptTokens = pr.at("/usage/prompt_tokens").asInt();
      assertEquals((promptTokens + 15) / 16, kv.get("remote_block_ids").size());

      ObjectNode dBody = (ObjectNode) JSON.readTree(chat(prompt, 4, true));
      dBody.set("kv_transfer_params", kv);
      Reply dr = post(d, "/v1/chat/completions", dBody.toString());
      assertEquals(200, dr.status());
      assertTrue(dr.body().endsWith("data: [DONE]\n\n"));
      EngineStats ds = d.stats();
      assertEquals(promptTokens - 1, ds.transferredTokens());
      assertEquals(1, ds.prefillTokensComputed(), "decode engine skipped the prefill");
      assertEquals(promptTokens, p.stats().prefillTokensComputed());
      assertTrue(
          ds.cachedBlocks() >= (promptTokens - 1) / 16, "transferred blocks entered D's cache");

      // a decode request without pull coordinates is computed locally, as vLLM does
      ObjectNode invalid = (ObjectNode) JSON.readTree(chat("other prompt ".repeat(50), 1, false));
      invalid.putObject("kv_transfer_params").put("do_remote_prefill", true);
      assertEquals(200, post(d, "/v1/chat/completions", invalid.toString()).status());
      assertTrue(d.stats().prefillTokensComputed() > 1);

      // role mismatch
      assertEquals(400, post(d, "/v1/chat/completions", pBody.toString()).status());
      assertEquals(400, post(p, "/v1/chat/completions", dBody.toString()).status());
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void errorRateAnswersSeededFractionWith500() {
    SimEngine all = start(FAST.withFaults(SimEngineConfig.Faults.NONE.withErrorRate(1.0, 1)));
    SimEngine half = start(FAST.withFaults(SimEngineConfig.Faults.NONE.withErrorRate(0.5, 7)));
    try {
      Reply r = post(all, "/v1/chat/completions", chat("x", 1, false));
      assertEquals(500, r.status());
      assertEquals("InternalServerError", r.json().at("/error/type").asText());
      int errors = 0;
      for (int i = 0; i < 40; i++) {
        if (post(half, "/v1/chat/completions", chat("x", 1, false)).status() == 500) errors++;
      }
      assertTrue(errors > 5 && errors < 35, "errors " + errors);
      assertEquals(40 - errors, half.stats().requests());
    } finally {
      await(all.close());
      await(half.close());
    }
  }

  @Test
  void hangBeforeFirstByteNeverAnswers() {
    SimEngine e =
        start(
            FAST.withFaults(
                SimEngineConfig.Faults.NONE.withHangBeforeFirstByte(Duration.ofHours(1))));
    try {
      Future<Reply> f =
          client
              .request(
                  new RequestOptions()
                      .setMethod(HttpMethod.POST)
                      .setHost("127.0.0.1")
                      .setPort(e.port())
                      .setURI("/v1/chat/completions")
                      .setIdleTimeout(300))
              .compose(req -> req.send(chat("x", 1, false)))
              .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString())));
      Throwable failure = await(f.transform(ar -> Future.succeededFuture(ar.cause())));
      assertInstanceOf(
          java.util.concurrent.TimeoutException.class,
          failure,
          "client idle timeout, no byte received");
      assertEquals(0, e.stats().requests());
      assertEquals(
          200, send(e, HttpMethod.GET, "/health", null).status(), "the server itself is up");
    } finally {
      await(e.close());
    }
  }

  @Test
  void slowStreamDelaysEveryChunk() {
    SimEngine e =
        start(
            FAST.withFaults(
                SimEngineConfig.Faults.NONE.withSlowStreamDelay(Duration.ofMillis(40))));
    try {
      long t0 = System.nanoTime();
      Reply r = post(e, "/v1/chat/completions", chat("x", 5, true));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(200, r.status());
      assertTrue(r.body().endsWith("data: [DONE]\n\n"));
      assertEquals(7, r.body().split("\n\n").length, "role + 5 tokens + DONE");
      // 6 chunk writes, each at least 40 ms after the previous: timers never fire early
      assertTrue(ms >= 6 * 40, "took " + ms + " ms");
    } finally {
      await(e.close());
    }
  }

  @Test
  void dieAfterRequestsClosesTheServer() {
    SimEngine e = start(FAST.withFaults(SimEngineConfig.Faults.NONE.withDieAfterRequests(2)));
    try {
      assertEquals(200, post(e, "/v1/chat/completions", chat("a", 1, false)).status());
      assertEquals(200, post(e, "/v1/chat/completions", chat("b", 1, false)).status());
      assertThrows(Throwable.class, () -> post(e, "/v1/chat/completions", chat("c", 1, false)));
      assertThrows(
          Throwable.class, () -> send(e, HttpMethod.GET, "/health", null), "no longer listening");
      assertEquals(2, e.stats().requests());
    } finally {
      await(e.close());
    }
  }

  @Test
  void refuseConnectionsHasAPortButNoListener() {
    SimEngine e = start(FAST.withFaults(SimEngineConfig.Faults.NONE.withRefuseConnections(true)));
    try {
      assertTrue(e.port() > 0);
      Throwable t = assertThrows(Throwable.class, () -> send(e, HttpMethod.GET, "/health", null));
      assertTrue(t.toString().toLowerCase().contains("refused"), t.toString());
    } finally {
      await(e.close());
    }
  }

  @Test
  void fleetStartsReplicasOnEphemeralPorts() {
    SimFleet fleet = await(SimFleet.start(vertx, FAST, 3, 0));
    try {
      assertEquals(3, fleet.engines().size());
      assertEquals(3, new HashSet<>(fleet.urls()).size());
      for (SimEngine e : fleet.engines()) {
        assertEquals(200, send(e, HttpMethod.GET, "/health", null).status());
      }
    } finally {
      await(fleet.close());
    }
  }
}

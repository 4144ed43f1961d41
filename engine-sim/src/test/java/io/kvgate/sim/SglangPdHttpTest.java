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
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SGLang's P/D bootstrap protocol, SGLang's server info, and the fault knobs on P/D legs, over real
 * HTTP. The prefill engines run on a Vert.x of their own, so a decode engine reaches a room only
 * through the bootstrap server's socket, as it would in another process.
 */
class SglangPdHttpTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static Vertx vertx;
  private static Vertx prefillVertx;
  private static HttpClient client;
  private static io.vertx.core.Context clientContext;
  private static long nextRoom = 1L << 62;

  /** 1000x speed: a 30 s bootstrap timeout is 30 ms of wall time. */
  private static final SimEngineConfig FAST =
      SimEngineConfig.builder().speed(1000).capacityBlocks(2048).build();

  /** Never times out during a test: 10 simulated hours = 36 s of wall time. */
  private static final Duration PATIENT = Duration.ofHours(10);

  record Reply(int status, String body) {
    JsonNode json() {
      try {
        return JSON.readTree(body);
      } catch (Exception e) {
        throw new AssertionError("not JSON: " + body, e);
      }
    }

    /** The data events of an SSE body, [DONE] excluded. */
    List<JsonNode> events() {
      assertTrue(body.endsWith("data: [DONE]\n\n"), body);
      List<JsonNode> out = new ArrayList<>();
      for (String ev : body.split("\n\n")) {
        assertTrue(ev.startsWith("data: "), ev);
        if (!ev.equals("data: [DONE]")) {
          try {
            out.add(JSON.readTree(ev.substring(6)));
          } catch (Exception e) {
            throw new AssertionError(ev, e);
          }
        }
      }
      return out;
    }
  }

  @BeforeAll
  static void setUp() {
    vertx = Vertx.vertx();
    prefillVertx = Vertx.vertx();
    client = vertx.createHttpClient(new HttpClientOptions(), new PoolOptions().setHttp1MaxSize(64));
    clientContext = vertx.getOrCreateContext();
  }

  @AfterAll
  static void tearDown() {
    client.close().await();
    vertx.close().await();
    prefillVertx.close().await();
  }

  private static <T> T await(Future<T> f) {
    try {
      return f.await(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("timed out", e);
    }
  }

  /**
   * Sends from the test's one client context: a request made from the test thread would get a new
   * context each time, and a pooled connection's response could then reach the body handler late.
   */
  private static Future<Reply> sendAsync(int port, HttpMethod method, String path, String body) {
    Promise<Reply> reply = Promise.promise();
    clientContext.runOnContext(v -> send(port, method, path, body).onComplete(reply));
    return reply.future();
  }

  private static Future<Reply> send(int port, HttpMethod method, String path, String body) {
    return client
        .request(
            new RequestOptions().setMethod(method).setHost("127.0.0.1").setPort(port).setURI(path))
        .compose(
            req ->
                body == null
                    ? req.send()
                    : req.putHeader("content-type", "application/json").send(body))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString())));
  }

  private static Future<Reply> postAsync(SimEngine e, String body) {
    return sendAsync(e.port(), HttpMethod.POST, "/v1/chat/completions", body);
  }

  private static Reply post(SimEngine e, String body) {
    return await(postAsync(e, body));
  }

  private static Reply get(int port, String path) {
    return await(sendAsync(port, HttpMethod.GET, path, null));
  }

  private static SimEngine prefill(SimEngineConfig c) {
    return await(SimEngine.start(prefillVertx, c.withRole(Role.PREFILL)));
  }

  private static SimEngine decode(SimEngineConfig c) {
    return await(SimEngine.start(vertx, c.withRole(Role.DECODE)));
  }

  private static ObjectNode chat(String content, int maxTokens, boolean stream) {
    ObjectNode o =
        JSON.createObjectNode()
            .put("model", SimEngineConfig.DEFAULT_MODEL)
            .put("max_tokens", maxTokens)
            .put("stream", stream);
    o.putArray("messages").addObject().put("role", "user").put("content", content);
    if (stream) o.putObject("stream_options").put("include_usage", true);
    return o;
  }

  /** The body a router sends to both legs: the client's plus the three bootstrap fields. */
  private static String sglang(ObjectNode body, String host, int port, long room) {
    return body.deepCopy()
        .put("bootstrap_host", host)
        .put("bootstrap_port", port)
        .put("bootstrap_room", room)
        .toString();
  }

  private static int promptTokens(ObjectNode body) {
    return PromptTokenizer.countTokens(PromptTokenizer.renderChat(body.get("messages")));
  }

  /** Polls a condition until it holds (effects across engines the test cannot await). */
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

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void prefillAndDecodeGetTheSameBodyAndTheDecodeAnswerIsTheClients() {
    SimEngine p = prefill(FAST);
    SimEngine d = decode(FAST.withBootstrapTimeout(PATIENT));
    try {
      assertTrue(p.bootstrapPort() > 0);
      assertEquals(-1, d.bootstrapPort(), "only prefill engines run a bootstrap server");
      ObjectNode plain = chat("a shared system prompt and a question ".repeat(40), 8, false);
      int n = promptTokens(plain);
      long room = nextRoom++;
      String body = sglang(plain, "127.0.0.1", p.bootstrapPort(), room);
      Future<Reply> pf = postAsync(p, body);
      Future<Reply> df = postAsync(d, body);
      Reply pr = await(pf);
      Reply dr = await(df);

      assertEquals(200, pr.status(), pr.body());
      assertEquals(1, pr.json().at("/usage/completion_tokens").asInt(), "a prefill answers 1");
      assertEquals(200, dr.status(), dr.body());
      JsonNode dj = dr.json();
      assertEquals("chat.completion", dj.get("object").asText());
      assertEquals(8, dj.at("/choices/0/message/content").asText().trim().split(" ").length);
      assertEquals(8, dj.at("/usage/completion_tokens").asInt());
      assertEquals(n, dj.at("/usage/prompt_tokens").asInt());
      assertEquals(
          n - 1, dj.at("/usage/prompt_tokens_details/cached_tokens").asInt(), "transferred");

      EngineStats ds = d.stats();
      assertEquals(n - 1, ds.transferredTokens());
      assertEquals(1, ds.prefillTokensComputed(), "the decode engine recomputed one token");
      assertEquals(0, ds.bootstrapFailed());
      assertEquals(0, ds.bootstrapWaiting());
      assertEquals(n, p.stats().prefillTokensComputed());
      assertEquals(0, p.stats().bootstrapRooms(), "the decode engine consumed the room");

      // streamed, with bootstrap_host localhost: the client still gets the decode's answer
      ObjectNode streamed = chat("another prompt for the streaming case ".repeat(30), 5, true);
      int sn = promptTokens(streamed);
      String sbody = sglang(streamed, "localhost", p.bootstrapPort(), nextRoom++);
      Future<Reply> spf = postAsync(p, sbody);
      Future<Reply> sdf = postAsync(d, sbody);
      List<JsonNode> pe = await(spf).events();
      assertEquals(1 + 1 + 1, pe.size(), "role, 1 token, usage: the prefill generated one token");
      Reply sdr = await(sdf);
      assertEquals(200, sdr.status());
      List<JsonNode> de = sdr.events();
      assertEquals(1 + 5 + 1, de.size(), "role chunk, 5 tokens, usage chunk");
      assertEquals("assistant", de.get(0).at("/choices/0/delta/role").asText());
      JsonNode usage = de.get(6).get("usage");
      assertEquals(5, usage.get("completion_tokens").asInt());
      assertEquals(sn - 1, usage.at("/prompt_tokens_details/cached_tokens").asInt());
      assertEquals(0, d.stats().bootstrapFailed());
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void aDecodeThatArrivesFirstWaitsForTheRoom() {
    SimEngine p = prefill(FAST);
    SimEngine d = decode(FAST.withBootstrapTimeout(PATIENT));
    try {
      ObjectNode plain = chat("the decode leg gets here first ".repeat(30), 3, false);
      int n = promptTokens(plain);
      String body = sglang(plain, "127.0.0.1", p.bootstrapPort(), nextRoom++);
      Future<Reply> df = postAsync(d, body);
      eventually(() -> d.stats().bootstrapWaiting() == 1 && p.bootstrapServer().waiters() == 1);
      assertFalse(df.isComplete());
      assertEquals(0, d.stats().requests(), "nothing enters the core before the room");
      assertEquals(200, post(p, body).status());
      Reply dr = await(df);
      assertEquals(200, dr.status(), dr.body());
      assertEquals(n - 1, dr.json().at("/usage/prompt_tokens_details/cached_tokens").asInt());
      assertEquals(n - 1, d.stats().transferredTokens());
      assertEquals(0, d.stats().bootstrapFailed());
      assertEquals(0, p.bootstrapServer().waiters());
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void withoutItsRoomTheDecodeComputesThePromptAndCountsTheFailure() throws Exception {
    SimEngine p = prefill(FAST);
    SimEngine d = decode(FAST.withBootstrapTimeout(Duration.ofSeconds(5))); // 5 ms of wall time
    try {
      ObjectNode plain = chat("no prefill engine ever sees this ".repeat(30), 4, false);
      int n = promptTokens(plain);
      // the room is never registered: the decode waits 5 s (simulated), then prefills itself
      Reply r = post(d, sglang(plain, "127.0.0.1", p.bootstrapPort(), nextRoom++));
      assertEquals(200, r.status(), r.body());
      assertEquals(4, r.json().at("/usage/completion_tokens").asInt());
      assertEquals(0, r.json().at("/usage/prompt_tokens_details/cached_tokens").asInt());
      EngineStats s = d.stats();
      assertEquals(1, s.bootstrapFailed());
      assertEquals(0, s.transferredTokens());
      assertEquals(n, s.prefillTokensComputed());
      String metrics = get(d.port(), "/metrics").body();
      assertTrue(metrics.matches("(?s).*kvgate_sim_bootstrap_failed_total\\{[^}]*} 1\\n.*"));
      assertTrue(metrics.matches("(?s).*kvgate_sim_bootstrap_waiting_requests\\{[^}]*} 0.0\\n.*"));
      // TTFT counts from arrival: the wait is part of it
      double ttftSum =
          Double.parseDouble(
              metrics.replaceAll(
                  "(?s).*vllm:time_to_first_token_seconds_sum\\{[^}]*} ([0-9.eE+-]+)\\n.*", "$1"));
      assertTrue(ttftSum >= 5, "TTFT " + ttftSum + " s includes the 5 s bootstrap wait");

      // no bootstrap port, or a port nobody listens on: computed locally at once, counted
      ObjectNode nullPort = (ObjectNode) JSON.readTree(sglang(plain, "127.0.0.1", 1, nextRoom++));
      nullPort.putNull("bootstrap_port");
      assertEquals(200, post(d, nullPort.toString()).status());
      assertEquals(2, d.stats().bootstrapFailed());
      SimEngine patient = decode(FAST.withBootstrapTimeout(PATIENT));
      try {
        Reply unreachable =
            post(patient, sglang(plain, "127.0.0.1", freePort(), nextRoom++)); // refused
        assertEquals(200, unreachable.status());
        assertEquals(1, patient.stats().bootstrapFailed());
        // a port that answers 404 at once (the prefill's API port): retried after a backoff until
        // the deadline, not given up on and not polled in a busy loop
        Future<Reply> waiting =
            postAsync(patient, sglang(plain, "127.0.0.1", p.port(), nextRoom++));
        eventually(() -> patient.stats().bootstrapWaiting() == 1);
        assertFalse(waiting.isComplete());
        assertEquals(1, patient.stats().bootstrapFailed());
      } finally {
        await(patient.close());
      }
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void aClientThatLeavesWhileTheDecodeWaitsAbortsIt() {
    SimEngine p = prefill(FAST);
    SimEngine d = decode(FAST.withBootstrapTimeout(PATIENT));
    HttpClient own = vertx.createHttpClient();
    try {
      ObjectNode plain = chat("the client gives up ".repeat(30), 3, false);
      long room = nextRoom++;
      String body = sglang(plain, "127.0.0.1", p.bootstrapPort(), room);
      own.request(
              new RequestOptions()
                  .setMethod(HttpMethod.POST)
                  .setHost("127.0.0.1")
                  .setPort(d.port())
                  .setURI("/v1/chat/completions"))
          .compose(req -> req.send(body))
          .onComplete(x -> {});
      eventually(() -> d.stats().bootstrapWaiting() == 1 && p.bootstrapServer().waiters() == 1);
      await(own.close());
      eventually(() -> d.stats().disconnects() == 1);
      eventually(() -> p.bootstrapServer().waiters() == 0);
      EngineStats s = d.stats();
      assertEquals(0, s.bootstrapWaiting());
      assertEquals(0, s.requests(), "never submitted to the core");
      assertEquals(0, s.running());
      assertEquals(0, s.waiting());
      assertEquals(0, s.bootstrapFailed(), "an abort is not a bootstrap failure");
      // the prefill leg still runs; its room waits for a decode that will never take it
      assertEquals(200, post(p, body).status());
      assertEquals(1, p.stats().bootstrapRooms());
      assertEquals(0, d.stats().requests(), "no late submission");
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void serverInfoLooksLikeSglangsInEveryMode() {
    SimEngine both = await(SimEngine.start(vertx, FAST));
    SimEngine p = prefill(FAST);
    SimEngine d = decode(FAST);
    SimEngine legacy =
        await(SimEngine.start(vertx, FAST.withServerInfo(SimEngineConfig.ServerInfo.LEGACY_ONLY)));
    SimEngine none =
        await(SimEngine.start(vertx, FAST.withServerInfo(SimEngineConfig.ServerInfo.NONE)));
    try {
      for (String path : List.of("/server_info", "/get_server_info")) {
        JsonNode b = get(both.port(), path).json();
        assertEquals("null", b.get("disaggregation_mode").asText(), path);
        assertEquals(8998, b.get("disaggregation_bootstrap_port").asInt());
        assertEquals(SimEngineConfig.DEFAULT_MODEL, b.get("served_model_name").asText());
        assertEquals(SimEngineConfig.DEFAULT_MODEL, b.get("model_path").asText());
        assertEquals(16, b.get("page_size").asInt());
        assertEquals(2048L * 16, b.get("max_total_num_tokens").asLong());
        JsonNode pi = get(p.port(), path).json();
        assertEquals("prefill", pi.get("disaggregation_mode").asText());
        assertEquals(p.bootstrapPort(), pi.get("disaggregation_bootstrap_port").asInt());
        JsonNode di = get(d.port(), path).json();
        assertEquals("decode", di.get("disaggregation_mode").asText());
        assertEquals(8998, di.get("disaggregation_bootstrap_port").asInt());
      }
      assertEquals(404, get(legacy.port(), "/server_info").status());
      assertEquals(200, get(legacy.port(), "/get_server_info").status());
      assertEquals(404, get(none.port(), "/server_info").status());
      assertEquals(404, get(none.port(), "/get_server_info").status());
      assertEquals(
          "NotFoundError", get(none.port(), "/server_info").json().at("/error/type").asText());
      Reply health = get(p.bootstrapPort(), "/health");
      assertEquals(200, health.status());
      assertEquals("OK", health.body());
    } finally {
      for (SimEngine e : List.of(both, p, d, legacy, none)) await(e.close());
    }
  }

  @Test
  void badBootstrapFieldsAreRefusedWithTheFieldNamed() throws Exception {
    SimEngine both = await(SimEngine.start(vertx, FAST));
    SimEngine d = decode(FAST);
    SimEngine p = prefill(FAST);
    try {
      String ok = sglang(chat("bad fields", 2, false), "127.0.0.1", 8998, 7);
      String[][] cases = {
        {"bootstrap_host", "5"},
        {"bootstrap_host", "[\"h\"]"},
        {"bootstrap_port", "\"8998\""},
        {"bootstrap_port", "1.5"},
        {"bootstrap_port", "70000"},
        {"bootstrap_room", "-1"},
        {"bootstrap_room", "\"7\""},
        {"bootstrap_room", "1.0"},
        {"bootstrap_room", "9223372036854775808"},
      };
      for (SimEngine e : List.of(both, d, p)) {
        for (String[] c : cases) {
          ObjectNode o = (ObjectNode) JSON.readTree(ok);
          o.set(c[0], JSON.readTree(c[1]));
          Reply r = post(e, o.toString());
          assertEquals(400, r.status(), c[0] + "=" + c[1] + " on " + e.config().role());
          JsonNode err = r.json().get("error");
          assertEquals("BadRequestError", err.get("type").asText());
          assertEquals(c[0], err.get("param").asText());
          assertEquals(400, err.get("code").asInt());
        }
      }
      // 2^63 - 1 is a room
      ObjectNode max = (ObjectNode) JSON.readTree(ok);
      max.put("bootstrap_room", Long.MAX_VALUE);
      assertEquals(200, post(both, max.toString()).status());

      ObjectNode noRoom = (ObjectNode) JSON.readTree(ok);
      noRoom.remove("bootstrap_room");
      Reply r = post(p, noRoom.toString());
      assertEquals(400, r.status());
      assertEquals("bootstrap_room", r.json().at("/error/param").asText());
      ObjectNode twoProtocols = (ObjectNode) JSON.readTree(ok);
      twoProtocols.putObject("kv_transfer_params").put("do_remote_prefill", true);
      r = post(d, twoProtocols.toString());
      assertEquals(400, r.status());
      assertEquals("kv_transfer_params", r.json().at("/error/param").asText());
      assertEquals(0, d.stats().requests() + p.stats().requests());

      // a BOTH engine ignores valid bootstrap fields: aggregated, its own prefill, max_tokens kept
      Reply agg = post(both, ok);
      assertEquals(200, agg.status());
      assertEquals(2, agg.json().at("/usage/completion_tokens").asInt());
      assertEquals(0, both.stats().bootstrapFailed());
      assertEquals(
          promptTokens((ObjectNode) JSON.readTree(ok)) * 2L, both.stats().prefillTokensComputed());
    } finally {
      for (SimEngine e : List.of(both, d, p)) await(e.close());
    }
  }

  /** The prefill leg of vLLM's protocol, as the toy proxy sends it. */
  private static String vllmPrefillLeg(ObjectNode body) {
    ObjectNode o = body.deepCopy().put("max_tokens", 1).put("stream", false);
    o.putObject("kv_transfer_params")
        .put("do_remote_decode", true)
        .put("do_remote_prefill", false)
        .putNull("remote_engine_id")
        .putNull("remote_block_ids")
        .putNull("remote_host")
        .putNull("remote_port");
    o.remove("stream_options");
    return o.toString();
  }

  @Test
  void incompleteKvTransferLeavesOutTheBlockIdsSoTheDecodeRecomputes() {
    SimEngine p =
        prefill(FAST.withFaults(SimEngineConfig.Faults.NONE.withIncompleteKvTransfer(true)));
    SimEngine d = decode(FAST);
    try {
      ObjectNode plain = chat("a misconfigured connector ".repeat(30), 3, false);
      int n = promptTokens(plain);
      Reply pr = post(p, vllmPrefillLeg(plain));
      assertEquals(200, pr.status(), pr.body());
      JsonNode kv = pr.json().get("kv_transfer_params");
      assertTrue(kv.get("do_remote_prefill").asBoolean());
      assertFalse(kv.has("remote_block_ids"), kv.toString());
      for (String f :
          List.of("remote_engine_id", "remote_request_id", "remote_host", "remote_port")) {
        assertTrue(kv.hasNonNull(f), f);
      }
      ObjectNode dBody = plain.deepCopy();
      dBody.set("kv_transfer_params", kv);
      Reply dr = post(d, dBody.toString());
      assertEquals(200, dr.status());
      assertEquals(0, dr.json().at("/usage/prompt_tokens_details/cached_tokens").asInt());
      assertEquals(0, d.stats().transferredTokens());
      assertEquals(n, d.stats().prefillTokensComputed(), "silently recomputed");
    } finally {
      await(p.close());
      await(d.close());
    }
  }

  @Test
  void faultKnobsApplyToPrefillAndDecodeLegsAlike() throws Exception {
    SimEngineConfig.Faults errors = SimEngineConfig.Faults.NONE.withErrorRate(1.0, 1);
    ObjectNode plain = chat("faulty legs ".repeat(30), 2, false);
    SimEngine erringP = prefill(FAST.withFaults(errors));
    SimEngine erringD = decode(FAST.withFaults(errors));
    SimEngine d = decode(FAST.withBootstrapTimeout(Duration.ofSeconds(5)));
    try {
      // errorRate: 500 on both legs of both protocols, before any work
      long room = nextRoom++;
      String body = sglang(plain, "127.0.0.1", erringP.bootstrapPort(), room);
      assertEquals(500, post(erringP, vllmPrefillLeg(plain)).status());
      assertEquals(500, post(erringP, body).status());
      ObjectNode vllmDecode = plain.deepCopy();
      vllmDecode
          .putObject("kv_transfer_params")
          .put("do_remote_prefill", true)
          .put("remote_engine_id", "e")
          .put("remote_request_id", "r")
          .put("remote_host", "127.0.0.1")
          .put("remote_port", 1)
          .putArray("remote_block_ids")
          .add(1);
      assertEquals(500, post(erringD, vllmDecode.toString()).status());
      assertEquals(500, post(erringD, body).status());
      assertEquals(0, erringD.stats().bootstrapWaiting() + erringD.stats().bootstrapFailed());
      // the failed prefill leg never registered its room: the decode leg recomputes after the
      // timeout
      assertEquals(200, post(d, body).status());
      assertEquals(1, d.stats().bootstrapFailed());
    } finally {
      for (SimEngine e : List.of(erringP, erringD, d)) await(e.close());
    }

    // dieAfterRequests: the dead prefill engine's bootstrap server is gone too
    SimEngine dying = prefill(FAST.withFaults(SimEngineConfig.Faults.NONE.withDieAfterRequests(1)));
    SimEngine refusing =
        prefill(FAST.withFaults(SimEngineConfig.Faults.NONE.withRefuseConnections(true)));
    SimEngine patient = decode(FAST.withBootstrapTimeout(PATIENT));
    SimEngine hanging =
        decode(
            FAST.withFaults(
                SimEngineConfig.Faults.NONE.withHangBeforeFirstByte(Duration.ofHours(1))));
    try {
      String first = sglang(plain, "127.0.0.1", dying.bootstrapPort(), nextRoom++);
      Future<Reply> firstD = postAsync(patient, first);
      assertEquals(200, post(dying, first).status(), "the one request it serves");
      assertEquals(200, await(firstD).status());
      assertEquals(0, patient.stats().bootstrapFailed());
      String second = sglang(plain, "127.0.0.1", dying.bootstrapPort(), nextRoom++);
      assertThrows(Throwable.class, () -> post(dying, second), "dead");
      assertEquals(200, post(patient, second).status(), "computed locally at once");
      assertEquals(1, patient.stats().bootstrapFailed());

      // refuseConnections: a bootstrap port is reported, nothing listens on it
      assertTrue(refusing.bootstrapPort() > 0);
      String third = sglang(plain, "127.0.0.1", refusing.bootstrapPort(), nextRoom++);
      assertEquals(200, post(patient, third).status());
      assertEquals(2, patient.stats().bootstrapFailed());

      // hangBeforeFirstByte: a decode leg is accepted and never answered, nor starts waiting
      Future<Reply> hung =
          client
              .request(
                  new RequestOptions()
                      .setMethod(HttpMethod.POST)
                      .setHost("127.0.0.1")
                      .setPort(hanging.port())
                      .setURI("/v1/chat/completions")
                      .setIdleTimeout(300))
              .compose(req -> req.send(third))
              .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString())));
      Throwable failure = await(hung.transform(ar -> Future.succeededFuture(ar.cause())));
      assertInstanceOf(java.util.concurrent.TimeoutException.class, failure);
      assertEquals(0, hanging.stats().bootstrapWaiting());
      assertEquals(0, hanging.stats().requests());
    } finally {
      for (SimEngine e : List.of(dying, refusing, patient, hanging)) await(e.close());
    }
  }
}

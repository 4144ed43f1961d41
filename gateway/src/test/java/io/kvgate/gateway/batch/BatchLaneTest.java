package io.kvgate.gateway.batch;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.eventually;
import static org.junit.jupiter.api.Assertions.*;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponse;
import com.openai.errors.NotFoundException;
import com.openai.models.batches.Batch;
import com.openai.models.batches.BatchCreateParams;
import com.openai.models.batches.BatchListParams;
import com.openai.models.files.FileCreateParams;
import com.openai.models.files.FileObject;
import com.openai.models.files.FilePurpose;
import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.TestSupport;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batch lane in one JVM: a simulated fleet, a gateway with the lane on, the official OpenAI SDK
 * or plain HTTP as the client.
 */
class BatchLaneTest {

  static final String MODEL = "sim-model";

  @TempDir Path dir;
  Vertx vertx;
  SimFleet fleet;
  Gateway gateway;
  OpenAIClient sdk;

  @AfterEach
  void tearDown() throws Exception {
    if (sdk != null) sdk.close();
    if (gateway != null) await(gateway.close());
    if (fleet != null) await(fleet.close());
    if (vertx != null) await(vertx.close());
  }

  /** A fleet of {@code engines} and a gateway with the lane on under {@code dir}. */
  void start(int engines, SimEngineConfig engine, GatewayConfig.Batch batch) throws Exception {
    vertx = Vertx.vertx();
    fleet = await(SimFleet.start(vertx, engine.toBuilder().model(MODEL).build(), engines, 0));
    cfg = TestSupport.config(MODEL, fleet.urls(), "cache-aware").withBatch(batch);
    startGateway();
  }

  GatewayConfig cfg;

  /** The gateway (again, on the same data directory) and an SDK client for it. */
  void startGateway() throws Exception {
    gateway = await(Gateway.start(vertx, cfg));
    sdk =
        OpenAIOkHttpClient.builder()
            .baseUrl("http://127.0.0.1:" + gateway.port() + "/v1")
            .apiKey("unused")
            .maxRetries(0)
            .timeout(Duration.ofSeconds(30))
            .build();
  }

  GatewayConfig.Batch lane() {
    return GatewayConfig.Batch.OFF.on(dir.resolve("data"));
  }

  static SimEngineConfig fast() {
    return SimEngineConfig.builder().speed(50).build();
  }

  /** Realistic timings: a line of {@code n} output tokens takes about n x 8 ms. */
  static SimEngineConfig realTime() {
    return SimEngineConfig.builder().build();
  }

  static String line(String id, String url, JsonObject body) {
    return new JsonObject()
            .put("custom_id", id)
            .put("method", "POST")
            .put("url", url)
            .put("body", body)
            .encode()
        + "\n";
  }

  static JsonObject chat(String system, String user, int maxTokens) {
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", maxTokens)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "system").put("content", system))
                .add(new JsonObject().put("role", "user").put("content", user)));
  }

  /** {@code n} chat lines in {@code groups} groups sharing a long system prompt, interleaved. */
  static String jsonl(int n, int groups, int maxTokens) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      String system = ("You are assistant " + (i % groups) + ". ").repeat(100);
      sb.append(
          line("req-" + i, "/v1/chat/completions", chat(system, "Question " + i + "?", maxTokens)));
    }
    return sb.toString();
  }

  String upload(String jsonl) {
    FileObject f =
        sdk.files()
            .create(
                FileCreateParams.builder()
                    .file(jsonl.getBytes(StandardCharsets.UTF_8))
                    .purpose(FilePurpose.BATCH)
                    .build());
    assertEquals("batch", f.purpose().asString());
    assertEquals(jsonl.getBytes(StandardCharsets.UTF_8).length, f.bytes());
    return f.id();
  }

  Batch create(String fileId, String window) {
    return sdk.batches()
        .create(
            BatchCreateParams.builder()
                .inputFileId(fileId)
                .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS)
                .completionWindow(BatchCreateParams.CompletionWindow.of(window))
                .build());
  }

  Batch awaitStatus(String id, Batch.Status... statuses) {
    Batch[] last = new Batch[1];
    eventually(
        "batch " + id + " reaches " + List.of(statuses),
        () -> {
          last[0] = sdk.batches().retrieve(id);
          return List.of(statuses).contains(last[0].status());
        });
    return last[0];
  }

  List<JsonObject> records(String fileId) throws Exception {
    List<JsonObject> out = new ArrayList<>();
    try (HttpResponse r = sdk.files().content(fileId);
        InputStream in = r.body()) {
      for (String l : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!l.isBlank()) out.add(new JsonObject(l));
      }
    }
    return out;
  }

  /** Every custom id of {@code n} lines appears exactly once across the records. */
  static void everyLineOnce(int n, List<JsonObject> records) {
    Set<String> ids = new HashSet<>();
    for (JsonObject r : records) {
      assertTrue(ids.add(r.getString("custom_id")), "twice: " + r.getString("custom_id"));
      assertTrue(r.getString("id").startsWith("batch_req_"), r.encode());
    }
    Set<String> want = new HashSet<>();
    for (int i = 0; i < n; i++) want.add("req-" + i);
    assertEquals(want, ids);
  }

  /** The first validation error's code of a batch of {@code jsonl}, which must fail. */
  String failedWith(String jsonl) {
    return awaitStatus(create(upload(jsonl), "24h").id(), Batch.Status.FAILED)
        .errors()
        .orElseThrow()
        .data()
        .orElseThrow()
        .get(0)
        .code()
        .orElseThrow();
  }

  double metric(String name, String... tags) {
    var search = gateway.registry().find(name).tags(tags);
    if (search.counter() != null) return search.counter().count();
    if (search.gauge() != null) return search.gauge().value();
    return 0;
  }

  @Test
  void sdkRoundTripUploadCreatePollDownloadListDelete() throws Exception {
    start(2, fast(), lane());
    String fileId = upload(jsonl(40, 4, 8));
    assertEquals(fileId, sdk.files().retrieve(fileId).id());

    Batch created = create(fileId, "24h");
    assertEquals("validating", created.status().asString());
    Batch done = awaitStatus(created.id(), Batch.Status.COMPLETED);
    assertEquals(40, done.requestCounts().orElseThrow().total());
    assertEquals(40, done.requestCounts().orElseThrow().completed());
    assertEquals(0, done.requestCounts().orElseThrow().failed());
    assertTrue(done.errorFileId().isEmpty(), "no error file when every line succeeded");
    assertTrue(done.completedAt().isPresent() && done.inProgressAt().isPresent());

    List<JsonObject> out = records(done.outputFileId().orElseThrow());
    everyLineOnce(40, out);
    for (JsonObject r : out) {
      JsonObject resp = r.getJsonObject("response");
      assertEquals(200, resp.getInteger("status_code"), r.encode());
      JsonObject body = resp.getJsonObject("body");
      // The answer a non-streamed request would have had, though the lane streams it.
      assertEquals("chat.completion", body.getString("object"));
      JsonObject message = body.getJsonArray("choices").getJsonObject(0).getJsonObject("message");
      assertEquals("assistant", message.getString("role"));
      assertFalse(message.getString("content").isEmpty());
      assertTrue(body.getJsonObject("usage").getInteger("prompt_tokens") > 0);
      assertNull(r.getValue("error"));
    }
    assertEquals(40.0, metric("kvgate_batch_lines_finished_total", "outcome", "completed"));

    // Lines sharing a prompt head went one after another to where it was warm: most prompt tokens
    // were cached (4 groups of 10 lines; only each group's first line is a miss).
    long prompt = 0;
    long cached = 0;
    for (SimEngine e : fleet.engines()) {
      prompt += e.stats().promptTokens();
      cached += e.stats().cachedTokens();
    }
    assertTrue(cached > 0.7 * prompt, "cached " + cached + " of " + prompt + " prompt tokens");

    // Paging: two batches, one per page.
    Batch second = create(fileId, "1h");
    awaitStatus(second.id(), Batch.Status.COMPLETED);
    var page = sdk.batches().list(BatchListParams.builder().limit(1).build());
    assertEquals(second.id(), page.data().get(0).id());
    assertTrue(page.hasMore().orElse(false));
    var next = sdk.batches().list(BatchListParams.builder().limit(1).after(second.id()).build());
    assertEquals(created.id(), next.data().get(0).id());
    assertFalse(next.hasMore().orElse(true));

    assertTrue(sdk.files().delete(fileId).deleted());
    assertThrows(NotFoundException.class, () -> sdk.files().retrieve(fileId));
  }

  @Test
  void aRestartEndsABatchTheWayItWasEnding() throws Exception {
    start(1, fast(), lane());
    String fileId = upload(jsonl(6, 2, 4));
    String[] ids = new String[3];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = awaitStatus(create(fileId, "24h").id(), Batch.Status.COMPLETED).id();
    }
    await(gateway.close());
    sdk.close();
    // As a kill -9 would leave them after every line's record and before the batch's end: one
    // expiring (its object still in_progress), one cancelling, one in_progress.
    String[] stored = {"expiring", "cancelling", "in_progress"};
    try (BatchStore store = new BatchStore(dir.resolve("data"))) {
      for (int i = 0; i < ids.length; i++) {
        JsonObject obj =
            new JsonObject(store.batch(ids[i]).object())
                .put("status", stored[i].equals("expiring") ? "in_progress" : stored[i])
                .putNull("completed_at")
                .putNull("output_file_id");
        store.updateBatch(ids[i], stored[i], obj.encode());
      }
    }
    startGateway();
    Batch expired = awaitStatus(ids[0], Batch.Status.EXPIRED, Batch.Status.COMPLETED);
    assertEquals(Batch.Status.EXPIRED, expired.status());
    Batch cancelled = awaitStatus(ids[1], Batch.Status.CANCELLED, Batch.Status.COMPLETED);
    assertEquals(Batch.Status.CANCELLED, cancelled.status());
    Batch completed = awaitStatus(ids[2], Batch.Status.COMPLETED);
    for (Batch b : List.of(expired, cancelled, completed)) {
      // Every line had its answer before the crash: nothing ran again, nothing was lost.
      assertEquals(6, b.requestCounts().orElseThrow().completed(), b.id());
      everyLineOnce(6, records(b.outputFileId().orElseThrow()));
    }
  }

  @Test
  void cancelEndsEveryLineWithAResultOrACancelledRecord() throws Exception {
    start(2, realTime(), lane());
    String fileId = upload(jsonl(120, 6, 100));
    Batch created = create(fileId, "24h");
    eventually(
        "some lines done",
        () -> sdk.batches().retrieve(created.id()).requestCounts().orElseThrow().completed() > 2);
    Batch cancelling = sdk.batches().cancel(created.id());
    assertTrue(
        List.of(Batch.Status.CANCELLING, Batch.Status.CANCELLED).contains(cancelling.status()),
        cancelling.status().asString());
    Batch done = awaitStatus(created.id(), Batch.Status.CANCELLED);
    var counts = done.requestCounts().orElseThrow();
    assertEquals(120, counts.total());
    assertEquals(120, counts.completed() + counts.failed());
    assertTrue(counts.completed() > 0 && counts.failed() > 0, counts.toString());
    List<JsonObject> all = new ArrayList<>(records(done.outputFileId().orElseThrow()));
    List<JsonObject> errors = records(done.errorFileId().orElseThrow());
    for (JsonObject e : errors) {
      assertNull(e.getValue("response"));
      assertEquals("batch_cancelled", e.getJsonObject("error").getString("code"));
    }
    all.addAll(errors);
    everyLineOnce(120, all);
    // A cancelled batch cannot be cancelled again.
    var r = post("/v1/batches/" + created.id() + "/cancel", "");
    assertEquals(409, r.statusCode(), r.body());
    assertEquals("batch_not_cancellable", TestSupport.error(r).getString("code"));
  }

  @Test
  void completionWindowExpiresTheLinesStillPending() throws Exception {
    start(1, realTime(), lane());
    String fileId = upload(jsonl(80, 4, 100));
    Batch created = create(fileId, "3s");
    assertEquals("3s", created.completionWindow());
    Batch done = awaitStatus(created.id(), Batch.Status.EXPIRED);
    assertTrue(done.expiredAt().isPresent());
    var counts = done.requestCounts().orElseThrow();
    assertEquals(80, counts.completed() + counts.failed());
    assertTrue(counts.completed() > 0 && counts.failed() > 0, counts.toString());
    List<JsonObject> all = new ArrayList<>(records(done.outputFileId().orElseThrow()));
    List<JsonObject> expired = records(done.errorFileId().orElseThrow());
    for (JsonObject e : expired) {
      assertEquals("batch_expired", e.getJsonObject("error").getString("code"), e.encode());
    }
    all.addAll(expired);
    everyLineOnce(80, all);
    assertEquals(
        (double) counts.failed(),
        metric("kvgate_batch_lines_finished_total", "outcome", "expired"));
  }

  @Test
  void malformedLinesEndAsErrorRecordsNotAFailedBatch() throws Exception {
    start(1, fast(), lane());
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 5; i++) {
      JsonObject body =
          i % 2 == 0
              ? chat("sys", "q" + i, 4)
              : new JsonObject().put("model", MODEL).put("messages", 5);
      sb.append(line("req-" + i, "/v1/chat/completions", body));
    }
    Batch done = awaitStatus(create(upload(sb.toString()), "24h").id(), Batch.Status.COMPLETED);
    var counts = done.requestCounts().orElseThrow();
    assertEquals(3, counts.completed());
    assertEquals(2, counts.failed());
    List<JsonObject> errors = records(done.errorFileId().orElseThrow());
    assertEquals(2, errors.size());
    for (JsonObject e : errors) {
      JsonObject resp = e.getJsonObject("response");
      assertEquals(400, resp.getInteger("status_code"), e.encode());
      TestSupport.error(resp.getJsonObject("body").encode());
    }
    List<JsonObject> all = new ArrayList<>(records(done.outputFileId().orElseThrow()));
    all.addAll(errors);
    everyLineOnce(5, all);
  }

  @Test
  void malformedFilesFailValidationWithOpenAiErrors() throws Exception {
    start(1, fast(), lane().withLimits(4096, 4));
    String good = line("a", "/v1/chat/completions", chat("s", "q", 4));
    String file =
        good
            + "{not json\n"
            + line("b", "/v1/completions", chat("s", "q", 4))
            + line("c", "/v1/chat/completions", chat("s", "q", 4).put("model", "other"));
    Batch failed = awaitStatus(create(upload(file), "24h").id(), Batch.Status.FAILED);
    assertTrue(failed.failedAt().isPresent());
    var data = failed.errors().orElseThrow().data().orElseThrow();
    assertEquals(
        List.of("invalid_json_line", "invalid_url", "mismatched_model"),
        data.stream().map(d -> d.code().orElseThrow()).toList());
    assertEquals(List.of(2L, 3L, 4L), data.stream().map(d -> d.line().orElseThrow()).toList());

    // Missing fields, a repeated custom_id.
    String missing =
        good
            + new JsonObject().put("method", "POST").put("url", "/v1/chat/completions").encode()
            + "\n"
            + good;
    var e2 =
        awaitStatus(create(upload(missing), "24h").id(), Batch.Status.FAILED)
            .errors()
            .orElseThrow()
            .data()
            .orElseThrow();
    assertEquals("missing_required_parameter", e2.get(0).code().orElseThrow());
    assertEquals("custom_id", e2.get(0).param().orElseThrow());
    assertEquals("duplicate_custom_id", e2.get(1).code().orElseThrow());

    // Over the line limit (4), and a model nobody serves.
    StringBuilder five = new StringBuilder();
    for (int i = 0; i < 5; i++)
      five.append(line("x" + i, "/v1/chat/completions", chat("s", "q", 1)));
    assertEquals("too_many_requests", failedWith(five.toString()));
    String unknown = line("u", "/v1/chat/completions", chat("s", "q", 1).put("model", "nope"));
    assertEquals("model_not_found", failedWith(unknown));

    // Over the size limit (4096 bytes): refused at upload.
    var big = multipart("x".repeat(5000), "batch");
    assertEquals(413, big.statusCode(), big.body());
    assertEquals("file_too_large", TestSupport.error(big).getString("code"));

    // The create request itself.
    String fileId = upload(good);
    var badEndpoint = createRaw(fileId, "/v1/images", "24h");
    assertEquals(400, badEndpoint.statusCode());
    assertEquals("endpoint", TestSupport.error(badEndpoint).getString("param"));
    var badWindow = createRaw(fileId, "/v1/chat/completions", "48h");
    assertEquals(400, badWindow.statusCode());
    assertEquals("completion_window", TestSupport.error(badWindow).getString("param"));
    var noFile = createRaw("file-nothere", "/v1/chat/completions", "24h");
    assertEquals(404, noFile.statusCode());
    var notJson = post("/v1/batches", "{");
    assertEquals(400, notJson.statusCode());
    TestSupport.error(notJson);
    var badPurpose = multipart(good, "nonsense");
    assertEquals(400, badPurpose.statusCode());
    assertEquals("purpose", TestSupport.error(badPurpose).getString("param"));
  }

  @Test
  void batchLinesStayUnderTheWatermarkAndLeaveTheLastSlot() throws Exception {
    GatewayConfig.Batch batch =
        lane().withAdmission(64, true, new GatewayConfig.Watermark(3, 1_000_000, 0.99));
    start(2, realTime(), batch);
    List<EndpointState> eps = gateway.route(MODEL).endpoints();
    AtomicInteger max = new AtomicInteger();
    long sampler =
        vertx.setPeriodic(
            2,
            t -> {
              for (EndpointState e : eps) max.accumulateAndGet(e.inFlight(), Math::max);
            });
    Batch done = awaitStatus(create(upload(jsonl(40, 4, 30)), "24h").id(), Batch.Status.COMPLETED);
    vertx.cancelTimer(sampler);
    assertEquals(40, done.requestCounts().orElseThrow().completed());
    // maxInFlight 3: a batch line goes only where it leaves one slot under it free.
    assertEquals(2, max.get(), "the most requests in flight seen on one endpoint");
    // The lane sends no more lines than there are free slots: with no interactive traffic, a line
    // finds no endpoint (a deferral) only through a rare race with a line being routed.
    double deferred = metric("kvgate_batch_deferred_total");
    assertTrue(deferred <= 4, deferred + " deferrals for 40 lines");
  }

  @Test
  void interactiveRequestPreemptsBatchLinesInPrefill() throws Exception {
    // Slow prefill: a 2,500-token batch prompt takes about 2.5 s before its first token.
    SimEngineConfig slowPrefill =
        SimEngineConfig.builder().prefillTokensPerSecond(1_000).maxNumBatchedTokens(512).build();
    GatewayConfig.Batch batch =
        lane().withAdmission(64, true, new GatewayConfig.Watermark(3, 1_000_000, 0.99));
    start(1, slowPrefill, batch);
    StringBuilder sb = new StringBuilder();
    IntFunction<String> prompt = i -> ("Document " + i + " says many things. ").repeat(400);
    for (int i = 0; i < 4; i++)
      sb.append(line("req-" + i, "/v1/chat/completions", chat(prompt.apply(i), "Summarise.", 2)));
    Batch created = create(upload(sb.toString()), "24h");
    eventually("batch lines in flight", () -> gateway.batchLane().gate().running() == 2);
    long before = (long) metric("kvgate_batch_preemptions_total");
    var r =
        TestSupport.post(
            gateway.port(), "/v1/chat/completions", TestSupport.chat(MODEL, "hi", 2, false));
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(metric("kvgate_batch_preemptions_total") >= before + 2, "both lines preempted");
    // Preempted lines run again, and every line ends once.
    Batch done = awaitStatus(created.id(), Batch.Status.COMPLETED);
    assertEquals(4, done.requestCounts().orElseThrow().completed());
    everyLineOnce(4, records(done.outputFileId().orElseThrow()));
    // The interactive request's first byte was recorded as beside the batch.
    assertEquals(
        1,
        gateway
            .registry()
            .find("kvgate_interactive_ttft_seconds")
            .tags("batch_running", "true")
            .timer()
            .count());
  }

  @Test
  void theLaneIsOffWhenConfiguredOff() throws Exception {
    start(1, fast(), GatewayConfig.Batch.OFF);
    var r = TestSupport.get(gateway.port(), "/v1/batches");
    assertEquals(404, r.statusCode());
    assertEquals("unknown_url", TestSupport.error(r).getString("code"));
  }

  /** {@code POST /v1/batches} with a raw body, for the refusals the SDK would not let through. */
  java.net.http.HttpResponse<String> createRaw(String fileId, String endpoint, String window)
      throws Exception {
    return post(
        "/v1/batches",
        new JsonObject()
            .put("input_file_id", fileId)
            .put("endpoint", endpoint)
            .put("completion_window", window)
            .encode());
  }

  java.net.http.HttpResponse<String> post(String path, String body) throws Exception {
    return TestSupport.post(gateway.port(), path, body);
  }

  /** A raw multipart upload. */
  java.net.http.HttpResponse<String> multipart(String content, String purpose) throws Exception {
    String boundary = "kvgateboundary";
    String body =
        "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            + purpose
            + "\r\n--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
            + "Content-Type: application/jsonl\r\n\r\n"
            + content
            + "\r\n--"
            + boundary
            + "--\r\n";
    return TestSupport.HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + "/v1/files"))
            .timeout(Duration.ofSeconds(30))
            .header("content-type", "multipart/form-data; boundary=" + boundary)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
  }
}

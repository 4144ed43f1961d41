package io.kvgate.gateway.batch;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.eventually;
import static org.junit.jupiter.api.Assertions.*;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponse;
import com.openai.models.batches.Batch;
import com.openai.models.batches.BatchCreateParams;
import com.openai.models.files.FileCreateParams;
import com.openai.models.files.FilePurpose;
import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.TestSupport;
import io.kvgate.gateway.cluster.LoopbackPorts;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two clustered gateways, each with its own data directory: a file uploaded through one is used by
 * a batch created through the other, and when the gateway running the batch dies, the other adopts
 * it from the cluster's copy and completes it, every line recorded once.
 */
class BatchClusterTest {

  static final String MODEL = BatchLaneTest.MODEL;

  @TempDir Path dir;
  Vertx vertx;
  SimFleet fleet;
  final List<Gateway> gateways = new ArrayList<>();
  final List<OpenAIClient> clients = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (OpenAIClient c : clients) c.close();
    for (Gateway g : gateways) await(g.close());
    if (fleet != null) await(fleet.close());
    if (vertx != null) await(vertx.close());
  }

  @Test
  void aBatchSurvivesTheGatewayRunningIt() throws Exception {
    vertx = Vertx.vertx();
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 2, 0));
    String name = "kvgate-batch-" + Long.toHexString(System.nanoTime());
    List<Integer> ports = LoopbackPorts.pick(2);
    List<String> members = ports.stream().map(p -> "127.0.0.1:" + p).toList();
    for (int i = 0; i < 2; i++) {
      GatewayConfig cfg =
          TestSupport.config(MODEL, fleet.urls(), "cache-aware")
              .withBatch(GatewayConfig.Batch.OFF.on(dir.resolve("data-" + i)))
              .withCluster(
                  GatewayConfig.Cluster.OFF
                      .on(name, ports.get(i), members)
                      .withGatewayId("gw-" + i)
                      .withTimings(
                          Duration.ofMillis(10),
                          Duration.ofMillis(500),
                          Duration.ofSeconds(3),
                          Duration.ofSeconds(20),
                          Duration.ofSeconds(1)));
      gateways.add(await(Gateway.start(vertx, cfg)));
    }
    await(Gateway.formed(vertx, gateways));
    for (Gateway g : gateways) {
      clients.add(
          OpenAIOkHttpClient.builder()
              .baseUrl("http://127.0.0.1:" + g.port() + "/v1")
              .apiKey("unused")
              .maxRetries(0)
              .timeout(Duration.ofSeconds(30))
              .build());
    }
    OpenAIClient first = clients.get(0);
    OpenAIClient second = clients.get(1);

    int n = 60;
    byte[] jsonl = BatchLaneTest.jsonl(n, 3, 60).getBytes(StandardCharsets.UTF_8);
    // Uploaded through gw-0, read and used through gw-1.
    String fileId =
        first
            .files()
            .create(FileCreateParams.builder().file(jsonl).purpose(FilePurpose.BATCH).build())
            .id();
    assertEquals(jsonl.length, second.files().retrieve(fileId).bytes());
    Batch created =
        second
            .batches()
            .create(
                BatchCreateParams.builder()
                    .inputFileId(fileId)
                    .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS)
                    .completionWindow(BatchCreateParams.CompletionWindow._24H)
                    .build());
    // gw-1 runs it; its progress is visible through gw-0.
    eventually(
        "progress seen through gw-0",
        () ->
            first.batches().retrieve(created.id()).requestCounts().orElseThrow().completed() >= 6);

    // gw-1 dies: its member leaves without a goodbye, its listener closes.
    Gateway runner = gateways.remove(1);
    runner.cluster().hazelcast().getLifecycleService().terminate();
    await(runner.close());

    Batch[] done = new Batch[1];
    try {
      eventually(
          "gw-0 adopts and completes the batch",
          () -> {
            done[0] = first.batches().retrieve(created.id());
            return Batch.Status.COMPLETED.equals(done[0].status());
          });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; last seen: " + done[0], e);
    }
    assertEquals(n, done[0].requestCounts().orElseThrow().completed());
    Set<String> ids = new HashSet<>();
    try (HttpResponse r = first.files().content(done[0].outputFileId().orElseThrow());
        InputStream in = r.body()) {
      for (String l : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (l.isBlank()) continue;
        JsonObject rec = new JsonObject(l);
        assertEquals(200, rec.getJsonObject("response").getInteger("status_code"));
        assertTrue(ids.add(rec.getString("custom_id")), "twice: " + rec.getString("custom_id"));
      }
    }
    assertEquals(n, ids.size());
  }
}

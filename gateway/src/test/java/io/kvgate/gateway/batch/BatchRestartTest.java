package io.kvgate.gateway.batch;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.eventually;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.TestSupport;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gateway process killed with SIGKILL in the middle of a batch, and started again on the same
 * data directory: the batch resumes, every line ends with exactly one record, none is lost.
 */
class BatchRestartTest {

  static final String MODEL = BatchLaneTest.MODEL;

  @TempDir Path dir;
  Vertx vertx;
  SimFleet fleet;
  Process child;

  @AfterEach
  void tearDown() throws Exception {
    if (child != null) child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    if (fleet != null) await(fleet.close());
    if (vertx != null) await(vertx.close());
  }

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** {@code kvgate serve} in a child JVM on this JVM's classpath, the lane under {@code data}. */
  Process serve(int port, Path data) throws Exception {
    StringBuilder y = new StringBuilder();
    y.append("listener: {host: 127.0.0.1, port: ").append(port).append("}\n");
    y.append("admin: {enabled: false}\n");
    y.append("models:\n  - name: ").append(MODEL).append("\n    policy: cache-aware\n");
    y.append("    endpoints:\n");
    for (String u : fleet.urls()) y.append("      - url: ").append(u).append('\n');
    y.append("batch:\n  dataDir: ").append(data).append('\n');
    Path cfg = dir.resolve("gw.yaml");
    Files.writeString(cfg, y.toString());
    return TestSupport.serveProcess(cfg, dir.resolve("gw.log"), "256m");
  }

  static JsonObject json(HttpResponse<String> r) {
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  static HttpResponse<String> getQuietly(int port, String path) {
    try {
      return TestSupport.get(port, path);
    } catch (Exception e) {
      return null;
    }
  }

  @Test
  void killedMidBatchResumesAndRecordsEveryLineOnce() throws Exception {
    vertx = Vertx.vertx();
    // Real-time engines: a line of 60 tokens takes about half a second.
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).build(), 2, 0));
    int port = freePort();
    Path data = dir.resolve("data");
    child = serve(port, data);
    eventually(
        "the gateway is up",
        () -> {
          HttpResponse<String> r = getQuietly(port, "/ready");
          return r != null && r.statusCode() == 200;
        });

    int n = 60;
    String jsonl = BatchLaneTest.jsonl(n, 3, 60);
    String boundary = "b0undary";
    String multipart =
        "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            + "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n"
            + jsonl
            + "\r\n--"
            + boundary
            + "--\r\n";
    JsonObject file =
        json(
            TestSupport.HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/files"))
                    .timeout(Duration.ofSeconds(30))
                    .header("content-type", "multipart/form-data; boundary=" + boundary)
                    .POST(HttpRequest.BodyPublishers.ofString(multipart))
                    .build(),
                HttpResponse.BodyHandlers.ofString()));
    JsonObject batch =
        json(
            TestSupport.post(
                port,
                "/v1/batches",
                new JsonObject()
                    .put("input_file_id", file.getString("id"))
                    .put("endpoint", "/v1/chat/completions")
                    .put("completion_window", "24h")
                    .encode()));
    String id = batch.getString("id");
    eventually(
        "a few lines done",
        () -> {
          HttpResponse<String> r = getQuietly(port, "/v1/batches/" + id);
          return r != null
              && new JsonObject(r.body()).getJsonObject("request_counts").getInteger("completed")
                  >= 8;
        });
    // Lines are in flight at the engines now: SIGKILL, no drain, no shutdown hook.
    new ProcessBuilder("kill", "-9", Long.toString(child.pid())).start().waitFor();
    assertTrue(child.waitFor(10, TimeUnit.SECONDS));
    long enginesBefore = 0;
    for (SimEngine e : fleet.engines()) enginesBefore += e.stats().requests();

    child = serve(port, data);
    JsonObject[] done = new JsonObject[1];
    eventually(
        "the batch completes after the restart",
        () -> {
          HttpResponse<String> r = getQuietly(port, "/v1/batches/" + id);
          if (r == null || r.statusCode() != 200) return false;
          done[0] = new JsonObject(r.body());
          return done[0].getString("status").equals("completed");
        });
    JsonObject counts = done[0].getJsonObject("request_counts");
    assertEquals(n, counts.getInteger("total"));
    assertEquals(n, counts.getInteger("completed"), done[0].encode());
    String out =
        TestSupport.get(port, "/v1/files/" + done[0].getString("output_file_id") + "/content")
            .body();
    Set<String> ids = new HashSet<>();
    int records = 0;
    for (String l : out.split("\n")) {
      if (l.isBlank()) continue;
      records++;
      JsonObject r = new JsonObject(l);
      assertEquals(200, r.getJsonObject("response").getInteger("status_code"));
      assertTrue(ids.add(r.getString("custom_id")), "recorded twice: " + r.getString("custom_id"));
    }
    assertEquals(n, records);
    // The restart ran what was left, not the whole batch again.
    long enginesTotal = 0;
    for (SimEngine e : fleet.engines()) enginesTotal += e.stats().requests();
    assertTrue(
        enginesTotal - enginesBefore < n,
        "sent again after the restart: " + (enginesTotal - enginesBefore));
  }
}

package io.kvgate.gateway.cli;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kvgate serve} as a process receiving SIGTERM with streams in flight: {@code /ready}
 * answers 503, every stream finishes with {@code [DONE]}, and the process exits.
 */
class SigtermTest {

  Vertx vertx = Vertx.vertx();
  SimFleet fleet;
  Process process;

  @AfterEach
  void stop() throws Exception {
    if (process != null) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    if (fleet != null) await(fleet.close());
    await(vertx.close());
  }

  @Test
  void sigtermLetsStreamsFinishThenExits(@TempDir Path dir) throws Exception {
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").build(), 2, 0));
    Path config = dir.resolve("gateway.yaml");
    Path output = dir.resolve("serve.log");
    Files.writeString(
        config,
        "listener: {host: 127.0.0.1, port: 0}\n"
            + "admin: {enabled: false}\n"
            + "drain: {grace: 300ms, timeout: 20s}\n"
            + "models:\n  - name: m\n    policy: round-robin\n    endpoints:\n"
            + fleet.urls().stream()
                .map(u -> "      - url: " + u + "\n")
                .collect(Collectors.joining()));
    process = serve(config, output);
    Pattern listening = Pattern.compile("kvgate listening on http://[^:]+:(\\d+)");
    eventually(
        "the gateway is listening",
        () -> listening.matcher(read(output)).find() || !process.isAlive());
    Matcher m = listening.matcher(read(output));
    assertTrue(m.find(), "the gateway started: " + read(output));
    int port = Integer.parseInt(m.group(1));

    int p = port;
    List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      streams.add(
          HTTP.sendAsync(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p + "/v1/chat/completions"))
                  .timeout(Duration.ofSeconds(60))
                  .header("content-type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(chat("m", "story " + i, 600, true)))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    // Streams are in flight once the engines received them all (each lasts about 5 s).
    eventually(
        "10 streams in flight",
        () -> fleet.engines().stream().mapToLong(e -> e.stats().requests()).sum() >= 10);

    process.destroy(); // SIGTERM
    eventually(
        "/ready answers 503",
        () -> {
          try {
            return get(p, "/ready").statusCode() == 503;
          } catch (Exception e) {
            return false;
          }
        });
    for (var f : streams) {
      HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode());
      assertTrue(r.body().trim().endsWith("data: [DONE]"), "finished: " + r.body());
    }
    assertTrue(process.waitFor(30, TimeUnit.SECONDS), "exited: " + read(output));
    String log = read(output);
    assertTrue(log.contains("kvgate: stopping: draining"), log);
    assertTrue(log.contains("kvgate: drained, exiting"), log);
  }

  @Test
  void adminDrainEndsTheProcess(@TempDir Path dir) throws Exception {
    fleet = await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").build(), 1, 0));
    Path config = dir.resolve("gateway.yaml");
    Path output = dir.resolve("serve.log");
    Files.writeString(
        config,
        "listener: {host: 127.0.0.1, port: 0}\n"
            + "admin: {host: 127.0.0.1, port: 0}\n"
            + "drain: {grace: 100ms, timeout: 5s}\n"
            + "models:\n  - name: m\n    endpoints:\n      - url: "
            + fleet.urls().get(0)
            + "\n");
    process = serve(config, output);
    Pattern admin = Pattern.compile("admin \\(/metrics, /admin/\\*\\) on http://[^:]+:(\\d+)");
    eventually(
        "the admin listener is up", () -> admin.matcher(read(output)).find() || !process.isAlive());
    Matcher m = admin.matcher(read(output));
    assertTrue(m.find(), read(output));
    int adminPort = Integer.parseInt(m.group(1));
    assertEquals(202, post(adminPort, "/admin/drain", "{}").statusCode());
    assertTrue(
        process.waitFor(30, TimeUnit.SECONDS), "exited after the admin drain: " + read(output));
    assertTrue(read(output).contains("kvgate: drained, exiting"), read(output));
  }

  /** {@code kvgate serve --config config} in its own JVM, its output to {@code output}. */
  static Process serve(Path config, Path output) throws java.io.IOException {
    return new ProcessBuilder(
            ProcessHandle.current().info().command().orElse("java"),
            "-cp",
            System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
            Main.class.getName(),
            "serve",
            "--config",
            config.toString())
        .redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .start();
  }

  static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (java.io.IOException e) {
      return "";
    }
  }
}

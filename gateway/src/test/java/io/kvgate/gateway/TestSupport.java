package io.kvgate.gateway;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Shared helpers of the gateway tests: waiting on futures from the test thread, plain HTTP calls.
 */
public final class TestSupport {

  public static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  private TestSupport() {}

  /** Waits on a Vert.x future from the test thread (never an event loop). */
  public static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /**
   * Deadline polling for an effect outside the test thread's control (a background check, a scrape,
   * a counter another thread updates): looks every 20 ms, fails after 20 s naming {@code what}.
   */
  public static void eventually(String what, java.util.function.BooleanSupplier condition) {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) throw new AssertionError("not within 20 s: " + what);
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(20).toNanos());
    }
  }

  /** A config for tests: ephemeral port, fast health checks off the critical path. */
  public static GatewayConfig config(String model, List<String> urls, String policy) {
    return GatewayConfig.of(model, urls, policy)
        .withListener(new GatewayConfig.Listener("127.0.0.1", 0))
        .withAdmin(new GatewayConfig.Admin(true, "127.0.0.1", 0))
        .withHealth(new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 3));
  }

  public static HttpResponse<String> post(int port, String path, String body, String... headers)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(30))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i + 1 < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  public static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(30))
            .GET()
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The {@code error} object of an OpenAI-shaped error body; fails if the shape is wrong. */
  public static JsonObject error(HttpResponse<String> r) {
    return error(r.body());
  }

  /** The {@code error} object of an OpenAI-shaped error body; fails if the shape is wrong. */
  public static JsonObject error(String text) {
    JsonObject body = new JsonObject(text);
    JsonObject error = body.getJsonObject("error");
    if (error == null
        || !error.containsKey("message")
        || !error.containsKey("type")
        || !error.containsKey("param")
        || !error.containsKey("code")) {
      throw new AssertionError("not an OpenAI error body: " + text);
    }
    return error;
  }

  /**
   * {@code kvgate serve --config config} in a child JVM on this JVM's classpath (with its module
   * opens), its output appended to {@code log}.
   */
  public static Process serveProcess(java.nio.file.Path config, java.nio.file.Path log, String heap)
      throws java.io.IOException {
    List<String> cmd = new java.util.ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-opens") || a.startsWith("--add-exports")) cmd.add(a);
    }
    cmd.addAll(
        List.of(
            "-Xmx" + heap,
            "-cp",
            System.getProperty("java.class.path"),
            "io.kvgate.gateway.cli.Main",
            "serve",
            "--config",
            config.toString()));
    return new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
  }

  /** A chat body with one user message. */
  public static String chat(String model, String content, int maxTokens, boolean stream) {
    JsonObject b =
        new JsonObject()
            .put("model", model)
            .put("max_tokens", maxTokens)
            .put("stream", stream)
            .put(
                "messages",
                new io.vertx.core.json.JsonArray()
                    .add(new JsonObject().put("role", "user").put("content", content)));
    return b.encode();
  }
}

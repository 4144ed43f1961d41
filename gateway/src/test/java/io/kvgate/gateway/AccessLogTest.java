package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.log.AccessLog;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The sampled access log: about {@code sampleRate} of the requests get one JSON line each, with the
 * exchange's facts and none of its secrets; {@code errorsAlways} logs every failed request.
 */
class AccessLogTest {

  static final String SECRET_KEY = "sk-live-DO-NOT-LOG-4f9a";
  static final String SECRET_PROMPT = "my password is hunter2-PROMPT";
  static final String OK_BODY =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
          + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}";

  final Logger accessLogger = Logger.getLogger(AccessLog.LOGGER);
  final LogLines capture = new LogLines();
  final List<String> lines = capture.lines();

  WireMockServer engine;
  Vertx vertx;
  Gateway gateway;

  @BeforeEach
  void start() {
    accessLogger.setUseParentHandlers(false);
    accessLogger.addHandler(capture);
    engine = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    engine.start();
    engine.stubFor(get("/health").willReturn(ok()));
    engine.stubFor(get("/metrics").willReturn(ok("")));
    engine.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
    engine.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY)));
    engine.stubFor(
        post("/v1/chat/completions")
            .withRequestBody(containing("please-fail"))
            .willReturn(serverError().withBody("no")));
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() throws Exception {
    accessLogger.removeHandler(capture);
    accessLogger.setUseParentHandlers(true);
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    engine.stop();
  }

  private void startGateway(GatewayConfig.AccessLog accessLog) throws Exception {
    GatewayConfig c =
        config("m", List.of("http://127.0.0.1:" + engine.port()), "round-robin")
            .withLimits(new GatewayConfig.Limits(1 << 20, 1))
            .withHealth(
                new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 1000)
                    .withErrorRate(new GatewayConfig.ErrorRate(1, 1, Duration.ofSeconds(10), 50)))
            .withLogging(GatewayConfig.Logging.DEFAULT.withAccessLog(accessLog));
    gateway = await(Gateway.start(vertx, c));
  }

  /** Sends {@code n} requests with {@code content}, 8 at a time; returns their statuses. */
  private List<Integer> send(int n, String content) throws Exception {
    ExecutorService clients = Executors.newFixedThreadPool(8);
    try {
      List<Future<HttpResponse<String>>> answers = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        answers.add(
            clients.submit(
                () ->
                    post(
                        gateway.port(),
                        "/v1/chat/completions",
                        chat("m", content, 4, false),
                        "authorization",
                        "Bearer " + SECRET_KEY,
                        "cookie",
                        "session=" + SECRET_KEY)));
      }
      List<Integer> statuses = new ArrayList<>();
      for (var a : answers) statuses.add(a.get().statusCode());
      return statuses;
    } finally {
      clients.shutdownNow();
    }
  }

  private double counter(String name) {
    var c = gateway.registry().find(name).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aboutTheSampledShareIsLoggedWithoutSecrets() throws Exception {
    startGateway(new GatewayConfig.AccessLog(0.25, false));
    List<Integer> statuses = send(400, SECRET_PROMPT);
    assertTrue(statuses.stream().allMatch(s -> s == 200), statuses.toString());
    eventually(
        "every queued line written",
        () -> lines.size() == (long) counter("kvgate_access_log_lines"));
    // 400 draws at 0.25: mean 100, standard deviation 8.7; 60..140 is beyond 4.5 of them.
    assertTrue(lines.size() >= 60 && lines.size() <= 140, lines.size() + " of 400 lines");
    assertEquals(0, counter("kvgate_access_log_dropped"));
    Set<String> ids = new java.util.HashSet<>();
    for (String line : lines) {
      assertFalse(line.contains(SECRET_KEY), line);
      assertFalse(line.contains("hunter2"), line);
      assertFalse(line.toLowerCase(java.util.Locale.ROOT).contains("authorization"), line);
      JsonObject j = new JsonObject(line);
      assertEquals(
          Set.of(
              "time",
              "request_id",
              "model",
              "path",
              "endpoint",
              "status",
              "attempts",
              "latency_ms",
              "ttfb_ms",
              "prompt_tokens",
              "completion_tokens"),
          j.fieldNames());
      assertEquals("m", j.getString("model"));
      assertEquals("/v1/chat/completions", j.getString("path"));
      assertEquals("127.0.0.1:" + engine.port(), j.getString("endpoint"));
      assertEquals(200, j.getInteger("status"));
      assertEquals(1, j.getInteger("attempts"));
      assertEquals(7, j.getLong("prompt_tokens"));
      assertEquals(3, j.getLong("completion_tokens"));
      assertTrue(j.getDouble("latency_ms") >= j.getDouble("ttfb_ms"), line);
      assertTrue(j.getDouble("ttfb_ms") > 0, line);
      ids.add(j.getString("request_id"));
    }
    assertEquals(lines.size(), ids.size(), "one line per request");
  }

  @Test
  void errorsAreAlwaysLoggedAndSuccessesNotSampledAreNot() throws Exception {
    startGateway(new GatewayConfig.AccessLog(0, true));
    assertTrue(send(30, "hello").stream().allMatch(s -> s == 200));
    assertTrue(send(20, "please-fail").stream().allMatch(s -> s == 502));
    eventually("the twenty failures logged", () -> lines.size() == 20);
    for (String line : lines) {
      JsonObject j = new JsonObject(line);
      assertEquals(502, j.getInteger("status"), line);
      assertFalse(j.containsKey("ttfb_ms"), "no byte was relayed: " + line);
      assertFalse(line.contains(SECRET_KEY), line);
    }
    // the counter is incremented after the line is handed to the sink
    eventually("twenty lines counted", () -> counter("kvgate_access_log_lines") == 20);
  }

  @Test
  void offByDefault() throws Exception {
    startGateway(GatewayConfig.AccessLog.OFF);
    assertTrue(send(20, "hello").stream().allMatch(s -> s == 200));
    assertEquals(0, counter("kvgate_access_log_lines"));
    assertTrue(lines.isEmpty());
  }
}

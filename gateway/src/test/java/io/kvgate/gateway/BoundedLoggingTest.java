package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.proxy.UpstreamProxy;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An error storm (hundreds of failing requests) prints a bounded number of log lines: at most
 * {@code logging.maxLinesPerInterval} per interval, the rest counted in {@code
 * kvgate_log_suppressed_total} and reported in a summary line.
 */
class BoundedLoggingTest {

  static final int STORM = 200;
  static final int MAX_LINES = 5;
  static final Duration INTERVAL = Duration.ofSeconds(1);

  final Logger proxyLog = Logger.getLogger(UpstreamProxy.class.getName());
  final LogLines capture = new LogLines();
  final List<String> lines = capture.lines();

  WireMockServer engine;
  Vertx vertx;
  Gateway gateway;

  @BeforeEach
  void start() throws Exception {
    proxyLog.setUseParentHandlers(false);
    proxyLog.addHandler(capture);
    engine = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    engine.start();
    engine.stubFor(get("/health").willReturn(ok()));
    engine.stubFor(get("/metrics").willReturn(ok("")));
    engine.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
    engine.stubFor(post("/v1/chat/completions").willReturn(serverError().withBody("storm")));
    vertx = Vertx.vertx();
    // Never ejected (so that every request reaches the engine and fails there), never retried.
    GatewayConfig c =
        config("m", List.of("http://127.0.0.1:" + engine.port()), "round-robin")
            .withLimits(new GatewayConfig.Limits(1 << 20, 1))
            .withHealth(
                new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 1000)
                    .withErrorRate(new GatewayConfig.ErrorRate(1, 1, Duration.ofSeconds(10), 50)))
            .withLogging(
                new GatewayConfig.Logging(MAX_LINES, INTERVAL, GatewayConfig.AccessLog.OFF));
    gateway = await(Gateway.start(vertx, c));
  }

  @AfterEach
  void stop() throws Exception {
    proxyLog.removeHandler(capture);
    proxyLog.setUseParentHandlers(true);
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    engine.stop();
  }

  private static boolean summary(String line) {
    return line.startsWith("upstream: ") && line.contains("similar message");
  }

  @Test
  void anErrorStormPrintsABoundedNumberOfLines() throws Exception {
    long t0 = System.nanoTime();
    for (int i = 0; i < STORM; i++) {
      HttpResponse<String> r =
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false));
      assertEquals(502, r.statusCode());
      assertEquals("upstream_failed", error(r).getString("code"));
    }
    long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
    // Every failure is either printed or counted, and the count is reported once its interval ends.
    eventually(
        "every failure printed or reported as suppressed",
        () ->
            lines.stream().filter(l -> !summary(l)).count()
                    + lines.stream()
                        .filter(BoundedLoggingTest::summary)
                        .mapToLong(BoundedLoggingTest::count)
                        .sum()
                == STORM);
    long printed = lines.stream().filter(l -> !summary(l)).count();
    long summaries = lines.stream().filter(BoundedLoggingTest::summary).count();
    long intervals = elapsedMs / INTERVAL.toMillis() + 2;
    assertTrue(
        printed <= MAX_LINES * intervals,
        printed + " failure lines in " + elapsedMs + " ms: at most " + MAX_LINES + " per interval");
    assertTrue(summaries >= 1 && summaries <= intervals, summaries + " summaries");
    assertTrue(
        printed + summaries < STORM / 5, "the storm printed " + (printed + summaries) + " lines");
    double suppressed =
        gateway
            .registry()
            .find("kvgate_log_suppressed")
            .tag("category", "upstream")
            .counter()
            .count();
    assertEquals(
        STORM - printed, (long) suppressed, "kvgate_log_suppressed_total{category=upstream}");
    assertTrue(
        lines.stream().filter(l -> !summary(l)).allMatch(l -> l.contains("status_500")),
        lines.toString());
  }

  private static long count(String summary) {
    return Long.parseLong(summary.replaceAll("^upstream: (\\d+) similar.*", "$1"));
  }
}

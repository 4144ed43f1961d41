package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every attempt's lease is released exactly once and every exchange's outcome recorded exactly
 * once, on every path: success, connect refused, reset before the response, 5xx, first-byte
 * timeout, error and idle timeout after the first byte, and the client leaving. The fleet is a
 * refused port and an upstream whose behaviour the request picks with an {@code x-test-mode} header
 * (forwarded like any client header); round-robin over both makes each scenario run with and
 * without a refused first attempt.
 */
class LeaseAccountingTest {

  static Vertx vertx;
  static String upstream;
  static String refused;
  Gateway gateway;
  double requestsBefore;

  @BeforeAll
  static void upstreams() throws Exception {
    vertx = Vertx.vertx();
    HttpServer s =
        vertx
            .createHttpServer()
            .requestHandler(
                req -> {
                  switch (req.path()) {
                    case "/health" -> req.response().end("ok");
                    case "/metrics" -> req.response().end("");
                    case "/v1/models" -> req.response().end("{\"object\":\"list\",\"data\":[]}");
                    default -> req.body().onSuccess(b -> behave(req));
                  }
                });
    upstream = "http://127.0.0.1:" + await(s.listen(0, "127.0.0.1")).actualPort();
    // Port 1 (tcpmux) is refused and outside the ephemeral range, so no server can take it.
    refused = "http://127.0.0.1:1";
  }

  private static void behave(io.vertx.core.http.HttpServerRequest req) {
    String mode = String.valueOf(req.getHeader("x-test-mode"));
    var resp = req.response();
    switch (mode) {
      case "ok" ->
          resp.putHeader("content-type", "application/json")
              .end(
                  "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":"
                      + "{\"prompt_tokens\":5,\"completion_tokens\":1,\"prompt_tokens_details\":"
                      + "{\"cached_tokens\":0}}}");
      case "500" -> resp.setStatusCode(500).end("boom");
      case "reset" -> req.connection().close();
      case "hang" -> {
        // never answers: the first-byte timeout or the client ends it
      }
      case "midstream", "idle" -> {
        resp.setChunked(true).putHeader("content-type", "text/event-stream");
        resp.write("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n")
            .onComplete(
                v -> {
                  if (mode.equals("midstream")) vertx.setTimer(20, t -> req.connection().close());
                });
      }
      default -> resp.setStatusCode(400).end("unknown mode " + mode);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    await(vertx.close());
  }

  @AfterEach
  void stopGateway() throws Exception {
    if (gateway != null) await(gateway.close());
  }

  private void start() throws Exception {
    gateway =
        await(
            Gateway.start(
                vertx,
                config("m", List.of(refused, upstream), "round-robin")
                    .withTimeouts(
                        new GatewayConfig.Timeouts(
                            Duration.ofSeconds(2),
                            Duration.ofMillis(400),
                            Duration.ofMillis(400),
                            Duration.ofSeconds(30)))
                    .withHealth(
                        new GatewayConfig.Health(
                            Duration.ofSeconds(30), Duration.ofSeconds(2), 1000))));
    requestsBefore = count("kvgate_requests");
  }

  private double count(String name) {
    return gateway.registry().find(name).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  /** Every lease released, every outcome recorded once: {@code requests} exchanges so far. */
  private void balanced(int requests, String scenario) {
    eventually(
        scenario + ": " + requests + " outcomes recorded",
        () -> count("kvgate_requests") - requestsBefore >= requests);
    assertEquals(
        requests, count("kvgate_requests") - requestsBefore, scenario + ": one outcome each");
    for (EndpointState e : gateway.route("m").endpoints()) {
      assertEquals(0, e.inFlight(), scenario + ": leases open at " + e.id());
      assertEquals(0, e.pendingPrefillTokens(), scenario + ": prefill tokens at " + e.id());
      assertEquals(0, e.activeTokens(), scenario + ": context tokens at " + e.id());
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "ok, false, 200",
    "500, false, 502",
    "reset, false, 502",
    "hang, false, 504|502",
    "midstream, true, 200",
    "idle, true, 200",
  })
  void everyPathReleasesEveryLeaseAndRecordsOneOutcome(String mode, boolean stream, String status)
      throws Exception {
    start();
    int n = 4; // round-robin: two requests start on the refused port, two on the upstream
    for (int i = 0; i < n; i++) {
      HttpResponse<String> r =
          post(
              gateway.port(),
              "/v1/chat/completions",
              chat("m", "hi", 4, stream),
              "x-test-mode",
              mode);
      // A hang times out on the upstream, then (first attempt) is retried on the refused port.
      assertTrue(
          List.of(status.split("\\|")).contains(Integer.toString(r.statusCode())),
          mode + ": " + r.statusCode() + " " + r.body());
      if (stream) assertTrue(r.body().contains("data: {\"error\":{"), r.body());
    }
    balanced(n, mode);
    assertTrue(count("kvgate_retries") >= 2, "the refused port was tried first twice");
    assertEquals(
        n + count("kvgate_retries"),
        count("kvgate_routing_decisions"),
        "one lease per attempt: first attempts plus retries");
  }

  @Test
  void aClientThatLeavesReleasesItsLease() throws Exception {
    start();
    for (int i = 0; i < 2; i++) {
      byte[] body = chat("m", "hi", 4, false).getBytes(StandardCharsets.UTF_8);
      try (Socket s = new Socket("127.0.0.1", gateway.port())) {
        OutputStream out = s.getOutputStream();
        out.write(
            ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-test-mode: hang\r\n"
                    + "Content-Type: application/json\r\nContent-Length: "
                    + body.length
                    + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        eventually(
            "the request waits on the upstream",
            () -> gateway.route("m").endpoints().get(1).inFlight() == 1);
      }
    }
    balanced(2, "client gone");
    assertEquals(2, count("kvgate_client_disconnects"));
  }
}

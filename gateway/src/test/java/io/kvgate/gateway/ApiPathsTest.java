package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * No open doors: only the inference APIs are forwarded to engines (plus {@code api.extraPaths}),
 * paths to be forwarded must be normalised, and request targets must be in origin form. Each
 * refused request reaches no engine: the gateway makes no routing decision for it.
 */
class ApiPathsTest {

  static Vertx vertx;
  static SimFleet fleet;
  static Gateway gateway;
  static final String BODY = "{\"model\": \"m\", \"prompt\": \"hello\"}";

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").speed(50).build(), 1, 0));
    gateway =
        await(
            Gateway.start(
                vertx,
                config("m", fleet.urls(), "round-robin")
                    .withApi(new GatewayConfig.Api(List.of("/v1/audio/speech")))));
  }

  @AfterAll
  static void stop() throws Exception {
    await(gateway.close());
    await(vertx.close());
  }

  private static double decisions() {
    return gateway.registry().find("kvgate_routing_decisions").counters().stream()
        .mapToDouble(c -> c.count())
        .sum();
  }

  @Test
  void engineAdministrationIsNotForwarded() throws Exception {
    double before = decisions();
    for (String path :
        List.of(
            "/reset_prefix_cache",
            "/sleep",
            "/wake_up",
            "/collective_rpc",
            "/v1/load_lora_adapter",
            "/start_profile")) {
      HttpResponse<String> r = post(gateway.port(), path, BODY);
      assertEquals(404, r.statusCode(), path + ": " + r.body());
      JsonObject e = error(r);
      assertEquals("unknown_url", e.getString("code"), path);
      assertTrue(e.getString("message").contains("api.extraPaths"), e.getString("message"));
    }
    // kvgate's own admin paths are not on the API listener (without an admin key) either.
    HttpResponse<String> r = post(gateway.port(), "/admin/keys", BODY);
    assertEquals(404, r.statusCode(), r.body());
    assertTrue(error(r).getString("message").contains("admin listener"), r.body());
    assertEquals(before, decisions(), "nothing was routed");
  }

  @Test
  void pathsThatEscapeAreRefused() throws Exception {
    double before = decisions();
    for (String path :
        List.of(
            "/v1/../reset_prefix_cache",
            "/v1/%2e%2e/reset_prefix_cache",
            "/v1/%2E%2E/admin/keys",
            "/v1/./chat/completions",
            "//v1/chat/completions",
            "/v1%2fchat/completions")) {
      Raw r = raw("POST " + path + " HTTP/1.1");
      assertEquals(400, r.statusCode(), path + ": " + r.body());
      assertEquals("invalid_path", error(r.body()).getString("code"), path);
    }
    assertEquals(before, decisions(), "nothing was routed");
  }

  @Test
  void absoluteFormTargetsAreRefused() throws Exception {
    double before = decisions();
    Raw r = raw("POST http://127.0.0.1:" + gateway.port() + "/v1/completions HTTP/1.1");
    assertEquals(400, r.statusCode(), r.body());
    assertTrue(error(r.body()).getString("message").contains("must be a path"), r.body());
    assertEquals(before, decisions());
  }

  @Test
  void inferencePathsAndConfiguredExtrasAreForwarded() throws Exception {
    HttpResponse<String> ok = post(gateway.port(), "/v1/completions", BODY);
    assertEquals(200, ok.statusCode(), ok.body());
    double before = decisions();
    // The simulated engine serves neither: their 404s come from the engine, proving they got there.
    for (String path : List.of("/tokenize", "/v1/audio/speech")) {
      HttpResponse<String> r = post(gateway.port(), path, BODY);
      assertTrue(r.headers().firstValue("x-kvgate-endpoint").isPresent(), path + " was forwarded");
    }
    assertEquals(before + 2, decisions());
  }

  /** Sends a request line with a JSON body over a raw socket (no client normalises the path). */
  private static Raw raw(String requestLine) throws Exception {
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          (requestLine
                  + "\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  + "Content-Length: "
                  + body.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      InputStream in = s.getInputStream();
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      int status = Integer.parseInt(text.substring(9, 12));
      String responseBody = text.substring(text.indexOf("\r\n\r\n") + 4);
      return new Raw(status, responseBody);
    }
  }

  record Raw(int statusCode, String body) {}
}

package io.kvgate.gateway;

import static com.github.tomakehurst.wiremock.client.WireMock.*;
import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code listener.headerTimeout}, {@code bodyTimeout} and {@code idleTimeout}: slow or silent
 * clients are closed (with a 408 where an answer can still be written), and a request whose
 * response takes longer than every one of them still succeeds.
 */
class ListenerTimeoutsTest {

  static final String OK_BODY =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          + "\"message\":{\"role\":\"assistant\",\"content\":\"late but fine\"},"
          + "\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}";

  static Vertx vertx;
  static WireMockServer engine;
  Gateway gateway;
  final List<Socket> sockets = new ArrayList<>();

  @BeforeAll
  static void startEngine() {
    vertx = Vertx.vertx();
    engine = new WireMockServer(WireMockConfiguration.options().dynamicPort());
    engine.start();
    engine.stubFor(get("/health").willReturn(ok()));
    engine.stubFor(get("/metrics").willReturn(ok("")));
    engine.stubFor(get("/v1/models").willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
  }

  @AfterAll
  static void stopEngine() throws Exception {
    engine.stop();
    await(vertx.close());
  }

  @AfterEach
  void stop() throws Exception {
    for (Socket s : sockets) s.close();
    if (gateway != null) await(gateway.close());
  }

  private Gateway start(Duration header, Duration body, Duration idle) throws Exception {
    GatewayConfig c = config("m", List.of("http://127.0.0.1:" + engine.port()), "round-robin");
    c =
        c.withListener(
            c.listener()
                .withEventLoops(2)
                .withConnections(c.listener().connections().withTimeouts(header, body, idle)));
    gateway = await(Gateway.start(vertx, c));
    return gateway;
  }

  private Socket connect() throws Exception {
    Socket s = RawHttp.connect(gateway.port());
    sockets.add(s);
    return s;
  }

  private double timeouts(String reason) {
    var c = gateway.registry().find("kvgate_listener_timeouts").tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  private double phase(String phase) {
    return gateway
        .registry()
        .find("kvgate_listener_connections")
        .tag("phase", phase)
        .gauge()
        .value();
  }

  @Test
  void slowLorisConnectionsAreClosedAfterTheHeaderTimeoutWhileOthersAreServed() throws Exception {
    Duration header = Duration.ofMillis(400);
    start(header, Duration.ofSeconds(30), Duration.ofSeconds(30));
    int slow = 40;
    int silent = 10;
    long opened = System.nanoTime();
    List<Socket> lorises = new ArrayList<>();
    for (int i = 0; i < slow; i++) {
      Socket s = connect();
      RawHttp.write(s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
      lorises.add(s);
    }
    List<Socket> quiet = new ArrayList<>();
    for (int i = 0; i < silent; i++) quiet.add(connect());
    eventually("all counted as reading a head", () -> phase("header") == slow + silent);

    // Others are served meanwhile, on fresh connections.
    HttpResponse<String> health = get(gateway.port(), "/health");
    assertEquals(200, health.statusCode());

    // The slow clients keep trickling header lines: the deadline runs from accept regardless.
    List<Socket> open = new ArrayList<>(lorises);
    while (!open.isEmpty() && System.nanoTime() - opened < Duration.ofSeconds(10).toNanos()) {
      for (Socket s : List.copyOf(open)) {
        try {
          RawHttp.write(s, "x-slow: 1\r\n");
        } catch (java.io.IOException closed) {
          open.remove(s);
        }
      }
      LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // pacing a slow client
      if (System.nanoTime() - opened > header.toNanos() * 2) break;
    }
    for (Socket s : lorises) {
      RawHttp.Response r = RawHttp.read(s);
      assertNotNull(r, "a slow head is answered before the close");
      assertEquals(408, r.status(), r.head());
      assertTrue(r.hasHeader("connection", "close"), r.head());
      JsonObject error = error(r.body());
      assertEquals("request_timeout", error.getString("code"));
      assertEquals("invalid_request_error", error.getString("type"));
      assertTrue(error.getString("message").contains("listener.headerTimeout"), r.body());
      assertTrue(RawHttp.closedByServer(s));
    }
    for (Socket s : quiet) {
      assertTrue(RawHttp.closedByServer(s), "a silent connection is closed without an answer");
    }
    assertTrue(
        System.nanoTime() - opened >= header.toNanos(), "nothing is closed before the timeout");
    assertEquals(slow + silent, timeouts("header"));
    eventually("none left open", () -> phase("header") == 0);
    assertEquals(200, get(gateway.port(), "/health").statusCode());
  }

  @Test
  void aSlowBodyGets408() throws Exception {
    start(Duration.ofSeconds(30), Duration.ofMillis(300), Duration.ofSeconds(30));
    Socket s = connect();
    long sent = System.nanoTime();
    RawHttp.write(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            + "content-length: 100\r\n\r\n{\"model\":");
    eventually("reading the body", () -> phase("body") == 1);
    RawHttp.Response r = RawHttp.read(s);
    assertTrue(System.nanoTime() - sent >= Duration.ofMillis(300).toNanos());
    assertNotNull(r);
    assertEquals(408, r.status(), r.head());
    assertTrue(r.hasHeader("connection", "close"), r.head());
    JsonObject error = error(r.body());
    assertEquals("request_timeout", error.getString("code"));
    assertTrue(error.getString("message").contains("listener.bodyTimeout"), r.body());
    assertTrue(RawHttp.closedByServer(s));
    assertEquals(1, timeouts("body"));
    assertEquals(0, timeouts("header"));
    assertEquals(0, engine.findAll(postRequestedFor(urlEqualTo("/v1/chat/completions"))).size());
  }

  @Test
  void anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeoutAndABusyOneIsNot() throws Exception {
    Duration idle = Duration.ofMillis(400);
    start(Duration.ofSeconds(30), Duration.ofSeconds(30), idle);
    Socket busy = connect();
    long started = System.nanoTime();
    // Requests every 100 ms for twice the idle timeout: the connection is never idle that long.
    int served = 0;
    long lastSent = 0;
    while (System.nanoTime() - started < idle.toNanos() * 2) {
      lastSent = System.nanoTime(); // the idle time cannot start before the request is sent
      RawHttp.write(busy, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      RawHttp.Response r = RawHttp.read(busy);
      assertNotNull(r, "a busy keep-alive connection stays open");
      assertEquals(200, r.status());
      served++;
      LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // pacing the client
    }
    assertTrue(served >= 5, "served " + served);
    assertEquals(0, timeouts("idle"));
    eventually("kept alive, idle", () -> phase("idle") == 1);
    assertTrue(RawHttp.closedByServer(busy), "closed once idle");
    assertTrue(System.nanoTime() - lastSent >= idle.toNanos(), "not closed before idleTimeout");
    assertEquals(1, timeouts("idle"));
    assertEquals(0, timeouts("header"));
  }

  @Test
  void aResponseSlowerThanEveryTimeoutStillSucceeds() throws Exception {
    engine.stubFor(post("/v1/chat/completions").willReturn(okJson(OK_BODY).withFixedDelay(1500)));
    Duration t = Duration.ofMillis(250);
    start(t, t, t);
    Socket s = connect();
    String body = chat("m", "take your time", 3, false);
    RawHttp.write(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            + "content-length: "
            + body.length()
            + "\r\n\r\n"
            + body);
    eventually("in flight", () -> phase("active") == 1);
    RawHttp.Response r = RawHttp.read(s);
    assertNotNull(r, "not closed while the response was being generated");
    assertEquals(200, r.status(), r.head() + r.body());
    assertTrue(r.body().contains("late but fine"), r.body());
    assertEquals(0, timeouts("header") + timeouts("body") + timeouts("idle"));
    // Then, with nothing in flight, the idle timeout applies again.
    assertTrue(RawHttp.closedByServer(s));
    assertEquals(1, timeouts("idle"));
  }
}

package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code listener.maxConnections}: idle connections cannot exhaust the gateway. A connection beyond
 * the cap gets a clear 503 for its first request (or is closed if it sends nothing), and the
 * gateway serves again as soon as connections close.
 */
class ConnectionLimitTest {

  Vertx vertx;
  Gateway gateway;
  final List<Socket> idle = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    GatewayConfig c = config("m", List.of("http://127.0.0.1:1"), "round-robin");
    gateway =
        await(
            Gateway.start(
                vertx, c.withListener(c.listener().withEventLoops(2).withMaxConnections(2))));
  }

  @AfterEach
  void stop() throws Exception {
    for (Socket s : idle) s.close();
    await(gateway.close());
    await(vertx.close());
  }

  private double gauge(String name) {
    return gateway.registry().find(name).gauge().value();
  }

  private Socket connect() throws Exception {
    Socket s = new Socket("127.0.0.1", gateway.port());
    s.setSoTimeout(10_000);
    return s;
  }

  private static String get(Socket s, String path) throws Exception {
    s.getOutputStream()
        .write(
            ("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    InputStream in = s.getInputStream();
    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
  }

  @Test
  void connectionsBeyondTheCapAreRefusedClearlyAndServingResumes() throws Exception {
    idle.add(connect());
    idle.add(connect());
    eventually("two connections counted", () -> gauge("kvgate_listener_open_connections") == 2);
    assertEquals(2, gauge("kvgate_listener_max_connections"));

    try (Socket third = connect()) {
      String answer = get(third, "/health"); // the server closes after the answer
      assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
      assertTrue(answer.toLowerCase().contains("retry-after: 1"), answer);
      assertTrue(answer.contains("\"code\":\"too_many_connections\""), answer);
      assertTrue(answer.contains("listener.maxConnections"), answer);
    }
    try (Socket silent = connect()) {
      assertEquals(
          -1, silent.getInputStream().read(), "a silent connection over the cap is closed");
    }
    assertEquals(
        2.0, gateway.registry().find("kvgate_listener_refused_connections").counter().count());

    idle.remove(0).close();
    eventually(
        "the closed connection uncounted", () -> gauge("kvgate_listener_open_connections") == 1);
    try (Socket s = connect()) {
      s.getOutputStream()
          .write(
              "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
    }
  }
}

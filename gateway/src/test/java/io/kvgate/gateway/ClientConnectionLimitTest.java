package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code listener.maxConnectionsPerClient}: one client address cannot hold more connections than
 * the cap, while other addresses are served; and every way a connection closes is uncounted.
 */
class ClientConnectionLimitTest {

  Vertx vertx;
  Gateway gateway;
  final List<Socket> sockets = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    GatewayConfig c = config("m", List.of("http://127.0.0.1:1"), "round-robin");
    gateway =
        await(
            Gateway.start(
                vertx,
                c.withListener(
                    c.listener()
                        .withEventLoops(2)
                        .withConnections(
                            c.listener().connections().withMaxConnectionsPerClient(2)))));
  }

  @AfterEach
  void stop() throws Exception {
    for (Socket s : sockets) s.close();
    await(gateway.close());
    await(vertx.close());
  }

  private double gauge(String name) {
    return gateway.registry().find(name).gauge().value();
  }

  private Socket connect(String from) throws Exception {
    Socket s =
        new Socket(
            InetAddress.getByName("127.0.0.1"), gateway.port(), InetAddress.getByName(from), 0);
    s.setSoTimeout(10_000);
    sockets.add(s);
    return s;
  }

  private static RawHttp.Response health(Socket s) throws Exception {
    RawHttp.write(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    return RawHttp.read(s);
  }

  @Test
  void aClientBeyondItsCapIsRefusedWhileOthersAreServed() throws Exception {
    Socket a1 = connect("127.0.0.1");
    Socket a2 = connect("127.0.0.1");
    assertEquals(200, health(a1).status());
    assertEquals(200, health(a2).status());
    assertEquals(2, gauge("kvgate_listener_busiest_client_connections"));
    assertEquals(2, gauge("kvgate_listener_max_connections_per_client"));

    Socket a3 = connect("127.0.0.1");
    RawHttp.Response refused = health(a3);
    assertEquals(503, refused.status(), refused.head());
    assertTrue(refused.hasHeader("retry-after", "1"), refused.head());
    assertEquals("too_many_connections", error(refused.body()).getString("code"));
    assertTrue(
        error(refused.body()).getString("message").contains("listener.maxConnectionsPerClient"));
    assertTrue(RawHttp.closedByServer(a3));

    // Another client address is not held back by this one's connections.
    Socket b = connect("127.0.0.2");
    assertEquals(200, health(b).status());
    assertEquals(
        1.0,
        gateway.registry().find("kvgate_listener_refused_client_connections").counter().count());
    assertNull(
        gateway.registry().find("kvgate_listener_refused_connections").counter(),
        "not refused by the global cap");

    a1.close();
    eventually("a1 uncounted", () -> gauge("kvgate_listener_open_connections") == 2);
    assertEquals(200, health(connect("127.0.0.1")).status(), "served again below the cap");
    // Still-open connections keep working.
    assertEquals(200, health(a2).status());
  }

  @Test
  void connectionsClosedAfterARefusedPathAreUncounted() throws Exception {
    for (int i = 0; i < 5; i++) {
      Socket s = connect("127.0.0.1");
      RawHttp.write(
          s,
          "POST /reset_prefix_cache HTTP/1.1\r\nHost: x\r\ncontent-length: 13\r\n\r\n"
              + "{\"model\":\"m\"}");
      RawHttp.Response r = RawHttp.read(s);
      assertEquals(404, r.status(), r.head());
      assertTrue(RawHttp.closedByServer(s));
    }
    eventually(
        "every closed connection uncounted", () -> gauge("kvgate_listener_open_connections") == 0);
    eventually(
        "no client holds one", () -> gauge("kvgate_listener_busiest_client_connections") == 0);
  }
}

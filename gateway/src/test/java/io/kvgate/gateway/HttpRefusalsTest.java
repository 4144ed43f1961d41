package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.Socket;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Requests the HTTP decoder refuses get a status and an OpenAI-shaped body: 414 for a request line
 * over {@code listener.maxUriBytes}, 431 for a head over {@code listener.maxHeaderBytes}, 400 for a
 * malformed request; then the connection closes, and the gateway serves other connections.
 */
class HttpRefusalsTest {

  Vertx vertx;
  Gateway gateway;

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
                        .withConnections(c.listener().connections().withMaxBytes(4096, 1024)))));
  }

  @AfterEach
  void stop() throws Exception {
    await(gateway.close());
    await(vertx.close());
  }

  private RawHttp.Response send(String request) throws Exception {
    try (Socket s = RawHttp.connect(gateway.port())) {
      RawHttp.write(s, request);
      RawHttp.Response r = RawHttp.read(s);
      assertNotNull(r, "answered before the close: " + request.substring(0, 20));
      assertTrue(r.hasHeader("connection", "close"), r.head());
      assertTrue(r.hasHeader("content-type", "application/json"), r.head());
      assertTrue(RawHttp.closedByServer(s), "closed after the answer");
      return r;
    }
  }

  private double invalid(int status) {
    var c =
        gateway
            .registry()
            .find("kvgate_listener_invalid_requests")
            .tag("status", Integer.toString(status))
            .counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aTooLongUriGets414WithAnOpenAiBody() throws Exception {
    RawHttp.Response r =
        send("GET /v1/models/" + "a".repeat(2000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals(414, r.status(), r.head());
    JsonObject e = error(r.body());
    assertEquals("uri_too_long", e.getString("code"));
    assertEquals("invalid_request_error", e.getString("type"));
    assertTrue(e.getString("message").contains("listener.maxUriBytes is 1024"), r.body());
    // A URI just under the bound is read normally.
    RawHttp.Response ok = sendKeepAlive("GET /v1/models/" + "a".repeat(900) + " HTTP/1.1");
    assertEquals(404, ok.status(), ok.head());
    assertEquals("model_not_found", error(ok.body()).getString("code"));
    assertEquals(1, invalid(414));
  }

  private RawHttp.Response sendKeepAlive(String requestLine) throws Exception {
    try (Socket s = RawHttp.connect(gateway.port())) {
      RawHttp.write(s, requestLine + "\r\nHost: x\r\n\r\n");
      return RawHttp.read(s);
    }
  }

  @Test
  void tooLargeHeadersGet431WithAnOpenAiBody() throws Exception {
    RawHttp.Response r =
        send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-big: "
                + "b".repeat(8000)
                + "\r\ncontent-length: 2\r\n\r\n{}");
    assertEquals(431, r.status(), r.head());
    JsonObject e = error(r.body());
    assertEquals("request_header_fields_too_large", e.getString("code"));
    assertTrue(e.getString("message").contains("4096 bytes (listener.maxHeaderBytes)"), r.body());
    assertEquals(1, invalid(431));
  }

  @Test
  void aMalformedRequestGets400WithAnOpenAiBody() throws Exception {
    RawHttp.Response garbage = send("THIS IS NOT HTTP\r\n\r\n");
    assertEquals(400, garbage.status(), garbage.head());
    assertEquals("invalid_http_request", error(garbage.body()).getString("code"));
    RawHttp.Response badHeader = send("GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n");
    assertEquals(400, badHeader.status(), badHeader.head());
    assertEquals("invalid_http_request", error(badHeader.body()).getString("code"));
    assertEquals(2, invalid(400));
    assertEquals(200, get(gateway.port(), "/health").statusCode());
  }
}

package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A request body reaches the engine byte for byte however it arrived: in one read, in many reads of
 * a Content-Length body, or in the chunks of a chunked transfer encoding split anywhere (inside
 * multi-byte characters too), and a chunked body over {@code limits.maxBodyBytes} is refused with
 * 413 while the gateway keeps serving.
 */
class BodyRelayTest {

  Vertx vertx;
  HttpServer engine;
  Gateway gateway;
  final LinkedBlockingQueue<Buffer> received = new LinkedBlockingQueue<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    String completion =
        new JsonObject()
            .put("id", "c")
            .put("object", "chat.completion")
            .put("model", "m")
            .put("choices", new io.vertx.core.json.JsonArray())
            .encode();
    engine =
        await(
            vertx
                .createHttpServer()
                .requestHandler(
                    req ->
                        req.body()
                            .onSuccess(
                                b -> {
                                  if (req.path().equals("/v1/chat/completions")) received.add(b);
                                  req.response()
                                      .putHeader("content-type", "application/json")
                                      .end(completion);
                                }))
                .listen(0, "127.0.0.1"));
    GatewayConfig c =
        config("m", List.of("http://127.0.0.1:" + engine.actualPort()), "cache-aware");
    gateway = await(Gateway.start(vertx, c.withLimits(new GatewayConfig.Limits(2 << 20, 1))));
  }

  @AfterEach
  void stop() throws Exception {
    await(gateway.close());
    await(engine.close());
    await(vertx.close());
  }

  /** A chat body of about {@code chars} characters, with multi-byte UTF-8 throughout. */
  static String body(int chars) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; text.length() < chars; i++) text.append("block ").append(i).append(" é✓ ");
    return chat("m", text.toString(), 4, false);
  }

  private Buffer forwarded() throws InterruptedException {
    Buffer b = received.poll(10, TimeUnit.SECONDS);
    assertNotNull(b, "the engine received the request");
    return b;
  }

  @Test
  void bodiesOfOneReadAndOfManyAreForwardedByteForByte() throws Exception {
    for (int chars : new int[] {40, 600_000}) {
      String sent = body(chars);
      var r = post(gateway.port(), "/v1/chat/completions", sent);
      assertEquals(200, r.statusCode(), r.body());
      assertArrayEquals(sent.getBytes(StandardCharsets.UTF_8), forwarded().getBytes());
    }
  }

  /**
   * Writes a chunked chat request carrying {@code body}, chunk {@code k} of {@code
   * size.applyAsInt(k)} bytes (the last one cut to what is left).
   */
  private static void writeChunked(
      java.io.OutputStream out, byte[] body, java.util.function.IntUnaryOperator size)
      throws java.io.IOException {
    out.write(
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                + "transfer-encoding: chunked\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1));
    int at = 0;
    for (int k = 0; at < body.length; k++) {
      int n = Math.min(size.applyAsInt(k), body.length - at);
      out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
      out.write(body, at, n);
      out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
      at += n;
    }
    out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  @Test
  void aChunkedBodyIsForwardedByteForByte() throws Exception {
    byte[] sent = body(300_000).getBytes(StandardCharsets.UTF_8);
    try (Socket s = RawHttp.connect(gateway.port())) {
      // Uneven chunks (1, 10, 37, 118, ... bytes), some splitting a multi-byte character.
      writeChunked(
          s.getOutputStream(), sent, k -> (int) Math.min(1 << 20, Math.pow(3, k) * 4.5 - 3.5));
      RawHttp.Response r = RawHttp.read(s);
      assertNotNull(r);
      assertEquals(200, r.status(), r.head());
    }
    assertArrayEquals(sent, forwarded().getBytes());
  }

  @Test
  void aChunkedBodyOverTheLimitIsRefusedWith413() throws Exception {
    byte[] sent = body(3_000_000).getBytes(StandardCharsets.UTF_8);
    try (Socket s = RawHttp.connect(gateway.port())) {
      try {
        writeChunked(s.getOutputStream(), sent, k -> 65_536);
      } catch (java.io.IOException closed) {
        // The gateway may close once it has answered; the answer is still readable.
      }
      RawHttp.Response r = RawHttp.read(s);
      assertNotNull(r, "answered");
      assertEquals(413, r.status(), r.head());
      assertEquals("request_too_large", error(r.body()).getString("code"));
    }
    assertNull(received.poll(), "nothing forwarded");
    assertEquals(200, get(gateway.port(), "/health").statusCode(), "still serving");
  }
}

package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Streaming behaviours that need an upstream under the test's control (a plain Vert.x server): no
 * retry after the first byte, client disconnect cancelling the upstream, and backpressure from a
 * slow client reaching the upstream.
 */
class StreamingProxyTest {

  Vertx vertx;
  Gateway gateway;
  final AtomicInteger hits = new AtomicInteger();

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
  }

  /** An upstream answering /health and /metrics, and POSTs with {@code onPost}. */
  private String upstream(Handler<HttpServerRequest> onPost) throws Exception {
    HttpServer s =
        vertx
            .createHttpServer()
            .requestHandler(
                req -> {
                  switch (req.path()) {
                    case "/health" -> req.response().end("ok");
                    case "/metrics" -> req.response().end("");
                    case "/v1/models" -> req.response().end("{\"object\":\"list\",\"data\":[]}");
                    default -> {
                      hits.incrementAndGet();
                      req.body().onSuccess(b -> onPost.handle(req));
                    }
                  }
                });
    return "http://127.0.0.1:" + await(s.listen(0, "127.0.0.1")).actualPort();
  }

  private static String streamRequest() {
    return chat("m", "stream it", 1000, true);
  }

  /**
   * Sends a streaming request over a raw socket; returns the socket positioned after the request.
   */
  private Socket open(String body) throws Exception {
    Socket s = new Socket("127.0.0.1", gateway.port());
    s.setSoTimeout(15_000);
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    OutputStream out = s.getOutputStream();
    out.write(
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                + bytes.length
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.write(bytes);
    out.flush();
    return s;
  }

  @Test
  void exchangesShareOneDeadlineSweepPerEventLoop() throws Exception {
    String url =
        upstream(
            req ->
                req.response()
                    .putHeader("content-type", "application/json")
                    .end("{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}"));
    GatewayConfig cfg = config("m", List.of(url), "round-robin");
    gateway = await(Gateway.start(vertx, cfg));
    for (int i = 0; i < 30; i++) {
      assertEquals(
          200,
          post(gateway.port(), "/v1/chat/completions", chat("m", "hi", 4, false)).statusCode());
    }
    // Each request runs on its own (duplicated) context; their deadlines share their loop's sweep.
    int sweeps = gateway.deadlineSweeps();
    assertTrue(
        sweeps >= 1 && sweeps <= cfg.listener().eventLoops(),
        sweeps + " sweeps for " + cfg.listener().eventLoops() + " event loops");
  }

  @Test
  void noRetryAfterFirstByteEndsStreamWithErrorEvent() throws Exception {
    Handler<HttpServerRequest> failing =
        req -> {
          req.response().setChunked(true).putHeader("content-type", "text/event-stream");
          req.response()
              .write("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n")
              .onComplete(v -> vertx.setTimer(50, t -> req.connection().close()));
        };
    String u1 = upstream(failing);
    String u2 = upstream(failing);
    gateway = await(Gateway.start(vertx, config("m", List.of(u1, u2), "round-robin")));
    var r = post(gateway.port(), "/v1/chat/completions", streamRequest());
    assertEquals(200, r.statusCode());
    assertTrue(r.body().startsWith("data: {\"choices\""), r.body());
    assertTrue(r.body().contains("data: {\"error\":{"), r.body());
    assertEquals(1, hits.get(), "a stream that has started must not be retried");
  }

  @Test
  void clientDisconnectCancelsUpstream() throws Exception {
    Promise<Void> upstreamSawClose = Promise.promise();
    String u =
        upstream(
            req -> {
              req.response().setChunked(true).putHeader("content-type", "text/event-stream");
              long timer =
                  vertx.setPeriodic(
                      20,
                      t ->
                          req.response()
                              .write("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"));
              req.response()
                  .closeHandler(
                      v -> {
                        vertx.cancelTimer(timer);
                        upstreamSawClose.tryComplete();
                      });
            });
    gateway = await(Gateway.start(vertx, config("m", List.of(u), "round-robin")));
    try (Socket s = open(streamRequest())) {
      InputStream in = s.getInputStream();
      byte[] buf = new byte[4096];
      String seen = "";
      while (!seen.contains("data:"))
        seen += new String(buf, 0, in.read(buf), StandardCharsets.UTF_8);
    }
    upstreamSawClose.future().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertEquals(0, gateway.route("m").endpoints().get(0).localInFlight(), "load released");
  }

  @Test
  void slowClientBackpressuresUpstreamWithBoundedMemory() throws Exception {
    Promise<Void> upstreamBlocked = Promise.promise();
    AtomicLong written = new AtomicLong();
    Buffer chunk = Buffer.buffer("data: " + "y".repeat(64 * 1024) + "\n\n");
    String u =
        upstream(
            req -> {
              req.response().setChunked(true).putHeader("content-type", "text/event-stream");
              Runnable[] pump = new Runnable[1];
              pump[0] =
                  () -> {
                    while (!req.response().writeQueueFull() && written.get() < 2L << 30) {
                      req.response().write(chunk);
                      written.addAndGet(chunk.length());
                    }
                    upstreamBlocked.tryComplete();
                    req.response().drainHandler(v -> pump[0].run());
                  };
              pump[0].run();
            });
    gateway = await(Gateway.start(vertx, config("m", List.of(u), "round-robin")));
    try (Socket s = open(streamRequest())) {
      s.setReceiveBufferSize(4096);
      // Read nothing: the gateway must pause the upstream rather than buffer the stream.
      upstreamBlocked.future().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      long before = written.get();
      // Give a misbehaving gateway every chance to keep pulling: wait until the upstream has been
      // blocked across several drain checks, measured by the upstream's own counter staying flat.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      long last = before;
      int stableRounds = 0;
      while (System.nanoTime() < deadline && stableRounds < 20) {
        CompletableFutureSupport.yieldTo(vertx);
        long now = written.get();
        stableRounds = now == last ? stableRounds + 1 : 0;
        last = now;
      }
      assertTrue(
          written.get() < 64L << 20,
          "upstream wrote "
              + written.get()
              + " bytes to a client that reads nothing; the gateway must bound it");
    }
  }
}

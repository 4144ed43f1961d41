package io.kvgate.bench;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The two baselines of {@code bench/overhead.sh --bare} relay what they are given: a large body
 * reaches the upstream intact, its answer comes back intact, a streamed (chunked) answer arrives
 * whole, and one client connection carries several requests.
 */
class BareRelaysTest {

  static Vertx vertx;
  static HttpServer upstream;
  static final HttpClient CLIENT =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void upstream() throws Exception {
    vertx = Vertx.vertx();
    upstream =
        vertx
            .createHttpServer()
            .requestHandler(
                req ->
                    req.body()
                        .onSuccess(
                            body -> {
                              // The upstream answers with what it received: its size and a digest.
                              String seen = body.length() + ":" + Integer.toHexString(digest(body));
                              if (req.getHeader("x-stream") == null) {
                                req.response().putHeader("content-type", "application/json");
                                req.response().end("{\"seen\":\"" + seen + "\"}");
                                return;
                              }
                              req.response().setChunked(true);
                              req.response().putHeader("content-type", "text/event-stream");
                              for (int i = 0; i < 32; i++) {
                                req.response().write("data: {\"i\":" + i + "}\n\n");
                              }
                              req.response().end("data: [DONE]\n\n");
                            }))
            .listen(0, "127.0.0.1")
            .toCompletionStage()
            .toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  static int digest(Buffer b) {
    return java.util.Arrays.hashCode(b.getBytes());
  }

  @Test
  void theNettyRelayRelaysBodiesAndStreams() throws Exception {
    try (BareRelay.Running relay =
        BareRelay.start(0, new InetSocketAddress("127.0.0.1", upstream.actualPort()), 1)) {
      exercise(relay.port());
    }
  }

  @Test
  void theVertxRelayRelaysBodiesAndStreams() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Vertx relayVertx = Vertx.vertx();
    try {
      VertxBareRelay.deploy(relayVertx, port, upstream.actualPort(), 1)
          .toCompletionStage()
          .toCompletableFuture()
          .get(10, TimeUnit.SECONDS);
      exercise(port);
    } finally {
      relayVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static void exercise(int port) throws Exception {
    URI uri = URI.create("http://127.0.0.1:" + port + "/v1/chat/completions");
    byte[] big = new byte[600_000];
    new Random(3).nextBytes(big);
    for (int round = 0; round < 3; round++) {
      HttpResponse<String> r =
          CLIENT.send(
              HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofByteArray(big)).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode());
      String expected = big.length + ":" + Integer.toHexString(java.util.Arrays.hashCode(big));
      assertEquals("{\"seen\":\"" + expected + "\"}", r.body());

      HttpResponse<String> s =
          CLIENT.send(
              HttpRequest.newBuilder(uri)
                  .header("x-stream", "1")
                  .POST(HttpRequest.BodyPublishers.ofString("{}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, s.statusCode());
      assertEquals("text/event-stream", s.headers().firstValue("content-type").orElse(""));
      StringBuilder want = new StringBuilder();
      for (int i = 0; i < 32; i++) want.append("data: {\"i\":").append(i).append("}\n\n");
      want.append("data: [DONE]\n\n");
      assertEquals(want.toString(), s.body());
    }
  }
}

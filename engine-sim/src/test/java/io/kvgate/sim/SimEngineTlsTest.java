package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.TrustOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * https engines over loopback, with clients that trust exactly the bundled certificate or nothing.
 */
class SimEngineTlsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SimEngineConfig FAST =
      SimEngineConfig.builder().speed(1000).capacityBlocks(2048).tls(SimTls.bundled()).build();

  private static Vertx vertx;

  /** Trusts the bundled certificate and nothing else; verifies the host name. */
  private static HttpClient trusting;

  record Reply(int status, String contentType, String body) {}

  @BeforeAll
  static void setUp() {
    vertx = Vertx.vertx();
    trusting =
        vertx.createHttpClient(
            new HttpClientOptions()
                .setSsl(true)
                .setVerifyHost(true)
                .setTrustOptions(
                    new PemTrustOptions().addCertValue(SimTls.bundledCertificatePem())));
  }

  @AfterAll
  static void tearDown() {
    await(trusting.close());
    await(vertx.close());
  }

  private static <T> T await(Future<T> f) {
    try {
      return f.await(20, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("timed out", e);
    }
  }

  private static Future<Reply> send(
      HttpClient client, SimEngine e, HttpMethod method, String path, String body) {
    return client
        .request(new RequestOptions().setMethod(method).setAbsoluteURI(e.url() + path))
        .compose(
            req ->
                body == null
                    ? req.send()
                    : req.putHeader("content-type", "application/json").send(body))
        .compose(
            resp ->
                resp.body()
                    .map(
                        b ->
                            new Reply(
                                resp.statusCode(), resp.getHeader("content-type"), b.toString())));
  }

  private static String chat(boolean stream) {
    ObjectNode o =
        JSON.createObjectNode()
            .put("model", SimEngineConfig.DEFAULT_MODEL)
            .put("max_tokens", 5)
            .put("stream", stream);
    o.putArray("messages").addObject().put("role", "user").put("content", "hello over tls");
    return o.toString();
  }

  @Test
  void servesEveryRouteOverHttpsToAClientTrustingOnlyTheBundledCertificate() throws Exception {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    try {
      assertEquals("https://127.0.0.1:" + e.port(), e.url());

      Reply health = await(send(trusting, e, HttpMethod.GET, "/health", null));
      assertEquals(200, health.status());

      Reply metrics = await(send(trusting, e, HttpMethod.GET, "/metrics", null));
      assertEquals(200, metrics.status());
      assertTrue(metrics.body().contains("vllm:num_requests_running"), metrics.body());

      Reply json = await(send(trusting, e, HttpMethod.POST, "/v1/chat/completions", chat(false)));
      assertEquals(200, json.status(), json.body());
      JsonNode j = JSON.readTree(json.body());
      assertEquals("chat.completion", j.get("object").asText());
      assertEquals(5, j.at("/usage/completion_tokens").asInt());

      Reply sse = await(send(trusting, e, HttpMethod.POST, "/v1/chat/completions", chat(true)));
      assertEquals(200, sse.status(), sse.body());
      assertEquals("text/event-stream; charset=utf-8", sse.contentType());
      assertTrue(sse.body().startsWith("data: {"), sse.body());
      assertTrue(sse.body().endsWith("data: [DONE]\n\n"), sse.body());

      assertEquals(2, e.stats().requests());
    } finally {
      await(e.close());
    }
  }

  @Test
  void aClientTrustingNothingFailsTheHandshake() throws Exception {
    KeyStore empty = KeyStore.getInstance(KeyStore.getDefaultType());
    empty.load(null, null);
    TrustManagerFactory none =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    none.init(empty);
    HttpClient distrusting =
        vertx.createHttpClient(
            new HttpClientOptions().setSsl(true).setTrustOptions(TrustOptions.wrap(none)));
    // the JVM's default trust store does not hold the self-signed certificate either
    HttpClient jvmDefault = vertx.createHttpClient(new HttpClientOptions().setSsl(true));
    SimEngine e = await(SimEngine.start(vertx, FAST));
    try {
      for (HttpClient client : new HttpClient[] {distrusting, jvmDefault}) {
        Future<Reply> reply = send(client, e, HttpMethod.POST, "/v1/chat/completions", chat(false));
        Throwable failure = assertThrows(Throwable.class, () -> await(reply));
        assertTrue(hasCause(failure, SSLException.class), () -> describe(failure));
      }
      assertEquals(0, e.stats().requests(), "no request got past the handshake");
      assertEquals(200, await(send(trusting, e, HttpMethod.GET, "/health", null)).status());
    } finally {
      await(e.close());
      await(distrusting.close());
      await(jvmDefault.close());
    }
  }

  @Test
  void servesPemFiles(@TempDir Path dir) throws Exception {
    Path cert = dir.resolve("cert.pem");
    Path key = dir.resolve("key.pem");
    Files.write(cert, SimTls.bundledCertificatePem().getBytes());
    Files.write(key, SimTls.bundledKeyPem().getBytes());
    SimEngine e = await(SimEngine.start(vertx, FAST.withTls(SimTls.pemFiles(cert, key))));
    try {
      assertTrue(e.url().startsWith("https://"), e.url());
      assertEquals(200, await(send(trusting, e, HttpMethod.GET, "/health", null)).status());
    } finally {
      await(e.close());
    }
  }

  @Test
  void aMissingPemFileFailsStart(@TempDir Path dir) {
    SimEngineConfig c =
        FAST.withTls(SimTls.pemFiles(dir.resolve("no-cert.pem"), dir.resolve("no-key.pem")));
    assertThrows(Throwable.class, () -> await(SimEngine.start(vertx, c)));
  }

  @Test
  void tlsIsOffByDefaultAndKeptByWithers() {
    assertNull(SimEngineConfig.defaults().tls());
    assertEquals(SimTls.bundled(), FAST.withPort(9000).tls());
    assertNull(FAST.withTls(null).tls());
    assertEquals(
        SimTls.pemFiles(Path.of("a"), Path.of("b")), SimTls.pemFiles(Path.of("a"), Path.of("b")));
    assertNotEquals(SimTls.bundled(), SimTls.pemFiles(Path.of("a"), Path.of("b")));
  }

  private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) if (type.isInstance(c)) return true;
    return false;
  }

  private static String describe(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) b.append(c).append(" <- ");
    return b.toString();
  }
}

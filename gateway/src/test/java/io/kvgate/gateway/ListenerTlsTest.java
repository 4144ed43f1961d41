package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.routing.config.ConfigException;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimTls;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code listener.tls}: the listener serves the OpenAI API over https from PEM files to a client
 * that trusts the certificate (HTTP/1.1, no h2 by ALPN), refuses cleartext, and a certificate and
 * key that would fail the handshake are refused at load with the file named.
 */
class ListenerTlsTest {

  static Vertx vertx;
  static SimEngine engine;
  static Path dir;
  static Path cert;
  static Path key;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    engine = await(SimEngine.start(vertx, SimEngineConfig.builder().model("m").build()));
    dir = Files.createTempDirectory("kvgate-listener-tls");
    cert = dir.resolve("cert.pem");
    key = dir.resolve("key.pem");
    Files.write(cert, SimTls.bundledCertificatePem().getBytes());
    try (InputStream in = SimTls.class.getResourceAsStream("tls/localhost-key.pem")) {
      Files.write(key, in.readAllBytes());
    }
  }

  @AfterAll
  static void stop() throws Exception {
    await(vertx.close());
    try (var files = Files.list(dir)) {
      for (Path p : files.toList()) Files.delete(p);
    }
    Files.delete(dir);
  }

  private static HttpClient trustingClient() throws Exception {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    store.setCertificateEntry(
        "kvgate",
        CertificateFactory.getInstance("X.509")
            .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(cert))));
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    // Asks for HTTP/2: the listener must still answer HTTP/1.1 (no h2 by ALPN).
    return HttpClient.newBuilder()
        .sslContext(ssl)
        .version(HttpClient.Version.HTTP_2)
        .connectTimeout(Duration.ofSeconds(5))
        .build();
  }

  @Test
  void theAdminListenerServesHttpsFromItsOwnTls() throws Exception {
    GatewayConfig c = config("m", List.of(engine.url()), "round-robin");
    c =
        c.withAdmin(
            new GatewayConfig.Admin(
                true,
                "127.0.0.1",
                0,
                new GatewayConfig.ServerTls(cert.toString(), key.toString())));
    Gateway gateway = await(Gateway.start(vertx, c));
    try {
      HttpResponse<String> r =
          trustingClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("https://127.0.0.1:" + gateway.adminPort() + "/metrics"))
                      .timeout(Duration.ofSeconds(30))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode());
      assertTrue(r.body().contains("kvgate_drain_phase"), "the Prometheus text");
      assertThrows(Exception.class, () -> get(gateway.adminPort(), "/metrics"), "no cleartext");
      assertEquals(200, get(gateway.port(), "/health").statusCode(), "the API stays plain http");
    } finally {
      await(gateway.close());
    }
    GatewayConfig loaded =
        GatewayConfigLoader.parse(
            "admin: {tls: {certFile: "
                + cert
                + ", keyFile: "
                + key
                + "}}\nmodels: [{name: m, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(cert.toString(), loaded.admin().tls().certFile());
  }

  @Test
  void servesTheOpenAiApiOverHttpsToAClientTrustingTheCertificate() throws Exception {
    GatewayConfig c = config("m", List.of(engine.url()), "round-robin");
    c =
        c.withListener(
            c.listener().withTls(new GatewayConfig.ServerTls(cert.toString(), key.toString())));
    Gateway gateway = await(Gateway.start(vertx, c));
    try {
      HttpClient client = trustingClient();
      HttpResponse<String> r =
          client.send(
              HttpRequest.newBuilder(
                      URI.create("https://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
                  .timeout(Duration.ofSeconds(30))
                  .header("content-type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(chat("m", "hello over tls", 4, false)))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(HttpClient.Version.HTTP_1_1, r.version());
      assertTrue(r.sslSession().isPresent());
      JsonObject body = new JsonObject(r.body());
      assertEquals("chat.completion", body.getString("object"));
      assertFalse(body.getJsonArray("choices").isEmpty());
      assertTrue(body.getJsonObject("usage").getInteger("completion_tokens") > 0);

      HttpResponse<String> health =
          client.send(
              HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + gateway.port() + "/health"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
      // The kept-alive TLS connection is followed by the listener timeouts like a plain one.
      eventually(
          "the https connection counted idle",
          () ->
              gateway
                      .registry()
                      .find("kvgate_listener_connections")
                      .tag("phase", "idle")
                      .gauge()
                      .value()
                  == 1);

      // Cleartext HTTP to the TLS port is not served.
      assertThrows(IOException.class, () -> get(gateway.port(), "/health"));
    } finally {
      await(gateway.close());
    }
  }

  private static String yaml(Object certFile, Object keyFile) {
    return "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\n"
        + "listener: {tls: {certFile: \""
        + certFile
        + "\", keyFile: \""
        + keyFile
        + "\"}}";
  }

  private static List<String> problems(String yaml) {
    ConfigException e =
        assertThrows(ConfigException.class, () -> GatewayConfigLoader.parse(yaml, "x"));
    return e.problems().stream().map(Object::toString).toList();
  }

  @Test
  void theLoaderChecksTheCertificateAndKey() throws Exception {
    GatewayConfig ok = GatewayConfigLoader.parse(yaml(cert, key), "x");
    assertEquals(new GatewayConfig.ServerTls(cert.toString(), key.toString()), ok.listener().tls());
    assertNull(
        GatewayConfigLoader.parse("models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "x")
            .listener()
            .tls(),
        "plain HTTP by default");

    // A PKCS#1 ("RSA PRIVATE KEY") copy of the same key is accepted too.
    byte[] pkcs8 = pemBody(Files.readString(key));
    byte[] pkcs1 = Arrays.copyOfRange(pkcs8, 26, pkcs8.length);
    Path rsaKey = dir.resolve("rsa-key.pem");
    Files.writeString(rsaKey, pem("RSA PRIVATE KEY", pkcs1));
    assertNotNull(GatewayConfigLoader.parse(yaml(cert, rsaKey), "x").listener().tls());

    // Another key: the handshake would fail, so the load does.
    var other = KeyPairGenerator.getInstance("RSA");
    other.initialize(2048);
    Path otherKey = dir.resolve("other-key.pem");
    Files.writeString(
        otherKey, pem("PRIVATE KEY", other.generateKeyPair().getPrivate().getEncoded()));
    List<String> p = problems(yaml(cert, otherKey));
    assertTrue(
        p.stream()
            .anyMatch(
                s ->
                    s.startsWith("listener.tls.keyFile:")
                        && s.contains("is not the private key of the certificate")),
        p.toString());

    p = problems(yaml(dir.resolve("missing.pem"), key));
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("listener.tls.certFile: cannot read")), p.toString());
    p = problems(yaml(key, key));
    assertTrue(p.stream().anyMatch(s -> s.startsWith("listener.tls.certFile:")), p.toString());
    p = problems(yaml(cert, cert));
    assertTrue(
        p.stream()
            .anyMatch(
                s -> s.startsWith("listener.tls.keyFile:") && s.contains("no unencrypted PEM")),
        p.toString());
    p = problems("models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\nlistener: {tls: {}}");
    assertTrue(p.stream().anyMatch(s -> s.startsWith("listener.tls.certFile:")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("listener.tls.keyFile:")), p.toString());
  }

  private static byte[] pemBody(String pem) {
    String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    return Base64.getDecoder().decode(b64);
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN "
        + type
        + "-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
        + "\n-----END "
        + type
        + "-----\n";
  }
}

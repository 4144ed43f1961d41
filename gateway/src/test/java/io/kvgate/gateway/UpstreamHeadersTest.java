package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What reaches the engine: the endpoint's own key (vLLM {@code --api-key}) instead of the client's
 * credentials, no client cookies, and an {@code X-Forwarded-For} kvgate sets itself rather than one
 * the client spoofed.
 */
class UpstreamHeadersTest {

  Vertx vertx = Vertx.vertx();
  Gateway gateway;

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
  }

  @Test
  void clientCredentialsStayAndTheEndpointsKeyGoes() throws Exception {
    AtomicReference<MultiMap> posted = new AtomicReference<>();
    AtomicReference<MultiMap> checked = new AtomicReference<>();
    int port =
        await(
                vertx
                    .createHttpServer()
                    .requestHandler(
                        req -> {
                          if (req.path().equals("/health")) {
                            checked.set(MultiMap.caseInsensitiveMultiMap().addAll(req.headers()));
                            req.response().end("ok");
                          } else if (req.path().equals("/v1/chat/completions")) {
                            posted.set(MultiMap.caseInsensitiveMultiMap().addAll(req.headers()));
                            req.response()
                                .putHeader("content-type", "application/json")
                                .end("{\"choices\":[]}");
                          } else {
                            req.response().setStatusCode(404).end();
                          }
                        })
                    .listen(0, "127.0.0.1"))
            .actualPort();
    Endpoint e = Endpoint.of("m", URI.create("http://127.0.0.1:" + port));
    GatewayConfig base = config("m", List.of(), "round-robin");
    GatewayConfig c =
        base.withModels(
            List.of(
                new GatewayConfig.Model(
                    "m",
                    "round-robin",
                    Set.of(),
                    List.of(e),
                    Map.of(),
                    Map.of(),
                    Map.of(e.id(), "sk-engine-key"))));
    gateway = await(Gateway.start(vertx, c));

    HttpResponse<String> r =
        post(
            gateway.port(),
            "/v1/chat/completions",
            chat("m", "hi", 4, false),
            "authorization",
            "Bearer client-key",
            "cookie",
            "session=secret",
            "x-forwarded-for",
            "6.6.6.6",
            "forwarded",
            "for=6.6.6.6",
            "x-real-ip",
            "6.6.6.6",
            "x-kvgate-batch",
            "forged",
            "X-Forwarded-Host",
            "evil.example",
            "x-custom",
            "kept");
    assertEquals(200, r.statusCode(), r.body());
    MultiMap h = posted.get();
    assertEquals("Bearer sk-engine-key", h.get("authorization"));
    assertEquals(List.of("Bearer sk-engine-key"), h.getAll("authorization"));
    assertNull(h.get("cookie"));
    assertEquals("127.0.0.1", h.get("x-forwarded-for"));
    assertNull(h.get("forwarded"));
    assertNull(h.get("x-real-ip"));
    assertNull(h.get("x-kvgate-batch"), "the batch lane's marker stays in the gateway");
    assertNull(h.get("x-forwarded-host"), "names are matched whatever their case");
    assertEquals("kept", h.get("x-custom"), "other client headers pass through");

    eventually("a health check reached the engine", () -> checked.get() != null);
    assertEquals("Bearer sk-engine-key", checked.get().get("authorization"));
    assertFalse(c.models().get(0).toString().contains("sk-engine-key"), "keys are not printed");
  }
}

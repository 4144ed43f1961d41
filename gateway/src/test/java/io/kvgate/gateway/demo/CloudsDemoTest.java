package io.kvgate.gateway.demo;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The two-cloud demo in-process: traffic on aws, the aws engines killed, every request answered by
 * gcp, the aws engines restarted, the traffic back on aws; and the shipped two-cloud files agree
 * with the demo.
 */
class CloudsDemoTest {

  private static String served(CloudsDemo demo, String content) throws Exception {
    HttpResponse<String> r =
        post(demo.gateway().port(), "/v1/chat/completions", chat(demo.model(), content, 4, false));
    assertEquals(200, r.statusCode(), r.body());
    return demo.cloudOf().get(r.headers().firstValue("x-kvgate-endpoint").orElseThrow());
  }

  @Test
  void killedTierOneFailsOverToTierTwoAndTrafficComesBackAfterTheRestart() throws Exception {
    Vertx vertx = Vertx.vertx();
    CloudsDemo demo =
        await(
            CloudsDemo.start(
                vertx,
                GatewayMetrics.newRegistry(),
                SimEngineConfig.builder().speed(20).build(),
                4,
                0,
                "127.0.0.1",
                0,
                null));
    try {
      assertEquals(
          java.util.List.of("aws", "aws", "gcp", "gcp"),
          java.util.List.copyOf(demo.cloudOf().values()));
      for (int i = 0; i < 3; i++) assertEquals("aws", served(demo, "before " + i));
      assertEquals(2, demo.admitted("aws"));

      await(demo.kill("aws"));
      assertEquals(0, demo.up("aws"));
      for (int i = 0; i < 8; i++) assertEquals("gcp", served(demo, "during " + i));
      eventually("aws ejected", () -> demo.admitted("aws") == 0);
      for (int i = 0; i < 3; i++) assertEquals("gcp", served(demo, "still during " + i));

      await(demo.restart("aws"));
      assertEquals(2, demo.up("aws"));
      eventually("aws re-admitted", () -> demo.admitted("aws") == 2);
      for (int i = 0; i < 3; i++) assertEquals("aws", served(demo, "after " + i));

      var tier = demo.gateway().registry().find("kvgate_tier_requests");
      assertEquals(6, tier.tag("tier", "aws").counter().count());
      assertEquals(
          11,
          demo.gateway()
              .registry()
              .find("kvgate_tier_requests")
              .tag("tier", "gcp")
              .counter()
              .count());
    } finally {
      await(demo.close());
      await(vertx.close());
    }
  }

  @Test
  void theShippedTwoCloudFilesAreTheDemosAndLoad() throws Exception {
    assertEquals(
        Files.readString(Path.of("../config/policies/two-clouds.yaml")),
        CloudsDemo.policyText(),
        "config/policies/two-clouds.yaml and the demo's copy differ");
    String yaml =
        Files.readString(Path.of("../config/examples/two-clouds/gateway.yaml"))
            .replace("config/policies/two-clouds.yaml", "../config/policies/two-clouds.yaml");
    GatewayConfig c = GatewayConfigLoader.parse(yaml, "two-clouds/gateway.yaml");
    GatewayConfig.Model m = c.models().get(0);
    assertEquals(4, m.endpoints().size());
    assertEquals("aws", m.endpoints().get(0).label("cloud"));
    assertEquals("gcp", m.endpoints().get(3).label("cloud"));
    assertEquals("two-clouds", new ModelRoute(m, c.routing()).router().name());
  }
}

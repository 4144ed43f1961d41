package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A policy given as a file is hot-reloaded; an invalid edit is refused and the old policy serves
 * on.
 */
class PolicyReloadTest {

  private static String preset(String name) throws Exception {
    try (InputStream in =
        PolicyReloadTest.class.getClassLoader().getResourceAsStream("policies/" + name + ".yaml")) {
      assertNotNull(in, "preset " + name);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Polls until the route's policy has the given name (an external effect of the file watcher). */
  private static void awaitPolicy(Vertx vertx, ModelRoute route, String name) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (!route.router().name().equals(name)) {
      if (System.nanoTime() > deadline)
        fail("policy is still '" + route.router().name() + "', expected '" + name + "'");
      CompletableFutureSupport.yieldTo(vertx);
    }
  }

  @Test
  void reloadsOnChangeAndRefusesInvalidEdits(@TempDir Path dir) throws Exception {
    Vertx vertx = Vertx.vertx();
    SimFleet fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").speed(50).build(), 2, 0));
    Path policy = dir.resolve("policy.yaml");
    Files.writeString(policy, preset("round-robin"));
    Gateway gateway = await(Gateway.start(vertx, config("m", fleet.urls(), policy.toString())));
    try {
      ModelRoute route = gateway.route("m");
      assertEquals("round-robin", route.router().name());

      Files.writeString(policy, preset("least-loaded"));
      Files.setLastModifiedTime(policy, FileTime.from(Instant.now().plusSeconds(5)));
      awaitPolicy(vertx, route, "least-loaded");

      Files.writeString(policy, "plugins: [{type: no-such-plugin}]\nprofiles: oops\n");
      Files.setLastModifiedTime(policy, FileTime.from(Instant.now().plusSeconds(10)));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (!get(gateway.adminPort(), "/metrics")
          .body()
          .contains("kvgate_policy_reloads_total{model=\"m\",outcome=\"rejected\"} 1.0")) {
        if (System.nanoTime() > deadline) fail("the invalid edit was not seen");
        CompletableFutureSupport.yieldTo(vertx);
      }
      assertEquals("least-loaded", route.router().name(), "the old policy stays in force");
      assertEquals(
          200,
          post(gateway.port(), "/v1/chat/completions", chat("m", "still serving", 2, false))
              .statusCode());
    } finally {
      await(gateway.close());
      await(fleet.close());
      await(vertx.close());
    }
  }
}

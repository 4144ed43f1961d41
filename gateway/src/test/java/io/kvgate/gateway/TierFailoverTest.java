package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.micrometer.core.instrument.Counter;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One model served across two clouds: engines a0, a1 in tier 1 ({@code cloud: aws}), g0, g1 in tier
 * 2 ({@code cloud: gcp}), cache-aware routing inside each tier. Tier 1 dead: every request is still
 * answered, by tier 2 (the first ones through retries that cross tiers, then directly once tier 1
 * is ejected); tier 1 saturated: the overflow goes to tier 2; tier 1 back: the traffic returns.
 */
class TierFailoverTest {

  static final String MODEL = "m";
  static final Set<String> AWS = Set.of("a0", "a1");
  static final Set<String> GCP = Set.of("g0", "g1");

  Vertx vertx;
  Gateway gateway;
  Path policy;
  final List<SimEngine> engines = new ArrayList<>();
  final List<SimEngineConfig> configs = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    policy = Files.createTempFile("tiers", ".yaml");
    Files.writeString(
        policy,
        """
        plugins:
          - {type: healthy-filter}
          - {type: label-tier-filter, parameters: {label: cloud, tiers: [aws, gcp], maxInFlight: 1}}
          - {type: cache-aware-picker}
        profiles:
          - {name: default, plugins: [healthy-filter, label-tier-filter, cache-aware-picker]}
        """);
    for (int i = 0; i < 4; i++) {
      // 100 decode tokens take 2 s: long enough to hold an endpoint busy in the saturation test.
      SimEngineConfig c =
          SimEngineConfig.builder().model(MODEL).decodeMsPerToken(20).port(0).build();
      SimEngine e = await(SimEngine.start(vertx, c));
      engines.add(e);
      configs.add(c.withPort(e.port()));
    }
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) await(gateway.close());
    await(vertx.close());
    Files.deleteIfExists(policy);
  }

  private void startGateway(GatewayConfig.Health health) throws Exception {
    startGateway(health, GatewayConfig.Limits.DEFAULT);
  }

  private void startGateway(GatewayConfig.Health health, GatewayConfig.Limits limits)
      throws Exception {
    String[] ids = {"a0", "a1", "g0", "g1"};
    List<Endpoint> endpoints = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      endpoints.add(
          new Endpoint(
              ids[i],
              URI.create(engines.get(i).url()),
              MODEL,
              Role.BOTH,
              Map.of("cloud", i < 2 ? "aws" : "gcp"),
              1,
              Set.of()));
    }
    GatewayConfig c =
        config(MODEL, List.of(), policy.toString())
            .withHealth(health)
            .withLimits(limits)
            .withModels(
                List.of(new GatewayConfig.Model(MODEL, policy.toString(), Set.of(), endpoints)));
    gateway = await(Gateway.start(vertx, c));
  }

  private String served(HttpResponse<String> r) {
    assertEquals(200, r.statusCode(), r.body());
    return r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
  }

  private String ask(String content) throws Exception {
    return served(post(gateway.port(), "/v1/chat/completions", chat(MODEL, content, 4, false)));
  }

  private double count(String name, String... tags) {
    // The sum over the other tags (kvgate_retries has one counter per endpoint).
    return gateway.registry().find(name).tags(tags).counters().stream()
        .mapToDouble(Counter::count)
        .sum();
  }

  private double tierRequests(String tier) {
    return count("kvgate_tier_requests", "model", MODEL, "tier", tier);
  }

  private double failovers(String tier, String cause) {
    return count("kvgate_tier_failovers", "model", MODEL, "tier", tier, "cause", cause);
  }

  private EndpointState state(String id) {
    return gateway.route(MODEL).endpoints().stream()
        .filter(e -> e.id().equals(id))
        .findFirst()
        .orElseThrow();
  }

  private void killTierOne() throws Exception {
    await(engines.get(0).close());
    await(engines.get(1).close());
  }

  @Test
  void deadTierOneIsServedByTierTwoWithoutClientErrorsRetriesCrossingTiers() throws Exception {
    // Health checks out of the way: only request outcomes decide here.
    startGateway(new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 3));
    assertTrue(AWS.contains(ask("warm-up")), "tier 1 serves while it is up");
    assertEquals(1, tierRequests("aws"));

    killTierOne();
    int n = 12;
    for (int i = 0; i < n; i++) {
      String ep = ask("question " + i + " " + "context ".repeat(40));
      assertTrue(GCP.contains(ep), "served by tier 2: " + ep);
    }
    assertEquals(n, tierRequests("gcp"), "every request counted on the tier that served it");
    assertEquals(1, tierRequests("aws"));
    double retried = failovers("gcp", "retry");
    double unavailable = failovers("gcp", "unavailable");
    assertTrue(retried >= 1, "the first requests reach tier 2 by retries crossing tiers");
    assertTrue(unavailable >= 1, "once tier 1 is ejected, decisions go to tier 2 directly");
    assertEquals(n, retried + unavailable);
    assertFalse(state("a0").healthy() || state("a1").healthy(), "tier 1 was ejected");
    assertTrue(
        count("kvgate_retries", "model", MODEL) >= 2 * retried,
        "each crossing retried both tier-1 endpoints first");
  }

  @Test
  void connectFailuresCrossTiersWithoutSpendingTheRetryBudget() throws Exception {
    GatewayConfig.Health checksOff =
        new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 1000);
    startGateway(
        checksOff,
        // One retry in flight at most, each waiting 300 ms: concurrent 5xx retries would exhaust
        // it.
        GatewayConfig.Limits.DEFAULT.withRetryBudget(0, 1, Duration.ofMillis(300)));
    killTierOne();
    List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      String body = chat(MODEL, "concurrent " + i, 4, false);
      all.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return post(gateway.port(), "/v1/chat/completions", body);
                } catch (Exception e) {
                  throw new RuntimeException(e);
                }
              }));
    }
    for (CompletableFuture<HttpResponse<String>> f : all) {
      assertTrue(GCP.contains(served(f.get(60, java.util.concurrent.TimeUnit.SECONDS))));
    }
    // A decision made while both tier-1 endpoints held an attempt (maxInFlight: 1) saw tier 1
    // saturated and went to tier 2 at once; the others crossed by retries.
    double retried = failovers("gcp", "retry");
    assertTrue(retried >= 1, "some requests crossed tiers by retries");
    assertEquals(6, retried + failovers("gcp", "saturated"));
    assertTrue(count("kvgate_retries", "model", MODEL) >= retried, "a refused attempt each");
    assertEquals(0, count("kvgate_retry_budget_exhausted", "model", MODEL));
  }

  @Test
  void aSaturatedTierOneOverflowsToTierTwoAndTakesTheNextRequestOnceItHasRoom() throws Exception {
    startGateway(new GatewayConfig.Health(Duration.ofSeconds(30), Duration.ofSeconds(2), 3));
    // Two long requests hold both tier-1 endpoints (maxInFlight: 1 each).
    List<CompletableFuture<HttpResponse<String>>> long_ = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      String body = chat(MODEL, "a long answer please " + i, 100, false);
      long_.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return post(gateway.port(), "/v1/chat/completions", body);
                } catch (Exception e) {
                  throw new RuntimeException(e);
                }
              }));
      int held = i + 1;
      eventually(
          held + " tier-1 endpoints busy",
          () -> state("a0").inFlight() + state("a1").inFlight() == held);
    }
    assertEquals(1, state("a0").inFlight(), "the second long request went to the idle a1");
    String overflow = ask("short question");
    assertTrue(GCP.contains(overflow), "tier 1 saturated: overflow to tier 2, got " + overflow);
    assertEquals(1, failovers("gcp", "saturated"));

    for (CompletableFuture<HttpResponse<String>> f : long_) {
      assertTrue(AWS.contains(served(f.get(60, java.util.concurrent.TimeUnit.SECONDS))));
    }
    String back = ask("short question again");
    assertTrue(AWS.contains(back), "tier 1 has room again: fail-back, got " + back);
    assertEquals(3, tierRequests("aws"));
    assertEquals(1, tierRequests("gcp"));
  }

  @Test
  void tierOneBackTakesTheTrafficAgain() throws Exception {
    startGateway(
        new GatewayConfig.Health(Duration.ofMillis(50), Duration.ofSeconds(2), 2)
            .withBaseEjectionTime(Duration.ofMillis(100)));
    assertTrue(AWS.contains(ask("warm-up")));
    killTierOne();
    eventually("tier 1 ejected", () -> !state("a0").healthy() && !state("a1").healthy());
    for (int i = 0; i < 5; i++) assertTrue(GCP.contains(ask("while tier 1 is down " + i)));
    double failedOver = failovers("gcp", "unavailable") + failovers("gcp", "retry");
    assertEquals(5, failedOver);

    for (int i = 0; i < 2; i++) engines.set(i, await(SimEngine.start(vertx, configs.get(i))));
    eventually("tier 1 re-admitted", () -> state("a0").healthy() && state("a1").healthy());
    for (int i = 0; i < 5; i++) {
      String ep = ask("after recovery " + i);
      assertTrue(AWS.contains(ep), "fail-back to tier 1, got " + ep);
    }
    assertEquals(6, tierRequests("aws"));
    assertEquals(5, tierRequests("gcp"));
    assertEquals(
        failedOver,
        failovers("gcp", "unavailable") + failovers("gcp", "retry"),
        "no failover after tier 1 recovered");
  }
}

package io.kvgate.gateway.cluster;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyHash;
import io.kvgate.gateway.auth.RateLimits;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Three gateways, each with its Hazelcast member on loopback, over one simulated fleet: routing
 * state written on one is read on the others (the prefix index, load, drains and ejections, a key's
 * rate-limit use, a policy reload). Each gateway reads its own copy of the same policy file.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterTest {

  static final String MODEL = "m";
  Vertx vertx;
  SimFleet fleet;
  final List<Gateway> gateways = new ArrayList<>();
  final List<Integer> clusterPorts = new ArrayList<>();
  String clusterName;
  Path policyDir;

  static final String ALL = "sk-cluster-test-all-00001";
  static final String SLOW = "sk-cluster-test-slow-0002";
  static final String ADMIN = "sk-cluster-test-admin-003";
  static final List<ApiKey> KEYS =
      List.of(
          new ApiKey("all", "t", KeyHash.of(ALL), Set.of(), RateLimits.INHERIT, false, false),
          // one request per 100 s, for the whole cluster
          new ApiKey(
              "slow", "t", KeyHash.of(SLOW), Set.of(), new RateLimits(0.01, 0), false, false),
          new ApiKey("ops", "ops", KeyHash.of(ADMIN), Set.of(), RateLimits.INHERIT, false, true));

  static int freePort() throws Exception {
    return LoopbackPorts.pick(1).get(0);
  }

  GatewayConfig config(int i) {
    List<String> members = clusterPorts.stream().map(p -> "127.0.0.1:" + p).toList();
    return io.kvgate.gateway.TestSupport.config(
            MODEL, fleet.urls(), policyDir.resolve("policy-" + i + ".yaml").toString())
        .withAuth(new GatewayConfig.Auth(KEYS, RateLimits.NONE))
        .withCluster(
            GatewayConfig.Cluster.OFF
                .on(clusterName, clusterPorts.get(i), members)
                .withGatewayId("gw-" + i)
                .withTimings(
                    Duration.ofMillis(10),
                    Duration.ofMillis(500),
                    Duration.ofSeconds(5),
                    Duration.ofSeconds(20),
                    Duration.ofSeconds(2)));
  }

  @BeforeAll
  void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(
            SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(50).build(), 4, 0));
    clusterName = "kvgate-test-" + Long.toHexString(System.nanoTime());
    policyDir = Files.createTempDirectory("kvgate-cluster-policies");
    String policy = Files.readString(Path.of("../config/policies/cache-aware.yaml"));
    for (int i = 0; i < 3; i++)
      Files.writeString(policyDir.resolve("policy-" + i + ".yaml"), policy);
    for (int i = 0; i < 4; i++) clusterPorts.add(freePort());
    gateways.add(await(Gateway.start(vertx, config(0))));
    var b = Gateway.start(vertx, config(1));
    var c = Gateway.start(vertx, config(2));
    gateways.add(await(b));
    gateways.add(await(c));
    for (Gateway g : gateways) {
      eventually(
          "3 members seen", () -> g.cluster().hazelcast().getCluster().getMembers().size() == 3);
      eventually("caught up", () -> g.cluster().caughtUp());
    }
  }

  @AfterAll
  void stop() throws Exception {
    for (Gateway g : gateways) await(g.close());
    await(fleet.close());
    await(vertx.close());
  }

  static String body(String system, String question) {
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", 2)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "system").put("content", system))
                .add(new JsonObject().put("role", "user").put("content", question)))
        .encode();
  }

  static HttpResponse<String> chat(Gateway g, String body, String key) throws Exception {
    return post(g.port(), "/v1/chat/completions", body, "authorization", "Bearer " + key);
  }

  static long cachedTokens(HttpResponse<String> r) {
    return new JsonObject(r.body())
        .getJsonObject("usage")
        .getJsonObject("prompt_tokens_details")
        .getLong("cached_tokens");
  }

  static EndpointState endpoint(Gateway g, String id) {
    return g.route(MODEL).endpoints().stream()
        .filter(e -> e.id().equals(id))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void aPrefixRoutedOnOneGatewayIsFoundOnTheOthers() throws Exception {
    for (int t = 0; t < 6; t++) {
      String system = ("Cluster tenant " + t + " handbook, shared by every turn. ").repeat(200);
      Gateway first = gateways.get(t % 3);
      HttpResponse<String> r = chat(first, body(system, "q0"), ALL);
      assertEquals(200, r.statusCode(), r.body());
      String holder = r.headers().firstValue("x-kvgate-endpoint").orElseThrow();
      for (int k = 1; k <= 2; k++) {
        Gateway next = gateways.get((t + k) % 3);
        // the write reaches the peer asynchronously (about a publish interval)
        int slot = endpoint(next, holder).slot();
        long held = first.route(MODEL).index().heldBlocks(slot);
        eventually(
            "the peer's index holds the blocks",
            () -> next.route(MODEL).index().heldBlocks(slot) >= held);
        // and knows the first request is over (its load would weigh against the holder)
        eventually(
            "the peer sees the holder idle",
            () -> next.route(MODEL).endpoints().stream().allMatch(e -> e.inFlight() == 0));
        HttpResponse<String> n = chat(next, body(system, "q" + k), ALL);
        assertEquals(
            holder,
            n.headers().firstValue("x-kvgate-endpoint").orElseThrow(),
            "tenant "
                + t
                + " turn "
                + k
                + ", predicted "
                + n.headers().firstValue("x-kvgate-predicted-cached-tokens").orElse("?"));
        assertTrue(cachedTokens(n) > 1000, "engine-counted cache hit: " + cachedTokens(n));
      }
    }
  }

  @Test
  void loadIsSummedAcrossGatewaysAndVanishesWithItsGateway() throws Exception {
    String id = fleet.urls().get(0);
    EndpointState onA =
        endpoint(gateways.get(0), gateways.get(0).route(MODEL).endpoints().get(0).id());
    String eid = onA.id();
    EndpointState.Lease a1 = onA.acquire(1000);
    EndpointState.Lease a2 = onA.acquire(500);
    EndpointState.Lease b1 = endpoint(gateways.get(1), eid).acquire(250);
    try {
      for (Gateway g : gateways) {
        eventually(
            "3 requests in flight, 1750 tokens pending, seen by " + g.cluster().gatewayId(),
            () ->
                endpoint(g, eid).inFlight() == 3
                    && endpoint(g, eid).pendingPrefillTokens() == 1750);
      }
      assertEquals(2, endpoint(gateways.get(0), eid).localInFlight());
    } finally {
      a1.release();
      a2.release();
      b1.release();
    }
    for (Gateway g : gateways) {
      eventually("no load left", () -> endpoint(g, eid).inFlight() == 0);
    }
    assertNotNull(id);
  }

  @Test
  void drainsAndEjectionsOnOneGatewayAreHonouredByAll() throws Exception {
    Gateway a = gateways.get(0);
    String eid = a.route(MODEL).endpoints().get(1).id();
    a.route(MODEL).setDrained(eid, true);
    for (Gateway g : gateways) {
      eventually("drained everywhere", () -> g.route(MODEL).drained(endpoint(g, eid)));
    }
    gateways.get(2).route(MODEL).setDrained(eid, false);
    for (Gateway g : gateways) {
      eventually("undrained everywhere", () -> !g.route(MODEL).drained(endpoint(g, eid)));
    }
    EndpointState onB = endpoint(gateways.get(1), eid);
    onB.setHealthy(false);
    try {
      eventually("A avoids B's ejection", () -> !endpoint(a, eid).healthy());
      assertTrue(endpoint(a, eid).localHealthy(), "A's own verdict is unchanged");
    } finally {
      onB.setHealthy(true);
    }
    eventually("A admits it again", () -> endpoint(a, eid).healthy());
  }

  @Test
  void aKeysRateLimitHoldsForTheCluster() throws Exception {
    Gateway a = gateways.get(0);
    HttpResponse<String> first = chat(a, body("rate limit test", "q"), SLOW);
    assertEquals(200, first.statusCode(), first.body());
    ApiKey slow = KEYS.get(1);
    for (Gateway g : gateways.subList(1, 3)) {
      // the peers debit what A's admission took: their own bucket of one request is spent
      eventually(
          "the request A admitted is debited on " + g.cluster().gatewayId(),
          () -> g.rateLimiter().utilisation(slow, System.nanoTime()) >= 0.99);
      HttpResponse<String> r = chat(g, body("rate limit test", "q"), SLOW);
      assertEquals(429, r.statusCode(), r.body());
      assertEquals("rate_limit_exceeded", error(r).getString("code"));
    }
  }

  @Test
  void aPolicyReloadedOnOneGatewayAppliesOnAll() throws Exception {
    Path file = policyDir.resolve("policy-0.yaml");
    String policy = Files.readString(file);
    Files.writeString(file, policy.replace("name: cache-aware", "name: cache-aware-v2"));
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:" + gateways.get(0).adminPort() + "/admin/reload"))
                    .header("authorization", "Bearer " + ADMIN)
                    .POST(HttpRequest.BodyPublishers.noBody())
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    for (Gateway g : gateways) {
      eventually(
          "the reloaded policy runs on " + g.cluster().gatewayId(),
          () -> g.route(MODEL).router().name().equals("cache-aware-v2"));
    }
  }

  @Test
  void whatAnEngineToldOneGatewayIsKnownToAll() throws Exception {
    // the KV-event ingest writes what an engine stored and removed through the route's index, as
    // here on gw-2; the peers apply the same writes to their own index
    Gateway c = gateways.get(2);
    int slot = c.route(MODEL).endpoints().get(3).slot();
    long[] hashes = new long[64];
    java.util.SplittableRandom r = new java.util.SplittableRandom(17);
    for (int i = 0; i < hashes.length; i++) hashes[i] = r.nextLong();
    io.kvgate.routing.prefix.BlockChain chain =
        new io.kvgate.routing.prefix.BlockChain(hashes, 1, hashes.length);
    c.route(MODEL).index().blocksStored(slot, hashes, 0, 64, 0, false, System.nanoTime());
    for (Gateway g : gateways) {
      eventually(
          "the engine's 64 blocks are in " + g.cluster().gatewayId() + "'s index",
          () -> g.route(MODEL).index().match(chain, System.nanoTime()).matched(slot) == 64);
    }
    c.route(MODEL).index().blocksRemoved(slot, hashes, 32, 64);
    for (Gateway g : gateways) {
      eventually(
          "the engine's removal of 32 reached " + g.cluster().gatewayId(),
          () -> g.route(MODEL).index().match(chain, System.nanoTime()).matched(slot) == 32);
    }
  }
}

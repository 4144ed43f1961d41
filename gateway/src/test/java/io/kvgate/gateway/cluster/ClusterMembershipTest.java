package io.kvgate.gateway.cluster;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A cluster's life: two gateways in this JVM and a third, {@code gw-c}, in a child JVM ({@code
 * kvgate serve --config}) that the test freezes ({@code kill -STOP}: a real split brain on
 * loopback), kills ({@code kill -9}) and restarts. Runs in order: split, kill, restart.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterMembershipTest {

  static final String MODEL = "m";
  static final HttpClient HTTP = HttpClient.newHttpClient();
  Vertx vertx;
  SimFleet fleet;
  final List<Gateway> gateways = new ArrayList<>();
  final List<Integer> clusterPorts = new ArrayList<>();
  String clusterName;
  Path dir;
  Process child;
  int childPort;
  int childAdminPort;

  static int freePort() throws Exception {
    return LoopbackPorts.pick(1).get(0);
  }

  List<String> members() {
    return clusterPorts.stream().map(p -> "127.0.0.1:" + p).toList();
  }

  GatewayConfig config(int i) {
    return io.kvgate.gateway.TestSupport.config(MODEL, fleet.urls(), "cache-aware")
        .withCluster(
            GatewayConfig.Cluster.OFF
                .on(clusterName, clusterPorts.get(i), members())
                .withGatewayId("gw-" + i)
                .withTimings(
                    Duration.ofMillis(10),
                    Duration.ofMillis(500),
                    Duration.ofSeconds(3),
                    Duration.ofSeconds(20),
                    Duration.ofSeconds(1)));
  }

  /** Starts gw-c in a child JVM on this JVM's classpath, with the same cluster settings. */
  Process startChild() throws Exception {
    StringBuilder y = new StringBuilder();
    y.append("listener: {host: 127.0.0.1, port: ").append(childPort).append("}\n");
    y.append("admin: {host: 127.0.0.1, port: ").append(childAdminPort).append("}\n");
    y.append("models:\n  - name: ").append(MODEL).append("\n    policy: cache-aware\n");
    y.append("    endpoints:\n");
    for (String u : fleet.urls()) y.append("      - url: ").append(u).append('\n');
    y.append("cluster:\n  enabled: true\n  name: ").append(clusterName).append('\n');
    y.append("  host: 127.0.0.1\n  port: ").append(clusterPorts.get(2)).append('\n');
    y.append("  members: [").append(String.join(", ", members())).append("]\n");
    y.append("  gatewayId: gw-c\n  publishInterval: 10ms\n  heartbeat: 500ms\n");
    y.append("  memberTimeout: 3s\n  catchUpTimeout: 20s\n  mergeDelay: 1s\n");
    Path cfg = dir.resolve("gw-c.yaml");
    Files.writeString(cfg, y.toString());
    return io.kvgate.gateway.TestSupport.serveProcess(cfg, dir.resolve("gw-c.log"), "512m");
  }

  static int status(int port, String path) {
    try {
      return HTTP.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                  .timeout(Duration.ofSeconds(5))
                  .GET()
                  .build(),
              HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  JsonObject childView() throws Exception {
    HttpResponse<String> r = get(childAdminPort, "/admin/cluster");
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  /** The child's indexed blocks per endpoint, in the fleet's endpoint order. */
  long[] childIndex() throws Exception {
    JsonArray eps = childView().getJsonArray("endpoints");
    long[] out = new long[eps.size()];
    for (int i = 0; i < eps.size(); i++) {
      out[i] = eps.getJsonObject(i).getLong("indexed_blocks");
    }
    return out;
  }

  long[] index(Gateway g) {
    List<EndpointState> eps = g.route(MODEL).endpoints();
    long[] out = new long[eps.size()];
    for (int i = 0; i < eps.size(); i++) out[i] = g.route(MODEL).index().heldBlocks(i);
    return out;
  }

  static boolean grew(long[] now, long[] before) {
    for (int i = 0; i < now.length; i++) if (now[i] > before[i]) return true;
    return false;
  }

  static boolean covers(long[] have, long[] want) {
    for (int i = 0; i < want.length; i++) if (have[i] < want[i]) return false;
    return true;
  }

  static void signal(Process p, String sig) throws Exception {
    Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start();
    assertTrue(k.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, k.exitValue(), "kill -" + sig);
  }

  static String body(String system, String question, int maxTokens, boolean stream) {
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", maxTokens)
        .put("stream", stream)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "system").put("content", system))
                .add(new JsonObject().put("role", "user").put("content", question)))
        .encode();
  }

  static String tenant(String name) {
    return ("Handbook of " + name + ", shared by every turn of its conversations. ").repeat(150);
  }

  int members(Gateway g) {
    return g.cluster().hazelcast().getCluster().getMembers().size();
  }

  @BeforeAll
  void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(1).build(), 4, 0));
    clusterName = "kvgate-membership-" + Long.toHexString(System.nanoTime());
    for (int i = 0; i < 3; i++) clusterPorts.add(freePort());
    childPort = freePort();
    childAdminPort = freePort();
    dir = Files.createTempDirectory("kvgate-cluster-membership");
    gateways.add(await(Gateway.start(vertx, config(0))));
    gateways.add(await(Gateway.start(vertx, config(1))));
    child = startChild();
    eventually("gw-c ready", () -> status(childAdminPort, "/ready") == 200);
    for (Gateway g : gateways) eventually("3 members", () -> members(g) == 3);
  }

  @AfterAll
  void stop() throws Exception {
    if (child != null && child.isAlive()) {
      signal(child, "CONT");
      child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    for (Gateway g : gateways) await(g.close());
    await(fleet.close());
    await(vertx.close());
  }

  @Test
  @Order(1)
  void aSplitBrainHealsWithTheIndexMergedAndNoCountsLeftBehind() throws Exception {
    Gateway a = gateways.get(0);
    // before: gw-c routed a tenant, and both halves know it
    HttpResponse<String> r =
        post(childPort, "/v1/chat/completions", body(tenant("c0"), "q", 2, false));
    assertEquals(200, r.statusCode(), r.body());
    long[] before = childIndex();
    eventually("gw-0 has gw-c's blocks", () -> covers(index(a), before));

    signal(child, "STOP");
    try {
      eventually("gw-c left gw-0's view", () -> members(a) == 2);
      // while gw-c is cut off, this half routes new tenants: no delta of theirs reaches gw-c
      for (int t = 0; t < 4; t++) {
        HttpResponse<String> n =
            post(
                gateways.get(t % 2).port(),
                "/v1/chat/completions",
                body(tenant("s" + t), "q", 2, false));
        assertEquals(200, n.statusCode(), n.body());
      }
    } finally {
      signal(child, "CONT");
    }
    long[] during = index(a);
    eventually("the halves merged", () -> members(a) == 3 && members(gateways.get(1)) == 3);
    // gw-c holds what this half indexed during the split (its snapshot after the merge)
    eventually(
        "gw-c merged this half's index",
        () -> {
          try {
            return covers(childIndex(), during);
          } catch (Exception e) {
            return false;
          }
        });
    // and the load counts are whole: a request in flight on gw-0 is counted once on gw-c
    EndpointState e0 = a.route(MODEL).endpoints().get(0);
    EndpointState.Lease l1 = e0.acquire(100);
    EndpointState.Lease l2 = e0.acquire(100);
    try {
      eventually(
          "gw-c counts gw-0's two requests once",
          () -> {
            try {
              return childView()
                      .getJsonArray("endpoints")
                      .getJsonObject(0)
                      .getInteger("in_flight_cluster")
                  == 2;
            } catch (Exception ex) {
              return false;
            }
          });
    } finally {
      l1.release();
      l2.release();
    }
    eventually(
        "no load left on gw-c's view",
        () -> {
          try {
            JsonArray eps = childView().getJsonArray("endpoints");
            for (int i = 0; i < eps.size(); i++) {
              if (eps.getJsonObject(i).getInteger("in_flight_cluster") != 0) return false;
            }
            return true;
          } catch (Exception ex) {
            return false;
          }
        });
    JsonObject view = childView();
    assertEquals(3, view.getJsonArray("members").size(), view.encodePrettily());
  }

  @Test
  @Order(2)
  void aKilledGatewayCostsOnlyItsOwnRequests() throws Exception {
    Gateway a = gateways.get(0);
    // three long streams through gw-c: in flight when it dies
    List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      streams.add(
          HTTP.sendAsync(
              HttpRequest.newBuilder(
                      URI.create("http://127.0.0.1:" + childPort + "/v1/chat/completions"))
                  .header("content-type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(body(tenant("k" + i), "q", 4000, true)))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    eventually(
        "gw-0 sees gw-c's three requests",
        () -> a.route(MODEL).endpoints().stream().mapToInt(EndpointState::inFlight).sum() == 3);
    signal(child, "KILL");
    assertTrue(child.waitFor(10, TimeUnit.SECONDS));
    // the others keep routing, with no errors, while the member is found dead and after
    int served = 0;
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (members(a) != 2 || served < 20) {
      assertTrue(System.nanoTime() < deadline, "gw-c not removed within 20 s");
      Gateway g = gateways.get(served % 2);
      HttpResponse<String> r =
          post(
              g.port(), "/v1/chat/completions", body(tenant("after-kill"), "q" + served, 2, false));
      assertEquals(200, r.statusCode(), r.body());
      served++;
    }
    for (Gateway g : gateways) {
      eventually(
          "gw-c's load vanished on " + g.cluster().gatewayId(),
          () -> g.route(MODEL).endpoints().stream().mapToInt(EndpointState::inFlight).sum() == 0);
    }
    for (CompletableFuture<HttpResponse<String>> s : streams) {
      // the killed gateway's own streams end cut (a reset or a truncated stream), not hang
      try {
        HttpResponse<String> r = s.get(20, TimeUnit.SECONDS);
        assertFalse(r.body().contains("data: [DONE]"), "a stream through a killed gateway ended");
      } catch (java.util.concurrent.ExecutionException expected) {
        // connection reset
      }
    }
  }

  @Test
  @Order(3)
  void aRestartedGatewayCatchesUpBeforeItReportsReady() throws Exception {
    Gateway a = gateways.get(0);
    Gateway b = gateways.get(1);
    // The killed member's last index broadcasts may have reached one peer and not the other (the
    // shared index is approximate): compare what the two learn from here on, not their totals.
    long[] before0 = index(a);
    long[] before1 = index(b);
    for (int t = 0; t < 6; t++) {
      HttpResponse<String> r =
          post(
              gateways.get(t % 2).port(),
              "/v1/chat/completions",
              body(tenant("r" + t), "q", 2, false));
      assertEquals(200, r.statusCode(), r.body());
    }
    eventually(
        "gw-0 and gw-1 both hold the new requests' blocks",
        () -> {
          long[] now0 = index(a);
          long[] now1 = index(b);
          for (int i = 0; i < now0.length; i++) {
            if (now0[i] - before0[i] != now1[i] - before1[i]) return false;
          }
          return grew(now0, before0);
        });
    // What both peers hold: the least a snapshot from either must bring.
    long[] now0 = index(a);
    long[] now1 = index(b);
    long[] want = new long[now0.length];
    for (int i = 0; i < want.length; i++) want[i] = Math.min(now0[i], now1[i]);
    child = startChild();
    // the first /ready 200 comes only once the snapshot is in
    eventually("gw-c ready again", () -> status(childAdminPort, "/ready") == 200);
    long[] have = childIndex();
    assertTrue(
        covers(have, want),
        "gw-c ready with "
            + java.util.Arrays.toString(have)
            + " < "
            + java.util.Arrays.toString(want));
    assertEquals("snapshot", childView().getString("catch_up"));
    for (Gateway g : gateways) eventually("3 members again", () -> members(g) == 3);
  }
}

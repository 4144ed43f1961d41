package io.kvgate.gateway.cli;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.post;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.GatewayLauncher.ClusterMeters;
import io.kvgate.replay.Gateways;
import io.kvgate.replay.PolicyResult;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.kvgate.replay.ReplayReport;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code kvgate replay --gateways 1,N,Nc}: the flag, the configuration of a clustered cell's
 * gateways, the launcher's gateways and their cluster meters, and a tiny trace sprayed over two
 * independent and two clustered real gateways.
 */
class ClusterReplayTest {

  private static ReplayOptions parse(String... args) {
    ReplayCommand cmd = new ReplayCommand();
    new CommandLine(cmd).parseArgs(args);
    return cmd.options();
  }

  @Test
  void theGatewaysFlagBecomesCells() {
    assertEquals(
        List.of(Gateways.ONE, new Gateways(3, false), new Gateways(3, true)),
        parse("--trace", "t.jsonl", "--gateways", "1,3,3c").gateways());
    assertEquals(List.of(Gateways.ONE), parse("--trace", "t.jsonl").gateways());
    String[][] cases = {
      {"--gateways", "1c", "--gateways: a cluster needs 2 or more gateways"},
      {"--gateways", "3x", "--gateways: gateways must be N (independent) or Nc (clustered)"},
      {"--gateways", "3c,3c", "--gateways: one or more distinct values"},
      {"--gateways", "2", "--index-modes", "precise", "needs aggregated fleets (both=N) and"},
      {"--gateways", "2c", "--fleets", "prefill=1+decode=1", "needs aggregated fleets (both=N)"},
    };
    for (String[] c : cases) {
      List<String> args = new ArrayList<>(List.of("replay", "--trace", "missing.jsonl"));
      args.addAll(List.of(c).subList(0, c.length - 1));
      int[] code = {-1};
      String err = CliTest.captureErr(() -> code[0] = Main.run(args.toArray(String[]::new)));
      assertEquals(2, code[0], String.join(" ", c) + ": " + err);
      assertTrue(err.contains(c[c.length - 1]), err);
    }
  }

  @Test
  void aClusteredCellsGatewaysListEveryMemberOnLoopback() {
    List<GatewayLauncher.Engine> engines =
        List.of(new GatewayLauncher.Engine("http://127.0.0.1:9001", Role.BOTH));
    GatewayLauncher.Spec spec =
        new GatewayLauncher.Spec(
            "cache-aware", "m", engines, null, GatewayLauncher.IndexMode.APPROXIMATE, 1, 3, true);
    List<Integer> ports = List.of(40001, 40002, 40003);
    GatewayConfig c = ReplayCommand.clusteredConfig(spec, "cell-x", ports, 1);
    GatewayConfig.Cluster cl = c.cluster();
    assertTrue(cl.enabled());
    assertEquals("cell-x", cl.name());
    assertEquals("127.0.0.1", cl.host());
    assertEquals(40002, cl.port());
    assertEquals(List.of("127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003"), cl.members());
    assertEquals("gw-1", cl.gatewayId());
    assertEquals(Duration.ofMillis(10), cl.publishInterval());
    // otherwise the cell's gateway: loopback listener on an ephemeral port, no admin listener
    assertEquals(0, c.listener().port());
    assertFalse(c.admin().enabled());
    assertFalse(ReplayCommand.config(spec).cluster().enabled());
  }

  private static String body(String system, int i) {
    return new JsonObject()
        .put("model", "m")
        .put("prompt", system + ("a question of its own, number " + i + ". ").repeat(20))
        .put("max_tokens", 2)
        .encode();
  }

  @Test
  void theLauncherStartsAClusterAndReadsItsMeters() throws Exception {
    Vertx vertx = Vertx.vertx();
    SimFleet fleet =
        await(SimFleet.start(vertx, SimEngineConfig.builder().model("m").speed(50).build(), 2, 0));
    try {
      GatewayLauncher.Spec spec =
          new GatewayLauncher.Spec(
              "cache-aware",
              "m",
              fleet.urls().stream().map(u -> new GatewayLauncher.Engine(u, Role.BOTH)).toList(),
              null,
              GatewayLauncher.IndexMode.APPROXIMATE,
              1,
              2,
              true);
      GatewayLauncher.RunningGateway gw = await(ReplayCommand.launcher().start(vertx, spec));
      try {
        assertEquals(2, gw.baseUrls().size());
        assertEquals(gw.baseUrl(), gw.baseUrls().get(0));
        List<ClusterMeters> before = gw.clusterMeters();
        assertEquals(
            List.of("gw-0", "gw-1"), before.stream().map(ClusterMeters::gatewayId).toList());
        for (ClusterMeters m : before) assertEquals(2, m.members(), "formed before traffic");
        String system = "A shared handbook for every request of this test. ".repeat(100);
        for (int i = 0; i < 6; i++) {
          int port = URI.create(gw.baseUrls().get(i % 2)).getPort();
          assertEquals(200, post(port, "/v1/completions", body(system, i)).statusCode());
        }
        io.kvgate.gateway.TestSupport.eventually(
            "each gateway applied the other's routing decisions",
            () -> gw.clusterMeters().stream().allMatch(m -> m.propagations() >= 3));
        for (ClusterMeters m : gw.clusterMeters()) {
          long[] c = m.propagationCumulative();
          assertTrue(c.length > 10, "a percentile histogram");
          for (int i = 1; i < c.length; i++) assertTrue(c[i] >= c[i - 1], "cumulative counts");
          assertTrue(c[c.length - 1] <= m.propagations());
          assertTrue(c[c.length - 1] > 0, "loopback propagation stays under the last bound");
          assertTrue(m.sentBytes() > 0);
          double p50 = m.propagationQuantileMs(0.5);
          assertTrue(p50 > 0 && p50 < 10_000, "p50 " + p50);
        }
      } finally {
        await(gw.close());
      }
    } finally {
      await(fleet.close());
      await(vertx.close());
    }
  }

  @Test
  void aTinyTraceRunsOverIndependentAndClusteredGateways(@TempDir Path dir) throws Exception {
    int n = 40;
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      // four shared 1,024-token prefixes, each request with a tail of its own
      lines.add(
          String.format(
              "{\"timestamp\": %d, \"input_length\": 1400, \"output_length\": 4, \"hash_ids\": [%d, %d, %d]}",
              i * 100, 2 * (i % 4), 2 * (i % 4) + 1, 100 + i));
    }
    Path trace = dir.resolve("tiny.jsonl");
    Files.write(trace, lines);
    ReplayOptions o =
        new ReplayOptions(
                trace,
                List.of("cache-aware"),
                2,
                SimEngineConfig.defaults().withSpeed(10),
                0,
                0,
                200,
                0,
                5,
                dir.resolve("out"),
                0)
            .withGateways(List.of(new Gateways(2, false), new Gateways(2, true)));
    ReplayReport r =
        Replay.run(o, ReplayCommand.launcher(), new PrintStream(new ByteArrayOutputStream()));
    assertEquals(2, r.results().size());
    for (PolicyResult p : r.results()) {
      assertEquals(0, p.errors(), p.gateways());
      assertTrue(p.hitRate() > 0.3, p.gateways() + " hit rate " + p.hitRate());
    }
    assertNull(r.results().get(0).cluster());
    PolicyResult.Cluster c = r.results().get(1).cluster();
    assertNotNull(c);
    assertEquals(2, c.gateways());
    assertEquals(2, c.membersAtEnd());
    assertTrue(c.propagations() >= n / 2, "every routing decision reaches the peer: " + c);
    assertTrue(
        c.propagationP50WallMs() > 0 && c.propagationP99WallMs() >= c.propagationP50WallMs(),
        c.toString());
    assertTrue(c.sentBytesPerRequest() > 0, c.toString());
    List<String> cells = Files.readAllLines(dir.resolve("out/cells.csv"));
    assertTrue(cells.get(2).startsWith("cache-aware gateways=2c,both=2,"), cells.get(2));
  }
}

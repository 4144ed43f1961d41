package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.GatewayLauncher.IndexMode;
import io.kvgate.replay.PolicyResult;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.kvgate.replay.ReplayReport;
import io.kvgate.replay.ReportWriter;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code kvgate replay --index-modes approximate,precise --direct-share F --restart-engine-at D}:
 * the flags, the gateway a precise cell gets, and a tiny trace through real gateways whose engines
 * publish their KV events, with direct traffic and a restart.
 */
class IndexStudyReplayTest {

  private static ReplayOptions parse(String... args) {
    ReplayCommand cmd = new ReplayCommand();
    new CommandLine(cmd).parseArgs(args);
    return cmd.options();
  }

  @Test
  void flagsBecomeOptions() {
    ReplayOptions o =
        parse(
            "--trace", "t.jsonl",
            "--index-modes", "approximate,precise",
            "--direct-share", "0.2",
            "--restart-engine-at", "90s");
    assertEquals(List.of(IndexMode.APPROXIMATE, IndexMode.PRECISE), o.indexModes());
    assertEquals(0.2, o.directShare());
    assertEquals(Duration.ofSeconds(90), o.restartEngineAt());
    ReplayOptions d = parse("--trace", "t.jsonl");
    assertEquals(List.of(IndexMode.APPROXIMATE), d.indexModes());
    assertEquals(0, d.directShare());
    assertNull(d.restartEngineAt());
  }

  @Test
  void badFlagsExit2NamingTheFlag() {
    String[][] cases = {
      {"--index-modes", "exact", "--index-modes: index mode must be approximate or precise"},
      {"--index-modes", "precise,precise", "--index-modes: approximate and/or precise"},
      {"--direct-share", "1.5", "--direct-share must be in 0..1"},
      {"--direct-share", "-0.1", "--direct-share must be in 0..1"},
      {"--restart-engine-at", "soon", "--restart-engine-at must be a positive duration"},
      {"--restart-engine-at", "0s", "--restart-engine-at must be a positive duration"},
      {
        "--fleets",
        "prefill=1+decode=1",
        "--direct-share",
        "0.2",
        "--direct-share and --restart-engine-at need aggregated fleets"
      },
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
  void aPreciseCellGetsAnEventListenerAndARestartCellSimulatedHealthTiming() {
    List<GatewayLauncher.Engine> engines =
        List.of(new GatewayLauncher.Engine("http://127.0.0.1:9001", Role.BOTH));
    GatewayConfig approximate =
        ReplayCommand.config(new GatewayLauncher.Spec("cache-aware", "m", engines, null));
    assertFalse(approximate.grpc().enabled());
    assertEquals(GatewayConfig.Health.DEFAULT, approximate.health());
    GatewayConfig precise =
        ReplayCommand.config(
            new GatewayLauncher.Spec("cache-aware", "m", engines, null, IndexMode.PRECISE, 10));
    assertTrue(precise.grpc().enabled());
    assertEquals("127.0.0.1", precise.grpc().host());
    assertEquals(0, precise.grpc().port(), "an ephemeral port");
    GatewayConfig.Health h = GatewayConfig.Health.DEFAULT;
    assertEquals(h.baseEjectionTime().dividedBy(10), precise.health().baseEjectionTime());
    assertEquals(h.interval().dividedBy(10), precise.health().interval());
    assertTrue(precise.health().timeout().compareTo(precise.health().interval()) <= 0);
    assertEquals(h.failureThreshold(), precise.health().failureThreshold());
  }

  @Test
  void aTinyTraceRunsInBothModesWithDirectTrafficAndARestart(@TempDir Path dir) throws Exception {
    int n = 80;
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
            .withIndexStudy(
                List.of(IndexMode.APPROXIMATE, IndexMode.PRECISE), 0.25, Duration.ofSeconds(4));
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    ReplayReport r = Replay.run(o, ReplayCommand.launcher(), new PrintStream(log));
    assertEquals(2, r.results().size());
    long direct =
        java.util.Arrays.stream(Replay.directEngines(n, 2, 0.25, 5)).filter(e -> e >= 0).count();
    for (PolicyResult p : r.results()) {
      String cell = p.cell(true);
      assertEquals(direct, p.directRequests(), cell);
      assertTrue(p.hitRate() > 0.3, cell + " hit rate " + p.hitRate());
      assertTrue(p.judgedRequests() > 0 && p.phantomHits() <= p.judgedRequests(), cell);
      PolicyResult.Restart x = p.restart();
      assertNotNull(x, cell);
      assertTrue(x.atMs() >= 4000, cell + " restarted at " + x.atMs());
      assertTrue(x.phantomAfter() <= x.routedAfter(), cell);
      assertEquals(12, x.windowHitRates().length);
      assertEquals(2, p.indexView().size(), cell);
    }
    PolicyResult approximate = r.results().get(0);
    assertEquals("approximate", approximate.indexMode());
    for (PolicyResult.EngineView v : approximate.indexView())
      assertEquals(-1, v.reportedCachedBlocks(), "no event stream: " + v);
    PolicyResult precise = r.results().get(1);
    assertEquals("precise", precise.indexMode());
    for (PolicyResult.EngineView v : precise.indexView()) {
      assertEquals("precise", v.mode(), v.toString());
      assertEquals(v.engineCachedBlocks(), v.indexBlocks(), "the index's view is the engine's");
      assertEquals(v.engineCachedBlocks(), v.reportedCachedBlocks(), v.toString());
    }
    assertTrue(precise.indexView().get(0).resets() >= 1, "the restart was seen on the stream");
    String table = ReportWriter.table(r);
    assertTrue(table.contains("cache-aware precise") && table.contains("phantom hits"), table);
    assertTrue(table.contains("restart of engine 0 at 4000 ms"), table);
    String md = Files.readString(dir.resolve("out/report.md"));
    assertTrue(md.contains("| cache-aware precise | precise |"), md);
    List<String> cells = Files.readAllLines(dir.resolve("out/cells.csv"));
    assertEquals(3, cells.size());
    assertTrue(cells.get(2).startsWith("cache-aware precise,both=2,cache-aware,precise,"));
    assertTrue(Files.exists(dir.resolve("out/requests-cache-aware-precise.csv")));
  }
}

package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.Fleet;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.PolicyResult;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.kvgate.replay.ReplayReport;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code kvgate replay} over disaggregated fleets: the flags become options, a cell's spec becomes
 * a P/D gateway configuration, and a tiny trace runs through a real gateway in front of one prefill
 * and one decode engine.
 */
class PdReplayCommandTest {

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
            "--fleets", "both=4,prefill=2+decode=2,prefill=3+decode=1",
            "--pd-protocol", "sglang",
            "--min-uncached-tokens", "0,256",
            "--rate-scale", "2.5");
    assertEquals(
        List.of(
            Fleet.aggregated(4),
            Fleet.parse("prefill=2+decode=2"),
            Fleet.parse("prefill=3+decode=1")),
        o.fleets());
    assertEquals(4, o.replicas(), "the first layout sizes the cache references");
    assertEquals(GatewayLauncher.PdProtocol.SGLANG, o.pdProtocol());
    assertEquals(List.of(0L, 256L), o.minUncachedTokens());
    assertEquals(2.5, o.rateScale());

    ReplayOptions d = parse("--trace", "t.jsonl");
    assertEquals(List.of(), d.fleets());
    assertEquals(List.of(Fleet.aggregated(8)), d.fleetsOrDefault());
    assertEquals(GatewayLauncher.PdProtocol.VLLM, d.pdProtocol());
    assertEquals(List.of(256L), d.minUncachedTokens());
    assertEquals(1.0, d.rateScale());
  }

  @Test
  void badFlagsExit2NamingTheFlag() {
    String[][] cases = {
      {"--fleets", "prefill=2", "--fleets: fleet 'prefill=2': a disaggregated fleet needs both"},
      {"--fleets", "both=2", "--replicas", "2", "--replicas and --fleets exclude each other"},
      {"--pd-protocol", "nixl", "--pd-protocol: P/D protocol must be vllm or sglang"},
      {"--min-uncached-tokens", "-1", "--min-uncached-tokens: one or more values >= 0"},
      {"--rate-scale", "0", "--rate-scale must be > 0"},
      {"--role", "prefill", "--role must stay both"},
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
  void aCellSpecBecomesAGatewayConfig() {
    List<GatewayLauncher.Engine> engines =
        List.of(
            new GatewayLauncher.Engine("http://127.0.0.1:9001", Role.PREFILL),
            new GatewayLauncher.Engine("http://127.0.0.1:9002", Role.DECODE),
            new GatewayLauncher.Engine("http://127.0.0.1:9003", Role.BOTH));
    GatewayConfig c =
        ReplayCommand.config(
            new GatewayLauncher.Spec(
                "cache-aware",
                "m",
                engines,
                new GatewayLauncher.Pd(GatewayLauncher.PdProtocol.SGLANG, 0)));
    GatewayConfig.Model m = c.models().get(0);
    assertEquals("cache-aware", m.policy());
    assertEquals(
        List.of(
            io.kvgate.routing.Role.PREFILL,
            io.kvgate.routing.Role.DECODE,
            io.kvgate.routing.Role.BOTH),
        m.endpoints().stream().map(io.kvgate.routing.Endpoint::role).toList());
    assertEquals(
        List.of("http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"),
        m.endpoints().stream().map(e -> e.url().toString()).toList());
    assertEquals(GatewayConfig.PdProtocol.SGLANG, m.pd().protocol());
    assertEquals(0, m.pd().minUncachedTokens());
    assertEquals(ReplayOptions.CHARS_PER_TOKEN, c.routing().charsPerToken());
    assertEquals(0, c.listener().port());

    GatewayConfig agg =
        ReplayCommand.config(
            new GatewayLauncher.Spec(
                "round-robin",
                "m",
                List.of(new GatewayLauncher.Engine("http://127.0.0.1:9001", Role.BOTH)),
                null));
    assertFalse(agg.models().get(0).pd().enabled());
  }

  @Test
  void aTinyTraceRunsThroughARealGatewayOverOnePrefillAndOneDecodeEngine(@TempDir Path dir)
      throws Exception {
    int requests = 10;
    int output = 5;
    Path trace = dir.resolve("tiny.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < requests; i++) {
      lines.add(
          String.format(
              "{\"timestamp\": %d, \"input_length\": 1200, \"output_length\": %d, \"hash_ids\": [0, %d, %d]}",
              i * 100, output, 2 * i + 1, 2 * i + 2));
    }
    Files.write(trace, lines);
    ReplayOptions o =
        new ReplayOptions(
                trace,
                List.of("cache-aware"),
                2,
                SimEngineConfig.defaults().withSpeed(20),
                0,
                0,
                100,
                0,
                1,
                dir.resolve("out"),
                0)
            .withFleets(List.of(Fleet.parse("prefill=1+decode=1")))
            .withPd(GatewayLauncher.PdProtocol.VLLM, List.of(0L, 1_000_000L));
    ReplayReport r =
        Replay.run(o, ReplayCommand.launcher(), new PrintStream(new ByteArrayOutputStream()));
    assertEquals(2, r.results().size());
    for (PolicyResult p : r.results()) {
      assertEquals(0, p.errors(), p.cell());
      assertEquals((long) requests * (output - 1), p.itlGaps(), p.cell());
      assertTrue(p.ttftP99Ms() > 0 && !Double.isNaN(p.itlP99Ms()), p.cell());
    }
    // Threshold 0: every request prefills on the prefill engine; the decode engine recomputes one
    // token of each.
    PolicyResult always = r.results().get(0);
    assertEquals("prefill=1+decode=1 cache-aware min=0", always.cell());
    assertEquals(requests, always.disaggregated());
    assertEquals(requests, always.prefillPerEngine().get(1));
    // A threshold above every prompt: all served whole on the decode engine.
    PolicyResult never = r.results().get(1);
    assertEquals(0, never.disaggregated());
    assertEquals(0, never.prefillPerEngine().get(0));
    assertTrue(never.prefillPerEngine().get(1) > requests * 600L);
    assertTrue(
        Files.readAllLines(dir.resolve("out/requests-prefill_1_decode_1-cache-aware-min0.csv"))
                .size()
            == requests + 1);
  }
}

package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kvgate.replay.PolicyResult;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.kvgate.replay.ReplayReport;
import io.kvgate.sim.SimEngineConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end: a few hundred requests of the Mooncake conversation trace through real gateways and
 * simulated engines over loopback; cache-aware must beat round-robin on the engine-counted hit rate.
 */
class ShortReplayTest {

  @Test
  void cacheAwareBeatsRoundRobinOnHitRate(@TempDir Path out) throws Exception {
    Path trace = Path.of("../../shared/traces/mooncake/conversation_trace.jsonl");
    assumeTrue(Files.exists(trace), "shared traces not present");
    SimEngineConfig engine = SimEngineConfig.builder().capacityBlocks(200_000).maxModelLen(262_144).speed(40).build();
    ReplayOptions o = new ReplayOptions(trace, List.of("round-robin", "cache-aware"), 4, engine, 400, 8, 1000, 0, 1, out);
    ReplayReport r = Replay.run(o, ReplayCommand.launcher(), new PrintStream(new ByteArrayOutputStream()));
    PolicyResult rr = r.results().get(0);
    PolicyResult ca = r.results().get(1);
    assertEquals(0, rr.errors());
    assertEquals(0, ca.errors());
    assertTrue(ca.hitRate() > rr.hitRate() + 0.015, "cache-aware " + ca.hitRate() + " vs round-robin " + rr.hitRate());
    assertTrue(ca.hitRate() <= r.oracleHitRate() + 1e-9, "never above the oracle " + r.oracleHitRate());
    for (String f : List.of("report.json", "report.md", "ttft-cdf.svg", "hit-rate.svg", "engine-load.svg")) {
      assertTrue(Files.size(out.resolve(f)) > 100, f);
    }
    assertTrue(Files.readString(out.resolve("hit-rate.svg")).startsWith("<svg"));
  }
}

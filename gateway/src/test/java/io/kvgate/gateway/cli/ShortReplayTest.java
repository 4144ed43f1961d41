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
 * simulated engines over loopback; cache-aware must beat round-robin on the engine-counted hit
 * rate.
 */
class ShortReplayTest {

  @Test
  void cacheAwareBeatsRoundRobinOnHitRate(@TempDir Path out) throws Exception {
    Path trace = Path.of("../../shared/traces/mooncake/conversation_trace.jsonl");
    assumeTrue(Files.exists(trace), "shared traces not present");
    SimEngineConfig engine =
        SimEngineConfig.builder().capacityBlocks(200_000).maxModelLen(262_144).speed(40).build();
    ReplayOptions o =
        new ReplayOptions(
            trace, List.of("round-robin", "cache-aware"), 4, engine, 400, 8, 1000, 0, 1, out, 50);
    ReplayReport r =
        Replay.run(o, ReplayCommand.launcher(), new PrintStream(new ByteArrayOutputStream()));
    PolicyResult rr = r.results().get(0);
    PolicyResult ca = r.results().get(1);
    assertEquals(0, rr.errors());
    assertEquals(0, ca.errors());
    assertTrue(
        ca.hitRate() > rr.hitRate() + 0.015,
        "cache-aware " + ca.hitRate() + " vs round-robin " + rr.hitRate());
    assertTrue(
        ca.hitRate() <= r.oracleHitRate() + 1e-9, "never above the oracle " + r.oracleHitRate());
    for (String f :
        List.of("report.json", "report.md", "ttft-cdf.svg", "hit-rate.svg", "engine-load.svg")) {
      assertTrue(Files.size(out.resolve(f)) > 100, f);
    }
    assertTrue(Files.readString(out.resolve("hit-rate.svg")).startsWith("<svg"));
    // One line per request: who served it, its prompt and what the engine reported cached.
    List<String> lines = Files.readAllLines(out.resolve("requests-cache-aware.csv"));
    assertEquals(
        "index,sent_ms,ttft_ms,e2e_ms,endpoint,prompt_tokens,cached_tokens,predicted_cached_tokens,"
            + "prefill_endpoint,content_events,itl_p50_ms,itl_p99_ms,itl_max_ms,direct",
        lines.get(0));
    assertEquals(401, lines.size());
    long prompt = 0;
    long cached = 0;
    long predicted = 0;
    java.util.Set<String> endpoints = new java.util.HashSet<>();
    for (String line : lines.subList(1, lines.size())) {
      String[] f = line.split(",");
      assertTrue(
          Double.parseDouble(f[2]) > 0 && Double.parseDouble(f[3]) >= Double.parseDouble(f[2]),
          line);
      endpoints.add(f[4]);
      prompt += Long.parseLong(f[5]);
      cached += Long.parseLong(f[6]);
      assertTrue(Long.parseLong(f[6]) >= 0 && Long.parseLong(f[6]) <= Long.parseLong(f[5]), line);
      // cache-aware predicts: the gateway's x-kvgate-predicted-cached-tokens, at most the prompt
      assertTrue(Long.parseLong(f[7]) >= 0 && Long.parseLong(f[7]) <= Long.parseLong(f[5]), line);
      predicted += Long.parseLong(f[7]);
    }
    assertTrue(predicted > 0, "the index predicted hits");
    assertTrue(endpoints.size() > 1 && !endpoints.contains(""), endpoints.toString());
    assertEquals(
        ca.hitRate(),
        (double) cached / prompt,
        1e-3,
        "usage-reported cache hits match the engines' counters");
  }
}

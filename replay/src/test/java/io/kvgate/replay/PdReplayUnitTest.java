package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.GatewayLauncher.PdProtocol;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Fleet layouts, the replay's cells, and the clients' stream timing. */
class PdReplayUnitTest {

  @Test
  void parsesFleetLayouts() {
    Fleet agg = Fleet.parse("both=4");
    assertFalse(agg.disaggregated());
    assertEquals(4, agg.engines());
    assertEquals(List.of(Role.BOTH, Role.BOTH, Role.BOTH, Role.BOTH), agg.roles());

    Fleet pd = Fleet.parse("decode=1+prefill=3");
    assertTrue(pd.disaggregated());
    assertEquals("prefill=3+decode=1", pd.label());
    assertEquals(List.of(Role.PREFILL, Role.PREFILL, Role.PREFILL, Role.DECODE), pd.roles());

    Fleet mixed = Fleet.parse("prefill=1+decode=1+both=2");
    assertEquals(4, mixed.engines());
    assertEquals("prefill=1+decode=1+both=2", mixed.label());
  }

  @Test
  void refusesBadLayoutsNamingTheProblem() {
    for (String[] bad :
        new String[][] {
          {"prefill=2", "needs both prefill and decode"},
          {"decode=2+both=2", "needs both prefill and decode"},
          {"gpu=2", "role 'gpu' unknown"},
          {"both=0", "must be an integer in 1..256"},
          {"both=x", "must be an integer in 1..256"},
          {"both=1+both=2", "given twice"},
          {"both", "is not ROLE=N"},
          {"prefill=1+", "is not ROLE=N"},
          {" ", "empty fleet"}
        }) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Fleet.parse(bad[0]), bad[0]);
      assertTrue(e.getMessage().contains(bad[1]), bad[0] + ": " + e.getMessage());
    }
  }

  @Test
  void cellsAreFleetsThenPoliciesThenThresholdsOnDisaggregatedFleetsOnly() {
    ReplayOptions o =
        new ReplayOptions(
                Path.of("t.jsonl"),
                List.of("round-robin", "cache-aware"),
                4,
                SimEngineConfig.defaults(),
                0,
                0,
                10,
                0,
                1,
                null,
                0)
            .withFleets(List.of(Fleet.parse("both=4"), Fleet.parse("prefill=2+decode=2")))
            .withPd(PdProtocol.SGLANG, List.of(0L, 256L));
    List<String> names = Replay.cells(o).stream().map(Replay.Cell::name).toList();
    assertEquals(
        List.of(
            "both=4 round-robin",
            "both=4 cache-aware",
            "prefill=2+decode=2 round-robin min=0",
            "prefill=2+decode=2 round-robin min=256",
            "prefill=2+decode=2 cache-aware min=0",
            "prefill=2+decode=2 cache-aware min=256"),
        names);
    assertEquals("prefill=2+decode=2-cache-aware-min256", Replay.cells(o).get(5).fileStem());
    // Without --fleets: one aggregated fleet of `replicas`, files named by policy alone.
    ReplayOptions plain = o.withFleets(List.of());
    assertEquals(
        List.of("round-robin", "cache-aware"),
        Replay.cells(plain).stream().map(Replay.Cell::fileStem).toList());
    assertEquals(4, Replay.cells(plain).get(0).fleet().engines());
  }

  @Test
  void optionsRefuseNonsense() {
    ReplayOptions o =
        new ReplayOptions(
            Path.of("t.jsonl"), List.of("x"), 4, SimEngineConfig.defaults(), 0, 0, 10, 0, 1, null);
    assertThrows(IllegalArgumentException.class, () -> o.withRateScale(0));
    assertThrows(IllegalArgumentException.class, () -> o.withPd(PdProtocol.VLLM, List.of()));
    assertThrows(IllegalArgumentException.class, () -> o.withPd(PdProtocol.VLLM, List.of(-1L)));
    assertThrows(IllegalArgumentException.class, () -> PdProtocol.parse("nixl"));
    assertEquals(PdProtocol.SGLANG, PdProtocol.parse("sglang"));
  }

  private static String chunk(String content) {
    return "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
        + content
        + "\"}}]}\n\n";
  }

  @Test
  void timesContentEventsAcrossAndWithinChunks() {
    StreamTiming t = new StreamTiming();
    // The role delta (empty content) is not a token.
    t.onChunk(chunk(""), 100);
    assertEquals(-1, t.firstContentNanos());
    // An event split across two chunks counts when it completes.
    String first = chunk("Hello");
    t.onChunk(first.substring(0, 20), 150);
    assertEquals(-1, t.firstContentNanos());
    t.onChunk(first.substring(20), 200);
    assertEquals(200, t.firstContentNanos());
    // Two events in one chunk: the second gap is 0, as the client saw them together.
    t.onChunk(chunk(" a") + chunk(" b"), 260);
    // A completion's text event, CRLF-terminated.
    t.onChunk("data: {\"choices\":[{\"text\":\" c\"}]}\r\n\r\n", 300);
    // The usage chunk and [DONE] carry no text.
    t.onChunk(
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4}}\n\n"
            + "data: [DONE]\n\n",
        400);
    assertEquals(4, t.contentEvents());
    assertArrayEquals(new long[] {60, 0, 40}, t.gaps());
  }

  @Test
  void itlPercentilesOverAllGapsAndPerRequest() {
    StreamTiming a = new StreamTiming();
    StreamTiming b = new StreamTiming();
    StreamTiming failed = new StreamTiming();
    long t = 0;
    for (int i = 0; i <= 100; i++) a.onChunk(chunk("x"), t += 1_000_000); // 100 gaps of 1 ms
    t = 0;
    for (int i = 0; i <= 10; i++) b.onChunk(chunk("x"), t += 10_000_000); // 10 gaps of 10 ms
    failed.onChunk(chunk("x"), 0);
    failed.onChunk(chunk("x"), 999_000_000);
    StreamTiming burst = new StreamTiming();
    burst.onChunk(chunk("x") + chunk("x") + chunk("x"), 0); // 2 gaps of 0: delivered together
    Itl itl =
        Itl.of(
            new StreamTiming[] {a, b, failed, null, burst},
            new long[] {5, 5, -1, -1, 5},
            2.0 /* speed */,
            3.0 /* decode step, ms: gaps under 1.5 ms are bursts */);
    assertEquals(112, itl.gaps());
    assertEquals(2.0, itl.p50Ms(), 1e-9); // 1 ms wall x speed 2
    assertEquals(20.0, itl.p99Ms(), 1e-9);
    // Per-request p99: a's is 2 ms, b's 20 ms, burst's 0; the median is a's.
    assertEquals(2.0, itl.requestP99MedianMs(), 1e-9);
    assertEquals(2.0 / 112, itl.burstShare(), 1e-9);
    assertEquals(Itl.QUANTILES, itl.quantilesMs().length);
    Itl none = Itl.of(new StreamTiming[] {null}, new long[] {-1}, 1, 8);
    assertEquals(0, none.gaps());
    assertTrue(Double.isNaN(none.p99Ms()));
  }
}

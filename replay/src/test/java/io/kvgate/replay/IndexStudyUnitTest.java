package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.GatewayLauncher.IndexMode;
import io.kvgate.sim.EngineStats;
import io.kvgate.sim.SimEngineConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The index-mode dimension, direct traffic and restarts: options, cells, draws and counters. */
class IndexStudyUnitTest {

  private static ReplayOptions base() {
    return new ReplayOptions(
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
        0);
  }

  private static EngineStats stats(long prompt, long cached, long computed) {
    return new EngineStats(
        0, 0, 0, prompt, cached, 0, prompt, cached, 0, 0, 0, computed, 0, 0, 0, 0, 0, 0);
  }

  @Test
  void indexModesAreACellDimensionAfterPolicies() {
    ReplayOptions o =
        base().withIndexStudy(List.of(IndexMode.APPROXIMATE, IndexMode.PRECISE), 0, null);
    assertEquals(
        List.of(
            "both=4 round-robin approximate",
            "both=4 round-robin precise",
            "both=4 cache-aware approximate",
            "both=4 cache-aware precise"),
        Replay.cells(o).stream().map(Replay.Cell::name).toList());
    assertEquals(
        List.of(
            "round-robin-approximate",
            "round-robin-precise",
            "cache-aware-approximate",
            "cache-aware-precise"),
        Replay.cells(o).stream().map(Replay.Cell::fileStem).toList());
    // the default (approximate only) keeps the names and files of a plain policy comparison
    assertEquals(
        List.of("round-robin", "cache-aware"),
        Replay.cells(base()).stream().map(Replay.Cell::fileStem).toList());
    assertEquals(
        "both=4 cache-aware", Replay.cells(base()).get(1).name(), "no mode in a default name");
  }

  @Test
  void optionsRefuseNonsense() {
    ReplayOptions o = base();
    assertThrows(IllegalArgumentException.class, () -> o.withIndexStudy(List.of(), 0, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> o.withIndexStudy(List.of(IndexMode.PRECISE, IndexMode.PRECISE), 0, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> o.withIndexStudy(List.of(IndexMode.APPROXIMATE), 1.5, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> o.withIndexStudy(List.of(IndexMode.APPROXIMATE), -0.1, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> o.withIndexStudy(List.of(IndexMode.APPROXIMATE), 0, Duration.ZERO));
    ReplayOptions pd = o.withFleets(List.of(Fleet.parse("prefill=1+decode=1")));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> pd.withIndexStudy(List.of(IndexMode.APPROXIMATE), 0.2, null));
    assertTrue(e.getMessage().contains("aggregated fleets"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> pd.withIndexStudy(List.of(IndexMode.PRECISE), 0, Duration.ofSeconds(5)));
    // precise cells on a disaggregated fleet are fine: every engine publishes
    assertEquals(
        List.of(IndexMode.PRECISE),
        pd.withIndexStudy(List.of(IndexMode.PRECISE), 0, null).indexModes());
    assertEquals(IndexMode.PRECISE, IndexMode.parse("precise"));
    e = assertThrows(IllegalArgumentException.class, () -> IndexMode.parse("exact"));
    assertTrue(e.getMessage().contains("approximate or precise"), e.getMessage());
  }

  @Test
  void theDirectDrawIsSeededAndNested() {
    int[] a = Replay.directEngines(10_000, 4, 0.2, 7);
    assertArrayEquals(a, Replay.directEngines(10_000, 4, 0.2, 7), "a function of the seed");
    long direct = Arrays.stream(a).filter(e -> e >= 0).count();
    assertEquals(2000, direct, 120);
    for (int engine = 0; engine < 4; engine++) {
      int k = engine;
      assertEquals(500, Arrays.stream(a).filter(e -> e == k).count(), 90, "engine " + k);
    }
    assertTrue(Arrays.stream(Replay.directEngines(100, 4, 0, 7)).allMatch(e -> e == -1));
    assertTrue(Arrays.stream(Replay.directEngines(100, 4, 1, 7)).allMatch(e -> e >= 0));
    // a larger share keeps the smaller one's requests, on the same engines
    int[] b = Replay.directEngines(10_000, 4, 0.4, 7);
    for (int i = 0; i < a.length; i++) if (a[i] >= 0) assertEquals(a[i], b[i], "request " + i);
    assertFalse(Arrays.equals(a, Replay.directEngines(10_000, 4, 0.2, 8)), "another seed");
  }

  @Test
  void countersAddUpAcrossARestart() {
    EngineCounters c = new EngineCounters(stats(100, 40, 60));
    c.observe(stats(1100, 540, 560)); // +1000 prompt, +500 hits
    c.observe(stats(2100, 1040, 1060));
    // the engine restarted: its counters start over, the new process counted 300 / 30 so far
    c.observe(stats(300, 30, 270));
    c.observe(stats(700, 230, 470));
    assertEquals(2000 + 700, c.promptTokens());
    assertEquals(1000 + 230, c.cachedTokens());
    assertEquals(1000 + 470, c.prefillTokensComputed());
  }

  @Test
  void anEngineUrlBecomesTheGatewaysEndpointId() {
    assertEquals("127.0.0.1:9000", Replay.endpointId("http://127.0.0.1:9000"));
    assertEquals("127.0.0.1:9000", Replay.endpointId("http://127.0.0.1:9000/"));
    assertEquals("e.example:443", Replay.endpointId("https://e.example"));
  }
}

package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.GatewayLauncher.ClusterMeters;
import io.kvgate.replay.GatewayLauncher.IndexMode;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Future;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateways dimension ({@code --gateways 1,3,3c}): parsing, cells and names, the cluster meters'
 * arithmetic, and a tiny trace sprayed over several stand-in gateways.
 */
class GatewaysReplayTest {

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

  @Test
  void parsesGatewayCells() {
    assertEquals(Gateways.ONE, Gateways.parse("1"));
    assertEquals(new Gateways(3, false), Gateways.parse("3"));
    assertEquals(new Gateways(3, true), Gateways.parse(" 3c"));
    assertEquals("3c", Gateways.parse("3c").label());
    for (String[] bad :
        new String[][] {
          {"0", "gateways must be 1..16"},
          {"17c", "gateways must be 1..16"},
          {"1c", "a cluster needs 2 or more gateways"},
          {"c", "N (independent) or Nc (clustered)"},
          {"3cc", "N (independent) or Nc (clustered)"},
          {"three", "N (independent) or Nc (clustered)"},
          {"-3", "N (independent) or Nc (clustered)"}
        }) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Gateways.parse(bad[0]), bad[0]);
      assertTrue(e.getMessage().contains(bad[1]), bad[0] + ": " + e.getMessage());
    }
  }

  @Test
  void gatewaysAreTheInnermostCellDimensionAndNamedOnlyWhenGiven() {
    List<Gateways> g = List.of(Gateways.ONE, new Gateways(3, false), new Gateways(3, true));
    ReplayOptions o = base().withGateways(g);
    assertEquals(
        List.of(
            "both=4 round-robin gateways=1",
            "both=4 round-robin gateways=3",
            "both=4 round-robin gateways=3c",
            "both=4 cache-aware gateways=1",
            "both=4 cache-aware gateways=3",
            "both=4 cache-aware gateways=3c"),
        Replay.cells(o).stream().map(Replay.Cell::name).toList());
    assertEquals(
        List.of(
            "round-robin-gw1",
            "round-robin-gw3",
            "round-robin-gw3c",
            "cache-aware-gw1",
            "cache-aware-gw3",
            "cache-aware-gw3c"),
        Replay.cells(o).stream().map(Replay.Cell::fileStem).toList());
    assertEquals(
        List.of("round-robin", "cache-aware"),
        Replay.cells(base()).stream().map(Replay.Cell::fileStem).toList(),
        "one gateway: the names of a plain policy comparison");
    assertEquals(List.of(Gateways.ONE), base().gateways());
    assertEquals(
        g, o.withRateScale(2).withIndexStudy(List.of(IndexMode.APPROXIMATE), 0.1, null).gateways());
  }

  @Test
  void severalGatewaysRefusePreciseCellsAndDisaggregatedFleets() {
    ReplayOptions o = base();
    assertThrows(IllegalArgumentException.class, () -> o.withGateways(List.of()));
    assertThrows(
        IllegalArgumentException.class,
        () -> o.withGateways(List.of(new Gateways(3, true), new Gateways(3, true))));
    ReplayOptions precise = o.withIndexStudy(List.of(IndexMode.PRECISE), 0, null);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> precise.withGateways(List.of(new Gateways(2, true))));
    assertTrue(e.getMessage().contains("approximate index mode"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            o.withFleets(List.of(Fleet.parse("prefill=1+decode=1")))
                .withGateways(List.of(new Gateways(2, false))));
    // one gateway goes anywhere
    assertEquals(1, precise.withGateways(List.of(Gateways.ONE)).gateways().size());
  }

  private static ClusterMeters meters(String id, long[] cumulative, long n, double bytes) {
    return new ClusterMeters(id, 3, new double[] {1, 2, 4, 8, 16}, cumulative, n, bytes);
  }

  @Test
  void clusterMetersMergeBucketByBucketAndInterpolateQuantiles() {
    // gateway a: 10 writes, all in (2, 4]; gateway b: 10 writes in (8, 16]
    ClusterMeters a = meters("gw-0", new long[] {0, 0, 10, 10, 10}, 10, 1000);
    ClusterMeters b = meters("gw-1", new long[] {0, 0, 0, 0, 10}, 10, 3000);
    ClusterMeters m = ClusterMeters.merge(List.of(a, b));
    assertArrayEquals(new long[] {0, 0, 10, 10, 20}, m.propagationCumulative());
    assertEquals(20, m.propagations());
    assertEquals(4000, m.sentBytes());
    assertEquals(3, m.members());
    // the median is the 10th write: the top of (2, 4]
    assertEquals(4.0, m.propagationQuantileMs(0.5), 1e-9);
    // the 99th percentile: 19.8 of 20, 9.8 of the 10 writes in (8, 16]
    assertEquals(8 + 8 * 9.8 / 10, m.propagationQuantileMs(0.99), 1e-9);
    assertEquals(2 + 2 * 5.0 / 10, a.propagationQuantileMs(0.5), 1e-9, "within one bucket");
    // beyond the last bound: the last bound
    ClusterMeters slow = meters("gw-2", new long[] {0, 0, 0, 0, 1}, 4, 0);
    assertEquals(16, slow.propagationQuantileMs(0.99));
    assertTrue(Double.isNaN(meters("gw-3", new long[5], 0, 0).propagationQuantileMs(0.5)));
    // a later reading less an earlier one: what happened in between
    ClusterMeters later = meters("gw-0", new long[] {1, 1, 12, 15, 15}, 16, 1500);
    ClusterMeters d = later.since(a);
    assertArrayEquals(new long[] {1, 1, 2, 5, 5}, d.propagationCumulative());
    assertEquals(6, d.propagations());
    assertEquals(500, d.sentBytes());
  }

  @Test
  void theClusterResultIsTheMergedDifferencePerRoutedRequest() {
    List<ClusterMeters> before =
        List.of(
            meters("gw-0", new long[] {0, 0, 1, 1, 1}, 1, 100),
            meters("gw-1", new long[] {0, 0, 0, 0, 0}, 0, 100));
    List<ClusterMeters> after =
        List.of(
            meters("gw-0", new long[] {0, 0, 11, 11, 11}, 11, 2100),
            meters("gw-1", new long[] {0, 0, 0, 0, 10}, 10, 4100));
    PolicyResult.Cluster c = Replay.clusterResult(before, after, 60);
    assertEquals(2, c.gateways());
    assertEquals(3, c.membersAtEnd());
    assertEquals(20, c.propagations());
    assertEquals(4.0, c.propagationP50WallMs(), 1e-9);
    assertEquals(6000, c.sentBytes());
    assertEquals(100, c.sentBytesPerRequest(), 1e-9);
    assertThrows(
        IllegalStateException.class, () -> Replay.clusterResult(before, after.subList(0, 1), 60));
  }

  /**
   * {@code n} stand-in gateways (round-robin proxies), each counting the requests it received; a
   * clustered spec gets made-up cluster meters that grow by one bucket's worth per reading.
   */
  private static GatewayLauncher counting(
      List<AtomicInteger> perGateway, List<GatewayLauncher.Spec> specs) {
    return (vertx, spec) -> {
      specs.add(spec);
      List<Future<GatewayLauncher.RunningGateway>> started = new ArrayList<>();
      List<AtomicInteger> counts = new ArrayList<>();
      for (int k = 0; k < spec.gateways(); k++) {
        AtomicInteger c = new AtomicInteger();
        counts.add(c);
        started.add(ReplayEndToEndTest.proxy(c).start(vertx, spec));
      }
      return Future.all(started)
          .map(
              x -> {
                perGateway.clear();
                perGateway.addAll(counts);
                List<GatewayLauncher.RunningGateway> gs =
                    started.stream().map(Future::result).toList();
                AtomicInteger readings = new AtomicInteger();
                return new GatewayLauncher.RunningGateway() {
                  public String baseUrl() {
                    return gs.get(0).baseUrl();
                  }

                  public List<String> baseUrls() {
                    return gs.stream().map(GatewayLauncher.RunningGateway::baseUrl).toList();
                  }

                  public List<ClusterMeters> clusterMeters() {
                    if (!spec.clustered()) return List.of();
                    long r = readings.incrementAndGet();
                    List<ClusterMeters> out = new ArrayList<>();
                    for (int k = 0; k < gs.size(); k++)
                      out.add(
                          new ClusterMeters(
                              "gw-" + k,
                              gs.size(),
                              new double[] {5, 10, 20},
                              new long[] {0, 10 * r, 10 * r},
                              10 * r,
                              1000.0 * r));
                    return out;
                  }

                  public Future<Void> close() {
                    return Future.join(
                            gs.stream().map(GatewayLauncher.RunningGateway::close).toList())
                        .mapEmpty();
                  }
                };
              });
    };
  }

  @Test
  void requestsAreSprayedOverTheGatewaysAndClusterCellsReportTheirMeters(@TempDir Path dir)
      throws Exception {
    int n = 30;
    List<AtomicInteger> perGateway = new ArrayList<>();
    List<GatewayLauncher.Spec> specs = new ArrayList<>();
    ReplayOptions o =
        new ReplayOptions(
                ReplayEndToEndTest.tinyTrace(dir, n),
                List.of("rr"),
                2,
                SimEngineConfig.defaults().withSpeed(20),
                0,
                0,
                100,
                0,
                3,
                dir.resolve("out"),
                0)
            .withGateways(List.of(Gateways.ONE, new Gateways(3, false), new Gateways(2, true)));
    ReplayReport r =
        Replay.run(o, counting(perGateway, specs), new PrintStream(new ByteArrayOutputStream()));
    assertEquals(
        List.of("1", "3", "2c"), r.results().stream().map(PolicyResult::gateways).toList());
    assertEquals(List.of(1, 3, 2), specs.stream().map(GatewayLauncher.Spec::gateways).toList());
    assertEquals(
        List.of(false, false, true), specs.stream().map(GatewayLauncher.Spec::clustered).toList());
    for (PolicyResult p : r.results()) assertEquals(0, p.errors(), p.gateways());
    assertNull(r.results().get(1).cluster(), "independent gateways have no cluster");
    PolicyResult.Cluster c = r.results().get(2).cluster();
    assertNotNull(c);
    // read once before the traffic and once after: one reading's growth, over two gateways
    assertEquals(20, c.propagations());
    assertEquals(2000.0 / n, c.sentBytesPerRequest(), 1e-9);
    assertEquals(2, c.membersAtEnd());
    assertTrue(c.propagationP50WallMs() > 5 && c.propagationP50WallMs() <= 10, "" + c);

    // request i went to gateway i mod N: 30 requests, 15 on each of the last cell's 2 gateways
    assertEquals(List.of(n / 2, n / 2), perGateway.stream().map(AtomicInteger::get).toList());
    List<String> csv = Files.readAllLines(dir.resolve("out/cells.csv"));
    assertEquals(4, csv.size());
    List<String> head = Arrays.asList(csv.get(0).split(","));
    int gw = head.indexOf("gateways");
    int imbalance = head.indexOf("prefill_imbalance");
    int bytes = head.indexOf("cluster_sent_bytes_per_request");
    assertTrue(gw > 0 && imbalance > 0 && bytes > 0, csv.get(0));
    String[] clustered = csv.get(3).split(",", -1);
    assertEquals("2c", clustered[gw]);
    assertEquals(head.size(), clustered.length, csv.get(3));
    assertEquals(2000.0 / n, Double.parseDouble(clustered[bytes]), 0.05);
    assertTrue(Double.parseDouble(clustered[imbalance]) >= 1, csv.get(3));
    assertEquals("", csv.get(2).split(",", -1)[bytes], "no cluster, no bytes");
    assertTrue(csv.get(1).startsWith("rr gateways=1,"), csv.get(1));
    String table = ReportWriter.table(r);
    assertTrue(table.contains("rr gateways=2c") && table.contains("bytes/req"), table);
    assertTrue(
        Files.readString(dir.resolve("out/report.md")).contains("| rr gateways=2c | 2 | 2 | 20 |"));
    assertTrue(Files.exists(dir.resolve("out/requests-rr-gw3.csv")));
  }
}

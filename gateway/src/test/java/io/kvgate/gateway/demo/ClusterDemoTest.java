package io.kvgate.gateway.demo;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.eventually;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;

/**
 * {@code kvgate demo --gateways 2}, in-process: two clustered gateways over one fleet, the demo's
 * traffic sprayed over both, and the per-gateway table agreeing on the index.
 */
class ClusterDemoTest {

  static double requests(Gateway g) {
    return g.registry().find("kvgate_requests").counters().stream()
        .mapToDouble(io.micrometer.core.instrument.Counter::count)
        .sum();
  }

  @org.junit.jupiter.api.Test
  void twoClusteredGatewaysServeTheDemoTrafficWithOneIndex() throws Exception {
    // two consecutive ports, both free
    int clusterPort = -1;
    for (int tries = 0; clusterPort < 0 && tries < 50; tries++) {
      int p = io.kvgate.gateway.cluster.LoopbackPorts.pick(1).get(0);
      try (ServerSocket s = new ServerSocket(p + 1, 1, java.net.InetAddress.getLoopbackAddress())) {
        clusterPort = p;
      } catch (java.io.IOException taken) {
        // try another
      }
    }
    Vertx vertx = Vertx.vertx();
    SimEngineConfig engine = SimEngineConfig.builder().speed(20).capacityBlocks(4096).build();
    Demo demo =
        await(
            Demo.startGateways(
                vertx,
                GatewayMetrics.newRegistry(),
                engine,
                3,
                0,
                "127.0.0.1",
                0,
                "cache-aware",
                2,
                true,
                clusterPort));
    DemoStats stats = new DemoStats();
    DemoWorkload workload =
        new DemoWorkload(
            vertx,
            "127.0.0.1",
            demo.gateways().stream().map(Gateway::port).toList(),
            engine.model(),
            stats,
            4,
            4000,
            4,
            8);
    try {
      assertEquals(2, demo.gateways().size());
      for (Gateway g : demo.gateways()) assertTrue(g.cluster().caughtUp());
      workload.start(6);
      eventually(
          "both gateways served the demo's turns",
          () -> demo.gateways().stream().allMatch(g -> requests(g) >= 20));
      workload.stop();
      DemoStats.Window w = stats.drain();
      assertEquals(0, w.totalErrors(), "errors: " + w.lastError());
      Gateway a = demo.gateways().get(0);
      Gateway b = demo.gateways().get(1);
      eventually(
          "both indexes hold the same blocks",
          () -> {
            for (var e : a.route(engine.model()).endpoints()) {
              long x = a.route(engine.model()).index().heldBlocks(e.slot());
              long y = b.route(engine.model()).index().heldBlocks(e.slot());
              if (x == 0 || x != y) return false;
            }
            return true;
          });
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      new ClusterTable(demo.gateways(), engine.model(), new PrintStream(out, true, "UTF-8"))
          .print();
      String table = out.toString(StandardCharsets.UTF_8);
      assertTrue(table.contains("gw-0") && table.contains("gw-1"), table);
    } finally {
      workload.close();
      await(demo.close());
      await(vertx.close());
    }
  }
}

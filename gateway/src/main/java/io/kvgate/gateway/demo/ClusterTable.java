package io.kvgate.gateway.demo;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.routing.EndpointState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Prints, every reporting window of a demo with several gateways, one row per gateway: the requests
 * it answered in the window, how many gateways it sees, the blocks its prefix index holds (each
 * gateway keeps its own copy; in a cluster they agree within a publish interval), the requests in
 * flight it counts across the fleet (its own and, in a cluster, its peers'), and the delay with
 * which peers' index writes reached it (mean and max since start).
 */
public final class ClusterTable {

  private final List<Gateway> gateways;
  private final String model;
  private final PrintStream out;
  private final double[] previous;

  public ClusterTable(List<Gateway> gateways, String model, PrintStream out) {
    this.gateways = List.copyOf(gateways);
    this.model = model;
    this.out = out;
    this.previous = new double[gateways.size()];
    for (int i = 0; i < gateways.size(); i++) previous[i] = requests(gateways.get(i));
  }

  private static double requests(Gateway g) {
    return g.registry().find("kvgate_requests").counters().stream()
        .mapToDouble(Counter::count)
        .sum();
  }

  /** Prints one table for the window since the previous call. */
  public void print() {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%-8s %9s %8s %14s %18s %22s%n",
            "gateway",
            "requests",
            "members",
            "index blocks",
            "in flight (fleet)",
            "propagation mean/max"));
    for (int i = 0; i < gateways.size(); i++) {
      Gateway g = gateways.get(i);
      double now = requests(g);
      long window = Math.round(now - previous[i]);
      previous[i] = now;
      ModelRoute r = g.route(model);
      long blocks = 0;
      int inFlight = 0;
      for (EndpointState e : r.endpoints()) {
        blocks += r.index().heldBlocks(e.slot());
        inFlight += e.inFlight();
      }
      String id = g.cluster() == null ? "gw-" + i : g.cluster().gatewayId();
      String members =
          g.cluster() == null
              ? "alone"
              : Integer.toString(g.cluster().hazelcast().getCluster().getMembers().size());
      Timer t = g.registry().find("kvgate_cluster_propagation").timer();
      String propagation =
          t == null || t.count() == 0
              ? "-"
              : String.format(
                  Locale.ROOT,
                  "%.1f / %.0f ms",
                  t.mean(TimeUnit.MILLISECONDS),
                  t.max(TimeUnit.MILLISECONDS));
      sb.append(
          String.format(
              Locale.ROOT,
              "%-8s %9d %8s %14d %18d %22s%n",
              id,
              window,
              members,
              blocks,
              inFlight,
              propagation));
    }
    out.print(sb);
  }
}

package io.kvgate.gateway.cli;

import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code kvgate sim}: N simulated vLLM-like engines on consecutive ports, until interrupted. */
@Command(
    name = "sim",
    mixinStandardHelpOptions = true,
    description =
        "Run N simulated vLLM-like engines (OpenAI API, prefix cache, vLLM metrics) on consecutive ports.")
public final class SimCommand implements Callable<Integer> {

  @Option(names = "--replicas", description = "Number of engines (default: ${DEFAULT-VALUE}).")
  int replicas = 4;

  @Option(
      names = "--base-port",
      description =
          "Port of the first engine; engine i listens on base+i; 0 = ephemeral (default: ${DEFAULT-VALUE}).")
  int basePort = 9000;

  @Mixin SimOptions sim;

  @Override
  public Integer call() throws Exception {
    Vertx vertx = Vertx.vertx();
    SimFleet fleet =
        CliRuntime.await(SimFleet.start(vertx, sim.toConfig(), replicas, basePort), 30);
    System.out.printf("kvgate sim: %d engine(s) serving model '%s'%n", replicas, sim.model);
    for (SimEngine e : fleet.engines()) System.out.println("  " + e.url());
    System.out.println("endpoints: " + String.join(",", fleet.urls()));
    CliRuntime.awaitShutdown(
        () -> {
          try {
            CliRuntime.await(fleet.close(), 10);
            CliRuntime.await(vertx.close(), 10);
          } catch (Exception ignored) {
            // Shutting down anyway.
          }
        });
    return 0;
  }
}

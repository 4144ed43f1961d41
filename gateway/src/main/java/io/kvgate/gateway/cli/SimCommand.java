package io.kvgate.gateway.cli;

import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.kvgate.sim.SimTls;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
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

  @Option(
      names = "--tls",
      description =
          "Serve https with the bundled self-signed certificate for localhost and 127.0.0.1.")
  boolean tls;

  @Option(
      names = "--tls-cert",
      paramLabel = "FILE",
      description = "Serve https with this PEM certificate; needs --tls-key.")
  Path tlsCert;

  @Option(
      names = "--tls-key",
      paramLabel = "FILE",
      description = "PEM private key (PKCS#8) of --tls-cert.")
  Path tlsKey;

  @Option(
      names = "--error-rate",
      paramLabel = "SHARE",
      description =
          "Fault: answer this share (0..1) of completion requests with 500, drawn from a seeded random; /health still"
              + " answers 200 (default: ${DEFAULT-VALUE}).")
  double errorRate;

  @Option(
      names = "--hang-before-first-byte",
      paramLabel = "DURATION",
      description =
          "Fault: accept completion requests but answer only after DURATION (e.g. 500ms; 1h for never); /health still"
              + " answers 200 (default: 0s, off).")
  String hangBeforeFirstByte = "0s";

  @Option(
      names = "--fault-seed",
      description = "Seed of the --error-rate draw (default: ${DEFAULT-VALUE}).")
  long faultSeed = 42;

  /** The fault flags, or null after printing why they are refused. */
  SimEngineConfig.Faults faults() {
    if (!(errorRate >= 0 && errorRate <= 1)) {
      System.err.println("sim: --error-rate must be between 0 and 1 (got " + errorRate + ")");
      return null;
    }
    java.time.Duration hang =
        "0s".equals(hangBeforeFirstByte)
            ? java.time.Duration.ZERO
            : io.kvgate.routing.config.ConfigNode.parseDuration(hangBeforeFirstByte);
    if (hang == null) {
      System.err.println(
          "sim: --hang-before-first-byte must be a duration such as 500ms, 30s or 1h (got '"
              + hangBeforeFirstByte
              + "')");
      return null;
    }
    return SimEngineConfig.Faults.NONE
        .withErrorRate(errorRate, faultSeed)
        .withHangBeforeFirstByte(hang);
  }

  @Override
  public Integer call() throws Exception {
    SimEngineConfig.Faults faults = faults();
    if (faults == null) return 2;
    if ((tlsCert == null) != (tlsKey == null)) {
      System.err.println("sim: give --tls-cert and --tls-key together");
      return 2;
    }
    if (tls && tlsCert != null) {
      System.err.println("sim: give either --tls or --tls-cert/--tls-key, not both");
      return 2;
    }
    if (tlsCert != null) {
      for (Path f : new Path[] {tlsCert, tlsKey}) {
        if (!Files.isReadable(f)) {
          System.err.println("sim: cannot read " + f);
          return 2;
        }
      }
    }
    SimEngineConfig config =
        sim.toConfig().toBuilder()
            .tls(tls ? SimTls.bundled() : tlsCert != null ? SimTls.pemFiles(tlsCert, tlsKey) : null)
            .faults(faults)
            .build();
    Vertx vertx = Vertx.vertx();
    SimFleet fleet = CliRuntime.await(SimFleet.start(vertx, config, replicas, basePort), 30);
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

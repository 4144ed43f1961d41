package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.vertx.core.Future;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code kvgate replay}: one trace, several policies, each on a fresh simulated fleet behind a real
 * gateway.
 */
@Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    description = {
      "Replay a trace (Mooncake JSONL or OpenAI-request JSONL) open-loop through kvgate and a fresh simulated",
      "fleet per policy; report engine-counted hit rates next to the oracle and pooled-LRU bounds, TTFT, latency,",
      "throughput and prefill imbalance, as a table, report.json, report.md and SVG plots.",
      "Synthetic traces in the Mooncake form: `kvgate workload multi-tenant --out FILE` (bench/replay-multitenant.sh)."
    })
public final class ReplayCommand implements Callable<Integer> {

  @Option(names = "--trace", required = true, description = "The trace file (JSON Lines).")
  Path trace;

  @Option(
      names = "--policies",
      split = ",",
      description = "Policies to compare (default: ${DEFAULT-VALUE}).")
  List<String> policies = List.of("round-robin", "cache-aware", "sglang-cache-aware", "dynamo-kv");

  @Option(names = "--replicas", description = "Engines per fleet (default: ${DEFAULT-VALUE}).")
  int replicas = 8;

  @Option(
      names = "--limit",
      description = "Replay only the first N records; 0 = all (default: ${DEFAULT-VALUE}).")
  int limit = 0;

  @Option(
      names = "--max-output-tokens",
      description =
          "Cap each request's output tokens; 0 = the trace's (default: ${DEFAULT-VALUE}).")
  int maxOutputTokens = 0;

  @Option(
      names = "--max-outstanding",
      description =
          "Open-loop bound; requests due beyond it are dropped and counted as errors (default: ${DEFAULT-VALUE}).")
  int maxOutstanding = 2000;

  @Option(
      names = "--jitter-ms",
      description =
          "Spread arrivals uniformly within this many trace ms after their timestamp (default: ${DEFAULT-VALUE}).")
  long jitterMs = 0;

  @Option(names = "--seed", description = "Seed of the jitter (default: ${DEFAULT-VALUE}).")
  long seed = 1;

  @Option(
      names = "--warmup",
      description =
          "Replay this many of the trace's first requests once, unmeasured, before the first policy, so no policy pays for the JVM's warm-up (default: ${DEFAULT-VALUE}).")
  int warmup = 300;

  @Option(
      names = "--out",
      description =
          "Directory for report.json, report.md and the SVG plots (default: ${DEFAULT-VALUE}).")
  Path out = Path.of("replay-out");

  @Mixin SimOptions sim = new SimOptions();

  public ReplayCommand() {
    // Replays compress time by default: an hour-long trace in a few minutes.
    sim.speed = 20;
  }

  /** Starts a real in-process gateway for a policy. */
  static GatewayLauncher launcher() {
    return (vertx, policy, model, urls) -> {
      GatewayConfig config =
          GatewayConfig.of(model, urls, policy)
              .withListener(new GatewayConfig.Listener("127.0.0.1", 0))
              .withAdmin(GatewayConfig.Admin.OFF)
              .withRouting(
                  GatewayConfig.Routing.DEFAULT.withCharsPerToken(ReplayOptions.CHARS_PER_TOKEN));
      return Gateway.start(vertx, config)
          .map(
              g ->
                  new GatewayLauncher.RunningGateway() {
                    @Override
                    public String baseUrl() {
                      return "http://127.0.0.1:" + g.port();
                    }

                    @Override
                    public Future<Void> close() {
                      return g.close();
                    }
                  });
    };
  }

  @Override
  public Integer call() throws Exception {
    ReplayOptions o =
        new ReplayOptions(
            trace,
            policies,
            replicas,
            sim.toConfig(),
            limit,
            maxOutputTokens,
            maxOutstanding,
            jitterMs,
            seed,
            out,
            warmup);
    Replay.run(o, launcher(), System.out);
    System.out.println(
        "wrote "
            + out.resolve("report.json")
            + ", report.md, ttft-cdf.svg, hit-rate.svg, engine-load.svg");
    return 0;
  }
}

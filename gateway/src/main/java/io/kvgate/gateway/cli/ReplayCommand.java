package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.Fleet;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.Replay;
import io.kvgate.replay.ReplayOptions;
import io.kvgate.routing.config.ConfigNode;
import io.kvgate.sim.Role;
import io.vertx.core.Future;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code kvgate replay}: one trace, several policies, fleet layouts (aggregated or prefill/decode
 * disaggregated) and index modes (approximate or fed by the engines' KV events), each cell on a
 * fresh simulated fleet behind a real gateway.
 */
@Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    description = {
      "Replay a trace (Mooncake JSONL or OpenAI-request JSONL) open-loop through kvgate and a fresh simulated",
      "fleet per policy; report engine-counted hit rates next to the oracle and pooled-LRU bounds, TTFT, latency,",
      "throughput and prefill imbalance, as a table, report.json, report.md and SVG plots. With --fleets, also",
      "prefill/decode disaggregated fleets: one cell per fleet layout x policy x --min-uncached-tokens value,",
      "with the clients' inter-token latency (ITL) next to TTFT. With --index-modes approximate,precise, each",
      "cell also runs with the engines publishing their KV events to the gateway; --direct-share and",
      "--restart-engine-at make the caches drift from what an approximate index believes.",
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

  @Option(
      names = "--replicas",
      description =
          "Engines of the one aggregated fleet, when --fleets is not given (default: ${DEFAULT-VALUE}).")
  int replicas = 8;

  @Option(
      names = "--fleets",
      split = ",",
      paramLabel = "LAYOUT",
      description = {
        "Fleet layouts to compare, each ROLE=N[+ROLE=N...] with roles both, prefill, decode, e.g.",
        "both=4,prefill=2+decode=2,prefill=3+decode=1; a layout with prefill engines needs decode engines",
        "(both engines serve on the decode side). Replaces --replicas; the first layout's engine count",
        "sizes the cache references. Default: one aggregated fleet of --replicas engines."
      })
  List<String> fleets = List.of();

  @Option(
      names = "--pd-protocol",
      paramLabel = "vllm|sglang",
      description =
          "Protocol the gateway speaks to disaggregated fleets: vllm (kv_transfer_params) or sglang (bootstrap) (default: ${DEFAULT-VALUE}).")
  String pdProtocol = "vllm";

  @Option(
      names = "--min-uncached-tokens",
      split = ",",
      paramLabel = "N",
      description =
          "The gateway's pd.minUncachedTokens on disaggregated fleets, one cell per value: requests whose uncached prompt part on the chosen decode engine is below N are served whole there; 0 disaggregates every request (default: 256).")
  List<Long> minUncachedTokens = List.of(ReplayOptions.DEFAULT_MIN_UNCACHED_TOKENS);

  @Option(
      names = "--rate-scale",
      paramLabel = "X",
      description =
          "Send requests X times faster than the trace's timestamps (in simulated time: the load knob; --speed only compresses wall time) (default: ${DEFAULT-VALUE}).")
  double rateScale = 1.0;

  @Option(
      names = "--index-modes",
      split = ",",
      paramLabel = "MODE",
      description = {
        "What the gateway's prefix index learns the caches from, one cell per mode: approximate (its",
        "own routing decisions) or precise (every engine publishes its KV events to the gateway's gRPC",
        "listener on an ephemeral loopback port; traffic starts once each engine's first batch is",
        "applied) (default: approximate)."
      })
  List<String> indexModes = List.of("approximate");

  @Option(
      names = "--direct-share",
      paramLabel = "F",
      description = {
        "Send this share (0..1) of the trace's requests straight to a random engine of the fleet,",
        "bypassing the gateway: other clients of the same engines. Which requests and which engine",
        "follow --seed, the same in every cell. Aggregated fleets only (default: ${DEFAULT-VALUE})."
      })
  double directShare = 0;

  @Option(
      names = "--restart-engine-at",
      paramLabel = "DURATION",
      description = {
        "Restart engine 0 (empty cache, new instance id, counters from 0, requests in flight cut)",
        "this far into each measured cell, in simulated time, e.g. 90s or 2m; the report adds the",
        "gateway-routed requests priced on a phantom hit there in the next minute and engine 0's hit",
        "rate around it. Aggregated fleets only (default: no restart)."
      })
  String restartEngineAt;

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

  @Spec CommandSpec spec;

  public ReplayCommand() {
    // Replays compress time by default: an hour-long trace in a few minutes.
    sim.speed = 20;
  }

  /**
   * The gateway configuration for one replay cell: listeners on ephemeral loopback ports, no admin
   * listener, for a precise cell the gRPC listener that the engines publish their KV events to, and
   * the health timing scaled by the spec's {@code healthTimeScale}.
   */
  static GatewayConfig config(GatewayLauncher.Spec spec) {
    GatewayConfig config;
    if (spec.pd() == null) {
      config = GatewayConfig.of(spec.model(), spec.urls(), spec.policy());
    } else {
      config =
          GatewayConfig.disaggregated(
              spec.model(),
              GatewayConfig.PdProtocol.parse(spec.pd().protocol().wireName()),
              spec.urls(Role.PREFILL),
              spec.urls(Role.DECODE),
              spec.urls(Role.BOTH),
              spec.policy());
      GatewayConfig.Model m = config.models().get(0);
      config =
          config.withModels(
              List.of(m.withPd(m.pd().withMinUncachedTokens(spec.pd().minUncachedTokens()))));
    }
    if (spec.indexMode() == GatewayLauncher.IndexMode.PRECISE)
      config = config.withGrpc(new GatewayConfig.Grpc(true, "127.0.0.1", 0, null));
    if (spec.healthTimeScale() != 1) {
      GatewayConfig.Health h = config.health();
      Duration interval =
          Duration.ofMillis(
              Math.max(10, (long) (h.interval().toMillis() / spec.healthTimeScale())));
      config =
          config.withHealth(
              new GatewayConfig.Health(
                  interval,
                  h.timeout().compareTo(interval) < 0 ? h.timeout() : interval,
                  h.failureThreshold(),
                  Duration.ofMillis(
                      Math.max(
                          1, (long) (h.baseEjectionTime().toMillis() / spec.healthTimeScale()))),
                  h.errorRate()));
    }
    return config
        .withListener(new GatewayConfig.Listener("127.0.0.1", 0))
        .withAdmin(GatewayConfig.Admin.OFF)
        .withRouting(
            GatewayConfig.Routing.DEFAULT.withCharsPerToken(ReplayOptions.CHARS_PER_TOKEN));
  }

  /**
   * Starts a real in-process gateway for a cell. Its index view is read from {@link
   * Gateway#indexHealth()}, what {@code GET /admin/endpoints} reports as {@code index_mode}, {@code
   * index_blocks} and {@code engine_cached_blocks}.
   */
  static GatewayLauncher launcher() {
    return (vertx, spec) ->
        Gateway.start(vertx, config(spec))
            .map(
                g ->
                    new GatewayLauncher.RunningGateway() {
                      @Override
                      public String baseUrl() {
                        return "http://127.0.0.1:" + g.port();
                      }

                      @Override
                      public int kvEventsPort() {
                        return g.grpcPort();
                      }

                      @Override
                      public List<GatewayLauncher.EngineIndexView> indexView() {
                        return g.indexHealth().engines().stream()
                            .map(
                                e ->
                                    new GatewayLauncher.EngineIndexView(
                                        e.url(),
                                        e.mode().tag(),
                                        e.indexBlocks(),
                                        e.engineCachedBlocks(),
                                        e.resets()))
                            .toList();
                      }

                      @Override
                      public Future<Void> close() {
                        return g.close();
                      }
                    });
  }

  /**
   * The replay's options from the flags.
   *
   * @throws CommandLine.ParameterException for a bad flag value
   */
  ReplayOptions options() {
    CommandLine cl = spec.commandLine();
    List<Fleet> layouts = new ArrayList<>();
    for (String f : fleets) {
      try {
        layouts.add(Fleet.parse(f));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cl, "--fleets: " + e.getMessage());
      }
    }
    if (!layouts.isEmpty() && cl.getParseResult().hasMatchedOption("--replicas"))
      throw new CommandLine.ParameterException(
          cl, "--replicas and --fleets exclude each other (e.g. --fleets both=8)");
    if (!"both".equals(sim.role))
      throw new CommandLine.ParameterException(
          cl, "replay sets the engines' roles from --fleets; --role must stay both");
    GatewayLauncher.PdProtocol protocol;
    try {
      protocol = GatewayLauncher.PdProtocol.parse(pdProtocol);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cl, "--pd-protocol: " + e.getMessage());
    }
    if (minUncachedTokens.isEmpty() || minUncachedTokens.stream().anyMatch(t -> t < 0))
      throw new CommandLine.ParameterException(
          cl, "--min-uncached-tokens: one or more values >= 0");
    if (!(rateScale > 0) || Double.isInfinite(rateScale))
      throw new CommandLine.ParameterException(cl, "--rate-scale must be > 0");
    if (replicas < 1) throw new CommandLine.ParameterException(cl, "--replicas must be >= 1");
    List<GatewayLauncher.IndexMode> modes = new ArrayList<>();
    for (String m : indexModes) {
      try {
        modes.add(GatewayLauncher.IndexMode.parse(m));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cl, "--index-modes: " + e.getMessage());
      }
    }
    if (modes.isEmpty() || modes.stream().distinct().count() != modes.size())
      throw new CommandLine.ParameterException(
          cl, "--index-modes: approximate and/or precise, each at most once");
    if (!(directShare >= 0 && directShare <= 1))
      throw new CommandLine.ParameterException(cl, "--direct-share must be in 0..1");
    Duration restartAt = null;
    if (restartEngineAt != null) {
      restartAt = ConfigNode.parseDuration(restartEngineAt);
      if (restartAt == null || restartAt.toMillis() < 1)
        throw new CommandLine.ParameterException(
            cl,
            "--restart-engine-at must be a positive duration such as 90s or 2m (got '"
                + restartEngineAt
                + "')");
    }
    if ((directShare > 0 || restartAt != null) && layouts.stream().anyMatch(Fleet::disaggregated))
      throw new CommandLine.ParameterException(
          cl, "--direct-share and --restart-engine-at need aggregated fleets (both=N)");
    return new ReplayOptions(
        trace,
        policies,
        layouts.isEmpty() ? replicas : layouts.get(0).engines(),
        sim.toConfig(),
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        layouts,
        protocol,
        minUncachedTokens,
        rateScale,
        modes,
        directShare,
        restartAt);
  }

  @Override
  public Integer call() throws Exception {
    ReplayOptions o = options();
    Replay.run(o, launcher(), System.out);
    System.out.println(
        "wrote "
            + out.resolve("report.json")
            + ", report.md, cells.csv, ttft-cdf.svg, itl-cdf.svg, hit-rate.svg, engine-load.svg");
    return 0;
  }
}

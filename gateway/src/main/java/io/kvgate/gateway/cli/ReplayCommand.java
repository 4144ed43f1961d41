package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.replay.Fleet;
import io.kvgate.replay.GatewayLauncher;
import io.kvgate.replay.Gateways;
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
      "--restart-engine-at make the caches drift from what an approximate index believes. With --gateways",
      "1,3,3c, each cell also runs behind N independent or N clustered gateways, the requests sprayed over them.",
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
      names = "--gateways",
      split = ",",
      paramLabel = "N|Nc",
      description = {
        "Gateways in front of each cell's engines, one cell per value: 1, N (N independent gateways,",
        "e.g. 3) or Nc (N gateways in one cluster sharing their routing state, e.g. 3c). Request i goes",
        "to gateway i mod N, so a conversation's turns land on different gateways; clustered cells",
        "report the cluster's propagation delay and bytes sent per request. More than one gateway",
        "needs aggregated fleets and the approximate index mode (default: 1)."
      })
  List<String> gateways = List.of("1");

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
   * The configuration of gateway {@code k} of a clustered cell: {@link
   * #config(GatewayLauncher.Spec)} with the cluster on, named {@code name}, its member on loopback
   * port {@code ports.get(k)}, every gateway's member listed, gateway id {@code gw-k}, the
   * cluster's default timings (a 10 ms publish interval).
   */
  static GatewayConfig clusteredConfig(
      GatewayLauncher.Spec spec, String name, List<Integer> ports, int k) {
    List<String> members = ports.stream().map(p -> "127.0.0.1:" + p).toList();
    return config(spec)
        .withCluster(
            GatewayConfig.Cluster.OFF.on(name, ports.get(k), members).withGatewayId("gw-" + k));
  }

  /**
   * Hazelcast's and the cluster's INFO lines (member lists, joins, catch-ups of every cell's
   * gateways) would bury the replay's progress; the replay reports each cluster's members and
   * propagation itself. Held here: a logger's level lives as long as the logger.
   */
  private static final List<java.util.logging.Logger> CLUSTER_LOGS =
      List.of(
          java.util.logging.Logger.getLogger("com.hazelcast"),
          java.util.logging.Logger.getLogger("io.kvgate.gateway.cluster"));

  /**
   * Starts the real in-process gateways of a cell: {@link GatewayLauncher.Spec#gateways()} of them
   * over the same engines, each with a fresh registry; for a clustered spec each with its cluster
   * member on a free loopback port, under a cluster name of the cell's own, started one after the
   * other and returned once every gateway has caught up and sees all the others. The index view is
   * the first gateway's, read from {@link Gateway#indexHealth()} (what {@code GET /admin/endpoints}
   * reports as {@code index_mode}, {@code index_blocks} and {@code engine_cached_blocks}); the
   * cluster meters are each gateway's {@code kvgate_cluster_propagation} histogram and {@code
   * kvgate_cluster_sent_bytes} counters.
   */
  static GatewayLauncher launcher() {
    return (vertx, spec) -> {
      List<GatewayConfig> configs = new ArrayList<>();
      if (!spec.clustered()) {
        for (int k = 0; k < spec.gateways(); k++) configs.add(config(spec));
      } else {
        for (java.util.logging.Logger l : CLUSTER_LOGS) l.setLevel(java.util.logging.Level.WARNING);
        List<Integer> ports;
        try {
          ports = freePorts(spec.gateways());
        } catch (java.io.IOException e) {
          return Future.failedFuture(e);
        }
        String name = "kvgate-replay-" + Long.toHexString(System.nanoTime());
        for (int k = 0; k < spec.gateways(); k++)
          configs.add(clusteredConfig(spec, name, ports, k));
      }
      List<Gateway> started = new ArrayList<>();
      Future<Void> chain = Future.succeededFuture();
      for (GatewayConfig c : configs)
        chain =
            chain.compose(
                v ->
                    Gateway.start(vertx, c)
                        .map(
                            g -> {
                              started.add(g);
                              return (Void) null;
                            }));
      return chain
          .compose(v -> Gateway.formed(vertx, started))
          .<GatewayLauncher.RunningGateway>map(v -> running(started))
          .recover(e -> closeAll(started).transform(x -> Future.failedFuture(e)));
    };
  }

  /**
   * Closes the gateways one after the other, the youngest first: the cluster shrinks member by
   * member, its oldest member (Hazelcast's master) last, instead of every member seeing the others
   * vanish at once. Completes when all are closed, failed if one failed to close.
   */
  private static Future<Void> closeAll(List<Gateway> gs) {
    Future<Void> chain = Future.succeededFuture();
    List<Throwable> failures = new ArrayList<>();
    for (int k = gs.size() - 1; k >= 0; k--) {
      Gateway g = gs.get(k);
      chain =
          chain.transform(
              x ->
                  g.close()
                      .otherwise(
                          e -> {
                            failures.add(e);
                            return null;
                          }));
    }
    return chain.compose(
        x -> failures.isEmpty() ? Future.succeededFuture() : Future.failedFuture(failures.get(0)));
  }

  /** {@code n} distinct free loopback ports for the cell's members. */
  private static List<Integer> freePorts(int n) throws java.io.IOException {
    return io.kvgate.gateway.cluster.LoopbackPorts.pick(n);
  }

  private static GatewayLauncher.RunningGateway running(List<Gateway> gs) {
    Gateway first = gs.get(0);
    return new GatewayLauncher.RunningGateway() {
      @Override
      public String baseUrl() {
        return "http://127.0.0.1:" + first.port();
      }

      @Override
      public List<String> baseUrls() {
        return gs.stream().map(g -> "http://127.0.0.1:" + g.port()).toList();
      }

      @Override
      public int kvEventsPort() {
        return first.grpcPort();
      }

      @Override
      public List<GatewayLauncher.EngineIndexView> indexView() {
        return first.indexHealth().engines().stream()
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
      public List<GatewayLauncher.ClusterMeters> clusterMeters() {
        return gs.stream()
            .filter(g -> g.cluster() != null)
            .map(ReplayCommand::clusterMeters)
            .toList();
      }

      @Override
      public Future<Void> close() {
        return closeAll(gs);
      }
    };
  }

  /** A clustered gateway's cluster meters, read from its registry. */
  static GatewayLauncher.ClusterMeters clusterMeters(Gateway g) {
    io.micrometer.core.instrument.MeterRegistry r = g.registry();
    io.micrometer.core.instrument.Timer t = r.find("kvgate_cluster_propagation").timer();
    double[] bounds = new double[0];
    long[] cumulative = new long[0];
    long count = 0;
    if (t != null) {
      // a Prometheus registry's percentile histogram: cumulative bucket counts since the start
      io.micrometer.core.instrument.distribution.CountAtBucket[] buckets =
          t.takeSnapshot().histogramCounts();
      bounds = new double[buckets.length];
      cumulative = new long[buckets.length];
      for (int i = 0; i < buckets.length; i++) {
        bounds[i] = buckets[i].bucket(java.util.concurrent.TimeUnit.MILLISECONDS);
        cumulative[i] = (long) buckets[i].count();
      }
      count = t.count();
    }
    double sent =
        r.find("kvgate_cluster_sent_bytes").counters().stream()
            .mapToDouble(io.micrometer.core.instrument.Counter::count)
            .sum();
    return new GatewayLauncher.ClusterMeters(
        g.cluster().gatewayId(),
        g.cluster().hazelcast().getCluster().getMembers().size(),
        bounds,
        cumulative,
        count,
        sent);
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
    List<Gateways> gatewayCells = new ArrayList<>();
    for (String g : gateways) {
      try {
        gatewayCells.add(Gateways.parse(g));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cl, "--gateways: " + e.getMessage());
      }
    }
    if (gatewayCells.isEmpty() || gatewayCells.stream().distinct().count() != gatewayCells.size())
      throw new CommandLine.ParameterException(
          cl, "--gateways: one or more distinct values (1, N, Nc)");
    if (gatewayCells.stream().anyMatch(g -> g.count() > 1)
        && (layouts.stream().anyMatch(Fleet::disaggregated)
            || modes.contains(GatewayLauncher.IndexMode.PRECISE)))
      throw new CommandLine.ParameterException(
          cl,
          "--gateways with more than one gateway needs aggregated fleets (both=N) and"
              + " --index-modes approximate");
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
        restartAt,
        gatewayCells);
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

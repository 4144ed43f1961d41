package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.demo.ClusterTable;
import io.kvgate.gateway.demo.Demo;
import io.kvgate.gateway.demo.DemoStats;
import io.kvgate.gateway.demo.DemoWorkload;
import io.kvgate.gateway.demo.FleetTable;
import io.kvgate.sim.SimFleet;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code kvgate demo}: a gateway and a simulated fleet in one process, ready in seconds, with an
 * optional built-in workload and a live per-engine table.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Run a gateway plus a simulated vLLM-like fleet in one process (no GPU needed).",
      "--traffic also drives a multi-tenant, multi-turn chat workload and prints per-engine stats every few seconds."
    })
public final class DemoCommand implements Callable<Integer> {

  @Option(names = "--port", description = "Gateway port (default: ${DEFAULT-VALUE}).")
  int port = 8080;

  @Option(
      names = "--bind",
      description =
          "Gateway bind address; 0.0.0.0 to reach it from outside a container (default: ${DEFAULT-VALUE}).")
  String host = "127.0.0.1";

  @Option(names = "--replicas", description = "Simulated engines (default: ${DEFAULT-VALUE}).")
  int replicas = 4;

  @Option(
      names = "--engine-base-port",
      description = "Port of the first engine; 0 = ephemeral ports (default: ${DEFAULT-VALUE}).")
  int engineBasePort = 0;

  @Option(
      names = "--policy",
      description = "Routing policy: a preset name or a policy file (default: ${DEFAULT-VALUE}).")
  String policy = "cache-aware";

  @Option(
      names = "--traffic",
      description = "Drive the built-in workload and print per-engine stats.")
  boolean traffic;

  @Option(
      names = "--conversations",
      description = "With --traffic: concurrent conversations (default: ${DEFAULT-VALUE}).")
  int conversations = 24;

  @Option(
      names = "--tenants",
      description =
          "With --traffic: tenants, each with its own long system prompt (default: ${DEFAULT-VALUE}).")
  int tenants = 16;

  @Option(
      names = "--system-prompt-chars",
      description =
          "With --traffic: system prompt length, about 4 chars a token (default: ${DEFAULT-VALUE}).")
  int systemPromptChars = 12_000;

  @Option(
      names = "--report-seconds",
      description = "With --traffic: seconds between tables (default: ${DEFAULT-VALUE}).")
  int reportSeconds = 5;

  @Option(
      names = "--duration",
      description =
          "With --traffic: stop after this many seconds; 0 = run until interrupted (default: ${DEFAULT-VALUE}).")
  int durationSeconds = 0;

  @Option(
      names = "--clouds",
      description =
          "Two-cloud failover: engines labelled cloud aws (tier 1) and gcp (tier 2), the two-clouds"
              + " policy, the built-in workload; tier 1 is killed at --fail-at and restarted at"
              + " --recover-at, and a per-tier table shows the traffic move and come back.")
  boolean clouds;

  @Option(
      names = "--fail-at",
      description = "With --clouds: seconds until tier 1 is killed (default: ${DEFAULT-VALUE}).")
  int failAt = 20;

  @Option(
      names = "--recover-at",
      description = "With --clouds: seconds until tier 1 is restarted (default: ${DEFAULT-VALUE}).")
  int recoverAt = 40;

  @Option(
      names = "--pd",
      arity = "0..1",
      fallbackValue = "vllm",
      paramLabel = "vllm|sglang",
      description =
          "Prefill/decode disaggregation: --prefill-replicas prefill engines and --decode-replicas"
              + " decode engines behind a gateway speaking this protocol (default when given:"
              + " vllm).")
  String pd;

  @Option(
      names = "--prefill-replicas",
      description = "With --pd: prefill engines (default: ${DEFAULT-VALUE}).")
  int prefillReplicas = 2;

  @Option(
      names = "--decode-replicas",
      description = "With --pd: decode engines (default: ${DEFAULT-VALUE}).")
  int decodeReplicas = 2;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--kv-events",
      description =
          "The engines publish their KV events to the gateway's gRPC listener (loopback, port + 2):"
              + " the prefix index is precise (docs/KV_EVENTS.md).")
  boolean kvEvents;

  @Option(
      names = "--gateways",
      description =
          "Gateways in front of the one fleet (default: ${DEFAULT-VALUE}). Gateway i serves on"
              + " --port + 10 i; with more than one, they form a cluster (embedded members on"
              + " loopback from --cluster-port) and the demo's traffic sprays its requests over"
              + " them round-robin, so a conversation's turns land on different gateways"
              + " (docs/CLUSTER.md).")
  int gateways = 1;

  @Option(
      names = "--no-cluster",
      description =
          "With --gateways: the gateways route independently (no shared state), to compare.")
  boolean noCluster;

  @Option(
      names = "--cluster-port",
      description = "With --gateways: the first cluster member's port (default: ${DEFAULT-VALUE}).")
  int clusterPort = 5701;

  @Option(
      names = "--data-dir",
      paramLabel = "DIR",
      description =
          "Where the demo gateway's batch lane (/v1/files, /v1/batches) keeps its files and batches"
              + " (default: ${DEFAULT-VALUE}); not with --pd or --gateways.")
  java.nio.file.Path dataDir = java.nio.file.Path.of("kvgate-data");

  @Mixin SimOptions sim = new SimOptions();

  /** Hazelcast's own INFO lines (member lists, health monitor) would bury the demo's tables. */
  private static final java.util.logging.Logger HAZELCAST_LOG =
      java.util.logging.Logger.getLogger("com.hazelcast");

  public DemoCommand() {
    // Small enough that the engines' caches cannot hold every tenant's prompt everywhere, so
    // routing decides the hit rate (docs/BENCHMARKS.md §1).
    sim.capacityBlocks = 2048;
  }

  @Override
  public Integer call() throws Exception {
    if (clouds) {
      return DemoClouds.run(this, spec.commandLine().getParseResult().hasMatchedOption("--policy"));
    }
    var parsed = spec.commandLine().getParseResult();
    if (kvEvents && pd != null) {
      System.err.println("demo: --kv-events goes without --pd");
      return 2;
    }
    if (pd == null
        && (parsed.hasMatchedOption("--prefill-replicas")
            || parsed.hasMatchedOption("--decode-replicas"))) {
      System.err.println("demo: --prefill-replicas and --decode-replicas go with --pd");
      return 2;
    }
    if (gateways < 1 || gateways > 9) {
      System.err.println("demo: --gateways must be 1..9");
      return 2;
    }
    if (gateways == 1 && (noCluster || parsed.hasMatchedOption("--cluster-port"))) {
      System.err.println("demo: --no-cluster and --cluster-port go with --gateways 2 or more");
      return 2;
    }
    if (gateways > 1 && (pd != null || kvEvents)) {
      System.err.println("demo: --gateways goes without --pd and --kv-events");
      return 2;
    }
    if (clusterPort < 1 || clusterPort + gateways - 1 > 65535) {
      System.err.println("demo: --cluster-port must leave room for every gateway's member");
      return 2;
    }
    io.kvgate.gateway.config.GatewayConfig.PdProtocol protocol = null;
    if (pd != null) {
      try {
        protocol = io.kvgate.gateway.config.GatewayConfig.PdProtocol.parse(pd);
      } catch (IllegalArgumentException e) {
        System.err.println("demo: --pd " + e.getMessage());
        return 2;
      }
      if (prefillReplicas < 1 || decodeReplicas < 1) {
        System.err.println("demo: --pd needs at least one prefill and one decode replica");
        return 2;
      }
      if (parsed.hasMatchedOption("--replicas")) {
        System.err.println(
            "demo: with --pd, size the pools with --prefill-replicas/--decode-replicas");
        return 2;
      }
      replicas = prefillReplicas + decodeReplicas;
    }
    if (gateways > 1) HAZELCAST_LOG.setLevel(java.util.logging.Level.WARNING);
    Demo.useBatchLane(io.kvgate.gateway.config.GatewayConfig.Batch.DEFAULT.on(dataDir));
    PrometheusMeterRegistry registry = CliRuntime.registry();
    Vertx vertx = CliRuntime.vertx(registry);
    Demo demo;
    try {
      demo =
          CliRuntime.await(
              gateways > 1
                  ? Demo.startGateways(
                      vertx,
                      registry,
                      sim.toConfig(),
                      replicas,
                      engineBasePort,
                      host,
                      port,
                      policy,
                      gateways,
                      !noCluster,
                      clusterPort)
                  : protocol == null
                      ? Demo.start(
                          vertx,
                          registry,
                          sim.toConfig(),
                          replicas,
                          engineBasePort,
                          host,
                          port,
                          policy,
                          kvEvents)
                      : Demo.startPd(
                          vertx,
                          registry,
                          sim.toConfig(),
                          prefillReplicas,
                          decodeReplicas,
                          protocol,
                          engineBasePort,
                          host,
                          port,
                          policy),
              30);
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      System.err.println("demo: could not start: " + cause.getMessage());
      CliRuntime.await(vertx.close(), 10);
      return 1;
    }
    SimFleet fleet = demo.fleet();
    Gateway gateway = demo.gateway();
    String url = demo.url();
    System.out.printf(
        """
        kvgate demo: gateway %s -> %d simulated engines (%s), policy '%s', model '%s'
          engines: %s
          metrics: http://127.0.0.1:%d/metrics (admin listener)

        Try it:
          curl -s %s/v1/chat/completions -H 'content-type: application/json' \\
            -d '{"model":"%s","messages":[{"role":"user","content":"Hello!"}],"max_tokens":16}'

        OpenAI Java SDK:
          OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("%s/v1").apiKey("unused").build();
          client.chat().completions().create(ChatCompletionCreateParams.builder()
              .model("%s").addUserMessage("Hello!").maxCompletionTokens(16).build());

        Python: OpenAI(base_url="%s/v1", api_key="unused")
        %n""",
        url,
        replicas,
        (protocol == null
                ? ""
                : prefillReplicas
                    + " prefill + "
                    + decodeReplicas
                    + " decode, "
                    + protocol.wireName()
                    + " protocol, ")
            + "speed "
            + sim.speed
            + ", "
            + sim.capacityBlocks
            + " KV blocks each",
        policy,
        sim.model,
        String.join(" ", fleet.urls()),
        gateway.adminPort(),
        url,
        sim.model,
        url,
        sim.model,
        url);
    if (gateway.batchLane() != null) {
      System.out.printf(
          "Batch API (files and batches kept in %s, docs/BATCH.md):%n"
              + "  curl -s %s/v1/files -F purpose=batch -F file=@requests.jsonl%n"
              + "  curl -s %s/v1/batches -H 'content-type: application/json' -d"
              + " '{\"input_file_id\":\"file-...\",\"endpoint\":\"/v1/chat/completions\","
              + "\"completion_window\":\"24h\"}'%n%n",
          dataDir.toAbsolutePath(), url, url);
    }
    if (gateways > 1) {
      StringBuilder sb = new StringBuilder();
      for (Gateway g : demo.gateways()) {
        sb.append(
            String.format(
                "  %s  http://127.0.0.1:%d  (admin %d%s)%n",
                g.cluster() == null ? "gateway" : g.cluster().gatewayId(),
                g.port(),
                g.adminPort(),
                g.cluster() == null
                    ? ""
                    : ", its view: curl -s http://127.0.0.1:" + g.adminPort() + "/admin/cluster"));
      }
      System.out.printf(
          "%d gateways over the same engines, %s:%n%s%n",
          gateways,
          noCluster
              ? "routing independently (--no-cluster)"
              : "one cluster sharing prefix index, load, drains and rate limits",
          sb);
    }
    if (demo.kvEvents()) {
      System.out.printf(
          "KV events: every engine publishes to the gateway's gRPC listener 127.0.0.1:%d; the"
              + " index is precise:%n  curl -s http://127.0.0.1:%d/admin/endpoints%n%n",
          gateway.grpcPort(), gateway.adminPort());
    }
    DemoWorkload workload = null;
    if (traffic) {
      DemoStats stats = new DemoStats();
      workload =
          new DemoWorkload(
              vertx,
              "127.0.0.1",
              demo.gateways().stream().map(Gateway::port).toList(),
              sim.model,
              stats,
              tenants,
              systemPromptChars,
              6,
              48);
      FleetTable table = new FleetTable(fleet.engines(), stats, System.out);
      workload.start(conversations);
      System.out.printf(
          "driving %d concurrent conversations over %d tenants; a table every %d s%n",
          conversations, tenants, reportSeconds);
      ClusterTable gatewaysTable =
          gateways > 1 ? new ClusterTable(demo.gateways(), sim.model, System.out) : null;
      vertx.setPeriodic(
          reportSeconds * 1000L,
          t -> {
            table.print();
            if (gatewaysTable != null) gatewaysTable.print();
          });
      if (durationSeconds > 0) {
        DemoWorkload w = workload;
        vertx.setTimer(
            durationSeconds * 1000L,
            t -> {
              w.stop();
              new Thread(() -> System.exit(0), "kvgate-demo-exit").start();
            });
      }
    }
    DemoWorkload w = workload;
    CliRuntime.awaitShutdown(
        () -> {
          if (w != null) w.close();
          try {
            CliRuntime.await(demo.close(), 10);
            CliRuntime.await(vertx.close(), 10);
          } catch (Exception ignored) {
            // Shutting down anyway.
          }
        });
    return 0;
  }
}

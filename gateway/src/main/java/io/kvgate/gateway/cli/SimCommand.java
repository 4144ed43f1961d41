package io.kvgate.gateway.cli;

import io.kvgate.routing.config.ConfigNode;
import io.kvgate.sim.KvEventPublisher;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.kvgate.sim.SimTls;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code kvgate sim}: N simulated vLLM-like engines on consecutive ports, until interrupted; with
 * {@code --roles}, a prefill/decode fleet whose roles cycle over the replicas.
 */
@Command(
    name = "sim",
    mixinStandardHelpOptions = true,
    description =
        "Run N simulated vLLM-like engines (OpenAI API, prefix cache, vLLM metrics) on consecutive ports.")
public final class SimCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

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

  @Option(
      names = "--incomplete-kv-transfer",
      description =
          "Fault: prefill engines answer a vLLM prefill leg (kv_transfer_params.do_remote_decode) without"
              + " remote_block_ids, as a misconfigured connector does; the decode engine then recomputes.")
  boolean incompleteKvTransfer;

  @Option(
      names = "--roles",
      paramLabel = "ROLES",
      description =
          "P/D roles cycling over the replicas, comma-separated (both, prefill, decode): --replicas 4"
              + " --roles prefill,decode gives prefill, decode, prefill, decode. Replaces --role.")
  String roles;

  @Option(
      names = "--bootstrap-port",
      paramLabel = "PORT",
      description =
          "Port of the first prefill engine's SGLang bootstrap server, the next ones +1; 0 = ephemeral"
              + " (default: ${DEFAULT-VALUE}).")
  int bootstrapPort;

  @Option(
      names = "--bootstrap-timeout",
      paramLabel = "DURATION",
      description =
          "How long (simulated) a decode engine waits for an SGLang request's bootstrap room before it"
              + " computes the prompt itself (default: ${DEFAULT-VALUE}).")
  String bootstrapTimeout = "30s";

  @Option(
      names = "--server-info",
      paramLabel = "MODE",
      description =
          "SGLang server info the engines answer: both (GET /server_info and /get_server_info),"
              + " legacy-only (/get_server_info) or none (default: ${DEFAULT-VALUE}).")
  String serverInfo = "both";

  @Option(
      names = "--publish-kv-events",
      paramLabel = "HOST:PORT",
      description =
          "Stream every engine's KV events (blocks stored and evicted, cache resets, load reports) to"
              + " kvgate's KvEventService at HOST:PORT over gRPC, reconnecting with backoff.")
  String publishKvEvents;

  @Option(
      names = "--kv-events-endpoint",
      paramLabel = "NAMES",
      description =
          "The endpoint names the engines' KV event streams report, comma-separated, one per replica"
              + " (default: each engine's base URL, http://HOST:PORT, as kvgate is configured with it).")
  String kvEventsEndpoint;

  @Option(
      names = "--kv-events-interval",
      paramLabel = "DURATION",
      description =
          "How often pending KV events are flushed as one batch, wall clock (default: ${DEFAULT-VALUE}).")
  String kvEventsInterval = "20ms";

  @Option(
      names = "--kv-events-load-interval",
      paramLabel = "DURATION",
      description = "How often a load report is sent, wall clock (default: ${DEFAULT-VALUE}).")
  String kvEventsLoadInterval = "100ms";

  /** What {@code --publish-kv-events} and its companions ask for. */
  record KvEvents(String target, List<String> endpoints, KvEventPublisher.Options options) {}

  /**
   * The KV event flags: null without {@code --publish-kv-events} (its companion flags are then
   * refused); throws {@link IllegalArgumentException} with the reason for flags it refuses.
   */
  KvEvents kvEvents() {
    boolean companions =
        kvEventsEndpoint != null
            || spec != null
                && (spec.commandLine().getParseResult().hasMatchedOption("--kv-events-interval")
                    || spec.commandLine()
                        .getParseResult()
                        .hasMatchedOption("--kv-events-load-interval"));
    if (publishKvEvents == null) {
      if (companions)
        throw new IllegalArgumentException(
            "--kv-events-endpoint, --kv-events-interval and --kv-events-load-interval need"
                + " --publish-kv-events HOST:PORT");
      return null;
    }
    KvEventPublisher.Target.parse(publishKvEvents);
    List<String> endpoints = null;
    if (kvEventsEndpoint != null) {
      endpoints = List.of(kvEventsEndpoint.split(",", -1));
      if (endpoints.size() != replicas || endpoints.stream().anyMatch(String::isBlank))
        throw new IllegalArgumentException(
            "--kv-events-endpoint takes one non-empty name per replica, comma-separated ("
                + replicas
                + " expected, got '"
                + kvEventsEndpoint
                + "')");
    }
    return new KvEvents(
        publishKvEvents,
        endpoints,
        KvEventPublisher.Options.DEFAULTS
            .withBatchInterval(positiveDuration("--kv-events-interval", kvEventsInterval))
            .withLoadInterval(positiveDuration("--kv-events-load-interval", kvEventsLoadInterval)));
  }

  private static Duration positiveDuration(String flag, String value) {
    Duration d = ConfigNode.parseDuration(value);
    if (d == null || d.toMillis() < 1)
      throw new IllegalArgumentException(
          flag + " must be a duration of at least 1ms such as 20ms or 1s (got '" + value + "')");
    return d;
  }

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
        .withHangBeforeFirstByte(hang)
        .withIncompleteKvTransfer(incompleteKvTransfer);
  }

  /**
   * The roles of the replicas: {@code --roles} cycled over {@code --replicas}, else {@code --role}
   * for all; null after printing why the flags are refused.
   */
  List<Role> replicaRoles() {
    if (replicas < 1) {
      System.err.println("sim: --replicas must be at least 1 (got " + replicas + ")");
      return null;
    }
    List<Role> cycle = new ArrayList<>();
    if (roles == null) {
      try {
        cycle.add(Role.parse(sim.role));
      } catch (IllegalArgumentException e) {
        System.err.println("sim: --role: " + e.getMessage());
        return null;
      }
    } else {
      if (spec != null && spec.commandLine().getParseResult().hasMatchedOption("--role")) {
        System.err.println("sim: give either --role or --roles, not both");
        return null;
      }
      for (String r : roles.split(",", -1)) {
        try {
          cycle.add(Role.parse(r));
        } catch (IllegalArgumentException e) {
          System.err.println(
              "sim: --roles takes a comma-separated list of both, prefill and decode (got '"
                  + roles
                  + "')");
          return null;
        }
      }
    }
    List<Role> out = new ArrayList<>();
    for (int i = 0; i < replicas; i++) out.add(cycle.get(i % cycle.size()));
    return out;
  }

  /**
   * One config per replica from {@code base}: its port ({@code --base-port} + i, or ephemeral),
   * role, and for the k-th prefill engine the bootstrap port {@code --bootstrap-port} + k (or
   * ephemeral); null after printing why the flags are refused.
   */
  List<SimEngineConfig> engineConfigs(SimEngineConfig base) {
    List<Role> replicaRoles = replicaRoles();
    if (replicaRoles == null) return null;
    if (basePort < 0 || basePort + replicas - 1 > 65535) {
      System.err.println(
          "sim: --base-port must leave room for "
              + replicas
              + " consecutive ports below 65536 (got "
              + basePort
              + ")");
      return null;
    }
    long prefills = replicaRoles.stream().filter(r -> r == Role.PREFILL).count();
    if (bootstrapPort != 0) {
      if (prefills == 0) {
        System.err.println(
            "sim: --bootstrap-port needs a prefill engine (--roles prefill,decode or --role prefill)");
        return null;
      }
      if (bootstrapPort < 0 || bootstrapPort + prefills - 1 > 65535) {
        System.err.println(
            "sim: --bootstrap-port must leave room for "
                + prefills
                + " consecutive ports below 65536 (got "
                + bootstrapPort
                + ")");
        return null;
      }
      long lastBootstrap = bootstrapPort + prefills - 1;
      if (basePort != 0 && bootstrapPort <= basePort + replicas - 1 && lastBootstrap >= basePort) {
        System.err.printf(
            Locale.ROOT,
            "sim: the bootstrap ports %d-%d overlap the engines' ports %d-%d%n",
            bootstrapPort,
            lastBootstrap,
            basePort,
            basePort + replicas - 1);
        return null;
      }
    }
    Duration timeout = ConfigNode.parseDuration(bootstrapTimeout);
    if (timeout == null || timeout.isZero() || timeout.isNegative()) {
      System.err.println(
          "sim: --bootstrap-timeout must be a positive duration such as 500ms, 30s or 1h (got '"
              + bootstrapTimeout
              + "')");
      return null;
    }
    SimEngineConfig.ServerInfo info;
    try {
      info = SimEngineConfig.ServerInfo.parse(serverInfo);
    } catch (IllegalArgumentException e) {
      System.err.println("sim: --server-info: " + e.getMessage());
      return null;
    }
    List<SimEngineConfig> out = new ArrayList<>();
    int prefillIndex = 0;
    for (int i = 0; i < replicas; i++) {
      Role role = replicaRoles.get(i);
      SimEngineConfig.Builder b =
          base.toBuilder()
              .role(role)
              .port(basePort == 0 ? 0 : basePort + i)
              .bootstrapTimeout(timeout)
              .serverInfo(info);
      if (role == Role.PREFILL)
        b.bootstrapPort(bootstrapPort == 0 ? 0 : bootstrapPort + prefillIndex++);
      out.add(b.build());
    }
    return out;
  }

  /**
   * What {@code kvgate sim} prints once the fleet is up: each engine's URL with its role (and a
   * prefill engine's bootstrap port), every URL, and the {@code serve} flags for the fleet's roles.
   */
  static String describe(String model, List<SimEngine> engines) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            Locale.ROOT, "kvgate sim: %d engine(s) serving model '%s'%n", engines.size(), model));
    for (SimEngine e : engines) {
      Role role = e.config().role();
      b.append("  ").append(e.url()).append("  ").append(role.name().toLowerCase(Locale.ROOT));
      if (role == Role.PREFILL) b.append("  bootstrap port ").append(e.bootstrapPort());
      b.append(System.lineSeparator());
    }
    b.append("endpoints: ")
        .append(engines.stream().map(SimEngine::url).collect(Collectors.joining(",")))
        .append(System.lineSeparator());
    String both = urls(engines, Role.BOTH);
    String prefill = urls(engines, Role.PREFILL);
    String decode = urls(engines, Role.DECODE);
    if (!prefill.isEmpty() || !decode.isEmpty()) {
      StringBuilder flags = new StringBuilder("serve flags:");
      if (!both.isEmpty()) flags.append(" --endpoints ").append(both);
      if (!prefill.isEmpty()) flags.append(" --prefill-endpoints ").append(prefill);
      if (!decode.isEmpty()) flags.append(" --decode-endpoints ").append(decode);
      b.append(flags).append(System.lineSeparator());
    }
    return b.toString();
  }

  private static String urls(List<SimEngine> engines, Role role) {
    return engines.stream()
        .filter(e -> e.config().role() == role)
        .map(SimEngine::url)
        .collect(Collectors.joining(","));
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
    List<SimEngineConfig> configs;
    try {
      SimEngineConfig config =
          sim.toConfig().toBuilder()
              .tls(
                  tls
                      ? SimTls.bundled()
                      : tlsCert != null ? SimTls.pemFiles(tlsCert, tlsKey) : null)
              .faults(faults)
              .build();
      configs = engineConfigs(config);
    } catch (IllegalArgumentException e) {
      System.err.println("sim: " + e.getMessage());
      return 2;
    }
    if (configs == null) return 2;
    KvEvents kvEvents;
    try {
      kvEvents = kvEvents();
    } catch (IllegalArgumentException e) {
      System.err.println("sim: " + e.getMessage());
      return 2;
    }
    Vertx vertx = Vertx.vertx();
    SimFleet fleet = CliRuntime.await(SimFleet.start(vertx, configs), 30);
    System.out.print(describe(sim.model, fleet.engines()));
    if (kvEvents != null) {
      List<SimEngine> engines = fleet.engines();
      for (int i = 0; i < engines.size(); i++) {
        SimEngine e = engines.get(i);
        String name = kvEvents.endpoints() == null ? null : kvEvents.endpoints().get(i);
        e.publishKvEvents(kvEvents.target(), name, kvEvents.options());
      }
      System.out.println(
          "KV events: every engine publishes to "
              + kvEvents.target()
              + " (retrying until kvgate listens there)");
    }
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

package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.routing.config.ConfigException;
import io.kvgate.routing.config.ConfigNode;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kvgate serve}: the gateway, from a config file or from flags. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Run the gateway.",
      "Either --config FILE, or the quick form --model NAME --endpoints URL[,URL...],",
      "or its disaggregated form --model NAME --pd-protocol vllm|sglang --prefill-endpoints URLS"
          + " --decode-endpoints URLS [--endpoints URLS]."
    })
public final class ServeCommand implements Callable<Integer> {

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "Gateway config YAML (see config/gateway.yaml).")
  Path configFile;

  @Option(
      names = "--port",
      description = "Listen port; overrides the config's listener.port (default: 8080).")
  Integer port;

  @Option(
      names = "--host",
      description = "Listen host; overrides the config's listener.host (default: 0.0.0.0).")
  String host;

  @Option(names = "--model", description = "Quick form: the model name served.")
  String model;

  @Option(
      names = "--endpoints",
      split = ",",
      paramLabel = "URL",
      description = "Quick form: endpoint base URLs, comma-separated.")
  List<String> endpoints;

  @Option(
      names = "--prefill-endpoints",
      split = ",",
      paramLabel = "URL",
      description =
          "Quick form, disaggregated: the prefill pool (needs --decode-endpoints and --pd-protocol).")
  List<String> prefillEndpoints;

  @Option(
      names = "--decode-endpoints",
      split = ",",
      paramLabel = "URL",
      description = "Quick form, disaggregated: the decode pool.")
  List<String> decodeEndpoints;

  @Option(
      names = "--pd-protocol",
      paramLabel = "vllm|sglang",
      description =
          "Quick form, disaggregated: the engines' protocol (vllm: kv_transfer_params; sglang:"
              + " bootstrap). --endpoints then lists role-both endpoints.")
  String pdProtocol;

  @Option(
      names = "--policy",
      description = "Quick form: a preset name or a policy file path (default: ${DEFAULT-VALUE}).")
  String policy = "cache-aware";

  @Option(
      names = "--api-keys-file",
      paramLabel = "FILE",
      description =
          "Client API keys, one per line (# comments): clients must send one as"
              + " 'Authorization: Bearer KEY'. Added to the config's auth.keys.")
  Path apiKeysFile;

  @Option(
      names = "--rate-limit-rps",
      paramLabel = "N",
      description =
          "Requests per second allowed to every key without its own limit (auth.rateLimit.rps)."
              + " Without keys: to all clients together.")
  Double rateLimitRps;

  @Option(
      names = "--rate-limit-tpm",
      paramLabel = "N",
      description =
          "Tokens per minute (prompt + completion) allowed to every key without its own limit"
              + " (auth.rateLimit.tpm).")
  Long rateLimitTpm;

  @Option(
      names = "--admin-port",
      paramLabel = "PORT",
      description =
          "Admin listener port (/metrics, /admin/*); overrides admin.port (default: 8081,"
              + " on admin.host, 127.0.0.1 by default). -1 turns it off.")
  Integer adminPort;

  @Option(
      names = "--admin-host",
      paramLabel = "HOST",
      description = "Admin listener host; overrides admin.host (default: 127.0.0.1).")
  String adminHost;

  @Option(
      names = "--grpc-port",
      paramLabel = "PORT",
      description =
          "gRPC listener port (engines' KV-event streams, the admin API); overrides grpc.port and"
              + " turns it on (off by default). -1 turns it off.")
  Integer grpcPort;

  @Option(
      names = "--grpc-host",
      paramLabel = "HOST",
      description = "gRPC listener host; overrides grpc.host (default: 127.0.0.1).")
  String grpcHost;

  @Option(
      names = "--cluster-name",
      paramLabel = "NAME",
      description =
          "Join the kvgate cluster NAME (an embedded Hazelcast member): gateways with the same name"
              + " share the prefix index, load, health verdicts, drains, rate-limit use and policy"
              + " reloads. Overrides cluster.name and turns clustering on (off by default).")
  String clusterName;

  @Option(
      names = "--cluster-port",
      paramLabel = "PORT",
      description = "The cluster member's TCP port; overrides cluster.port (default: 5701).")
  Integer clusterPort;

  @Option(
      names = "--cluster-members",
      paramLabel = "HOST:PORT[,HOST:PORT...]",
      split = ",",
      description =
          "Members to contact (TCP-IP join; may include this one); overrides cluster.members.")
  List<String> clusterMembers;

  @Option(
      names = "--cluster-host",
      paramLabel = "HOST",
      description =
          "The address the cluster member binds and announces (an IP other members reach, or"
              + " 0.0.0.0); overrides cluster.host (default: 127.0.0.1).")
  String clusterHost;

  @Option(
      names = "--gateway-id",
      paramLabel = "ID",
      description =
          "This gateway's id in the cluster (default: host name and a random suffix, new at each"
              + " start); overrides cluster.gatewayId.")
  String gatewayId;

  @Option(
      names = "--data-dir",
      paramLabel = "DIR",
      description =
          "Where the batch lane keeps uploaded files, batches and their results (a SQLite database"
              + " and files); overrides batch.dataDir (default: kvgate-data in the working"
              + " directory).")
  java.nio.file.Path dataDir;

  @Option(
      names = "--no-batch",
      description = "Turn the batch lane (/v1/files, /v1/batches) off; overrides batch.enabled.")
  boolean noBatch;

  @Override
  public Integer call() throws Exception {
    GatewayConfig config;
    boolean pd = prefillEndpoints != null || decodeEndpoints != null || pdProtocol != null;
    if (configFile != null) {
      if (model != null || endpoints != null || pd) {
        System.err.println(
            "serve: give either --config or the quick form (--model with --endpoints or the P/D"
                + " flags), not both");
        return 2;
      }
      try {
        config = GatewayConfigLoader.load(configFile);
      } catch (ConfigException e) {
        System.err.println(e.getMessage());
        return 1;
      }
    } else if (pd) {
      if (model == null
          || pdProtocol == null
          || prefillEndpoints == null
          || decodeEndpoints == null) {
        System.err.println(
            "serve: the disaggregated quick form needs --model NAME --pd-protocol vllm|sglang"
                + " --prefill-endpoints URLS --decode-endpoints URLS [--endpoints URLS]");
        return 2;
      }
      try {
        config =
            GatewayConfig.disaggregated(
                model,
                GatewayConfig.PdProtocol.parse(pdProtocol),
                prefillEndpoints,
                decodeEndpoints,
                endpoints == null ? List.of() : endpoints,
                policy);
      } catch (IllegalArgumentException e) {
        System.err.println("serve: " + e.getMessage());
        return 2;
      }
    } else {
      if (model == null || endpoints == null || endpoints.isEmpty()) {
        System.err.println(
            "serve: needs --config FILE, or --model NAME and --endpoints URL[,URL...]");
        return 2;
      }
      config = GatewayConfig.of(model, endpoints, policy);
    }
    if (configFile == null) {
      // The quick forms serve the batch lane as a configuration file does by default.
      config = config.withBatch(GatewayConfig.Batch.DEFAULT);
    }
    if (port != null || host != null) {
      config =
          config.withListener(
              config
                  .listener()
                  .withAddress(
                      host != null ? host : config.listener().host(),
                      port != null ? port : config.listener().port()));
    }
    try {
      config = withFlags(config);
    } catch (IllegalArgumentException | java.io.IOException e) {
      System.err.println("serve: " + e.getMessage());
      return 2;
    }
    PrometheusMeterRegistry registry = CliRuntime.registry();
    Vertx vertx = CliRuntime.vertx(registry, config.listener().eventLoops());
    Gateway gateway;
    try {
      gateway = CliRuntime.await(Gateway.start(vertx, config, registry), 30);
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      System.err.println("serve: could not start: " + cause.getMessage());
      vertx.close();
      return 1;
    }
    System.out.printf(
        "kvgate listening on %s://%s:%d (%s), models: %s%n",
        config.listener().tls() != null ? "https" : "http",
        config.listener().host(),
        gateway.port(),
        vertx.isNativeTransportEnabled() ? "epoll transport" : "NIO transport",
        Arrays.toString(
            config.models().stream()
                .map(
                    m ->
                        m.name()
                            + " ("
                            + m.endpoints().size()
                            + " endpoints, policy "
                            + m.policy()
                            + ")")
                .toArray()));
    if (gateway.adminPort() >= 0) {
      System.out.printf(
          "admin (/metrics, /admin/*) on %s://%s:%d%n",
          config.admin().tls() != null ? "https" : "http",
          config.admin().host(),
          gateway.adminPort());
    }
    if (gateway.grpcPort() >= 0) {
      System.out.printf(
          "gRPC (KV events, admin API) on %s:%d%s%n",
          config.grpc().host(), gateway.grpcPort(), config.grpc().tls() != null ? " (TLS)" : "");
    }
    if (gateway.cluster() != null) {
      System.out.printf(
          "cluster '%s' as gateway %s, member on %s:%d%n",
          config.cluster().name(),
          gateway.cluster().gatewayId(),
          config.cluster().host(),
          config.cluster().port());
    }
    GatewayConfig.Drain d = config.drain();
    long drainSeconds = d.grace().toSeconds() + d.timeout().toSeconds() + 5;
    CliRuntime.awaitShutdown(
        gateway.whenDrained(),
        () -> {
          // SIGTERM: /ready 503 at once, new requests refused after drain.grace, requests in
          // flight ended at drain.timeout, then exit.
          // Printed, not logged: java.util.logging resets its handlers in its own shutdown hook.
          System.out.printf(
              "kvgate: stopping: draining %d requests in flight (/ready 503 now, new requests"
                  + " refused in %s, the rest ended after %s more)%n",
              gateway.inFlight(),
              ConfigNode.formatDuration(d.grace()),
              ConfigNode.formatDuration(d.timeout()));
          try {
            CliRuntime.await(gateway.drain(), drainSeconds);
            System.out.println("kvgate: drained, exiting");
          } catch (Exception e) {
            System.err.println("serve: drain did not complete: " + e);
          }
          try {
            CliRuntime.await(vertx.close(), 10);
          } catch (Exception ignored) {
            // Exiting anyway.
          }
        });
    return 0;
  }

  /** The config with the command line's auth, rate-limit and admin flags applied. */
  GatewayConfig withFlags(GatewayConfig config) throws java.io.IOException {
    GatewayConfig.Auth auth = config.auth();
    if (apiKeysFile != null) {
      java.util.Set<String> names = new java.util.HashSet<>();
      auth.keys().forEach(k -> names.add(k.name()));
      List<io.kvgate.gateway.auth.ApiKey> keys = new java.util.ArrayList<>(auth.keys());
      keys.addAll(GatewayConfigLoader.keysFile(apiKeysFile, names));
      auth = new GatewayConfig.Auth(keys, auth.rateLimit());
    }
    if (rateLimitRps != null || rateLimitTpm != null) {
      if (rateLimitRps != null && rateLimitRps < 0 || rateLimitTpm != null && rateLimitTpm < 0)
        throw new IllegalArgumentException("rate limits must be 0 (off) or positive");
      auth =
          new GatewayConfig.Auth(
              auth.keys(),
              new io.kvgate.gateway.auth.RateLimits(
                  rateLimitRps != null ? rateLimitRps : auth.rateLimit().rps(),
                  rateLimitTpm != null ? rateLimitTpm : auth.rateLimit().tpm()));
    }
    config = config.withAuth(auth);
    if (adminPort != null || adminHost != null) {
      GatewayConfig.Admin a = config.admin();
      if (adminPort != null && (adminPort < -1 || adminPort > 65535))
        throw new IllegalArgumentException("--admin-port must be -1 (off) or 0..65535");
      config =
          config.withAdmin(
              new GatewayConfig.Admin(
                  adminPort == null ? a.enabled() : adminPort >= 0,
                  adminHost != null ? adminHost : a.host(),
                  adminPort == null || adminPort < 0 ? a.port() : adminPort,
                  a.tls()));
    }
    if (grpcPort != null || grpcHost != null) {
      GatewayConfig.Grpc g = config.grpc();
      if (grpcPort != null && (grpcPort < -1 || grpcPort > 65535))
        throw new IllegalArgumentException("--grpc-port must be -1 (off) or 0..65535");
      if (grpcPort == null && !g.enabled())
        throw new IllegalArgumentException(
            "--grpc-host needs the gRPC listener on: give --grpc-port (or grpc.port in the config)");
      config =
          config.withGrpc(
              new GatewayConfig.Grpc(
                  grpcPort == null ? g.enabled() : grpcPort >= 0,
                  grpcHost != null ? grpcHost : g.host(),
                  grpcPort == null || grpcPort < 0 ? g.port() : grpcPort,
                  g.tls()));
    }
    if (clusterName != null
        || clusterPort != null
        || clusterMembers != null
        || clusterHost != null
        || gatewayId != null) {
      GatewayConfig.Cluster c = config.cluster();
      if (clusterName == null && !c.enabled())
        throw new IllegalArgumentException(
            "--cluster-port, --cluster-members, --cluster-host and --gateway-id need clustering"
                + " on: give --cluster-name (or a cluster section in the config)");
      if (clusterPort != null && (clusterPort < 1 || clusterPort > 65535))
        throw new IllegalArgumentException("--cluster-port must be 1..65535");
      if (clusterMembers != null) {
        for (String m : clusterMembers) {
          String problem = GatewayConfigLoader.clusterMemberProblem(m);
          if (problem != null) throw new IllegalArgumentException("--cluster-members: " + problem);
        }
        if (!c.join().equals("tcp-ip"))
          throw new IllegalArgumentException(
              "--cluster-members lists tcp-ip members, and cluster.join is '" + c.join() + "'");
      }
      if (clusterName != null && clusterName.isBlank())
        throw new IllegalArgumentException("--cluster-name must not be empty");
      if (clusterHost != null) {
        String problem = GatewayConfigLoader.clusterHostProblem(clusterHost);
        if (problem != null) throw new IllegalArgumentException("--cluster-host " + problem);
      }
      if (gatewayId != null && gatewayId.isBlank())
        throw new IllegalArgumentException("--gateway-id must not be empty");
      c =
          c.on(
              clusterName != null ? clusterName : c.name(),
              clusterPort != null ? clusterPort : c.port(),
              clusterMembers != null ? clusterMembers : c.members());
      if (clusterHost != null) c = c.withHost(clusterHost);
      if (gatewayId != null) c = c.withGatewayId(gatewayId);
      config = config.withCluster(c);
    }
    if (noBatch && dataDir != null)
      throw new IllegalArgumentException(
          "--data-dir is the batch lane's, and --no-batch turns it off");
    if (noBatch) config = config.withBatch(config.batch().withEnabled(false));
    if (dataDir != null) config = config.withBatch(config.batch().on(dataDir));
    GatewayConfig.Cluster c = config.cluster();
    if (c.enabled()
        && (c.port() == config.listener().port()
            || config.admin().enabled() && c.port() == config.admin().port()
            || config.grpc().enabled() && c.port() == config.grpc().port()))
      throw new IllegalArgumentException(
          "the cluster port "
              + c.port()
              + " is taken by the API, admin or gRPC listener: pick another (--cluster-port)");
    return config;
  }
}

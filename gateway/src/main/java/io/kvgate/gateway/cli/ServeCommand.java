package io.kvgate.gateway.cli;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.routing.config.ConfigException;
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
      "Either --config FILE, or the quick form --model NAME --endpoints URL[,URL...]."
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
      names = "--policy",
      description = "Quick form: a preset name or a policy file path (default: ${DEFAULT-VALUE}).")
  String policy = "cache-aware";

  @Override
  public Integer call() throws Exception {
    GatewayConfig config;
    if (configFile != null) {
      if (model != null || endpoints != null) {
        System.err.println("serve: give either --config or --model/--endpoints, not both");
        return 2;
      }
      try {
        config = GatewayConfigLoader.load(configFile);
      } catch (ConfigException e) {
        System.err.println(e.getMessage());
        return 1;
      }
    } else {
      if (model == null || endpoints == null || endpoints.isEmpty()) {
        System.err.println(
            "serve: needs --config FILE, or --model NAME and --endpoints URL[,URL...]");
        return 2;
      }
      config = GatewayConfig.of(model, endpoints, policy);
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
        "kvgate listening on %s://%s:%d, models: %s%n",
        config.listener().tls() != null ? "https" : "http",
        config.listener().host(),
        gateway.port(),
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
    CliRuntime.awaitShutdown(
        () -> {
          try {
            CliRuntime.await(gateway.close(), 10);
            CliRuntime.await(vertx.close(), 10);
          } catch (Exception ignored) {
            // Shutting down anyway.
          }
        });
    return 0;
  }
}

package io.kvgate.gateway.cli;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.routing.config.ConfigException;
import io.kvgate.routing.policy.PluginRegistry;
import io.kvgate.routing.policy.PolicyException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code kvgate check-config FILE}: validates a gateway config and every policy it names. */
@Command(
    name = "check-config",
    mixinStandardHelpOptions = true,
    description =
        "Validate a gateway config and the policies it names; print every problem with its YAML path. Exit 1 if any.")
public final class CheckConfigCommand implements Callable<Integer> {

  @Parameters(paramLabel = "FILE", description = "The gateway config YAML.")
  Path file;

  @Override
  public Integer call() {
    GatewayConfig config;
    try {
      config = GatewayConfigLoader.load(file);
    } catch (ConfigException e) {
      System.out.println(file + ": " + e.problems().size() + " problem(s)");
      e.problems().forEach(p -> System.out.println("  " + p));
      return 1;
    } catch (IOException e) {
      System.out.println(file + ": cannot read: " + e.getMessage());
      return 1;
    }
    int problems = 0;
    for (int i = 0; i < config.models().size(); i++) {
      GatewayConfig.Model m = config.models().get(i);
      try {
        // Compiles the policy and refuses endpoint settings it would ignore, as serve does.
        new ModelRoute(m, config.routing(), PluginRegistry.builtIn(), "models[" + i + "]");
      } catch (PolicyException e) {
        System.out.println("models[" + i + "].policy '" + m.policy() + "':");
        e.problems().forEach(p -> System.out.println("  " + p));
        problems += Math.max(1, e.problems().size());
      }
    }
    if (problems > 0) return 1;
    System.out.printf(
        "%s: OK (%d model(s), %d endpoint(s) by role %s)%n",
        file,
        config.models().size(),
        config.models().stream().mapToInt(m -> m.endpoints().size()).sum(),
        config.endpointsByRole());
    return 0;
  }
}

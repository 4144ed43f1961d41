package io.kvgate.gateway.cli;

import io.kvgate.routing.policy.PluginRegistry;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * {@code kvgate plugins}: every policy plugin type with its parameters, defaults and ranges, read
 * from the plugins' own parameter records (the same table docs/ROUTING.md carries).
 */
@Command(
    name = "plugins",
    mixinStandardHelpOptions = true,
    description =
        "List every policy plugin type with its parameters, defaults and ranges (Markdown).")
public final class PluginsCommand implements Callable<Integer> {

  @Override
  public Integer call() {
    System.out.print(PluginRegistry.builtIn().markdown());
    return 0;
  }
}

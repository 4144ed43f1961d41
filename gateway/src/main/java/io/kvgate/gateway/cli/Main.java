package io.kvgate.gateway.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar kvgate.jar <command>}: the kvgate command line. */
@Command(
    name = "kvgate",
    mixinStandardHelpOptions = true,
    version = "kvgate 0.1.0",
    description = "KV-cache-aware request router and API gateway for LLM inference.",
    subcommands = {
      ServeCommand.class,
      CheckConfigCommand.class,
      PluginsCommand.class,
      HashKeyCommand.class,
      SimCommand.class,
      DemoCommand.class,
      ReplayCommand.class,
      WorkloadCommand.class
    })
public final class Main implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a command and returns its exit code (tests call this instead of {@link #main}). */
  public static int run(String... args) {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}

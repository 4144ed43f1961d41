package io.kvgate.routing.config;

import java.util.List;

/**
 * A YAML file (the gateway config or a policy file) that does not validate; carries every problem
 * found, each with its YAML path.
 */
public class ConfigException extends Exception {

  private final List<ConfigProblem> problems;

  public ConfigException(String source, List<ConfigProblem> problems) {
    super(
        source
            + ": "
            + problems.size()
            + " problem(s):\n  "
            + String.join("\n  ", problems.stream().map(ConfigProblem::toString).toList()));
    this.problems = List.copyOf(problems);
  }

  public List<ConfigProblem> problems() {
    return problems;
  }
}

package io.kvgate.gateway.config;

import java.util.List;

/** A configuration with problems; carries every problem found, each with its YAML path. */
public final class ConfigException extends Exception {

  private final List<String> problems;

  public ConfigException(String source, List<String> problems) {
    super(source + ": " + problems.size() + " problem(s):\n  " + String.join("\n  ", problems));
    this.problems = List.copyOf(problems);
  }

  /** Each problem as {@code path: message}. */
  public List<String> problems() {
    return problems;
  }
}

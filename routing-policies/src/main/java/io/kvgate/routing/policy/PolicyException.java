package io.kvgate.routing.policy;

import java.util.List;

/** A policy file that does not parse or compile; carries every problem with its YAML path. */
public final class PolicyException extends Exception {

  /** One problem: {@code path} is a YAML path such as {@code profiles[0].plugins[1].weight}. */
  public record Problem(String path, String message) {
    @Override
    public String toString() {
      return (path.isEmpty() ? "<root>" : path) + ": " + message;
    }
  }

  private final List<Problem> problems;

  public PolicyException(String source, List<Problem> problems) {
    super(source + ": " + problems.size() + " problem(s): " + problems);
    this.problems = List.copyOf(problems);
  }

  public List<Problem> problems() {
    return problems;
  }
}

package io.kvgate.routing.config;

/**
 * One problem in a YAML file: {@code path} is a YAML path such as {@code
 * profiles[0].plugins[1].weight} or {@code models[0].endpoints[2].url}, empty for the document's
 * root.
 */
public record ConfigProblem(String path, String message) {
  @Override
  public String toString() {
    return (path.isEmpty() ? "<root>" : path) + ": " + message;
  }
}

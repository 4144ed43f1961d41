package io.kvgate.routing.policy;

/**
 * Scores every candidate in [0, 1], 1 the best, into {@code out[i]}. Pure and thread-safe; no I/O,
 * at most a small array per call.
 */
public interface Scorer {

  void score(Candidates candidates, double[] out);

  /** True if this scorer reads {@link Candidates#match()} (the policy then matches the prompt). */
  default boolean usesPrefix() {
    return false;
  }
}

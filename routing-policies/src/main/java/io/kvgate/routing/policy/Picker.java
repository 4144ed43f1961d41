package io.kvgate.routing.policy;

/**
 * Orders candidates best first from their weighted total scores: {@code order} receives candidate
 * indices, every candidate exactly once (the gateway retries down the list). Thread-safe.
 */
public interface Picker {

  void pick(Candidates candidates, double[] totals, int[] order);

  /** True if this picker reads {@link Candidates#match()}. */
  default boolean usesPrefix() {
    return false;
  }
}

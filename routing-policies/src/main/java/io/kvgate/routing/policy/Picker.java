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

  /**
   * Orders as {@link #pick} would at this moment and says why, without changing any state that
   * {@code pick} changes (a turn counter, lazily built structures): the admin API's explain, never
   * the request path. Where {@code pick} samples or breaks ties at random it draws from {@code
   * candidates.context().random()}, which the policy gives explain its own of, so explaining does
   * not move the routing's random sequence either: the order is then one {@code pick} could
   * produce.
   *
   * <p>The default calls {@link #pick} and gives no reason of its own: right for a picker whose
   * {@code pick} changes nothing but the random source. A picker with state must override it.
   *
   * @param totals the weighted totals, as for {@link #pick} (the picker may change the array, as
   *     {@code pick} may)
   * @return why the first candidate is first; terms per candidate when the picker has its own
   *     numbers
   */
  default PickerExplanation explain(Candidates candidates, double[] totals, int[] order) {
    pick(candidates, totals, order);
    return PickerExplanation.of("orders by its own rule (it gives no explanation)");
  }
}

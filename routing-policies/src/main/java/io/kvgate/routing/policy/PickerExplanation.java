package io.kvgate.routing.policy;

import io.kvgate.routing.Explanation;
import java.util.List;

/**
 * A picker's account of one order it made ({@link Picker#explain}).
 *
 * @param reason why the first candidate is first, in words, naming endpoints by id: which rule
 *     fired and the numbers it compared (the policy prefixes the picker's configured name)
 * @param terms per candidate, indexed as in {@link Candidates}: the picker's own numbers (e.g. its
 *     prices), each list in the same order of names; empty when the picker has none
 */
public record PickerExplanation(String reason, List<List<Explanation.Term>> terms) {

  public PickerExplanation {
    terms = terms.stream().map(List::copyOf).toList();
  }

  /** A reason without numbers per candidate. */
  public static PickerExplanation of(String reason) {
    return new PickerExplanation(reason, List.of());
  }

  /** The terms of candidate {@code i}; empty when the picker reports none. */
  public List<Explanation.Term> termsOf(int i) {
    return terms.isEmpty() ? List.of() : terms.get(i);
  }
}

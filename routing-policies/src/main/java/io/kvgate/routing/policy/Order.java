package io.kvgate.routing.policy;

import java.util.random.RandomGenerator;

/** Ordering helpers shared by the pickers: no boxing, no comparator objects. */
final class Order {

  private Order() {}

  /**
   * {@code order[0..n)} = indices sorted by {@code keys} descending (Shell sort; n is a fleet, ≤
   * 256).
   */
  static void descending(double[] keys, int[] order, int n) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int gap = n / 2; gap > 0; gap /= 2) {
      for (int i = gap; i < n; i++) {
        int v = order[i];
        int j = i;
        while (j >= gap && keys[order[j - gap]] < keys[v]) {
          order[j] = order[j - gap];
          j -= gap;
        }
        order[j] = v;
      }
    }
  }

  /** Adds a jitter far below any meaningful score difference, so exact ties break at random. */
  static void jitter(double[] keys, int n, RandomGenerator random) {
    synchronized (random) {
      for (int i = 0; i < n; i++) keys[i] += random.nextDouble() * 1e-9;
    }
  }

  /**
   * Softmax sampling of the first choice: candidate i comes first with probability proportional to
   * {@code exp((key_i - max) / temperature)}; the others follow in descending key order (the retry
   * order). Temperature 0 is plain descending order with random tie-breaks.
   */
  static void softmax(
      double[] keys, int[] order, int n, double temperature, RandomGenerator random) {
    softmax(keys, order, n, n, temperature, random);
  }

  /**
   * As {@link #softmax(double[], int[], int, double, RandomGenerator)}, but only the {@code
   * sampled} highest keys may be drawn first; the rest only follow, in descending order.
   */
  static void softmax(
      double[] keys, int[] order, int n, int sampled, double temperature, RandomGenerator random) {
    jitter(keys, n, random);
    descending(keys, order, n);
    int m = Math.min(n, sampled);
    if (temperature <= 0 || m < 2) return;
    double max = keys[order[0]];
    double sum = 0;
    for (int pos = 0; pos < m; pos++) sum += Math.exp((keys[order[pos]] - max) / temperature);
    double r;
    synchronized (random) {
      r = random.nextDouble() * sum;
    }
    int chosen = order[0]; // if rounding leaves r above zero after the loop
    for (int pos = 0; pos < m; pos++) {
      r -= Math.exp((keys[order[pos]] - max) / temperature);
      if (r <= 0) {
        chosen = order[pos];
        break;
      }
    }
    // Move the chosen candidate to the front, keeping the others' relative order.
    int at = 0;
    while (order[at] != chosen) at++;
    System.arraycopy(order, 0, order, 1, at);
    order[0] = chosen;
  }
}

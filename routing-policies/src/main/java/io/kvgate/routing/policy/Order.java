package io.kvgate.routing.policy;

import java.util.random.RandomGenerator;

/** Ordering helpers shared by the pickers: no boxing, no comparator objects. */
final class Order {

  private Order() {}

  /** {@code order[0..n)} = indices sorted by {@code keys} descending (Shell sort; n is a fleet, ≤ 256). */
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
   * Softmax sampling of the first choice: candidate i comes first with probability proportional
   * to {@code exp((key_i - max) / temperature)}; the others follow in descending key order (the
   * retry order). Temperature 0 is plain descending order with random tie-breaks.
   */
  static void softmax(double[] keys, int[] order, int n, double temperature, RandomGenerator random) {
    jitter(keys, n, random);
    descending(keys, order, n);
    if (temperature <= 0 || n < 2) return;
    double max = keys[order[0]];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += Math.exp((keys[i] - max) / temperature);
    double r;
    synchronized (random) {
      r = random.nextDouble() * sum;
    }
    int chosen = order[n - 1];
    for (int pos = 0; pos < n; pos++) {
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

package io.kvgate.replay;

import java.util.Arrays;

/**
 * Inter-token latency of one cell, from the clients' stream timings: percentiles over every gap of
 * every completed request, and the median over requests of each request's own 99th-percentile gap.
 * Milliseconds are simulated (wall × speed).
 *
 * @param gaps gaps counted
 * @param p50Ms median gap
 * @param p99Ms 99th-percentile gap
 * @param requestP99MedianMs median over requests with a gap of their own 99th-percentile gap
 * @param quantilesMs the gap distribution at {@link #QUANTILES} evenly spaced quantiles
 * @param burstShare the share of gaps shorter than half a decode step: an engine never emits two
 *     tokens of one request less than a step apart (in simulated time), so these are tokens the
 *     harness delivered late and together (the JVM or the machine could not keep up); a cell with
 *     more than a few percent measured the harness, not the fleet
 */
record Itl(
    long gaps,
    double p50Ms,
    double p99Ms,
    double requestP99MedianMs,
    double[] quantilesMs,
    double burstShare) {

  static final int QUANTILES = 200;

  /**
   * @param timings per request, its stream timing (null if it got no response)
   * @param e2eNanos per request, its end-to-end time, -1 if it failed (its gaps are left out)
   * @param decodeStepMs the engines' decode step (simulated ms), the shortest real gap
   */
  static Itl of(StreamTiming[] timings, long[] e2eNanos, double speed, double decodeStepMs) {
    int total = 0;
    for (int i = 0; i < timings.length; i++)
      if (timings[i] != null && e2eNanos[i] >= 0) total += timings[i].gapCount();
    long[] all = new long[total];
    double[] perRequest = new double[timings.length];
    int n = 0;
    int requests = 0;
    for (int i = 0; i < timings.length; i++) {
      if (timings[i] == null || e2eNanos[i] < 0 || timings[i].gapCount() == 0) continue;
      long[] g = timings[i].gaps();
      System.arraycopy(g, 0, all, n, g.length);
      n += g.length;
      perRequest[requests++] = Replay.pct(sortedMs(g, speed), 0.99);
    }
    double[] sorted = sortedMs(all, speed);
    double[] req = Arrays.copyOf(perRequest, requests);
    Arrays.sort(req);
    double[] q = new double[sorted.length == 0 ? 0 : QUANTILES];
    for (int k = 0; k < q.length; k++) q[k] = Replay.pct(sorted, (k + 0.5) / QUANTILES);
    int bursts = 0;
    while (bursts < sorted.length && sorted[bursts] < decodeStepMs / 2) bursts++;
    return new Itl(
        total,
        Replay.pct(sorted, 0.5),
        Replay.pct(sorted, 0.99),
        Replay.pct(req, 0.5),
        q,
        total == 0 ? 0 : (double) bursts / total);
  }

  /** {@code gaps} (wall nanoseconds) as simulated milliseconds, ascending. */
  static double[] sortedMs(long[] gaps, double speed) {
    long[] c = gaps.clone();
    Arrays.sort(c);
    double[] out = new double[c.length];
    for (int i = 0; i < c.length; i++) out[i] = c[i] / 1e6 * speed;
    return out;
  }
}

package io.kvgate.gateway.health;

/**
 * Successes and failures of one endpoint's requests over a sliding window of ten buckets (the
 * window slides by a tenth). Not thread-safe: its owner synchronizes.
 */
final class ErrorWindow {

  static final int BUCKETS = 10;

  private final long bucketNanos;
  private final long[] ok = new long[BUCKETS];
  private final long[] failed = new long[BUCKETS];

  /** The bucket number (time / bucket length) each slot holds, or Long.MIN_VALUE. */
  private final long[] slotOf = new long[BUCKETS];

  ErrorWindow(java.time.Duration window) {
    this.bucketNanos = Math.max(1, window.toNanos() / BUCKETS);
    java.util.Arrays.fill(slotOf, Long.MIN_VALUE);
  }

  private int slot(long nowNanos) {
    long bucket = Math.floorDiv(nowNanos, bucketNanos);
    int i = (int) Math.floorMod(bucket, BUCKETS);
    if (slotOf[i] != bucket) {
      slotOf[i] = bucket;
      ok[i] = 0;
      failed[i] = 0;
    }
    return i;
  }

  void record(boolean success, long nowNanos) {
    int i = slot(nowNanos);
    if (success) ok[i]++;
    else failed[i]++;
  }

  /** Requests in the window ending now. */
  long requests(long nowNanos) {
    long n = 0;
    long bucket = Math.floorDiv(nowNanos, bucketNanos);
    for (int i = 0; i < BUCKETS; i++) {
      if (slotOf[i] > bucket - BUCKETS) n += ok[i] + failed[i];
    }
    return n;
  }

  /** Failed requests in the window ending now. */
  long failures(long nowNanos) {
    long n = 0;
    long bucket = Math.floorDiv(nowNanos, bucketNanos);
    for (int i = 0; i < BUCKETS; i++) {
      if (slotOf[i] > bucket - BUCKETS) n += failed[i];
    }
    return n;
  }

  /** The failed share in the window ending now (0 when empty). */
  double failedShare(long nowNanos) {
    long n = requests(nowNanos);
    return n == 0 ? 0 : (double) failures(nowNanos) / n;
  }

  void clear() {
    java.util.Arrays.fill(slotOf, Long.MIN_VALUE);
  }
}

package io.kvgate.gateway.demo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Client-side measurements of the demo workload, per endpoint, over the current reporting window:
 * requests, errors and time-to-first-token samples. Thread-safe (one monitor; a few hundred calls a
 * second at most).
 */
public final class DemoStats {

  private final Map<String, List<Long>> ttftNanos = new HashMap<>();
  private final Map<String, Long> errors = new HashMap<>();
  private long totalRequests;
  private long totalErrors;
  private long midStreamErrors;
  private String lastError;

  public synchronized void recordRequest(String endpoint, long ttftNanos, long e2eNanos) {
    totalRequests++;
    this.ttftNanos.computeIfAbsent(key(endpoint), k -> new ArrayList<>()).add(ttftNanos);
  }

  public synchronized void recordError(String endpoint, String message) {
    totalErrors++;
    errors.merge(key(endpoint), 1L, Long::sum);
    lastError = message;
  }

  /**
   * A response that started (status 200 from {@code endpoint}) and then ended with an error event:
   * counted as an error, and apart as one cut mid-stream.
   */
  public synchronized void recordMidStreamError(String endpoint, String message) {
    recordError(endpoint, message);
    midStreamErrors++;
  }

  private static String key(String endpoint) {
    return endpoint == null ? "?" : endpoint;
  }

  /** Takes and resets the window. */
  public synchronized Window drain() {
    Map<String, long[]> ttft = new HashMap<>();
    ttftNanos.forEach(
        (k, v) -> ttft.put(k, v.stream().mapToLong(Long::longValue).sorted().toArray()));
    Window w =
        new Window(
            ttft, Map.copyOf(errors), totalRequests, totalErrors, midStreamErrors, lastError);
    ttftNanos.clear();
    errors.clear();
    return w;
  }

  /**
   * One reporting window. {@code ttftSorted} holds each endpoint's TTFTs in nanoseconds, ascending;
   * {@code errors} the window's errors by endpoint ({@code ?} when no response came); the totals
   * (requests, errors, of those cut mid-stream) count since the start.
   */
  public record Window(
      Map<String, long[]> ttftSorted,
      Map<String, Long> errors,
      long totalRequests,
      long totalErrors,
      long midStreamErrors,
      String lastError) {

    /** The p-quantile TTFT of an endpoint in milliseconds, or NaN without samples. */
    public double ttftMillis(String endpoint, double p) {
      long[] s = ttftSorted.get(endpoint);
      if (s == null || s.length == 0) return Double.NaN;
      return s[Math.min(s.length - 1, (int) Math.floor(p * s.length))] / 1e6;
    }

    public double ttftMillisAll(double p) {
      long[] all = ttftSorted.values().stream().flatMapToLong(Arrays::stream).sorted().toArray();
      if (all.length == 0) return Double.NaN;
      return all[Math.min(all.length - 1, (int) Math.floor(p * all.length))] / 1e6;
    }
  }
}

package io.kvgate.gateway.demo;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The two-cloud demo's report: every window, one row per tier with its engines running and admitted
 * by the gateway, the requests it served per second, the errors the demo's clients saw, and their
 * time to first token; then the gateway's failovers in the window by cause ({@code
 * kvgate_tier_failovers_total}). The window closes at each scenario event too, so every window
 * belongs to one phase, and {@link #summary()} adds the windows up per phase.
 */
public final class TierTable {

  private final CloudsDemo demo;
  private final DemoStats stats;
  private final MeterRegistry registry;
  private final PrintStream out;
  private final long started = System.nanoTime();
  private long windowStart = started;
  private Map<String, Double> failoversBefore = Map.of();
  private long errorsBefore;
  private long midStreamBefore;

  /** The phase the summary's ratios are relative to, once the caches have warmed up. */
  public static final String STEADY = "both tiers up";

  private String phase = "warm-up: both tiers up, caches filling";
  private final Map<String, long[]> phases = new java.util.LinkedHashMap<>();
  private final Map<String, java.util.List<Long>> phaseTtft = new java.util.LinkedHashMap<>();
  private final java.util.List<String> notes = new java.util.ArrayList<>();

  public TierTable(CloudsDemo demo, DemoStats stats, MeterRegistry registry, PrintStream out) {
    this.demo = demo;
    this.stats = stats;
    this.registry = registry;
    this.out = out;
  }

  /** Closes the current window under the old phase and starts {@code next}. */
  public synchronized void phase(String next) {
    // A window that a periodic report has just closed is not printed again, empty.
    if (System.nanoTime() - windowStart > 250_000_000L) print();
    phase = next;
    out.printf(Locale.ROOT, "%n== %s: %s ==%n", elapsed(), next);
    out.flush();
  }

  /** Prints {@code note} with the time now, and keeps it for the summary. */
  public synchronized void note(String note) {
    String line = elapsed() + ": " + note;
    notes.add(line);
    out.println(line);
    out.flush();
  }

  private String elapsed() {
    return String.format(Locale.ROOT, "t=%.0fs", (System.nanoTime() - started) / 1e9);
  }

  private Map<String, Double> failovers() {
    Map<String, Double> m = new HashMap<>();
    for (Counter c : registry.find("kvgate_tier_failovers").counters()) {
      m.merge(c.getId().getTag("cause"), c.count(), Double::sum);
    }
    return m;
  }

  /** Prints one table for the window since the previous call. */
  public synchronized void print() {
    long now = System.nanoTime();
    double seconds = Math.max(1e-9, (now - windowStart) / 1e9);
    windowStart = now;
    DemoStats.Window w = stats.drain();
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "%n[%s, %s]%n", elapsed(), phase));
    sb.append(
        String.format(
            Locale.ROOT,
            "%-12s %8s %9s %8s %8s %10s %10s%n",
            "tier",
            "running",
            "admitted",
            "req/s",
            "errors",
            "TTFT p50",
            "TTFT p90"));
    long served = 0;
    java.util.List<Long> all = phaseTtft.computeIfAbsent(phase, k -> new java.util.ArrayList<>());
    for (int t = 0; t < CloudsDemo.CLOUDS.size(); t++) {
      String cloud = CloudsDemo.CLOUDS.get(t);
      long requests = 0;
      long errors = 0;
      java.util.List<Long> ttft = new java.util.ArrayList<>();
      for (Map.Entry<String, String> e : demo.cloudOf().entrySet()) {
        if (!e.getValue().equals(cloud)) continue;
        long[] s = w.ttftSorted().get(e.getKey());
        if (s != null) {
          requests += s.length;
          for (long x : s) ttft.add(x);
          for (long x : s) all.add(x);
        }
        errors += w.errors().getOrDefault(e.getKey(), 0L);
      }
      served += requests;
      long[] sorted = ttft.stream().mapToLong(Long::longValue).sorted().toArray();
      sb.append(
          String.format(
              Locale.ROOT,
              "%-12s %8s %9s %8.1f %8d %10s %10s%n",
              (t + 1) + " " + cloud,
              demo.up(cloud) + "/" + demo.size(cloud),
              demo.admitted(cloud) + "/" + demo.size(cloud),
              requests / seconds,
              errors,
              ms(sorted, 0.5),
              ms(sorted, 0.9)));
    }
    long noResponse = w.errors().getOrDefault("?", 0L);
    Map<String, Double> f = failovers();
    long unavailable = delta(f, "unavailable");
    long saturated = delta(f, "saturated");
    long retry = delta(f, "retry");
    failoversBefore = f;
    long errors = w.totalErrors() - errorsBefore;
    long midStream = w.midStreamErrors() - midStreamBefore;
    errorsBefore = w.totalErrors();
    midStreamBefore = w.midStreamErrors();
    sb.append(
        String.format(
            Locale.ROOT,
            "failovers to tier 2: %d (tier 1 unavailable %d, saturated %d, retries crossing"
                + " tiers %d); errors: %d (%d cut mid-stream, %d without a response)%s%n",
            unavailable + saturated + retry,
            unavailable,
            saturated,
            retry,
            errors,
            midStream,
            noResponse,
            errors > 0 && w.lastError() != null ? "; last: " + w.lastError() : ""));
    long[] p = phases.computeIfAbsent(phase, k -> new long[3]);
    p[0] += served;
    p[1] += errors;
    p[2] += midStream;
    out.print(sb);
    out.flush();
  }

  private long delta(Map<String, Double> now, String cause) {
    return Math.round(now.getOrDefault(cause, 0.0) - failoversBefore.getOrDefault(cause, 0.0));
  }

  /**
   * Requests answered, errors and TTFT per phase (TTFT also relative to {@link #STEADY}'s), the
   * notes, and the gateway's requests per tier, so far.
   */
  public synchronized String summary() {
    StringBuilder sb = new StringBuilder("\nsummary by phase:\n");
    long[] steady =
        phaseTtft.getOrDefault(STEADY, java.util.List.of()).stream()
            .mapToLong(Long::longValue)
            .sorted()
            .toArray();
    double[] base = {quantile(steady, 0.5), quantile(steady, 0.9)};
    for (Map.Entry<String, long[]> e : phases.entrySet()) {
      long[] p = e.getValue();
      long[] sorted =
          phaseTtft.getOrDefault(e.getKey(), java.util.List.of()).stream()
              .mapToLong(Long::longValue)
              .sorted()
              .toArray();
      double p50 = quantile(sorted, 0.5);
      double p90 = quantile(sorted, 0.9);
      sb.append(
          String.format(
              Locale.ROOT,
              "  %-40s %6d answered, %4d errors (%d cut mid-stream), TTFT p50 %s (%s), p90 %s"
                  + " (%s)%n",
              e.getKey(),
              p[0],
              p[1],
              p[2],
              ms(sorted, 0.5),
              ratio(p50, base[0]),
              ms(sorted, 0.9),
              ratio(p90, base[1])));
    }
    for (String n : notes) sb.append("  ").append(n).append('\n');
    sb.append("requests per tier (kvgate_tier_requests_total):");
    for (String cloud : CloudsDemo.CLOUDS) {
      Counter c = registry.find("kvgate_tier_requests").tag("tier", cloud).counter();
      sb.append(String.format(Locale.ROOT, " %s %.0f", cloud, c == null ? 0 : c.count()));
    }
    sb.append('\n');
    return sb.toString();
  }

  private static double quantile(long[] sorted, double p) {
    if (sorted.length == 0) return Double.NaN;
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))];
  }

  private static String ratio(double v, double base) {
    if (Double.isNaN(v) || Double.isNaN(base) || base <= 0) return "-";
    return String.format(Locale.ROOT, "%.2fx", v / base);
  }

  private static String ms(long[] sorted, double p) {
    if (sorted.length == 0) return "-";
    long v = sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))];
    return String.format(Locale.ROOT, "%.0f ms", v / 1e6);
  }
}

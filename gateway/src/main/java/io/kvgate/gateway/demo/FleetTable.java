package io.kvgate.gateway.demo;

import io.kvgate.sim.EngineStats;
import io.kvgate.sim.SimEngine;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/**
 * Prints, every reporting window, one row per simulated engine: requests served in the window, the
 * cached-token hit rate the ENGINE counted (its own prefix cache, not kvgate's guess), running and
 * waiting requests, KV usage, and the TTFT the demo's clients measured through the gateway.
 * Counters are differenced between windows, so each table shows the last few seconds only.
 */
public final class FleetTable {

  private final List<SimEngine> engines;
  private final DemoStats stats;
  private final PrintStream out;
  private final EngineStats[] previous;
  private final long[] windowStart = {System.nanoTime()};

  public FleetTable(List<SimEngine> engines, DemoStats stats, PrintStream out) {
    this.engines = List.copyOf(engines);
    this.stats = stats;
    this.out = out;
    this.previous = new EngineStats[engines.size()];
    for (int i = 0; i < engines.size(); i++) previous[i] = engines.get(i).stats();
  }

  /** Endpoint id kvgate uses for an engine: {@code host:port}. */
  static String endpointId(SimEngine e) {
    return e.config().host() + ":" + e.port();
  }

  /** Prints one table for the window since the previous call. */
  public void print() {
    long now = System.nanoTime();
    double seconds = Math.max(1e-9, (now - windowStart[0]) / 1e9);
    windowStart[0] = now;
    DemoStats.Window w = stats.drain();
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%n%-22s %8s %9s %8s %8s %7s %10s %10s%n",
            "engine",
            "req/s",
            "hit rate",
            "running",
            "waiting",
            "kv use",
            "TTFT p50",
            "TTFT p90"));
    long reqSum = 0;
    long promptSum = 0;
    long cachedSum = 0;
    for (int i = 0; i < engines.size(); i++) {
      SimEngine e = engines.get(i);
      EngineStats s = e.stats();
      EngineStats p = previous[i];
      previous[i] = s;
      long req = s.requests() - p.requests();
      long prompt = s.promptTokens() - p.promptTokens();
      long cached = s.cachedTokens() - p.cachedTokens();
      reqSum += req;
      promptSum += prompt;
      cachedSum += cached;
      String id = endpointId(e);
      String role =
          switch (e.config().role()) {
            case PREFILL -> " prefill";
            case DECODE -> " decode";
            default -> "";
          };
      sb.append(
          String.format(
              Locale.ROOT,
              "%-22s %8.1f %9s %8d %8d %6.0f%% %10s %10s%n",
              id + role,
              req / seconds,
              pct(cached, prompt),
              s.running(),
              s.waiting(),
              s.kvCacheUsage() * 100,
              ms(w.ttftMillis(id, 0.5)),
              ms(w.ttftMillis(id, 0.9))));
    }
    sb.append(
        String.format(
            Locale.ROOT,
            "%-22s %8.1f %9s %8s %8s %7s %10s %10s%n",
            "fleet",
            reqSum / seconds,
            pct(cachedSum, promptSum),
            "",
            "",
            "",
            ms(w.ttftMillisAll(0.5)),
            ms(w.ttftMillisAll(0.9))));
    sb.append(
        String.format(
            Locale.ROOT,
            "requests so far: %d, errors: %d%s%n",
            w.totalRequests(),
            w.totalErrors(),
            w.lastError() == null ? "" : " (last: " + w.lastError() + ")"));
    out.print(sb);
    out.flush();
  }

  private static String pct(long part, long whole) {
    return whole == 0 ? "-" : String.format(Locale.ROOT, "%.1f%%", 100.0 * part / whole);
  }

  private static String ms(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.0f ms", v);
  }
}

package io.kvgate.replay;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Writes a replay's table, {@code report.json}, {@code report.md}, {@code cells.csv} (one row per
 * cell) and SVG plots (TTFT and ITL CDFs, hit rates, engine load). When the replay studied the
 * index (precise cells, direct traffic, an engine restart) the table and {@code report.md} add the
 * index table and, with a restart, the restart table; with clustered gateways, the cluster table.
 */
public final class ReportWriter {

  private static final String[] COLORS = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"
  };

  private ReportWriter() {}

  /**
   * A result's row name: the policy, or the whole cell when the report compares fleets; with the
   * index mode when the report has precise cells, and the gateways ({@code gateways=3c}) when a
   * cell ran behind several.
   */
  static String name(ReplayReport r, PolicyResult p) {
    boolean modes = r.comparesIndexModes();
    String g = r.comparesGateways() ? " gateways=" + p.gateways() : "";
    if (r.comparesFleets()) return p.cell(modes) + g;
    return (modes ? p.policy() + " " + p.indexMode() : p.policy()) + g;
  }

  private static String ms(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.0fms", v);
  }

  private static String ms1(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1fms", v);
  }

  /** The share of completed requests a disaggregated cell served with a prefill leg. */
  static String disaggShare(PolicyResult p) {
    if (p.minUncachedTokens() < 0) return "-";
    long completed = p.requests() - p.errors();
    return completed <= 0
        ? "-"
        : String.format(Locale.ROOT, "%.2f", (double) p.disaggregated() / completed);
  }

  /** The terminal table: one row per cell, then the references. */
  public static String table(ReplayReport r) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%n%s: %d requests, %d engines x %d blocks of %d tokens, speed %sx%s%s%n",
            r.trace(),
            r.records(),
            r.replicas(),
            r.capacityBlocks(),
            r.blockSizeTokens(),
            num(r.speed()),
            r.rateScale() == 1
                ? ""
                : String.format(Locale.ROOT, ", arrivals x%s", num(r.rateScale())),
            r.comparesFleets() ? ", P/D protocol " + r.pdProtocol() : ""));
    int w = 20;
    for (PolicyResult p : r.results()) w = Math.max(w, name(r, p).length());
    String head = "%-" + w + "s %8s %9s %9s %9s %9s %9s %11s %6s %9s %9s %8s %6s %9s %7s%n";
    sb.append(
        String.format(
            Locale.ROOT,
            head,
            "cell",
            "hit rate",
            "TTFT p50",
            "TTFT p90",
            "TTFT p99",
            "ITL p50",
            "ITL p99",
            "ITL req-p99",
            "bursts",
            "E2E p50",
            "E2E p99",
            "req/s",
            "disagg",
            "imbalance",
            "errors"));
    String row = "%-" + w + "s %8.3f %9s %9s %9s %9s %9s %11s %6.3f %9s %9s %8.2f %6s %9.2f %7d%n";
    for (PolicyResult p : r.results()) {
      sb.append(
          String.format(
              Locale.ROOT,
              row,
              name(r, p),
              p.hitRate(),
              ms(p.ttftP50Ms()),
              ms(p.ttftP90Ms()),
              ms(p.ttftP99Ms()),
              ms1(p.itlP50Ms()),
              ms1(p.itlP99Ms()),
              ms1(p.itlRequestP99MedianMs()),
              p.itlBurstShare(),
              ms(p.e2eP50Ms()),
              ms(p.e2eP99Ms()),
              p.throughputRps(),
              disaggShare(p),
              p.prefillImbalance(),
              p.errors()));
    }
    sb.append(
        String.format(
            Locale.ROOT,
            "%-" + w + "s %8.3f%n%-" + w + "s %8.3f%n",
            "(oracle, infinite)",
            r.oracleHitRate(),
            "(pooled LRU bound)",
            r.pooledHitRate()));
    if (!Double.isNaN(r.ttftFloorP99Ms())) {
      sb.append(
          String.format(
              Locale.ROOT,
              "%-"
                  + w
                  + "s %8s %9s %9s %7.0fms  (each request alone on an idle engine, with the pooled hit)%n",
              "(pooled TTFT floor)",
              "",
              "",
              "",
              r.ttftFloorP99Ms()));
    }
    if (r.workingSetBlocks() > 0) {
      sb.append(
          String.format(
              Locale.ROOT,
              "working set %d distinct blocks; fleet cache %d blocks = %.2f of it%n",
              r.workingSetBlocks(),
              r.replicas() * r.capacityBlocks(),
              (double) r.replicas() * r.capacityBlocks() / r.workingSetBlocks()));
    }
    sb.append(
        "TTFT, ITL and E2E in simulated milliseconds (wall time x speed); ITL over all gaps between streamed\n"
            + "tokens, req-p99 = median of each request's own p99 gap; bursts = share of gaps under half a decode\n"
            + "step (no engine makes them: the machine could not keep up; above a few percent the cell measured\n"
            + "the harness); disagg = share served by a prefill and a decode engine; hit rate counted by the\n"
            + "engines.\n");
    if (r.studiesIndex()) sb.append(indexTable(r, w));
    if (r.restartEngineAtMs() >= 0) sb.append(restartTable(r, w));
    if (r.hasCluster()) sb.append(clusterTable(r, w));
    return sb.toString();
  }

  private static String bytes(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.0f", v);
  }

  /** The cluster table: per clustered cell, how fast index writes reached peers, bytes sent. */
  static String clusterTable(ReplayReport r, int w) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%ncluster: index writes applied on peers and their delay (wall ms), bytes the gateways"
                + " published%n"));
    String head = "%-" + w + "s %8s %8s %12s %9s %9s %12s %10s%n";
    sb.append(
        String.format(
            Locale.ROOT,
            head,
            "cell",
            "gateways",
            "members",
            "propagated",
            "prop p50",
            "prop p99",
            "sent bytes",
            "bytes/req"));
    for (PolicyResult p : r.results()) {
      PolicyResult.Cluster c = p.cluster();
      if (c == null) continue;
      sb.append(
          String.format(
              Locale.ROOT,
              head,
              name(r, p),
              c.gateways(),
              c.membersAtEnd(),
              c.propagations(),
              ms1(c.propagationP50WallMs()),
              ms1(c.propagationP99WallMs()),
              bytes(c.sentBytes()),
              bytes(c.sentBytesPerRequest())));
    }
    sb.append(
        "members = the fewest gateways one of them saw at the end (fewer than gateways: the cluster"
            + " split);\npropagation = from an index write on one gateway to its application on a"
            + " peer, all gateways'\nhistograms merged, wall ms (at speed S it stands for S times as"
            + " much simulated time);\nbytes/req = cluster bytes published over the gateway-routed"
            + " requests.\n");
    return sb.toString();
  }

  private static String blocks(long v) {
    return v < 0 ? "-" : Long.toString(v);
  }

  private static String rate(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
  }

  /** A request count next to the share it is of {@code of}. */
  static String share(long n, long of) {
    return of <= 0 ? "-" : String.format(Locale.ROOT, "%d/%d", n, of);
  }

  /** The index table: per cell, the index mode, direct traffic, phantom hits, the index's view. */
  static String indexTable(ReplayReport r, int w) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%nindex: %.0f%% of requests straight to the engines; TTFT above and phantom hits here of"
                + " the gateway-routed ones%n",
            r.directShare() * 100));
    String head = "%-" + w + "s %-11s %7s %11s %11s %13s %12s %12s %9s %6s%n";
    sb.append(
        String.format(
            Locale.ROOT,
            head,
            "cell",
            "mode",
            "direct",
            "direct p50",
            "direct p99",
            "phantom hits",
            "index blocks",
            "engine blocks",
            "max diff",
            "resets"));
    for (PolicyResult p : r.results()) {
      sb.append(
          String.format(
              Locale.ROOT,
              head,
              name(r, p),
              p.indexMode(),
              p.directRequests(),
              ms(p.directTtftP50Ms()),
              ms(p.directTtftP99Ms()),
              share(p.phantomHits(), p.judgedRequests()),
              blocks(p.indexBlocks()),
              blocks(p.engineCachedBlocks()),
              blocks(p.indexMaxDiffBlocks()),
              p.indexView().isEmpty() ? "-" : Long.toString(p.indexResets())));
    }
    sb.append(
        "phantom hits = gateway-routed requests whose x-kvgate-predicted-cached-tokens exceeded the"
            + " engine's\ncached_tokens by a block or more, of those with both numbers; index / engine"
            + " blocks = the gateway's\nindex against the engines' own count at the end of the cell"
            + " (max diff: the largest gap on one engine).\n");
    return sb.toString();
  }

  /** The restart table: per cell, what the restart of engine 0 did. */
  static String restartTable(ReplayReport r, int w) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%nrestart of engine 0 at %d ms: gateway-routed requests sent to it in the next minute%n",
            r.restartEngineAtMs()));
    String head = "%-" + w + "s %9s %13s %15s %11s %10s  %s%n";
    sb.append(
        String.format(
            Locale.ROOT,
            head,
            "cell",
            "routed",
            "phantom hits",
            "last phantom",
            "hit before",
            "hit after",
            "engine 0 hit rate per 10 s, -60 s .. +60 s"));
    for (PolicyResult p : r.results()) {
      PolicyResult.Restart x = p.restart();
      if (x == null) continue;
      StringBuilder windows = new StringBuilder();
      for (double v : x.windowHitRates()) {
        if (windows.length() > 0) windows.append(' ');
        windows.append(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v));
      }
      sb.append(
          String.format(
              Locale.ROOT,
              head,
              name(r, p),
              x.routedAfter(),
              x.phantomAfter(),
              Double.isNaN(x.lastPhantomAfterMs())
                  ? "-"
                  : String.format(
                      Locale.ROOT,
                      "+%.0fms (%.0f)",
                      x.lastPhantomAfterMs(),
                      x.lastPhantomAfterWallMs()),
              rate(x.hitRateBefore()),
              rate(x.hitRateAfter()),
              windows));
    }
    sb.append(
        "last phantom = when the last phantom-priced request was sent after the restart, simulated ms"
            + " (wall ms:\nthe gateway's scrape and event intervals are wall-clock); hit rates counted"
            + " by engine 0 itself.\n");
    return sb.toString();
  }

  private static String num(double v) {
    return v == Math.rint(v) ? String.format(Locale.ROOT, "%.0f", v) : Double.toString(v);
  }

  /** The same table as Markdown. */
  public static String markdown(ReplayReport r) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "Trace `%s`, %d requests, %d engines × %d KV blocks of %d tokens, speed %s×%s%s. "
                + "References: infinite-cache oracle **%.3f**, pooled-LRU bound **%.3f**%s%s.%n%n",
            r.trace(),
            r.records(),
            r.replicas(),
            r.capacityBlocks(),
            r.blockSizeTokens(),
            num(r.speed()),
            r.rateScale() == 1
                ? ""
                : String.format(Locale.ROOT, ", arrivals ×%s", num(r.rateScale())),
            r.comparesFleets() ? ", P/D protocol " + r.pdProtocol() : "",
            r.oracleHitRate(),
            r.pooledHitRate(),
            r.workingSetBlocks() <= 0
                ? ""
                : String.format(
                    Locale.ROOT,
                    "; working set %d distinct blocks, fleet cache %.2f of it",
                    r.workingSetBlocks(),
                    (double) r.replicas() * r.capacityBlocks() / r.workingSetBlocks()),
            Double.isNaN(r.ttftFloorP99Ms())
                ? ""
                : String.format(
                    Locale.ROOT,
                    "; pooled-cache TTFT floor at p99 **%.0f ms** (each request alone on an idle engine, prefilling what the pooled cache misses)",
                    r.ttftFloorP99Ms())));
    sb.append(
        "| cell | hit rate | TTFT p50 (ms) | TTFT p90 | TTFT p99 | ITL p50 | ITL p99 | ITL req-p99 | ITL bursts | E2E p50 | E2E p99 | req/s | disaggregated | prefill imbalance | errors |\n");
    sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (PolicyResult p : r.results()) {
      sb.append(
          String.format(
              Locale.ROOT,
              "| %s | %.3f | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f | %.3f | %.0f | %.0f | %.2f | %s | %.2f | %d |%n",
              name(r, p),
              p.hitRate(),
              p.ttftP50Ms(),
              p.ttftP90Ms(),
              p.ttftP99Ms(),
              p.itlP50Ms(),
              p.itlP99Ms(),
              p.itlRequestP99MedianMs(),
              p.itlBurstShare(),
              p.e2eP50Ms(),
              p.e2eP99Ms(),
              p.throughputRps(),
              disaggShare(p),
              p.prefillImbalance(),
              p.errors()));
    }
    if (r.studiesIndex()) {
      sb.append(
          String.format(
              Locale.ROOT,
              "%nIndex: %.0f%% of requests straight to the engines; TTFT above and phantom hits of the"
                  + " gateway-routed requests; the gateway's index against the engines' own count at"
                  + " the end of each cell.%n%n",
              r.directShare() * 100));
      sb.append(
          "| cell | index mode | direct requests | direct TTFT p50 | direct TTFT p99 | phantom hits"
              + " / judged | index blocks | engine blocks | max diff per engine | resets detected |\n");
      sb.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
      for (PolicyResult p : r.results()) {
        sb.append(
            String.format(
                Locale.ROOT,
                "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |%n",
                name(r, p),
                p.indexMode(),
                p.directRequests(),
                ms(p.directTtftP50Ms()),
                ms(p.directTtftP99Ms()),
                share(p.phantomHits(), p.judgedRequests()),
                blocks(p.indexBlocks()),
                blocks(p.engineCachedBlocks()),
                blocks(p.indexMaxDiffBlocks()),
                p.indexView().isEmpty() ? "-" : Long.toString(p.indexResets())));
      }
    }
    if (r.hasCluster()) {
      sb.append(
          "\nCluster: index writes applied on peers and their delay from the write (wall ms; at"
              + " speed S it stands for S times as much simulated time), all gateways' histograms"
              + " merged; cluster bytes the gateways published, per gateway-routed request.\n\n");
      sb.append(
          "| cell | gateways | members at end | writes propagated | propagation p50 (wall ms) |"
              + " propagation p99 (wall ms) | bytes sent | bytes per request |\n");
      sb.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
      for (PolicyResult p : r.results()) {
        PolicyResult.Cluster c = p.cluster();
        if (c == null) continue;
        sb.append(
            String.format(
                Locale.ROOT,
                "| %s | %d | %d | %d | %s | %s | %s | %s |%n",
                name(r, p),
                c.gateways(),
                c.membersAtEnd(),
                c.propagations(),
                num1orDash(c.propagationP50WallMs()),
                num1orDash(c.propagationP99WallMs()),
                bytes(c.sentBytes()),
                bytes(c.sentBytesPerRequest())));
      }
    }
    if (r.restartEngineAtMs() >= 0) {
      sb.append(
          String.format(
              Locale.ROOT,
              "%nRestart of engine 0 at %d ms (simulated): gateway-routed requests sent to it in the"
                  + " next minute, and its own hit rate around the restart.%n%n",
              r.restartEngineAtMs()));
      sb.append(
          "| cell | routed to it | on a phantom hit | last phantom after (sim ms) | (wall ms) |"
              + " hit rate minute before | minute after | per 10 s, -60 s .. +60 s |\n");
      sb.append("|---|---:|---:|---:|---:|---:|---:|---|\n");
      for (PolicyResult p : r.results()) {
        PolicyResult.Restart x = p.restart();
        if (x == null) continue;
        StringBuilder windows = new StringBuilder();
        for (double v : x.windowHitRates()) {
          if (windows.length() > 0) windows.append(' ');
          windows.append(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v));
        }
        sb.append(
            String.format(
                Locale.ROOT,
                "| %s | %d | %d | %s | %s | %s | %s | %s |%n",
                name(r, p),
                x.routedAfter(),
                x.phantomAfter(),
                ms(x.lastPhantomAfterMs()),
                ms(x.lastPhantomAfterWallMs()),
                rate(x.hitRateBefore()),
                rate(x.hitRateAfter()),
                windows));
      }
    }
    return sb.toString();
  }

  /** One row per cell: the scalar results, for spreadsheets and summary scripts. */
  static String cellsCsv(ReplayReport r) {
    StringBuilder sb =
        new StringBuilder(
            "cell,fleet,policy,index_mode,min_uncached_tokens,requests,errors,hit_rate,ttft_p50_ms,"
                + "ttft_p90_ms,ttft_p99_ms,itl_p50_ms,itl_p99_ms,e2e_p50_ms,e2e_p99_ms,req_per_s,"
                + "direct_requests,direct_ttft_p50_ms,direct_ttft_p99_ms,judged_requests,"
                + "phantom_hits,index_blocks,engine_blocks,index_max_diff_blocks,index_resets,"
                + "restart_at_ms,restart_routed,restart_phantom_hits,restart_last_phantom_ms,"
                + "restart_last_phantom_wall_ms,restart_hit_rate_before,restart_hit_rate_after,"
                + "gateways,prefill_imbalance,cluster_members_at_end,cluster_propagations,"
                + "cluster_propagation_p50_wall_ms,cluster_propagation_p99_wall_ms,"
                + "cluster_sent_bytes,cluster_sent_bytes_per_request\n");
    for (PolicyResult p : r.results()) {
      PolicyResult.Restart x = p.restart();
      PolicyResult.Cluster c = p.cluster();
      sb.append(
          String.format(
              Locale.ROOT,
              "%s,%s,%s,%s,%d,%d,%d,%.4f,%s,%s,%s,%s,%s,%s,%s,%.3f,%d,%s,%s,%d,%d,%d,%d,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%.4f,%s,%s,%s,%s,%s,%s%n",
              csv(name(r, p)),
              csv(p.fleet()),
              csv(p.policy()),
              p.indexMode(),
              p.minUncachedTokens(),
              p.requests(),
              p.errors(),
              p.hitRate(),
              num1(p.ttftP50Ms()),
              num1(p.ttftP90Ms()),
              num1(p.ttftP99Ms()),
              num1(p.itlP50Ms()),
              num1(p.itlP99Ms()),
              num1(p.e2eP50Ms()),
              num1(p.e2eP99Ms()),
              p.throughputRps(),
              p.directRequests(),
              num1(p.directTtftP50Ms()),
              num1(p.directTtftP99Ms()),
              p.judgedRequests(),
              p.phantomHits(),
              p.indexBlocks(),
              p.engineCachedBlocks(),
              p.indexMaxDiffBlocks(),
              p.indexView().isEmpty() ? -1 : p.indexResets(),
              x == null ? "" : num1(x.atMs()),
              x == null ? "" : Long.toString(x.routedAfter()),
              x == null ? "" : Long.toString(x.phantomAfter()),
              x == null ? "" : num1(x.lastPhantomAfterMs()),
              x == null ? "" : num1(x.lastPhantomAfterWallMs()),
              x == null ? "" : num4(x.hitRateBefore()),
              x == null ? "" : num4(x.hitRateAfter()),
              p.gateways(),
              p.prefillImbalance(),
              c == null ? "" : Integer.toString(c.membersAtEnd()),
              c == null ? "" : Long.toString(c.propagations()),
              c == null ? "" : num1(c.propagationP50WallMs()),
              c == null ? "" : num1(c.propagationP99WallMs()),
              c == null ? "" : String.format(Locale.ROOT, "%.0f", c.sentBytes()),
              c == null ? "" : num1(c.sentBytesPerRequest())));
    }
    return sb.toString();
  }

  private static String num1orDash(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", v);
  }

  private static String num1(double v) {
    return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.1f", v);
  }

  private static String num4(double v) {
    return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.4f", v);
  }

  private static String csv(String s) {
    return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
  }

  public static void write(ReplayReport r, Path dir) throws IOException {
    Files.createDirectories(dir);
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    Files.writeString(dir.resolve("report.json"), json.writeValueAsString(r));
    Files.writeString(dir.resolve("report.md"), markdown(r));
    Files.writeString(dir.resolve("cells.csv"), cellsCsv(r));
    Files.writeString(dir.resolve("ttft-cdf.svg"), ttftCdf(r));
    Files.writeString(dir.resolve("itl-cdf.svg"), itlCdf(r));
    Files.writeString(dir.resolve("hit-rate.svg"), hitRates(r));
    Files.writeString(dir.resolve("engine-load.svg"), load(r));
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }

  /** TTFT CDF per cell on a log x axis. */
  static String ttftCdf(ReplayReport r) {
    return cdf(
        r,
        "TTFT CDF per cell (simulated ms, log scale)",
        "TTFT (ms)",
        "fraction of requests",
        PolicyResult::ttftSortedMs);
  }

  /** ITL CDF per cell on a log x axis (from each cell's quantiles). */
  static String itlCdf(ReplayReport r) {
    return cdf(
        r,
        "Inter-token latency CDF per cell (simulated ms, log scale)",
        "gap between streamed tokens (ms)",
        "fraction of gaps",
        PolicyResult::itlQuantilesMs);
  }

  private static String cdf(
      ReplayReport r,
      String title,
      String xLabel,
      String yLabel,
      java.util.function.Function<PolicyResult, double[]> values) {
    Svg svg = new Svg(720, 420, title);
    double min = Double.MAX_VALUE;
    double max = 1;
    for (PolicyResult p : r.results()) {
      for (double v : values.apply(p)) {
        if (v > 0) min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    double lo = Math.floor(Math.log10(Math.max(0.1, min == Double.MAX_VALUE ? 1 : min)));
    double hi = Math.ceil(Math.log10(max));
    if (hi <= lo) hi = lo + 1;
    for (double d = lo; d <= hi; d++)
      svg.xTick((d - lo) / (hi - lo), String.format(Locale.ROOT, "%s", num(Math.pow(10, d))));
    for (int q = 0; q <= 4; q++) svg.yTick(q / 4.0, String.format(Locale.ROOT, "%.2f", q / 4.0));
    int c = 0;
    for (PolicyResult p : r.results()) {
      double[] v = values.apply(p);
      StringBuilder pts = new StringBuilder();
      int step = Math.max(1, v.length / 400);
      for (int i = 0; i < v.length; i += step) {
        double x = (Math.log10(Math.max(v[i], Math.pow(10, lo))) - lo) / (hi - lo);
        pts.append(svg.x(x)).append(',').append(svg.y((i + 1.0) / v.length)).append(' ');
      }
      if (v.length > 0)
        pts.append(
                svg.x((Math.log10(Math.max(v[v.length - 1], Math.pow(10, lo))) - lo) / (hi - lo)))
            .append(',')
            .append(svg.y(1));
      svg.polyline(pts.toString(), COLORS[c % COLORS.length]);
      svg.legend(c, name(r, p), COLORS[c % COLORS.length]);
      c++;
    }
    return svg.end(xLabel, yLabel);
  }

  /** Hit rate per policy, with the oracle and pooled bound as reference lines. */
  static String hitRates(ReplayReport r) {
    Svg svg = new Svg(720, 420, "Engine-counted token hit rate per policy");
    double top =
        Math.max(
            0.1,
            Math.ceil(
                    Math.max(
                                r.oracleHitRate(),
                                r.results().stream()
                                    .mapToDouble(PolicyResult::hitRate)
                                    .max()
                                    .orElse(0))
                            * 10
                        + 0.5)
                / 10);
    for (int q = 0; q <= 4; q++)
      svg.yTick(q / 4.0, String.format(Locale.ROOT, "%.2f", top * q / 4.0));
    int n = r.results().size();
    for (int i = 0; i < n; i++) {
      PolicyResult p = r.results().get(i);
      double x0 = (i + 0.15) / n;
      double x1 = (i + 0.85) / n;
      svg.bar(x0, x1, p.hitRate() / top, COLORS[i % COLORS.length]);
      svg.label((x0 + x1) / 2, p.hitRate() / top, String.format(Locale.ROOT, "%.3f", p.hitRate()));
      svg.xTick((i + 0.5) / n, name(r, p));
    }
    if (!Double.isNaN(r.oracleHitRate()))
      svg.refLine(
          r.oracleHitRate() / top,
          "oracle " + String.format(Locale.ROOT, "%.3f", r.oracleHitRate()),
          "#444");
    if (!Double.isNaN(r.pooledHitRate()))
      svg.refLine(
          r.pooledHitRate() / top,
          "pooled LRU " + String.format(Locale.ROOT, "%.3f", r.pooledHitRate()),
          "#999");
    return svg.end("policy", "hit rate");
  }

  /** Per policy, the fleet's busiest and quietest engine over time (running + waiting requests). */
  static String load(ReplayReport r) {
    Svg svg = new Svg(720, 420, "Busiest (solid) and quietest (dashed) engine over time");
    int maxLen = 1;
    int maxLoad = 1;
    for (PolicyResult p : r.results()) {
      maxLen = Math.max(maxLen, p.loadOverTime().size());
      for (int[] row : p.loadOverTime()) for (int v : row) maxLoad = Math.max(maxLoad, v);
    }
    for (int q = 0; q <= 4; q++) {
      svg.yTick(q / 4.0, Integer.toString(maxLoad * q / 4));
      svg.xTick(q / 4.0, String.format(Locale.ROOT, "%.0f%%", q * 25.0));
    }
    int c = 0;
    for (PolicyResult p : r.results()) {
      List<int[]> rows = p.loadOverTime();
      // Averaged over at most 120 windows, so a long replay stays readable.
      int buckets = Math.min(120, rows.size());
      StringBuilder hiPts = new StringBuilder();
      StringBuilder loPts = new StringBuilder();
      for (int b = 0; b < buckets; b++) {
        int from = b * rows.size() / buckets;
        int to = Math.max(from + 1, (b + 1) * rows.size() / buckets);
        double hiSum = 0;
        double loSum = 0;
        for (int i = from; i < to; i++) {
          int hi = 0;
          int lo = Integer.MAX_VALUE;
          for (int v : rows.get(i)) {
            hi = Math.max(hi, v);
            lo = Math.min(lo, v);
          }
          hiSum += hi;
          loSum += lo;
        }
        double x = buckets <= 1 ? 0 : (double) b / (buckets - 1);
        hiPts.append(svg.x(x)).append(',').append(svg.y(hiSum / (to - from) / maxLoad)).append(' ');
        loPts.append(svg.x(x)).append(',').append(svg.y(loSum / (to - from) / maxLoad)).append(' ');
      }
      svg.polyline(hiPts.toString(), COLORS[c % COLORS.length]);
      svg.dashed(loPts.toString(), COLORS[c % COLORS.length]);
      svg.legend(c, name(r, p), COLORS[c % COLORS.length]);
      c++;
    }
    return svg.end("replay progress (windows of the run)", "running + waiting requests");
  }

  /** A minimal SVG chart: plot area, ticks, series, legend. */
  private static final class Svg {
    private final StringBuilder sb = new StringBuilder();
    private final int w;
    private final int h;
    private static final int L = 70;
    private static final int R = 170;
    private static final int T = 40;
    private static final int B = 60;

    Svg(int w, int h, String title) {
      this.w = w;
      this.h = h;
      sb.append(
          String.format(
              Locale.ROOT,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n",
              w,
              h));
      sb.append(
          String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", w, h));
      sb.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>%n",
              L,
              esc(title)));
      sb.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>%n",
              L,
              T,
              w - L - R,
              h - T - B));
    }

    String x(double f) {
      return String.format(Locale.ROOT, "%.1f", L + f * (w - L - R));
    }

    String y(double f) {
      return String.format(Locale.ROOT, "%.1f", h - B - Math.max(0, Math.min(1, f)) * (h - T - B));
    }

    void xTick(double f, String label) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%d\" stroke=\"#eee\"/><text x=\"%s\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
              x(f),
              T,
              x(f),
              h - B,
              x(f),
              h - B + 18,
              esc(label)));
    }

    void yTick(double f, String label) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" y1=\"%s\" x2=\"%d\" y2=\"%s\" stroke=\"#eee\"/><text x=\"%d\" y=\"%s\" text-anchor=\"end\">%s</text>%n",
              L,
              y(f),
              w - R,
              y(f),
              L - 6,
              y(f),
              esc(label)));
    }

    void polyline(String points, String color) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>%n",
              color,
              points));
    }

    void dashed(String points, String color) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\" points=\"%s\"/>%n",
              color,
              points));
    }

    void bar(double x0, double x1, double f, String color) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%s\" y=\"%s\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>%n",
              x(x0),
              y(f),
              (x1 - x0) * (w - L - R),
              Math.max(0, Math.min(1, f)) * (h - T - B),
              color));
    }

    void label(double xf, double yf, String text) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%s\" y=\"%.1f\" text-anchor=\"middle\">%s</text>%n",
              x(xf),
              Double.parseDouble(y(yf)) - 5,
              esc(text)));
    }

    void refLine(double f, String label, String color) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" y1=\"%s\" x2=\"%d\" y2=\"%s\" stroke=\"%s\" stroke-dasharray=\"6,4\"/><text x=\"%d\" y=\"%s\" fill=\"%s\">%s</text>%n",
              L,
              y(f),
              w - R,
              y(f),
              color,
              w - R + 6,
              y(f),
              color,
              esc(label)));
    }

    void legend(int i, String name, String color) {
      int ly = T + 10 + i * 20;
      sb.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>%n",
              w - R + 10,
              ly,
              color,
              w - R + 30,
              ly + 6,
              esc(name)));
    }

    String end(String xLabel, String yLabel) {
      sb.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
              (L + w - R) / 2,
              h - 14,
              esc(xLabel)));
      sb.append(
          String.format(
              Locale.ROOT,
              "<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>%n",
              (T + h - B) / 2,
              esc(yLabel)));
      return sb.append("</svg>\n").toString();
    }
  }
}

package io.kvgate.replay;

import io.kvgate.replay.GatewayLauncher.IndexMode;
import io.kvgate.replay.GatewayLauncher.PdProtocol;
import io.kvgate.sim.SimEngineConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What {@code kvgate replay} runs.
 *
 * @param trace the JSONL trace (Mooncake or OpenAI-request form)
 * @param policies policies to compare, each on a fresh fleet and gateway
 * @param replicas engines of the aggregated fleet used when {@code fleets} is empty; also the
 *     engine count of the cache references (pooled-LRU bound, working set)
 * @param engine the engines' configuration (capacity, speed, timings; its role is replaced by each
 *     fleet's roles); its {@code speed} also compresses the trace's timestamps
 * @param limit replay only the first N records (0 = all)
 * @param maxOutputTokens cap on each request's generated tokens (0 = the trace's)
 * @param maxOutstanding open-loop bound: a request due while this many are outstanding is dropped
 *     and counted as an error
 * @param jitterMs spread requests uniformly within this many trace milliseconds after their
 *     timestamp (the conversation trace is quantised to ~3 s), seeded
 * @param seed the jitter's seed
 * @param out directory for report.json, report.md and the SVG plots
 * @param warmup requests (the trace's first) replayed once, unmeasured, through a throwaway fleet
 *     and gateway before the first policy, so that no policy pays for the JVM's warm-up: with time
 *     compressed 20×, a 50 ms pause of a cold JVM is a second of trace time. With several fleet
 *     layouts, index modes or gateway cells, once through each combination of them (its first
 *     policy and threshold)
 * @param fleets the fleet layouts to compare, each cell on a fresh fleet; empty: one aggregated
 *     fleet of {@code replicas} engines
 * @param pdProtocol the protocol the gateway speaks to disaggregated fleets
 * @param minUncachedTokens the gateway's {@code pd.minUncachedTokens} values to compare on every
 *     disaggregated fleet (a cell each); not a dimension of aggregated fleets
 * @param rateScale arrivals come this many times faster than the trace's timestamps say, in
 *     simulated time (the load knob; {@code speed} only compresses wall time)
 * @param indexModes what the gateway's index learns the caches from, a cell each ({@code
 *     approximate}: its own routing; {@code precise}: the engines' KV events); distinct, in order
 * @param directShare the share of the trace's requests (0..1) sent straight to an engine of the
 *     fleet, bypassing the gateway: other clients of the same engines. Which requests and which
 *     engine is drawn from {@code seed}, the same in every cell. Aggregated fleets only
 * @param restartEngineAt restart engine 0 ({@link io.kvgate.sim.SimEngine#restart()}) this far into
 *     each measured cell, in simulated time; null: no restart. Aggregated fleets only
 * @param gateways how many gateways each cell runs over its engines, and whether they are
 *     clustered, a cell each (after the thresholds in run order); distinct, in order. More than one
 *     gateway needs aggregated fleets and approximate index modes
 */
public record ReplayOptions(
    Path trace,
    List<String> policies,
    int replicas,
    SimEngineConfig engine,
    int limit,
    int maxOutputTokens,
    int maxOutstanding,
    long jitterMs,
    long seed,
    Path out,
    int warmup,
    List<Fleet> fleets,
    PdProtocol pdProtocol,
    List<Long> minUncachedTokens,
    double rateScale,
    List<IndexMode> indexModes,
    double directShare,
    Duration restartEngineAt,
    List<Gateways> gateways) {

  /** The gateway's default {@code pd.minUncachedTokens}. */
  public static final long DEFAULT_MIN_UNCACHED_TOKENS = 256;

  public ReplayOptions {
    policies = List.copyOf(policies);
    fleets = List.copyOf(fleets);
    minUncachedTokens = List.copyOf(minUncachedTokens);
    if (pdProtocol == null) throw new IllegalArgumentException("pdProtocol is required");
    if (minUncachedTokens.isEmpty() || minUncachedTokens.stream().anyMatch(t -> t < 0))
      throw new IllegalArgumentException("min uncached tokens: one or more values >= 0");
    if (!(rateScale > 0) || Double.isInfinite(rateScale))
      throw new IllegalArgumentException("rate scale must be > 0");
    indexModes = List.copyOf(indexModes);
    if (indexModes.isEmpty() || indexModes.stream().distinct().count() != indexModes.size())
      throw new IllegalArgumentException(
          "index modes: approximate and/or precise, each at most once");
    if (!(directShare >= 0 && directShare <= 1))
      throw new IllegalArgumentException("direct share must be in 0..1 (got " + directShare + ")");
    if (restartEngineAt != null && (restartEngineAt.isNegative() || restartEngineAt.isZero()))
      throw new IllegalArgumentException("the engine restart must come after the start (> 0)");
    boolean disaggregated = fleets.stream().anyMatch(Fleet::disaggregated);
    if (disaggregated && (directShare > 0 || restartEngineAt != null))
      throw new IllegalArgumentException(
          "direct traffic and engine restarts need aggregated fleets (both=N): engine 0 of a"
              + " disaggregated fleet is a prefill engine, which serves no whole request");
    gateways = List.copyOf(gateways);
    if (gateways.isEmpty() || gateways.stream().distinct().count() != gateways.size())
      throw new IllegalArgumentException("gateways: one or more distinct values (1, N, Nc)");
    boolean several = gateways.stream().anyMatch(g -> g.count() > 1);
    if (several && (disaggregated || indexModes.contains(IndexMode.PRECISE)))
      throw new IllegalArgumentException(
          "several gateways need aggregated fleets (both=N) and the approximate index mode");
  }

  /** One gateway per cell. */
  public ReplayOptions(
      Path trace,
      List<String> policies,
      int replicas,
      SimEngineConfig engine,
      int limit,
      int maxOutputTokens,
      int maxOutstanding,
      long jitterMs,
      long seed,
      Path out,
      int warmup,
      List<Fleet> fleets,
      PdProtocol pdProtocol,
      List<Long> minUncachedTokens,
      double rateScale,
      List<IndexMode> indexModes,
      double directShare,
      Duration restartEngineAt) {
    this(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        indexModes,
        directShare,
        restartEngineAt,
        List.of(Gateways.ONE));
  }

  /** Without the index-mode study: approximate cells, all traffic through kvgate, no restart. */
  public ReplayOptions(
      Path trace,
      List<String> policies,
      int replicas,
      SimEngineConfig engine,
      int limit,
      int maxOutputTokens,
      int maxOutstanding,
      long jitterMs,
      long seed,
      Path out,
      int warmup,
      List<Fleet> fleets,
      PdProtocol pdProtocol,
      List<Long> minUncachedTokens,
      double rateScale) {
    this(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        List.of(IndexMode.APPROXIMATE),
        0,
        null);
  }

  /** One aggregated fleet of {@code replicas} engines, arrivals at the trace's rate. */
  public ReplayOptions(
      Path trace,
      List<String> policies,
      int replicas,
      SimEngineConfig engine,
      int limit,
      int maxOutputTokens,
      int maxOutstanding,
      long jitterMs,
      long seed,
      Path out,
      int warmup) {
    this(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        List.of(),
        PdProtocol.VLLM,
        List.of(DEFAULT_MIN_UNCACHED_TOKENS),
        1.0);
  }

  /** Without a warm-up run. */
  public ReplayOptions(
      Path trace,
      List<String> policies,
      int replicas,
      SimEngineConfig engine,
      int limit,
      int maxOutputTokens,
      int maxOutstanding,
      long jitterMs,
      long seed,
      Path out) {
    this(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        0);
  }

  /** The fleet layouts replayed: {@code fleets}, or the aggregated fleet of {@code replicas}. */
  public List<Fleet> fleetsOrDefault() {
    return fleets.isEmpty() ? List.of(Fleet.aggregated(replicas)) : fleets;
  }

  /** These options with other fleet layouts. */
  public ReplayOptions withFleets(List<Fleet> f) {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        f,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        indexModes,
        directShare,
        restartEngineAt,
        gateways);
  }

  /** These options with other disaggregation settings. */
  public ReplayOptions withPd(PdProtocol protocol, List<Long> thresholds) {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        protocol,
        thresholds,
        rateScale,
        indexModes,
        directShare,
        restartEngineAt,
        gateways);
  }

  /** These options with another arrival-rate multiplier. */
  public ReplayOptions withRateScale(double scale) {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        pdProtocol,
        minUncachedTokens,
        scale,
        indexModes,
        directShare,
        restartEngineAt,
        gateways);
  }

  /** These options with other index modes, direct share and engine restart. */
  public ReplayOptions withIndexStudy(List<IndexMode> modes, double direct, Duration restartAt) {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        modes,
        direct,
        restartAt,
        gateways);
  }

  /** These options with other gateway cells. */
  public ReplayOptions withGateways(List<Gateways> g) {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        warmup,
        fleets,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        indexModes,
        directShare,
        restartEngineAt,
        g);
  }

  /**
   * These options without an output directory, a warm-up or an engine restart (the warm-up's own
   * run: it replays the trace's head, which may end before the restart is due).
   */
  ReplayOptions unrecorded() {
    return new ReplayOptions(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        null,
        0,
        fleets,
        pdProtocol,
        minUncachedTokens,
        rateScale,
        indexModes,
        directShare,
        null,
        gateways);
  }

  /** Characters per token of the simulated engine's tokenizer stand-in. */
  public static final int CHARS_PER_TOKEN = 4;
}

package io.kvgate.replay;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A seeded, deterministic multi-tenant chat workload in the Mooncake trace form, so that {@code
 * kvgate replay}, the infinite-cache oracle and the pooled-LRU bound apply to it unchanged.
 *
 * <p>Shape (platform traffic: many customers on one model):
 *
 * <ul>
 *   <li>{@code tenants} tenants with Zipf-skewed popularity (tenant {@code i}, 0-based, receives
 *       sessions with weight {@code 1 / (i + 1)^zipfExponent});
 *   <li>each tenant has one long system prompt (tool schemas, RAG instructions) of a whole number
 *       of 512-token blocks, drawn uniformly in {@code [systemMinTokens, systemMaxTokens]}: whole
 *       blocks so the trace form expresses the sharing exactly (a system prompt ending inside a
 *       512-token block would make that block session-specific, hiding up to 511 shared tokens);
 *   <li>sessions arrive as a Poisson process ({@code sessionsPerSecond}) and pick a tenant by
 *       popularity; each has {@code minTurns..maxTurns} turns (uniform);
 *   <li>turn {@code k}'s prompt = system prompt + every earlier turn's user message and assistant
 *       reply + the new user message, so turn {@code k}'s hash ids extend turn {@code k-1}'s (the
 *       conversation is one token stream cut into 512-token blocks; a turn's last, partial block
 *       keeps its id when a later turn fills it, and {@link HashIdText} renders an id's text as one
 *       string cut to length, so the partial block's text is a prefix of the full one's and the
 *       engine's 16-token blocks inside it hit too);
 *   <li>user messages and replies are log-normal, clamped (replies bounded by {@code
 *       outputMaxTokens});
 *   <li>the next turn arrives after the reply's decode time (8 ms a token) plus an exponential
 *       think time of mean {@code thinkMeanSeconds}.
 * </ul>
 *
 * Hash ids are numbered in order of first appearance in the (time-sorted) trace, as in the Mooncake
 * release; every id sits at a single position after a single predecessor (chained). Same params,
 * same records, on every JVM.
 */
public final class MultiTenantWorkload {

  /**
   * Decode time per reply token used for the gap between turns (the engine-sim's calibrated step).
   */
  static final double REPLY_MS_PER_TOKEN = 8;

  static final double USER_SIGMA = 0.9;
  static final double OUTPUT_SIGMA = 0.7;

  /**
   * Generator parameters.
   *
   * @param tenants number of tenants
   * @param zipfExponent popularity skew; 0 = uniform
   * @param sessions sessions to generate
   * @param sessionsPerSecond Poisson arrival rate of sessions
   * @param minTurns fewest turns per session (at least 1)
   * @param maxTurns most turns per session
   * @param systemMinTokens shortest system prompt (rounded up to whole 512-token blocks)
   * @param systemMaxTokens longest system prompt (rounded down to whole 512-token blocks)
   * @param userMedianTokens median user message
   * @param userMinTokens user message lower clamp
   * @param userMaxTokens user message upper clamp
   * @param outputMedianTokens median reply
   * @param outputMinTokens reply lower clamp
   * @param outputMaxTokens reply upper clamp
   * @param thinkMeanSeconds mean think time between a reply and the next user message
   * @param seed the seed: same params and seed, same trace
   */
  public record Params(
      int tenants,
      double zipfExponent,
      int sessions,
      double sessionsPerSecond,
      int minTurns,
      int maxTurns,
      int systemMinTokens,
      int systemMaxTokens,
      int userMedianTokens,
      int userMinTokens,
      int userMaxTokens,
      int outputMedianTokens,
      int outputMinTokens,
      int outputMaxTokens,
      double thinkMeanSeconds,
      long seed) {

    /** The defaults of {@code kvgate workload multi-tenant} (see docs there). */
    public static Params defaults() {
      return new Params(24, 1.0, 1500, 4.0, 2, 8, 2048, 8192, 200, 16, 4096, 250, 16, 1024, 15, 42);
    }

    public Params {
      if (tenants < 1) throw new IllegalArgumentException("tenants must be >= 1");
      if (zipfExponent < 0) throw new IllegalArgumentException("zipf exponent must be >= 0");
      if (sessions < 1) throw new IllegalArgumentException("sessions must be >= 1");
      if (!(sessionsPerSecond > 0)) throw new IllegalArgumentException("session rate must be > 0");
      if (minTurns < 1 || maxTurns < minTurns)
        throw new IllegalArgumentException("need 1 <= min turns <= max turns");
      if (systemMinTokens < 0 || systemMaxTokens < systemMinTokens)
        throw new IllegalArgumentException("need 0 <= system min <= system max");
      if (ceilBlocks(systemMinTokens) > systemMaxTokens / TraceRecord.TRACE_BLOCK_TOKENS) {
        throw new IllegalArgumentException(
            "system prompt range ["
                + systemMinTokens
                + ", "
                + systemMaxTokens
                + "] contains no whole number of 512-token blocks");
      }
      if (userMinTokens < 1 || userMedianTokens < 1 || userMaxTokens < userMinTokens)
        throw new IllegalArgumentException("need 1 <= user min <= user max");
      if (outputMinTokens < 1 || outputMedianTokens < 1 || outputMaxTokens < outputMinTokens)
        throw new IllegalArgumentException("need 1 <= output min <= output max");
      if (thinkMeanSeconds < 0) throw new IllegalArgumentException("think time must be >= 0");
    }

    public Params withSeed(long s) {
      return new Params(
          tenants,
          zipfExponent,
          sessions,
          sessionsPerSecond,
          minTurns,
          maxTurns,
          systemMinTokens,
          systemMaxTokens,
          userMedianTokens,
          userMinTokens,
          userMaxTokens,
          outputMedianTokens,
          outputMinTokens,
          outputMaxTokens,
          thinkMeanSeconds,
          s);
    }
  }

  /**
   * A generated workload.
   *
   * @param params what generated it
   * @param records the trace, sorted by timestamp
   * @param tenantOf each record's tenant (0 = most popular)
   * @param sessionOf each record's session (numbered by arrival)
   * @param turnOf each record's turn within its session (0-based)
   * @param systemTokens each tenant's system prompt length
   */
  public record Workload(
      Params params,
      List<TraceRecord> records,
      int[] tenantOf,
      int[] sessionOf,
      int[] turnOf,
      int[] systemTokens) {

    /** Sessions per tenant. */
    public int[] sessionsPerTenant() {
      int[] n = new int[params.tenants()];
      for (int i = 0; i < records.size(); i++) if (turnOf[i] == 0) n[tenantOf[i]]++;
      return n;
    }

    /** Distinct engine blocks over the whole trace (what an infinite cache ends up holding). */
    public long distinctBlocks(int blockSizeTokens) {
      return CacheBounds.distinctBlocks(records, blockSizeTokens);
    }

    /**
     * The peak live working set in engine blocks: every tenant's system prompt plus the contexts of
     * all sessions in progress (between their first and last turn's arrival) at the busiest moment:
     * what a cache must hold for every reuse in the trace to hit.
     */
    public long peakLiveBlocks(int blockSizeTokens) {
      long system = 0;
      for (int t : systemTokens) system += t / blockSizeTokens;
      int sessions = 0;
      for (int s : sessionOf) sessions = Math.max(sessions, s + 1);
      long[] first = new long[sessions];
      long[] last = new long[sessions];
      long[] own = new long[sessions];
      Arrays.fill(first, Long.MAX_VALUE);
      for (int i = 0; i < records.size(); i++) {
        int s = sessionOf[i];
        TraceRecord r = records.get(i);
        first[s] = Math.min(first[s], r.timestampMs());
        if (r.timestampMs() >= last[s]) {
          last[s] = r.timestampMs();
          own[s] =
              Math.max(
                  own[s],
                  CacheBounds.keys(r, blockSizeTokens).length
                      - systemTokens[tenantOf[i]] / blockSizeTokens);
        }
      }
      // Sweep: +own at first, -own just after last.
      long[][] ev = new long[2 * sessions][];
      for (int s = 0; s < sessions; s++) {
        ev[2 * s] = new long[] {first[s], 0, own[s]};
        ev[2 * s + 1] = new long[] {last[s], 1, -own[s]};
      }
      Arrays.sort(ev, Comparator.<long[]>comparingLong(e -> e[0]).thenComparingLong(e -> e[1]));
      long live = 0;
      long peak = 0;
      for (long[] e : ev) {
        live += e[2];
        peak = Math.max(peak, live);
      }
      return system + peak;
    }

    /** Prompt tokens over the trace's span, per second. */
    public double promptTokensPerSecond() {
      long tokens = 0;
      for (TraceRecord r : records) tokens += r.inputLength();
      double span =
          (records.get(records.size() - 1).timestampMs() - records.get(0).timestampMs()) / 1000.0;
      return span <= 0 ? 0 : tokens / span;
    }
  }

  private MultiTenantWorkload() {}

  static int ceilBlocks(long tokens) {
    return (int) ((tokens + TraceRecord.TRACE_BLOCK_TOKENS - 1) / TraceRecord.TRACE_BLOCK_TOKENS);
  }

  private static double gaussian(SplittableRandom r) {
    // Box-Muller, so the stream of values is fixed by the seed on every JDK.
    double u = 1.0 - r.nextDouble();
    double v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private static int logNormal(SplittableRandom r, int median, double sigma, int min, int max) {
    long v = Math.round(median * Math.exp(sigma * gaussian(r)));
    return (int) Math.max(min, Math.min(max, v));
  }

  private static double exponential(SplittableRandom r, double mean) {
    return mean <= 0 ? 0 : -mean * Math.log(1.0 - r.nextDouble());
  }

  /** Generates the workload; a pure function of {@code p}. */
  public static Workload generate(Params p) {
    SplittableRandom root = new SplittableRandom(p.seed());
    SplittableRandom tenantRng = root.split();
    SplittableRandom arrivalRng = root.split();
    SplittableRandom sessionRng = root.split();

    int minBlocks = ceilBlocks(p.systemMinTokens());
    int maxBlocks = p.systemMaxTokens() / TraceRecord.TRACE_BLOCK_TOKENS;
    int[] systemTokens = new int[p.tenants()];
    long[][] systemIds = new long[p.tenants()][];
    long nextId = 0;
    for (int t = 0; t < p.tenants(); t++) {
      int blocks = minBlocks + tenantRng.nextInt(maxBlocks - minBlocks + 1);
      systemTokens[t] = blocks * TraceRecord.TRACE_BLOCK_TOKENS;
      systemIds[t] = new long[blocks];
      for (int b = 0; b < blocks; b++) systemIds[t][b] = nextId++;
    }
    double[] cumulative = new double[p.tenants()];
    double sum = 0;
    for (int t = 0; t < p.tenants(); t++) {
      sum += Math.pow(t + 1, -p.zipfExponent());
      cumulative[t] = sum;
    }

    record Row(long ts, int session, int turn, int tenant, int input, int output, long[] ids) {}
    List<Row> rows = new ArrayList<>();
    double startMs = 0;
    for (int s = 0; s < p.sessions(); s++) {
      startMs += exponential(arrivalRng, 1000.0 / p.sessionsPerSecond());
      SplittableRandom r = sessionRng.split();
      double u = r.nextDouble() * sum;
      int tenant = 0;
      while (tenant < p.tenants() - 1 && cumulative[tenant] <= u) tenant++;
      int turns = p.minTurns() + r.nextInt(p.maxTurns() - p.minTurns() + 1);
      // The session's token stream: system prompt blocks, then session blocks allocated as it
      // grows.
      List<Long> stream = new ArrayList<>();
      for (long id : systemIds[tenant]) stream.add(id);
      long context = systemTokens[tenant];
      double at = startMs;
      for (int k = 0; k < turns; k++) {
        int user =
            logNormal(r, p.userMedianTokens(), USER_SIGMA, p.userMinTokens(), p.userMaxTokens());
        int output =
            logNormal(
                r, p.outputMedianTokens(), OUTPUT_SIGMA, p.outputMinTokens(), p.outputMaxTokens());
        int input = (int) (context + user);
        int blocks = ceilBlocks(input);
        while (stream.size() < blocks) stream.add(nextId++);
        long[] ids = new long[blocks];
        for (int b = 0; b < blocks; b++) ids[b] = stream.get(b);
        rows.add(new Row((long) at, s, k, tenant, input, output, ids));
        context = (long) input + output;
        at += output * REPLY_MS_PER_TOKEN + exponential(r, p.thinkMeanSeconds() * 1000);
      }
    }
    rows.sort(
        Comparator.comparingLong(Row::ts)
            .thenComparingInt(Row::session)
            .thenComparingInt(Row::turn));

    // Number ids by first appearance, as the Mooncake release does.
    Map<Long, Long> remap = new HashMap<>();
    List<TraceRecord> records = new ArrayList<>(rows.size());
    int[] tenantOf = new int[rows.size()];
    int[] sessionOf = new int[rows.size()];
    int[] turnOf = new int[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      long[] ids = new long[row.ids().length];
      for (int b = 0; b < ids.length; b++) {
        Long old = row.ids()[b];
        Long mapped = remap.get(old);
        if (mapped == null) {
          mapped = (long) remap.size();
          remap.put(old, mapped);
        }
        ids[b] = mapped;
      }
      records.add(new TraceRecord(row.ts(), row.input(), row.output(), ids, null, null));
      tenantOf[i] = row.tenant();
      sessionOf[i] = row.session();
      turnOf[i] = row.turn();
    }
    return new Workload(p, List.copyOf(records), tenantOf, sessionOf, turnOf, systemTokens);
  }

  /**
   * Writes the workload as Mooncake JSON Lines ({@code timestamp}, {@code input_length}, {@code
   * output_length}, {@code hash_ids}), plus {@code tenant}, {@code session} and {@code turn} for
   * inspection (readers of the Mooncake form ignore them).
   */
  public static void write(Workload w, Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    try (BufferedWriter out = Files.newBufferedWriter(file)) {
      StringBuilder sb = new StringBuilder(4096);
      for (int i = 0; i < w.records().size(); i++) {
        TraceRecord r = w.records().get(i);
        sb.setLength(0);
        sb.append("{\"timestamp\": ")
            .append(r.timestampMs())
            .append(", \"input_length\": ")
            .append(r.inputLength())
            .append(", \"output_length\": ")
            .append(r.outputLength())
            .append(", \"hash_ids\": [");
        long[] ids = r.hashIds();
        for (int b = 0; b < ids.length; b++) {
          if (b > 0) sb.append(", ");
          sb.append(ids[b]);
        }
        sb.append("], \"tenant\": ")
            .append(w.tenantOf()[i])
            .append(", \"session\": ")
            .append(w.sessionOf()[i])
            .append(", \"turn\": ")
            .append(w.turnOf()[i])
            .append("}\n");
        out.write(sb.toString());
      }
    }
  }
}

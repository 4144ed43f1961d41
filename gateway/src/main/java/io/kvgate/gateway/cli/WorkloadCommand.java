package io.kvgate.gateway.cli;

import io.kvgate.replay.CacheBounds;
import io.kvgate.replay.MultiTenantWorkload;
import io.kvgate.replay.MultiTenantWorkload.Params;
import io.kvgate.replay.MultiTenantWorkload.Workload;
import io.kvgate.replay.TraceRecord;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code kvgate workload}: synthetic traces in the Mooncake JSONL form, for {@code kvgate replay}.
 */
@Command(
    name = "workload",
    mixinStandardHelpOptions = true,
    description =
        "Generate a synthetic trace in the Mooncake JSONL form (replay it with `kvgate replay --trace FILE`).",
    subcommands = {WorkloadCommand.MultiTenant.class})
public final class WorkloadCommand implements Runnable {

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code kvgate workload multi-tenant}. */
  @Command(
      name = "multi-tenant",
      mixinStandardHelpOptions = true,
      description = {
        "Seeded multi-tenant chat workload: tenants with Zipf-skewed popularity, each with a long system prompt",
        "(whole 512-token blocks), Poisson session arrivals, multi-turn sessions whose turn k prompt is the system prompt",
        "plus every earlier user message and reply plus the new message (so its hash ids extend turn k-1's), log-normal",
        "message and reply lengths, think time between turns. Writes Mooncake JSONL (plus tenant, session, turn fields)",
        "and prints its size, load, infinite-cache oracle, working set and, per --capacity-blocks, the fleet cache and",
        "pooled-LRU bound. Same flags, same file."
      })
  static final class MultiTenant implements Callable<Integer> {

    private static final Params D = Params.defaults();

    @Option(names = "--out", required = true, description = "The JSONL file to write.")
    Path out;

    @Option(names = "--tenants", description = "Tenants (default: ${DEFAULT-VALUE}).")
    int tenants = D.tenants();

    @Option(
        names = "--zipf",
        description =
            "Tenant popularity skew: tenant i gets sessions with weight 1/(i+1)^s; 0 = uniform (default: ${DEFAULT-VALUE}).")
    double zipf = D.zipfExponent();

    @Option(names = "--sessions", description = "Sessions (default: ${DEFAULT-VALUE}).")
    int sessions = D.sessions();

    @Option(
        names = "--session-rate",
        description = "Poisson session arrivals per second (default: ${DEFAULT-VALUE}).")
    double sessionRate = D.sessionsPerSecond();

    @Option(
        names = "--min-turns",
        description = "Fewest turns per session (default: ${DEFAULT-VALUE}).")
    int minTurns = D.minTurns();

    @Option(
        names = "--max-turns",
        description = "Most turns per session, uniform in between (default: ${DEFAULT-VALUE}).")
    int maxTurns = D.maxTurns();

    @Option(
        names = "--system-min-tokens",
        description =
            "Shortest system prompt, rounded up to 512-token blocks (default: ${DEFAULT-VALUE}).")
    int systemMin = D.systemMinTokens();

    @Option(
        names = "--system-max-tokens",
        description =
            "Longest system prompt, rounded down to 512-token blocks (default: ${DEFAULT-VALUE}).")
    int systemMax = D.systemMaxTokens();

    @Option(
        names = "--user-median-tokens",
        description = "Median user message, log-normal (default: ${DEFAULT-VALUE}).")
    int userMedian = D.userMedianTokens();

    @Option(
        names = "--user-max-tokens",
        description = "Longest user message (default: ${DEFAULT-VALUE}).")
    int userMax = D.userMaxTokens();

    @Option(
        names = "--output-median-tokens",
        description = "Median reply, log-normal (default: ${DEFAULT-VALUE}).")
    int outputMedian = D.outputMedianTokens();

    @Option(
        names = "--output-max-tokens",
        description = "Longest reply (default: ${DEFAULT-VALUE}).")
    int outputMax = D.outputMaxTokens();

    @Option(
        names = "--think-seconds",
        description =
            "Mean think time between a reply and the next turn, exponential (default: ${DEFAULT-VALUE}).")
    double think = D.thinkMeanSeconds();

    @Option(names = "--seed", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed = D.seed();

    @Option(
        names = "--block-size",
        paramLabel = "TOKENS",
        description =
            "Engine KV block size for the printed block counts (default: ${DEFAULT-VALUE}).")
    int blockSize = 16;

    @Option(
        names = "--replicas",
        description = "Engines, for the printed fleet-cache lines (default: ${DEFAULT-VALUE}).")
    int replicas = 4;

    @Option(
        names = "--capacity-blocks",
        split = ",",
        paramLabel = "N",
        description =
            "Per-engine KV blocks to compare with the working set (default: ${DEFAULT-VALUE}).")
    List<Long> capacities = List.of(6000L, 16000L);

    Params params() {
      return new Params(
          tenants,
          zipf,
          sessions,
          sessionRate,
          minTurns,
          maxTurns,
          systemMin,
          systemMax,
          userMedian,
          D.userMinTokens(),
          userMax,
          outputMedian,
          D.outputMinTokens(),
          outputMax,
          think,
          seed);
    }

    @Override
    public Integer call() throws Exception {
      Workload w = MultiTenantWorkload.generate(params());
      MultiTenantWorkload.write(w, out);
      List<TraceRecord> t = w.records();
      double span = (t.get(t.size() - 1).timestampMs() - t.get(0).timestampMs()) / 1000.0;
      long tokens = t.stream().mapToLong(TraceRecord::inputLength).sum();
      double oracle = CacheBounds.oracle(t, blockSize);
      long distinct = w.distinctBlocks(blockSize);
      long live = w.peakLiveBlocks(blockSize);
      int[] perTenant = w.sessionsPerTenant();
      System.out.printf(
          Locale.ROOT,
          "wrote %s: %d requests, %d sessions, %d tenants over %.1f min (%.2f req/s, mean prompt %.0f tokens,"
              + " %.0f prompt tokens/s); sessions of the top tenant %d (%.0f%%), of the last %d%n",
          out,
          t.size(),
          sessions,
          tenants,
          span / 60,
          t.size() / span,
          (double) tokens / t.size(),
          tokens / span,
          perTenant[0],
          100.0 * perTenant[0] / sessions,
          perTenant[perTenant.length - 1]);
      System.out.printf(
          Locale.ROOT,
          "infinite-cache oracle %.3f; working set in %d-token blocks: %d distinct over the trace,"
              + " %d live at peak (all system prompts + sessions in progress)%n",
          oracle,
          blockSize,
          distinct,
          live);
      for (long c : capacities) {
        long fleet = c * replicas;
        double pooled = CacheBounds.pooledLru(t, blockSize, fleet);
        System.out.printf(
            Locale.ROOT,
            "  %d x %d blocks = %d: %.2f of the peak live set, %.2f of the distinct blocks; pooled-LRU bound %.3f (%.0f%% of the oracle)%n",
            replicas,
            c,
            fleet,
            (double) fleet / live,
            (double) fleet / distinct,
            pooled,
            100 * pooled / oracle);
      }
      return 0;
    }
  }
}

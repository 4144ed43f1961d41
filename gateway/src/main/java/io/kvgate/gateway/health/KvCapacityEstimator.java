package io.kvgate.gateway.health;

import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Learns one engine's KV-cache capacity, in tokens, from what it reports as used, for engines that
 * do not state their capacity ({@code vllm:cache_config_info}, {@code
 * sglang:max_total_num_tokens}): SGLang builds without that gauge, older vLLM, or a proxy that
 * rewrites {@code /metrics}.
 *
 * <p><b>Two kinds of sample.</b>
 *
 * <ul>
 *   <li>{@link #offerExact}: the engine reports both the tokens it holds for requests and the
 *       fraction of its pool that is (SGLang's {@code sglang:num_used_tokens} and {@code
 *       sglang:token_usage}, the latter being the former divided by {@code max_total_num_tokens}).
 *       Their ratio is the capacity; only the rounding of the fraction adds noise. Once one exact
 *       sample is seen, gateway-counted samples are ignored.
 *   <li>{@link #offer}: the engine reports only the fraction (vLLM's {@code
 *       vllm:kv_cache_usage_perc}: blocks referenced by running requests over all blocks; blocks
 *       that are cached but free do not count). The numerator is then what kvgate itself has in
 *       flight on the endpoint ({@link io.kvgate.routing.EndpointState#activeTokens()}, the prompt
 *       tokens of the requests it dispatched there and has not seen finish), so {@code capacity ≈
 *       activeTokens / usage}. That holds only while kvgate's requests are all the engine holds, so
 *       a sample is dropped (see {@link Verdict}) when the usage is too low to be precise or so
 *       high the engine may be preempting, when the engine queues requests (queued requests are
 *       counted by kvgate but hold no blocks), when the engine runs a different number of requests
 *       than kvgate has in flight there (other clients, other gateways, or requests in transit),
 *       and when kvgate's counters moved while the scrape was in flight (the engine's snapshot
 *       cannot be matched to one value of them).
 * </ul>
 *
 * <p><b>Estimate.</b> The median of the last {@link Settings#window()} accepted ratios, clamped to
 * {@link Settings#minCapacityTokens()}..{@link Settings#maxCapacityTokens()}; a single outlier
 * cannot move a median, and a real change of capacity (an engine restarted with another {@code
 * --gpu-memory-utilization}) wins after half a window. It is <em>stable</em> once it has {@link
 * Settings#minSamples()} samples whose interquartile range is within {@link Settings#maxSpread()}
 * of the median. {@link #proposeCapacity} turns it into a decision with hysteresis: only a stable
 * estimate that differs from the capacity in force by more than {@link Settings#applyThreshold()},
 * and only after {@code minSamples} fresh samples since the previous proposal, so the prefix index
 * is not trimmed back and forth by noise.
 *
 * <p><b>Units.</b> Gateway-counted samples are in kvgate's own token estimate (characters divided
 * by {@code routing.charsPerToken}), the unit the prefix index counts blocks in; if that estimate
 * is off by a factor for some tokenizer, the learned capacity is off by the same factor and the
 * index stays self-consistent.
 *
 * <p><b>Known biases</b> (see docs/CONFIG.md): prompt prefixes shared by concurrent requests are
 * held once by the engine but counted once per request by kvgate (overestimate); generated tokens
 * occupy KV but are not counted (underestimate, small when prompts dominate). Several gateways in
 * front of one engine each see only their own share: the running-requests check then rejects their
 * samples rather than learning a wrong value.
 *
 * <p>Lives in the gateway's {@code health} package, not in routing-policies: it interprets scraped
 * engine metrics, which only the gateway does; policies just read the capacity the index is given.
 * Pure Java, no Vert.x and no clock. Not thread-safe: the owner (one scraper, one endpoint)
 * serialises calls.
 */
public final class KvCapacityEstimator {

  /**
   * @param minUsage samples below this KV usage are ignored (the ratio is imprecise)
   * @param maxUsage samples above it are ignored (a full engine preempts and queues)
   * @param minActiveTokens gateway samples with fewer in-flight tokens are ignored
   * @param window accepted ratios the median is taken over
   * @param minSamples accepted ratios needed before the estimate is stable, and between two
   *     proposals
   * @param maxSpread largest interquartile range, relative to the median, of a stable estimate
   * @param applyThreshold smallest relative difference from the capacity in force worth applying
   * @param minCapacityTokens the estimate's lower clamp; ratios below are rejected
   * @param maxCapacityTokens the estimate's upper clamp; ratios above are rejected
   * @param maxCounterDrift largest relative change of kvgate's active tokens during one scrape
   * @param maxRequestMismatch largest relative difference between the engine's running requests and
   *     kvgate's in-flight requests (0 = must be equal; rounded down, so small fleets need
   *     equality)
   */
  public record Settings(
      double minUsage,
      double maxUsage,
      long minActiveTokens,
      int window,
      int minSamples,
      double maxSpread,
      double applyThreshold,
      long minCapacityTokens,
      long maxCapacityTokens,
      double maxCounterDrift,
      double maxRequestMismatch) {

    public static final Settings DEFAULTS =
        new Settings(0.05, 0.95, 256, 15, 5, 0.15, 0.10, 256, 1L << 31, 0.02, 0.05);

    public Settings {
      if (!(minUsage > 0 && minUsage < maxUsage && maxUsage <= 1))
        throw new IllegalArgumentException("need 0 < minUsage < maxUsage <= 1");
      if (window < 1 || minSamples < 1 || minSamples > window)
        throw new IllegalArgumentException("need 1 <= minSamples <= window");
      if (!(maxSpread >= 0) || !(applyThreshold >= 0))
        throw new IllegalArgumentException("maxSpread and applyThreshold must be >= 0");
      if (minCapacityTokens < 1 || maxCapacityTokens < minCapacityTokens)
        throw new IllegalArgumentException("need 1 <= minCapacityTokens <= maxCapacityTokens");
      if (!(maxCounterDrift >= 0) || !(maxRequestMismatch >= 0))
        throw new IllegalArgumentException("drift and mismatch bounds must be >= 0");
    }
  }

  /** What became of one sample. */
  public enum Verdict {
    ACCEPTED,
    /** usage not a number in (0, 1], or no tokens */
    INVALID,
    /** usage below {@code minUsage} */
    LOW_USAGE,
    /** usage above {@code maxUsage} */
    SATURATED,
    /** kvgate has fewer than {@code minActiveTokens} in flight */
    FEW_TOKENS,
    /** the engine queues requests: counted by kvgate, holding no blocks */
    ENGINE_QUEUE,
    /** the engine runs more requests than kvgate has in flight: other traffic shares it */
    FOREIGN_LOAD,
    /** kvgate's counters moved during the scrape or disagree with the engine's running count */
    STALE,
    /** the ratio is outside the clamp bounds */
    OUT_OF_RANGE,
    /** the engine gives exact samples; gateway-counted ones are not used */
    SUPERSEDED
  }

  /**
   * One scrape of an engine that reports only its usage fraction, with kvgate's counters for the
   * endpoint read just before the scrape was sent and just after its answer arrived.
   *
   * @param activeTokensBefore {@code EndpointState.activeTokens()} before sending
   * @param activeTokensAfter the same, on receipt
   * @param inFlightBefore {@code EndpointState.localInFlight()} before sending
   * @param inFlightAfter the same, on receipt
   * @param usage the engine's KV usage, 0..1
   * @param running the engine's running requests
   * @param waiting the engine's waiting requests
   */
  public record Observation(
      long activeTokensBefore,
      long activeTokensAfter,
      int inFlightBefore,
      int inFlightAfter,
      double usage,
      double running,
      double waiting) {}

  private final Settings settings;
  private final double[] ratios;
  private int size;
  private int next;
  private boolean exact;
  private long accepted;
  private int sinceProposal;
  private Verdict last = Verdict.INVALID;

  public KvCapacityEstimator() {
    this(Settings.DEFAULTS);
  }

  public KvCapacityEstimator(Settings settings) {
    this.settings = settings;
    this.ratios = new double[settings.window()];
  }

  public Settings settings() {
    return settings;
  }

  /** Offers a gateway-counted sample. */
  public Verdict offer(Observation o) {
    return last = judge(o);
  }

  private Verdict judge(Observation o) {
    if (exact) return Verdict.SUPERSEDED;
    double u = o.usage();
    if (!(u > 0 && u <= 1.0 + 1e-9) || Double.isNaN(o.running()) || Double.isNaN(o.waiting()))
      return Verdict.INVALID;
    if (u < settings.minUsage()) return Verdict.LOW_USAGE;
    if (u > settings.maxUsage()) return Verdict.SATURATED;
    if (o.waiting() > 0) return Verdict.ENGINE_QUEUE;
    long a = Math.max(o.activeTokensBefore(), o.activeTokensAfter());
    if (a < settings.minActiveTokens()) return Verdict.FEW_TOKENS;
    if (o.inFlightBefore() != o.inFlightAfter()
        || Math.abs(o.activeTokensAfter() - o.activeTokensBefore())
            > settings.maxCounterDrift() * a) {
      return Verdict.STALE;
    }
    long slack = (long) Math.floor(settings.maxRequestMismatch() * o.inFlightAfter());
    if (o.running() > o.inFlightAfter() + slack) return Verdict.FOREIGN_LOAD;
    if (o.running() < o.inFlightAfter() - slack) return Verdict.STALE;
    double active = (o.activeTokensBefore() + o.activeTokensAfter()) / 2.0;
    return add(active / u);
  }

  /**
   * Offers an engine-counted sample: {@code usedTokens} held for requests, {@code usage} the same
   * as a fraction of the pool.
   */
  public Verdict offerExact(double usedTokens, double usage) {
    return last = judgeExact(usedTokens, usage);
  }

  private Verdict judgeExact(double usedTokens, double usage) {
    if (!(usage > 0 && usage <= 1.0 + 1e-9) || !(usedTokens > 0) || Double.isInfinite(usedTokens))
      return Verdict.INVALID;
    if (usage < settings.minUsage()) return Verdict.LOW_USAGE;
    if (!exact) {
      exact = true;
      size = 0;
      next = 0;
      sinceProposal = 0;
    }
    return add(usedTokens / usage);
  }

  private Verdict add(double ratio) {
    if (!(ratio >= settings.minCapacityTokens() && ratio <= settings.maxCapacityTokens()))
      return Verdict.OUT_OF_RANGE;
    ratios[next] = ratio;
    next = (next + 1) % ratios.length;
    if (size < ratios.length) size++;
    accepted++;
    sinceProposal++;
    return Verdict.ACCEPTED;
  }

  /** The verdict on the latest sample. */
  public Verdict lastVerdict() {
    return last;
  }

  /** Samples accepted so far. */
  public long accepted() {
    return accepted;
  }

  /** Whether the samples come from the engine's own token count. */
  public boolean exact() {
    return exact;
  }

  /**
   * The current estimate in tokens (median of the window, clamped), or 0 before {@code minSamples}
   * samples.
   */
  public long estimateTokens() {
    if (size < settings.minSamples()) return 0;
    double[] s = sorted();
    return clamp(Math.round(quantile(s, 0.5)));
  }

  /** Enough samples, and they agree: interquartile range within {@code maxSpread} of the median. */
  public boolean stable() {
    if (size < settings.minSamples()) return false;
    double[] s = sorted();
    double median = quantile(s, 0.5);
    return median > 0 && (quantile(s, 0.75) - quantile(s, 0.25)) / median <= settings.maxSpread();
  }

  /**
   * The capacity, in tokens, to replace {@code currentTokens} with, or empty: present only when the
   * estimate is stable, differs from {@code currentTokens} by more than {@code applyThreshold}, and
   * {@code minSamples} samples arrived since the previous proposal. The caller is expected to apply
   * what it gets.
   */
  public OptionalLong proposeCapacity(long currentTokens) {
    if (sinceProposal < settings.minSamples() || !stable()) return OptionalLong.empty();
    long est = estimateTokens();
    if (currentTokens > 0
        && Math.abs(est - currentTokens) <= settings.applyThreshold() * currentTokens) {
      return OptionalLong.empty();
    }
    sinceProposal = 0;
    return OptionalLong.of(est);
  }

  private long clamp(long v) {
    return Math.max(settings.minCapacityTokens(), Math.min(settings.maxCapacityTokens(), v));
  }

  private double[] sorted() {
    double[] s = Arrays.copyOf(ratios, size);
    Arrays.sort(s);
    return s;
  }

  /** Linear interpolation between order statistics. */
  private static double quantile(double[] sorted, double q) {
    double pos = q * (sorted.length - 1);
    int lo = (int) Math.floor(pos);
    int hi = Math.min(sorted.length - 1, lo + 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }
}

package io.kvgate.gateway.metrics;

/**
 * How well kvgate's predicted cached prefix agrees with what one model's engines report ({@code
 * usage.prompt_tokens_details.cached_tokens}), over the last minute or so, and whether that
 * agreement has collapsed.
 *
 * <p>Why. The failure peers have shipped is silent: a router that keys requests differently from
 * the engines (raw JSON instead of the chat template, the first message only, no LoRA name in the
 * key) routes confidently and matches nothing, or predicts nothing while the engines hit. Both show
 * up as predicted and reported cached tokens drifting apart, so kvgate watches the two.
 *
 * <p>How. Both are summed with an exponential decay ({@link #HALF_LIFE_NANOS}); the agreement is
 * {@code min / max} of the two sums (1 when both are about zero: nothing to disagree on). It is
 * judged only once the larger sum holds at least {@link #MIN_TOKENS} tokens, so a few requests
 * cannot trip it; it collapses below {@link #COLLAPSED} and recovers above {@link #RECOVERED}
 * (hysteresis, so a ratio hovering at the threshold logs once). Time is passed in. Thread-safe
 * (synchronized: one short update per finished request that reported cached tokens).
 */
public final class PredictionAgreement {

  static final long HALF_LIFE_NANOS = 60_000_000_000L;
  static final double MIN_TOKENS = 50_000;
  static final double COLLAPSED = 0.5;
  static final double RECOVERED = 0.7;

  /** What a {@link #record} changed. */
  public enum Transition {
    NONE,
    COLLAPSED,
    RECOVERED
  }

  private double predicted;
  private double reported;
  private long asOfNanos = Long.MIN_VALUE;
  private boolean collapsed;

  /** Adds one request's predicted and engine-reported cached tokens. */
  public synchronized Transition record(long predictedTokens, long reportedTokens, long nowNanos) {
    decayTo(nowNanos);
    predicted += predictedTokens;
    reported += reportedTokens;
    if (Math.max(predicted, reported) < MIN_TOKENS) return Transition.NONE;
    double a = ratio();
    if (!collapsed && a < COLLAPSED) {
      collapsed = true;
      return Transition.COLLAPSED;
    }
    if (collapsed && a > RECOVERED) {
      collapsed = false;
      return Transition.RECOVERED;
    }
    return Transition.NONE;
  }

  /** min/max of the decayed predicted and reported sums, in [0, 1]. */
  public synchronized double agreement() {
    return ratio();
  }

  public synchronized boolean collapsed() {
    return collapsed;
  }

  /** Decayed predicted cached tokens (for the log line). */
  public synchronized double predicted() {
    return predicted;
  }

  /** Decayed engine-reported cached tokens (for the log line). */
  public synchronized double reported() {
    return reported;
  }

  private double ratio() {
    double max = Math.max(predicted, reported);
    return max < 1 ? 1 : Math.min(predicted, reported) / max;
  }

  private void decayTo(long nowNanos) {
    if (asOfNanos != Long.MIN_VALUE && nowNanos > asOfNanos) {
      double f = Math.pow(2, -(double) (nowNanos - asOfNanos) / HALF_LIFE_NANOS);
      predicted *= f;
      reported *= f;
    }
    if (asOfNanos == Long.MIN_VALUE || nowNanos > asOfNanos) asOfNanos = nowNanos;
  }
}

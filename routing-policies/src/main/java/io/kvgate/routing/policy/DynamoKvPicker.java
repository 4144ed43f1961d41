package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.Words.num;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code dynamo-kv-picker}: NVIDIA Dynamo's KV router cost function, re-implemented from its
 * description and source (https://github.com/ai-dynamo/dynamo, {@code lib/kv-router},
 * scheduling/selector; docs/architecture/kv_cache_routing.md):
 *
 * <pre>
 *   logit(w) = overlapScoreWeight · prefill_blocks(w) + decode_blocks(w)      lower is better
 *   prefill_blocks(w) = blocks of this request not cached on w + prefill blocks already queued on w
 *   decode_blocks(w)  = blocks held by w's active requests + this request's blocks
 * </pre>
 *
 * With {@code temperature} 0 the minimum wins (random among ties); otherwise logits are normalised
 * to [0, 1] and the worker is sampled with probability ∝ exp(−normalised / temperature). Dynamo
 * tracks active blocks from its own dispatches, as kvgate does ({@link EndpointState#activeTokens},
 * {@link EndpointState#pendingPrefillTokens}).
 */
record DynamoKvPicker(
    @Param(doc = "weight of prefill blocks against decode blocks in the logit", min = 0, max = 1e6)
        double overlapScoreWeight,
    @Param(doc = "softmax temperature over normalised logits; 0 = argmin", min = 0, max = 100)
        double temperature)
    implements Picker {

  static final DynamoKvPicker DEFAULTS = new DynamoKvPicker(1.0, 0);

  @Override
  public void pick(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    double[] logits = new double[n];
    logits(c, logits, null, null);
    order(c, logits, order);
  }

  /**
   * Each candidate's logit into {@code logits}, and its prefill and decode blocks into the other
   * arrays when they are not null (explain).
   */
  private void logits(Candidates c, double[] logits, double[] prefillOut, double[] decodeOut) {
    double blockTokens = Math.max(1e-9, c.tokensPerBlock());
    double requestBlocks = Math.ceil(c.request().promptTokens() / blockTokens);
    for (int i = 0; i < c.size(); i++) {
      EndpointState e = c.get(i);
      double prefill =
          Math.max(0, requestBlocks - c.matched(i)) + e.pendingPrefillTokens() / blockTokens;
      double decode = e.activeTokens() / blockTokens + requestBlocks;
      logits[i] = overlapScoreWeight * prefill + decode;
      if (prefillOut != null) prefillOut[i] = prefill;
      if (decodeOut != null) decodeOut[i] = decode;
    }
  }

  private void order(Candidates c, double[] logits, int[] order) {
    int n = c.size();
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      min = Math.min(min, logits[i]);
      max = Math.max(max, logits[i]);
    }
    double range = max - min;
    double[] keys = new double[n];
    for (int i = 0; i < n; i++) keys[i] = range <= 0 ? 0 : -(logits[i] - min) / range;
    Order.softmax(keys, order, n, temperature, c.context().random());
  }

  /**
   * Orders as {@link #pick} and compares the winner's logit with the runner-up's. Terms per
   * candidate, in blocks: {@code logit}, {@code prefill_blocks} (this request's blocks not cached
   * there plus the prefill queued there) and {@code decode_blocks} (its active requests' blocks
   * plus this request's).
   */
  @Override
  public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    double[] logits = new double[n];
    double[] prefill = new double[n];
    double[] decode = new double[n];
    logits(c, logits, prefill, decode);
    order(c, logits, order);
    List<List<Explanation.Term>> terms = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      terms.add(
          List.of(
              new Explanation.Term("logit", logits[i]),
              new Explanation.Term("prefill_blocks", prefill[i]),
              new Explanation.Term("decode_blocks", decode[i])));
    }
    int w = order[0];
    if (n < 2) return new PickerExplanation("the only candidate, logit " + num(logits[w]), terms);
    int best = 0;
    for (int i = 1; i < n; i++) if (logits[i] < logits[best]) best = i;
    String sampled = "";
    if (temperature > 0) {
      double range = logits[argmax(logits)] - logits[best];
      double sum = 0;
      for (int i = 0; i < n; i++)
        sum += Math.exp(-normalised(logits, i, best, range) / temperature);
      sampled =
          "sampled at temperature "
              + num(temperature)
              + " over normalised logits: drew "
              + c.get(w).id()
              + " with probability "
              + num(Math.exp(-normalised(logits, w, best, range) / temperature) / sum)
              + "; ";
    }
    int u = order[1];
    String gap;
    double prefillGap = overlapScoreWeight * (prefill[u] - prefill[w]);
    double decodeGap = decode[u] - decode[w];
    if (Math.max(prefillGap, decodeGap) <= 0) gap = "";
    else if (prefillGap >= decodeGap)
      gap =
          "; prefill blocks (this request's uncached blocks plus the queued prefill) separated them"
              + " most, by "
              + num(prefillGap)
              + " weighted (cached: "
              + c.get(w).id()
              + " "
              + c.matched(w)
              + " of "
              + c.match().promptBlocks()
              + " prompt blocks, "
              + c.get(u).id()
              + " "
              + c.matched(u)
              + ")";
    else gap = "; decode blocks (active requests) separated them most, by " + num(decodeGap);
    return new PickerExplanation(
        sampled
            + (logits[w] <= logits[best] ? "lowest logit: " : "not the lowest logit: ")
            + c.get(w).id()
            + " at "
            + logitWords(logits[w], prefill[w], decode[w])
            + " against runner-up "
            + c.get(u).id()
            + "'s "
            + logitWords(logits[u], prefill[u], decode[u])
            + gap,
        terms);
  }

  private static int argmax(double[] v) {
    int m = 0;
    for (int i = 1; i < v.length; i++) if (v[i] > v[m]) m = i;
    return m;
  }

  private static double normalised(double[] logits, int i, int best, double range) {
    return range <= 0 ? 0 : (logits[i] - logits[best]) / range;
  }

  private String logitWords(double logit, double prefill, double decode) {
    return num(logit)
        + " (overlapScoreWeight "
        + num(overlapScoreWeight)
        + " × prefill "
        + num(prefill)
        + " + decode "
        + num(decode)
        + " blocks)";
  }

  @Override
  public boolean usesPrefix() {
    return true;
  }
}

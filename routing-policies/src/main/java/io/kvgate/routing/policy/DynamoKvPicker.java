package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;

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
    double blockTokens = Math.max(1e-9, c.tokensPerBlock());
    double requestBlocks = Math.ceil(c.request().promptTokens() / blockTokens);
    double[] logits = new double[n];
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      double prefill =
          Math.max(0, requestBlocks - c.matched(i)) + e.pendingPrefillTokens() / blockTokens;
      double decode = e.activeTokens() / blockTokens + requestBlocks;
      logits[i] = overlapScoreWeight * prefill + decode;
      min = Math.min(min, logits[i]);
      max = Math.max(max, logits[i]);
    }
    double range = max - min;
    double[] keys = new double[n];
    for (int i = 0; i < n; i++) keys[i] = range <= 0 ? 0 : -(logits[i] - min) / range;
    Order.softmax(keys, order, n, temperature, c.context().random());
  }

  @Override
  public boolean usesPrefix() {
    return true;
  }
}
